package restapi

import (
	"errors"
	"fmt"
	"time"
)

// interval is a window length: calendar units or a fixed duration. All
// arithmetic is in UTC.
type interval struct {
	unit  string // hour, day, week, month, or "" for fixed
	fixed time.Duration
}

func parseInterval(s string) (interval, error) {
	switch s {
	case "hourly", "hour":
		return interval{unit: "hour"}, nil
	case "daily", "day":
		return interval{unit: "day"}, nil
	case "weekly", "week":
		return interval{unit: "week"}, nil
	case "monthly", "month":
		return interval{unit: "month"}, nil
	case "":
		return interval{}, errors.New("is required (hourly, daily, weekly, monthly or a duration such as 15m)")
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return interval{}, fmt.Errorf("%q: use hourly, daily, weekly, monthly or a positive duration such as 15m", s)
	}
	return interval{fixed: d}, nil
}

// truncate returns the start of the interval containing t.
func (iv interval) truncate(t time.Time) time.Time {
	t = t.UTC()
	switch iv.unit {
	case "hour":
		return t.Truncate(time.Hour)
	case "day":
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	case "week": // ISO weeks start on Monday
		d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
	case "month":
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Unix(0, 0).UTC().Add(t.Sub(time.Unix(0, 0)) / iv.fixed * iv.fixed)
}

// next returns the start of the interval after the one starting at t.
func (iv interval) next(t time.Time) time.Time {
	switch iv.unit {
	case "hour":
		return t.Add(time.Hour)
	case "day":
		return t.AddDate(0, 0, 1)
	case "week":
		return t.AddDate(0, 0, 7)
	case "month":
		return t.AddDate(0, 1, 0)
	}
	return t.Add(iv.fixed)
}

// span is one extraction window [Start, End); both zero for a full
// refresh without a window.
type span struct {
	Start, End time.Time
}

func (s span) isZero() bool { return s.Start.IsZero() && s.End.IsZero() }

func (s span) String() string {
	if s.isZero() {
		return "full refresh"
	}
	return s.Start.UTC().Format(time.RFC3339) + ".." + s.End.UTC().Format(time.RFC3339)
}

// walk splits [start, end) into windows of iv in order; the first and last
// are clipped to the range.
func (iv interval) walk(start, end time.Time) []span {
	var out []span
	for s := start; s.Before(end); {
		e := iv.next(iv.truncate(s))
		if e.After(end) {
			e = end
		}
		if !e.After(s) { // cannot happen for valid intervals; guards a loop
			break
		}
		out = append(out, span{Start: s, End: e})
		s = e
	}
	return out
}

// parseStart parses window.start and stored cursors: RFC 3339 or a date.
func parseStart(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q: use RFC 3339 (2024-01-31T00:00:00Z) or a date (2024-01-31)", s)
}

// unpartitionedWindows returns the windows from the cursor (or the
// configured start) to the last complete interval before now - lag.
func unpartitionedWindows(w *Window, cursor string, now time.Time) ([]span, error) {
	iv, err := parseInterval(w.Interval)
	if err != nil {
		return nil, fmt.Errorf("window.interval: %w", err)
	}
	from := w.Start
	if cursor != "" {
		from = cursor
	}
	if from == "" {
		return nil, errors.New("window.start is required: there is no stored cursor yet, so the first window must be given")
	}
	start, err := parseStart(from)
	if err != nil {
		return nil, fmt.Errorf("window start: %w", err)
	}
	end := iv.truncate(now.Add(-time.Duration(w.Lag)))
	return iv.walk(start, end), nil
}

// partitionWindows walks a partition's window by the configured interval
// (a backfill range becomes its windows in order), or keeps it whole.
func partitionWindows(w *Window, start, end time.Time) ([]span, error) {
	if w == nil || w.Interval == "" {
		return []span{{Start: start, End: end}}, nil
	}
	iv, err := parseInterval(w.Interval)
	if err != nil {
		return nil, fmt.Errorf("window.interval: %w", err)
	}
	return iv.walk(start, end), nil
}
