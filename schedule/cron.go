package schedule

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// ScheduleConfig is one entry of the `schedules:` map of elt.yaml; the map
// key is the schedule's name.
//
//	schedules:
//	  nightly:
//	    cron: "0 2 * * *"        # 5 fields, 6 with seconds, or @daily, @hourly, @every 15m
//	    timezone: Europe/Berlin  # IANA; UTC when empty
//	    job: nightly             # or select: "tag:nightly"
//	    catchup: latest          # none | latest | all
//	    catchup_window: 24h
//	    allow_overlap: false
//	  orders_daily:
//	    job: orders              # partitioned by daily windows: no cron needed,
//	                             # it ticks when each window ends
type ScheduleConfig struct {
	// Cron is a cron expression. Empty means the natural cadence of the
	// job's time-window partitions (a tick at each window's end).
	Cron string `yaml:"cron,omitempty"`
	// Timezone the cron expression is read in; UTC when empty. A time
	// skipped by spring-forward runs once at the end of the gap; a time
	// repeated by fall-back runs once, at its first occurrence.
	Timezone string `yaml:"timezone,omitempty"`
	// Job or Select (a selection expression) says what runs; one of them.
	Job    string `yaml:"job,omitempty"`
	Select string `yaml:"select,omitempty"`
	// Catchup says what happens to ticks missed while no daemon ran:
	// none (skip them), latest (run the newest missed tick; the default) or
	// all (run each, oldest first). Only ticks within CatchupWindow
	// (default 24h) are caught up.
	Catchup       string        `yaml:"catchup,omitempty"`
	CatchupWindow time.Duration `yaml:"catchup_window,omitempty"`
	// AllowOverlap lets a tick start a run while the schedule's previous
	// run is still going; by default such a tick is skipped.
	AllowOverlap bool `yaml:"allow_overlap,omitempty"`
	// Partition is the key a partitioned job runs: empty or
	// "last-complete" means the newest key at tick time (time bounding);
	// anything else is a fixed key (required for static and dynamic
	// partitions).
	Partition string `yaml:"partition,omitempty"`
	// Tags are added to every run the schedule starts.
	Tags map[string]string `yaml:"tags,omitempty"`
}

// Catch-up policies.
const (
	CatchupNone   = "none"
	CatchupLatest = "latest"
	CatchupAll    = "all"
)

// DefaultCatchupWindow bounds catch-up when catchup_window is not set.
const DefaultCatchupWindow = 24 * time.Hour

// maxCatchupTicks caps how many missed ticks one evaluation runs.
const maxCatchupTicks = 1000

// LastComplete is the Partition value that asks for the newest key.
const LastComplete = "last-complete"

// Schedule is a parsed schedule, ready for the daemon.
type Schedule struct {
	Name   string
	Config ScheduleConfig
	// Partitions is the job's partition definition, nil when unpartitioned.
	Partitions Definition
	loc        *time.Location
	spec       cron.Schedule // read on wall-clock values; nil: natural cadence
	wallClock  bool          // spec is a field schedule (not @every)
	// onMinute: the spec fires only at second 0, so a search may start at
	// the last second of a minute (robfig steps seconds one by one).
	onMinute bool
}

