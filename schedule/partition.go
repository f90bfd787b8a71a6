package schedule

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// PartitionsConfig is one entry of the `partitions:` map of elt.yaml; the
// map key is the definition's name.
//
//	partitions:
//	  daily:   {type: daily, start: 2024-01-01, timezone: Europe/Berlin}
//	  hourly:  {type: hourly, start: "2024-01-01T00:00", end_offset: 1}
//	  weeks:   {type: weekly, start: 2024-01-01, week_start: sunday}
//	  months:  {type: monthly, start: 2020-01-01, end: 2025-01-01, format: "%Y-%m"}
//	  regions: {type: static, keys: [eu, us, apac]}
//	  files:   {type: dynamic}
type PartitionsConfig struct {
	// Type is static, hourly, daily, weekly, monthly or dynamic.
	Type string `yaml:"type"`
	// Keys lists a static definition's keys, in order.
	Keys []string `yaml:"keys,omitempty"`
	// Start is the first window's start (a date, "2006-01-02T15:04" or RFC
	// 3339), in Timezone unless it carries an offset. It is rounded down
	// to the cadence (a monthly start of 2024-01-15 means 2024-01).
	Start string `yaml:"start,omitempty"`
	// End, optional, is exclusive: no window starts at or after it.
	End string `yaml:"end,omitempty"`
	// Timezone is an IANA name; UTC when empty. Windows follow its wall
	// clock, so a daily window on a DST day lasts 23 or 25 hours.
	Timezone string `yaml:"timezone,omitempty"`
	// EndOffset shifts the newest key: 0 ends at the last complete window,
	// 1 includes the window in progress, -1 stops one window earlier.
	EndOffset int `yaml:"end_offset,omitempty"`
	// Format of keys: a Go layout ("2006-01-02") or strftime ("%Y-%m-%d").
	// Defaults: hourly 2006-01-02T15, daily and weekly 2006-01-02,
	// monthly 2006-01.
	Format string `yaml:"format,omitempty"`
	// WeekStart is the first day of weekly windows; monday by default.
	WeekStart string `yaml:"week_start,omitempty"`
}

// Partition definition kinds.
const (
	KindStatic  = "static"
	KindHourly  = "hourly"
	KindDaily   = "daily"
	KindWeekly  = "weekly"
	KindMonthly = "monthly"
	KindDynamic = "dynamic"
)

// Definition is a named way of splitting assets into partitions.
type Definition interface {
	// Name is the key of the definition in elt.yaml.
	Name() string
	// Kind is one of the Kind constants.
	Kind() string
	// Keys lists the keys that exist at now, in order.
	Keys(ctx context.Context, now time.Time) ([]string, error)
	// Window returns a time window key's [start, end); ok is false for
	// definitions without windows. err reports a malformed key.
	Window(key string) (start, end time.Time, ok bool, err error)
	// Contains reports whether key is one of Keys(ctx, now).
	Contains(ctx context.Context, key string, now time.Time) (bool, error)
	// Range lists the keys from from to to, both included, in order.
	Range(ctx context.Context, from, to string) ([]string, error)
}

// PartitionLister reads the keys of dynamic definitions (store.Store has
// this method).
type PartitionLister interface {
	Partitions(ctx context.Context, def string) ([]string, error)
}

// Validate reports problems found without reading the store.
func (c *PartitionsConfig) Validate() []error {
	_, err := NewDefinition("partitions", *c, nil)
	return splitErrors(err)
}

// splitErrors undoes errors.Join.
func splitErrors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// UpstreamKeys returns the partitions of an upstream asset that a run of
// the downstream asset's partition key depends on: the same key when both
// share a definition, every key of the upstream's definition otherwise,
// and none when the upstream is not partitioned (up is nil).
func UpstreamKeys(ctx context.Context, up, down Definition, key string, now time.Time) ([]string, error) {
	switch {
	case up == nil:
		return nil, nil
	case down != nil && up.Name() == down.Name():
		return []string{key}, nil
	}
	return up.Keys(ctx, now)
}

// NewDefinition builds the definition named name. lister serves dynamic
// definitions and may be nil for the others (or for validation only).
func NewDefinition(name string, c PartitionsConfig, lister PartitionLister) (Definition, error) {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("partitions %q: "+format, append([]any{name}, a...)...))
	}
	switch c.Type {
	case KindStatic:
		if len(c.Keys) == 0 {
			bad("static partitions need keys: [a, b, …]")
		}
		seen := map[string]bool{}
		for _, k := range c.Keys {
			if err := ValidateKey(k); err != nil {
				bad("%v", err)
			}
			if seen[k] {
				bad("key %q listed twice", k)
			}
			seen[k] = true
		}
		if c.Start != "" || c.End != "" || c.Timezone != "" || c.Format != "" || c.EndOffset != 0 || c.WeekStart != "" {
			bad("start, end, timezone, format, end_offset and week_start apply to time windows, not static partitions")
		}
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		return &Static{name: name, keys: slices.Clone(c.Keys)}, nil
	case KindDynamic:
		if len(c.Keys) > 0 || c.Start != "" || c.End != "" || c.Timezone != "" || c.Format != "" {
			bad("dynamic partitions take no keys or window settings; add keys with `elt partitions add %s KEY…`", name)
			return nil, errors.Join(errs...)
		}
		return &Dynamic{name: name, lister: lister}, nil
	case KindHourly, KindDaily, KindWeekly, KindMonthly:
		if len(c.Keys) > 0 {
			bad("keys apply to static partitions only")
		}
		tw, err := newTimeWindows(name, c)
		if err != nil {
			errs = append(errs, err)
		}
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		return tw, nil
	case "":
		bad("type is missing: use static, hourly, daily, weekly, monthly or dynamic")
	default:
		bad("unknown type %q: use static, hourly, daily, weekly, monthly or dynamic", c.Type)
	}
	return nil, errors.Join(errs...)
}

