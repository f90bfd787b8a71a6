package schedule

import (
	"context"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
)

// FuzzPartitionsConfig feeds arbitrary start, end and format settings to
// the time-window parser: it must not panic, and a definition it accepts
// must read its own keys back.
func FuzzPartitionsConfig(f *testing.F) {
	f.Add("daily", "2024-01-01", "", "%Y-%m-%d", "")
	f.Add("hourly", "2024-03-31T01:00", "2024-04-01", "2006-01-02T15", "sun")
	f.Add("monthly", "2024-02-29T00:00:00+01:00", "", "%b %Y", "")
	f.Add("weekly", "2024-01", "2025", "Mon 2006-01-02", "friday")
	f.Fuzz(func(t *testing.T, typ, start, end, format, weekStart string) {
		d, err := NewDefinition("p", PartitionsConfig{Type: typ, Start: start, End: end, Format: format, WeekStart: weekStart, Timezone: "Europe/Berlin"}, nil)
		if err != nil {
			return
		}
		keys, err := d.Keys(context.Background(), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		if err != nil || len(keys) == 0 {
			return
		}
		for _, k := range []string{keys[0], keys[len(keys)-1]} {
			if _, _, _, err := d.Window(k); err != nil {
				t.Fatalf("key %q from Keys does not read back: %v", k, err)
			}
		}
	})
}

// FuzzSensorCursor evaluates asset and file sensors with arbitrary stored
// cursors: a bad cursor is an error, never a panic, and a cursor a sensor
// returns is one it accepts.
func FuzzSensorCursor(f *testing.F) {
	f.Add(`{"raw/orders":"2024-01-01T00:00:00Z"}`)
	f.Add(`{"files":{"a.csv":[1,2]}}`)
	f.Add(`{"files":null}`)
	f.Add(`[]`)
	mats := func(context.Context) (map[asset.Key]time.Time, error) {
		return map[asset.Key]time.Time{asset.MustKey("raw", "orders"): time.Unix(1e9, 0)}, nil
	}
	dir := f.TempDir()
	as, _ := NewSensor("a", SensorConfig{Type: SensorAsset, Assets: []string{"raw/orders"}}, SensorEnv{Materializations: mats})
	fs, _ := NewSensor("f", SensorConfig{Type: SensorFile, Path: dir, Job: "j"}, SensorEnv{})
	fr, _ := NewSensor("r", SensorConfig{Type: SensorFreshness, Assets: []string{"raw/orders"}, MaxAge: time.Hour}, SensorEnv{Materializations: mats})
	f.Fuzz(func(t *testing.T, cursor string) {
		for _, s := range []*Sensor{as, fs, fr} {
			_, next, err := s.Evaluate(context.Background(), time.Unix(2e9, 0), cursor)
			if err != nil {
				continue
			}
			if _, _, err := s.Evaluate(context.Background(), time.Unix(2e9, 0), next); err != nil {
				t.Fatalf("%s: cursor %q it returned is rejected: %v", s.Config.Type, next, err)
			}
		}
	})
}
