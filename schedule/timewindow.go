package schedule

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// TimeWindows partitions time into hourly, daily, weekly or monthly windows
// that follow the wall clock of a time zone. A key is its window's start
// formatted with Format. On a DST day a daily window lasts 23 or 25 hours;
// an hourly window whose start falls in a spring-forward gap does not exist,
// and the repeated hour of a fall-back is one two-hour window, so keys stay
// unique and every instant belongs to exactly one window.
type TimeWindows struct {
	name      string
	cadence   string
	loc       *time.Location
	format    string
	endOffset int
	weekOff   int64 // days from 1970-01-01 to the first week start
	first     int64 // index of the first window
	limit     int64 // index of the first window not included (end); hasEnd
	hasEnd    bool
}

var _ Definition = (*TimeWindows)(nil)

func newTimeWindows(name string, c PartitionsConfig) (*TimeWindows, error) {
	tw := &TimeWindows{name: name, cadence: c.Type, loc: time.UTC, endOffset: c.EndOffset}
	if c.Timezone != "" {
		loc, err := time.LoadLocation(c.Timezone)
		if err != nil {
			return nil, fmt.Errorf("partitions %q: timezone %q: %w", name, c.Timezone, err)
		}
		tw.loc = loc
	}
	ws := time.Monday
	if c.WeekStart != "" {
		var ok bool
		if ws, ok = parseWeekday(c.WeekStart); !ok {
			return nil, fmt.Errorf("partitions %q: week_start %q is not a day name", name, c.WeekStart)
		}
		if c.Type != KindWeekly {
			return nil, fmt.Errorf("partitions %q: week_start applies to weekly partitions only", name)
		}
	}
	// 1970-01-01 was a Thursday.
	tw.weekOff = (int64(ws) - int64(time.Thursday) + 7) % 7
	tw.format = c.Format
	if tw.format == "" {
		tw.format = map[string]string{KindHourly: "2006-01-02T15", KindDaily: "2006-01-02", KindWeekly: "2006-01-02", KindMonthly: "2006-01"}[c.Type]
	} else if strings.Contains(tw.format, "%") {
		f, err := strftimeLayout(tw.format)
		if err != nil {
			return nil, fmt.Errorf("partitions %q: format: %w", name, err)
		}
		tw.format = f
	}
	if c.Start == "" {
		return nil, fmt.Errorf("partitions %q: %s partitions need start: (for example start: 2024-01-01)", name, c.Type)
	}
	start, err := parseWall(c.Start, tw.loc)
	if err != nil {
		return nil, fmt.Errorf("partitions %q: start: %w", name, err)
	}
	if start.Year() < 1900 {
		return nil, fmt.Errorf("partitions %q: start %s is before 1900", name, c.Start)
	}
	tw.first = tw.index(start)
	if c.End != "" {
		end, err := parseWall(c.End, tw.loc)
		if err != nil {
			return nil, fmt.Errorf("partitions %q: end: %w", name, err)
		}
		// Windows starting before end are included.
		tw.limit = tw.index(end)
		if !tw.wallAt(tw.limit).Equal(end) {
			tw.limit++
		}
		tw.hasEnd = true
		if tw.limit <= tw.first {
			return nil, fmt.Errorf("partitions %q: end %s is not after start %s", name, c.End, c.Start)
		}
	}
	// The format must name every window uniquely and read back.
	a, b := tw.wallAt(tw.first), tw.wallAt(tw.first+1)
	ka, kb := a.Format(tw.format), b.Format(tw.format)
	if ka == kb {
		return nil, fmt.Errorf("partitions %q: format %q gives consecutive %s windows the same key %q", name, c.Format, c.Type, ka)
	}
	if i, err := tw.keyIndex(ka); err != nil || i != tw.first {
		return nil, fmt.Errorf("partitions %q: format %q does not read back (key %q)", name, c.Format, ka)
	}
	return tw, nil
}

// Name returns the definition's name.
func (tw *TimeWindows) Name() string { return tw.name }

// Kind returns the cadence: hourly, daily, weekly or monthly.
func (tw *TimeWindows) Kind() string { return tw.cadence }

// Location returns the time zone windows follow.
func (tw *TimeWindows) Location() *time.Location { return tw.loc }

// Keys lists every key from start to the last complete window at now,
// shifted by end_offset and cut at end.
func (tw *TimeWindows) Keys(_ context.Context, now time.Time) ([]string, error) {
	last, ok := tw.lastIndex(now)
	if !ok {
		return nil, nil
	}
	if err := tw.checkCount(tw.first, last); err != nil {
		return nil, err
	}
	return tw.keysBetween(tw.first, last), nil
}

// MaxKeys bounds how many keys Keys and Range list.
const MaxKeys = 1_000_000