// ValidateKey reports whether key can be a partition key: not empty, at
// most 255 bytes, without commas (ranges are passed comma-separated) or
// control characters.
func ValidateKey(key string) error {
	if key == "" {
		return errors.New("partition key is empty")
	}
	if len(key) > 255 {
		return fmt.Errorf("partition key %.20q… is longer than 255 bytes", key)
	}
	if strings.ContainsRune(key, ',') {
		return fmt.Errorf("partition key %q contains a comma", key)
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("partition key %q contains a control character", key)
		}
	}
	return nil
}

// Static is a fixed list of keys.
type Static struct {
	name string
	keys []string
}

// Name returns the definition's name.
func (s *Static) Name() string { return s.name }

// Kind returns KindStatic.
func (s *Static) Kind() string { return KindStatic }

// Keys returns the configured keys.
func (s *Static) Keys(context.Context, time.Time) ([]string, error) {
	return slices.Clone(s.keys), nil
}

// Window reports no window; err names a key that is not listed.
func (s *Static) Window(key string) (time.Time, time.Time, bool, error) {
	if !slices.Contains(s.keys, key) {
		return time.Time{}, time.Time{}, false, unknownKey(s.name, key, s.keys)
	}
	return time.Time{}, time.Time{}, false, nil
}

// Contains reports whether key is listed.
func (s *Static) Contains(_ context.Context, key string, _ time.Time) (bool, error) {
	return slices.Contains(s.keys, key), nil
}

// Range returns the keys from from to to in list order.
func (s *Static) Range(_ context.Context, from, to string) ([]string, error) {
	return listRange(s.name, s.keys, from, to)
}

// Dynamic keys live in the run store and are added by `elt partitions add`
// or by sensors.
type Dynamic struct {
	name   string
	lister PartitionLister
}

// Name returns the definition's name.
func (d *Dynamic) Name() string { return d.name }

// Kind returns KindDynamic.
func (d *Dynamic) Kind() string { return KindDynamic }

// Keys reads the keys from the store, in insertion order.
func (d *Dynamic) Keys(ctx context.Context, _ time.Time) ([]string, error) {
	if d.lister == nil {
		return nil, fmt.Errorf("partitions %q: dynamic partitions need the run store", d.name)
	}
	keys, err := d.lister.Partitions(ctx, d.name)
	if err != nil {
		return nil, fmt.Errorf("partitions %q: %w", d.name, err)
	}
	return keys, nil
}

// Window reports no window; any valid key is accepted.
func (d *Dynamic) Window(key string) (time.Time, time.Time, bool, error) {
	return time.Time{}, time.Time{}, false, ValidateKey(key)
}

// Contains reports whether the store holds key.
func (d *Dynamic) Contains(ctx context.Context, key string, now time.Time) (bool, error) {
	keys, err := d.Keys(ctx, now)
	if err != nil {
		return false, err
	}
	return slices.Contains(keys, key), nil
}

// Range returns the stored keys from from to to in insertion order.
func (d *Dynamic) Range(ctx context.Context, from, to string) ([]string, error) {
	keys, err := d.Keys(ctx, time.Time{})
	if err != nil {
		return nil, err
	}
	return listRange(d.name, keys, from, to)
}

func listRange(name string, keys []string, from, to string) ([]string, error) {
	i, j := slices.Index(keys, from), slices.Index(keys, to)
	if i < 0 {
		return nil, unknownKey(name, from, keys)
	}
	if j < 0 {
		return nil, unknownKey(name, to, keys)
	}
	if j < i {
		return nil, fmt.Errorf("partitions %q: range %s..%s is backwards (%q comes first)", name, from, to, to)
	}
	return slices.Clone(keys[i : j+1]), nil
}

func unknownKey(name, key string, keys []string) error {
	const show = 5
	list := keys
	more := ""
	if len(list) > show {
		list, more = list[:show], fmt.Sprintf(", … (%d keys)", len(keys))
	}
	return fmt.Errorf("partitions %q has no key %q (keys: %s%s)", name, key, strings.Join(list, ", "), more)
}