var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// NewSchedule parses cfg. def is the partition definition of what the
// schedule runs (nil when unpartitioned); the project loader finds it from
// the job's or selection's assets.
func NewSchedule(name string, cfg ScheduleConfig, def Definition) (*Schedule, error) {
	s := &Schedule{Name: name, Config: cfg, Partitions: def, loc: time.UTC}
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("schedule %q: "+format, append([]any{name}, a...)...))
	}
	if cfg.Timezone != "" {
		loc, err := time.LoadLocation(cfg.Timezone)
		if err != nil {
			bad("timezone %q: %v", cfg.Timezone, err)
		} else {
			s.loc = loc
		}
	}
	if (cfg.Job == "") == (cfg.Select == "") {
		bad("set exactly one of job: or select:")
	}
	switch cfg.Catchup {
	case "", CatchupNone, CatchupLatest, CatchupAll:
	default:
		bad("catchup %q: use none, latest or all", cfg.Catchup)
	}
	if cfg.CatchupWindow < 0 {
		bad("catchup_window must not be negative")
	}
	tw, windowed := def.(*TimeWindows)
	switch {
	case cfg.Cron != "":
		spec, err := cronParser.Parse(cfg.Cron)
		if err != nil {
			bad("cron %q: %v", cfg.Cron, err)
			break
		}
		s.spec = spec
		if fs, ok := spec.(*cron.SpecSchedule); ok {
			// CRON_TZ= / TZ= prefixes set the zone too.
			if fs.Location != time.Local && fs.Location != time.UTC {
				if cfg.Timezone != "" && fs.Location.String() != s.loc.String() {
					bad("cron names time zone %s but timezone is %s", fs.Location, s.loc)
				}
				s.loc = fs.Location
			}
			fs.Location = time.UTC
			s.wallClock = true
			s.onMinute = fs.Second == 1
		}
	case windowed:
		if cfg.Timezone != "" && cfg.Timezone != tw.Location().String() {
			bad("timezone %s differs from the partitions' %s; set a cron to tick in another zone", cfg.Timezone, tw.Location())
		}
		s.loc = tw.Location()
	default:
		bad("cron is missing (only a job partitioned by time windows ticks without one)")
	}
	if def != nil && !windowed && (cfg.Partition == "" || cfg.Partition == LastComplete) {
		bad("partitions %q are %s: set partition: KEY", def.Name(), def.Kind())
	}
	if def == nil && cfg.Partition != "" {
		bad("partition: is set but what it runs is not partitioned")
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// Validate reports problems found without the job's partitions: a
// partition-related problem is reported by NewSchedule.
func (c *ScheduleConfig) Validate() []error {
	cfg := *c
	if cfg.Cron == "" {
		cfg.Cron = "@daily" // the natural cadence is checked by NewSchedule
	}
	cfg.Partition = ""
	_, err := NewSchedule("schedule", cfg, nil)
	return splitErrors(err)
}

// Location returns the schedule's time zone.
func (s *Schedule) Location() *time.Location { return s.loc }

// Catchup returns the effective catch-up policy and window.
func (s *Schedule) Catchup() (policy string, window time.Duration) {
	policy, window = s.Config.Catchup, s.Config.CatchupWindow
	if policy == "" {
		policy = CatchupLatest
	}
	if window == 0 {
		window = DefaultCatchupWindow
	}
	return policy, window
}

// Next returns the first tick strictly after after, in the schedule's time
// zone, or the zero time when there is none within five years.
func (s *Schedule) Next(after time.Time) time.Time {
	switch {
	case s.spec == nil:
		return s.Partitions.(*TimeWindows).NextBoundary(after).In(s.loc)
	case !s.wallClock:
		return s.spec.Next(after).In(s.loc)
	}
	// Walk wall-clock times, which have no DST, and map each to an
	// instant: a skipped time lands at the end of the gap, a repeated one
	// at its first occurrence, and a result not after `after` (the second
	// pass through a repeated hour) is passed over.
	w := wallOf(after, s.loc)
	for range 10000 {
		from := w
		if m := w.Truncate(time.Minute).Add(59 * time.Second); s.onMinute && m.After(w) {
			from = m
		}
		nw := s.spec.Next(from)
		if nw.IsZero() {
			return time.Time{}
		}
		if t := resolveWall(nw, s.loc); t.After(after) {
			return t.In(s.loc)
		}
		w = nw
	}
	return time.Time{}
}

// Preview returns the next n ticks after after.
func (s *Schedule) Preview(after time.Time, n int) []time.Time {
	var out []time.Time
	for t := after; len(out) < n; {
		t = s.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t)
	}
	return out
}