func (tw *TimeWindows) checkCount(i, j int64) error {
	if j-i >= MaxKeys {
		return fmt.Errorf("partitions %q: %d %s windows are more than %d; use a later start", tw.name, j-i+1, tw.cadence, MaxKeys)
	}
	return nil
}

// Window returns the [start, end) of key.
func (tw *TimeWindows) Window(key string) (time.Time, time.Time, bool, error) {
	i, err := tw.keyIndex(key)
	if err != nil {
		return time.Time{}, time.Time{}, true, err
	}
	s, e := tw.bounds(i)
	return s, e, true, nil
}

// Contains reports whether key is a valid key that exists at now.
func (tw *TimeWindows) Contains(_ context.Context, key string, now time.Time) (bool, error) {
	i, err := tw.keyIndex(key)
	if err != nil {
		return false, nil
	}
	last, ok := tw.lastIndex(now)
	return ok && i <= last, nil
}

// Range lists the keys from from to to, both included. It does not look at
// the clock: callers check that to is complete.
func (tw *TimeWindows) Range(_ context.Context, from, to string) ([]string, error) {
	i, err := tw.keyIndex(from)
	if err != nil {
		return nil, err
	}
	j, err := tw.keyIndex(to)
	if err != nil {
		return nil, err
	}
	if j < i {
		return nil, fmt.Errorf("partitions %q: range %s..%s is backwards", tw.name, from, to)
	}
	if err := tw.checkCount(i, j); err != nil {
		return nil, err
	}
	return tw.keysBetween(i, j), nil
}

// LastComplete returns the key of the newest window that has ended at now
// (ignoring end_offset); ok is false before the first window ends.
func (tw *TimeWindows) LastComplete(now time.Time) (string, bool) {
	i, ok := tw.lastCompleteIndex(now)
	if !ok {
		return "", false
	}
	return tw.wallAt(i).Format(tw.format), true
}

// Last returns the newest key at now: LastComplete shifted by end_offset
// and cut at end. Schedules of partitioned jobs run this key.
func (tw *TimeWindows) Last(now time.Time) (string, bool) {
	i, ok := tw.lastIndex(now)
	if !ok {
		return "", false
	}
	return tw.wallAt(i).Format(tw.format), true
}

// NextBoundary returns the first window end after t: the natural tick of a
// schedule for this definition.
func (tw *TimeWindows) NextBoundary(t time.Time) time.Time {
	i := tw.index(wallOf(t, tw.loc))
	for k := i; ; k++ {
		if e := resolveWall(tw.wallAt(k+1), tw.loc); e.After(t) {
			return e
		}
	}
}

// Adjacent reports whether window b directly follows window a.
func (tw *TimeWindows) Adjacent(a, b string) bool {
	i, err1 := tw.keyIndex(a)
	j, err2 := tw.keyIndex(b)
	if err1 != nil || err2 != nil || j <= i {
		return false
	}
	for k := i + 1; k < j; k++ {
		if tw.exists(k) {
			return false
		}
	}
	return true
}

func (tw *TimeWindows) keysBetween(i, j int64) []string {
	if j < i {
		return nil
	}
	keys := make([]string, 0, j-i+1)
	for k := i; k <= j; k++ {
		if tw.exists(k) {
			keys = append(keys, tw.wallAt(k).Format(tw.format))
		}
	}
	return keys
}

// lastCompleteIndex finds the newest existing window with end <= now and
// index >= first (and < limit).
func (tw *TimeWindows) lastCompleteIndex(now time.Time) (int64, bool) {
	k := tw.index(wallOf(now, tw.loc))
	for ; k >= tw.first; k-- {
		if !tw.exists(k) {
			continue
		}
		if _, e := tw.bounds(k); !e.After(now) {
			break
		}
	}
	if tw.hasEnd && k >= tw.limit {
		k = tw.limit - 1
	}
	return k, k >= tw.first
}

func (tw *TimeWindows) lastIndex(now time.Time) (int64, bool) {
	k, _ := tw.lastCompleteIndex(now)
	for n := tw.endOffset; n > 0; n-- {
		k++
		for !tw.exists(k) {
			k++
		}
	}
	for n := tw.endOffset; n < 0 && k >= tw.first; n++ {
		k--
		for k >= tw.first && !tw.exists(k) {
			k--
		}
	}
	if tw.hasEnd && k >= tw.limit {
		k = tw.limit - 1
	}
	return k, k >= tw.first
}

