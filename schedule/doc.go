// Package schedule holds elt's time-driven machinery: partition definitions
// (static, time windows, dynamic), cron schedules with time zones and
// catch-up, sensors (file, asset, freshness, command), backfill planning and
// execution, and the daemon loop that evaluates schedules and sensors and
// launches runs.
//
// Everything here takes an injected Clock and small interfaces over the run
// store and the run launcher, so tests run years of ticks in milliseconds.
package schedule