// Request builds the run request of a tick. For time-window partitions it
// carries the newest key at the tick; ok is false when no window has ended
// yet (the tick runs nothing).
func (s *Schedule) Request(tick time.Time) (req RunRequest, ok bool) {
	req = RunRequest{
		Job:    s.Config.Job,
		Tags:   map[string]string{TagSchedule: s.Name, TagTick: tick.UTC().Format(time.RFC3339)},
		Reason: fmt.Sprintf("schedule %s tick %s", s.Name, tick.In(s.loc).Format(time.RFC3339)),
	}
	if s.Config.Select != "" {
		req.Selection = []string{s.Config.Select}
	}
	for k, v := range s.Config.Tags {
		req.Tags[k] = v
	}
	if s.Partitions != nil {
		key := s.Config.Partition
		if tw, ok := s.Partitions.(*TimeWindows); ok && (key == "" || key == LastComplete) {
			if key, ok = tw.Last(tick); !ok {
				return req, false
			}
		}
		req.PartitionKey = key
	}
	return req, true
}

// Tags the daemon puts on the runs it starts.
const (
	TagSchedule = "elt/schedule"
	TagTick     = "elt/tick"
	TagSensor   = "elt/sensor"
	TagBackfill = "elt/backfill"
)

// NextFunc returns the first tick after t (Schedule.Next).
type NextFunc func(t time.Time) time.Time

// CatchupTicks decides which ticks of a schedule to run at now when it last
// ticked at last. The due ticks are those in (last, now]. latest and none
// run the newest due tick if it is at most window (none: grace) old; all
// runs every due tick at most window old, oldest first, capped at the
// newest 1,000. newest is the newest due tick (zero when none is due): the
// daemon records it, run or skipped, so that a restart does not revisit it.
func CatchupTicks(next NextFunc, last, now time.Time, policy string, window, grace time.Duration) (run []time.Time, newest time.Time) {
	horizon := window
	if policy == CatchupNone {
		horizon = grace
	}
	lo := now.Add(-horizon - time.Nanosecond)
	if lo.Before(last) {
		lo = last
	}
	recent := ticksIn(next, lo, now, maxCatchupTicks)
	if n := len(recent); n > 0 {
		newest = recent[n-1]
		if policy == CatchupAll {
			return recent, newest
		}
		return recent[n-1:], newest
	}
	return nil, newestIn(next, last, lo)
}

// ticksIn lists the ticks in (lo, hi], keeping the newest max.
func ticksIn(next NextFunc, lo, hi time.Time, max int) []time.Time {
	var out []time.Time
	for t := next(lo); !t.IsZero() && !t.After(hi); t = next(t) {
		out = append(out, t)
		if len(out) > 2*max {
			out = append(out[:0], out[len(out)-max:]...)
		}
	}
	if len(out) > max {
		out = out[len(out)-max:]
	}
	return out
}

// newestIn returns the newest tick in (lo, hi] without walking every tick
// from lo: it looks back from hi over growing spans.
func newestIn(next NextFunc, lo, hi time.Time) time.Time {
	for d := time.Second; ; d *= 4 {
		from := hi.Add(-d)
		if d > 100*365*24*time.Hour || !from.After(lo) {
			from = lo
		}
		if t := next(from); !t.IsZero() && !t.After(hi) {
			ts := ticksIn(next, from, hi, 1)
			return ts[len(ts)-1]
		}
		if from.Equal(lo) {
			return time.Time{}
		}
	}
}

// describeCron is used by listings: the expression and its zone.
func (s *Schedule) describeCron() string {
	if s.Config.Cron == "" {
		return "every " + s.Partitions.Kind() + " window"
	}
	return strings.TrimSpace(s.Config.Cron) + " " + s.loc.String()
}

// Describe returns "0 2 * * * Europe/Berlin" or "every daily window".
func (s *Schedule) Describe() string { return s.describeCron() }