// keyIndex parses key into a window index within [first, limit).
func (tw *TimeWindows) keyIndex(key string) (int64, error) {
	w, err := time.Parse(tw.format, key)
	if err != nil {
		return 0, fmt.Errorf("partitions %q: key %q does not match format %q", tw.name, key, tw.format)
	}
	w = wallOf(w, w.Location())
	i := tw.index(w)
	if tw.wallAt(i).Format(tw.format) != key {
		return 0, fmt.Errorf("partitions %q: key %q is not the start of a %s window (try %q)", tw.name, key, tw.cadence, tw.wallAt(i).Format(tw.format))
	}
	if i < tw.first {
		return 0, fmt.Errorf("partitions %q: key %q is before the first window %q", tw.name, key, tw.wallAt(tw.first).Format(tw.format))
	}
	if tw.hasEnd && i >= tw.limit {
		return 0, fmt.Errorf("partitions %q: key %q is after the last window %q", tw.name, key, tw.wallAt(tw.limit-1).Format(tw.format))
	}
	if !tw.exists(i) {
		return 0, fmt.Errorf("partitions %q: key %q names a window skipped by a daylight-saving change in %s", tw.name, key, tw.loc)
	}
	return i, nil
}

func (tw *TimeWindows) bounds(i int64) (time.Time, time.Time) {
	return resolveWall(tw.wallAt(i), tw.loc), resolveWall(tw.wallAt(i+1), tw.loc)
}

// exists is false for a window whose start and end resolve to the same
// instant: an hour skipped by spring-forward.
func (tw *TimeWindows) exists(i int64) bool {
	if tw.cadence != KindHourly || tw.loc == time.UTC {
		return true
	}
	s, e := tw.bounds(i)
	return e.After(s)
}

// index returns the window containing wall time w (a UTC value holding
// wall-clock fields).
func (tw *TimeWindows) index(w time.Time) int64 {
	sec := w.Unix()
	switch tw.cadence {
	case KindHourly:
		return floorDiv(sec, 3600)
	case KindDaily:
		return floorDiv(sec, 86400)
	case KindWeekly:
		return floorDiv(floorDiv(sec, 86400)-tw.weekOff, 7)
	default:
		return int64(w.Year())*12 + int64(w.Month()) - 1
	}
}

// wallAt returns the wall-clock start of window i.
func (tw *TimeWindows) wallAt(i int64) time.Time {
	switch tw.cadence {
	case KindHourly:
		return time.Unix(i*3600, 0).UTC()
	case KindDaily:
		return time.Unix(i*86400, 0).UTC()
	case KindWeekly:
		return time.Unix((i*7+tw.weekOff)*86400, 0).UTC()
	default:
		return time.Date(int(floorDiv(i, 12)), time.Month(i-floorDiv(i, 12)*12+1), 1, 0, 0, 0, 0, time.UTC)
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// wallOf returns t's wall clock in loc as a UTC value.
func wallOf(t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	return time.Date(y, mo, d, h, mi, s, t.Nanosecond(), time.UTC)
}

// resolveWall maps wall time w (UTC fields) in loc to an instant. A wall
// time repeated by a fall-back resolves to its first occurrence; one
// skipped by a spring-forward resolves to the first instant after the gap.
func resolveWall(w time.Time, loc *time.Location) time.Time {
	if loc == time.UTC {
		return w
	}
	y, mo, d := w.Date()
	h, mi, s := w.Clock()
	t := time.Date(y, mo, d, h, mi, s, w.Nanosecond(), loc)
	got := wallOf(t, loc)
	if got.Equal(w) {
		// Is there an earlier instant with the same wall clock?
		if start, _ := t.ZoneBounds(); !start.IsZero() {
			_, off := start.Add(-time.Nanosecond).Zone()
			if cand := w.Add(-time.Duration(off) * time.Second); cand.Before(t) && wallOf(cand, loc).Equal(w) {
				return cand
			}
		}
		return t
	}
	start, end := t.ZoneBounds()
	if got.After(w) {
		return start
	}
	return end
}

// parseWall reads a start or end setting as a wall time in loc.
func parseWall(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return wallOf(t, loc), nil
	}
	for _, layout := range []string{"2006-01-02", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15", "2006-01"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date (2006-01-02), a date and time (2006-01-02T15:04) or RFC 3339", s)
}

func parseWeekday(s string) (time.Weekday, bool) {
	s = strings.ToLower(s)
	for d := time.Sunday; d <= time.Saturday; d++ {
		name := strings.ToLower(d.String())
		if s == name || s == name[:3] {
			return d, true
		}
	}
	return 0, false
}

// strftimeLayout converts a strftime format to a Go layout.
func strftimeLayout(f string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			b.WriteByte(f[i])
			continue
		}
		if i+1 == len(f) {
			return "", fmt.Errorf("%q ends with a lone %%", f)
		}
		i++
		repl, ok := map[byte]string{'Y': "2006", 'y': "06", 'm': "01", 'd': "02", 'H': "15", 'M': "04", 'S': "05", 'b': "Jan", 'B': "January", 'j': "002", 'a': "Mon", 'A': "Monday", '%': "%"}[f[i]]
		if !ok {
			return "", fmt.Errorf("%q: %%%c is not supported (use %%Y %%m %%d %%H %%M %%S %%y %%b %%B %%j %%a %%A)", f, f[i])
		}
		b.WriteString(repl)
	}
	return b.String(), nil
}
