package schedule

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // zones in tests do not depend on the machine
)

var update = flag.Bool("update", false, "rewrite golden files")

func mustLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("time zone %s: %v", name, err)
	}
	return loc
}

func mustDef(t testing.TB, c PartitionsConfig) Definition {
	t.Helper()
	d, err := NewDefinition("p", c, nil)
	if err != nil {
		t.Fatalf("NewDefinition(%+v): %v", c, err)
	}
	return d
}

func TestWindowLengths(t *testing.T) {
	mustLoc(t, "Europe/Berlin")
	tests := []struct {
		name string
		cfg  PartitionsConfig
		key  string
		want time.Duration
		// start is the window's start in the definition's zone.
		start string
	}{
		{"berlin spring forward day", PartitionsConfig{Type: "daily", Start: "2024-01-01", Timezone: "Europe/Berlin"}, "2024-03-31", 23 * time.Hour, "2024-03-31T00:00:00+01:00"},
		{"berlin fall back day", PartitionsConfig{Type: "daily", Start: "2024-01-01", Timezone: "Europe/Berlin"}, "2024-10-27", 25 * time.Hour, "2024-10-27T00:00:00+02:00"},
		{"berlin ordinary day", PartitionsConfig{Type: "daily", Start: "2024-01-01", Timezone: "Europe/Berlin"}, "2024-06-01", 24 * time.Hour, "2024-06-01T00:00:00+02:00"},
		{"new york spring forward", PartitionsConfig{Type: "daily", Start: "2024-01-01", Timezone: "America/New_York"}, "2024-03-10", 23 * time.Hour, "2024-03-10T00:00:00-05:00"},
		{"leap day", PartitionsConfig{Type: "daily", Start: "2024-01-01"}, "2024-02-29", 24 * time.Hour, "2024-02-29T00:00:00Z"},
		{"february of a leap year", PartitionsConfig{Type: "monthly", Start: "2020-01-01"}, "2024-02", 29 * 24 * time.Hour, "2024-02-01T00:00:00Z"},
		{"february of a common year", PartitionsConfig{Type: "monthly", Start: "2020-01-01"}, "2023-02", 28 * 24 * time.Hour, "2023-02-01T00:00:00Z"},
		{"january", PartitionsConfig{Type: "monthly", Start: "2020-01-01"}, "2024-01", 31 * 24 * time.Hour, "2024-01-01T00:00:00Z"},
		{"berlin march month", PartitionsConfig{Type: "monthly", Start: "2020-01-01", Timezone: "Europe/Berlin"}, "2024-03", 31*24*time.Hour - time.Hour, "2024-03-01T00:00:00+01:00"},
		{"hourly before gap", PartitionsConfig{Type: "hourly", Start: "2024-01-01", Timezone: "Europe/Berlin"}, "2024-03-31T01", time.Hour, "2024-03-31T01:00:00+01:00"},
		{"hourly after gap", PartitionsConfig{Type: "hourly", Start: "2024-01-01", Timezone: "Europe/Berlin"}, "2024-03-31T03", time.Hour, "2024-03-31T03:00:00+02:00"},
		{"hourly repeated hour is one window", PartitionsConfig{Type: "hourly", Start: "2024-01-01", Timezone: "Europe/Berlin"}, "2024-10-27T02", 2 * time.Hour, "2024-10-27T02:00:00+02:00"},
		{"weekly monday", PartitionsConfig{Type: "weekly", Start: "2024-01-01"}, "2024-01-08", 7 * 24 * time.Hour, "2024-01-08T00:00:00Z"},
		{"weekly sunday", PartitionsConfig{Type: "weekly", Start: "2024-01-01", WeekStart: "sunday"}, "2024-01-07", 7 * 24 * time.Hour, "2024-01-07T00:00:00Z"},
		{"weekly over fall back", PartitionsConfig{Type: "weekly", Start: "2024-01-01", Timezone: "Europe/Berlin"}, "2024-10-21", 7*24*time.Hour + time.Hour, "2024-10-21T00:00:00+02:00"},
		{"strftime format", PartitionsConfig{Type: "daily", Start: "2024-01-01", Format: "%Y/%m/%d"}, "2024/12/31", 24 * time.Hour, "2024-12-31T00:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustDef(t, tt.cfg)
			s, e, ok, err := d.Window(tt.key)
			if err != nil || !ok {
				t.Fatalf("Window(%q) = ok %v, err %v", tt.key, ok, err)
			}
			if got := e.Sub(s); got != tt.want {
				t.Errorf("window %s..%s lasts %s, want %s", s, e, got, tt.want)
			}
			want, _ := time.Parse(time.RFC3339, tt.start)
			if !s.Equal(want) {
				t.Errorf("start = %s, want %s", s, want)
			}
		})
	}
}

func TestWindowKeyErrors(t *testing.T) {
	daily := mustDef(t, PartitionsConfig{Type: "daily", Start: "2024-01-01", End: "2025-01-01"})
	hourly := mustDef(t, PartitionsConfig{Type: "hourly", Start: "2024-01-01", Timezone: "Europe/Berlin"})
	monthly := mustDef(t, PartitionsConfig{Type: "monthly", Start: "2024-01-01"})
	weekly := mustDef(t, PartitionsConfig{Type: "weekly", Start: "2024-01-01"})
	tests := []struct {
		def  Definition
		key  string
		want string
	}{
		{daily, "2023-02-29", "does not match format"},
		{daily, "2023-12-31", "before the first window"},
		{daily, "2025-01-01", "after the last window"},
		{daily, "2024-1-5", "does not match format"},
		{monthly, "2024-13", "does not match format"},
		{weekly, "2024-01-03", "not the start of a weekly window"},
		{hourly, "2024-03-31T02", "skipped by a daylight-saving change"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			_, _, _, err := tt.def.Window(tt.key)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Window(%q) error = %v, want it to mention %q", tt.key, err, tt.want)
			}
		})
	}
}

func TestHourlyKeysAcrossDST(t *testing.T) {
	d := mustDef(t, PartitionsConfig{Type: "hourly", Start: "2024-01-01", Timezone: "Europe/Berlin"})
	ctx := context.Background()
	for _, tt := range []struct {
		day  string
		want int
	}{{"2024-03-31", 23}, {"2024-10-27", 24}, {"2024-06-01", 24}} {
		keys, err := d.Range(ctx, tt.day+"T00", tt.day+"T23")
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != tt.want {
			t.Errorf("%s: %d hourly keys, want %d: %v", tt.day, len(keys), tt.want, keys)
		}
		// Windows tile the day without gaps or overlaps.
		for i := 1; i < len(keys); i++ {
			_, prevEnd, _, _ := d.Window(keys[i-1])
			s, _, _, _ := d.Window(keys[i])
			if !prevEnd.Equal(s) {
				t.Errorf("%s ends %s but %s starts %s", keys[i-1], prevEnd, keys[i], s)
			}
		}
	}
}

func TestLastCompleteAndKeys(t *testing.T) {
	ctx := context.Background()
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name      string
		cfg       PartitionsConfig
		now       string
		wantLast  string // "" for none
		wantCount int
	}{
		{"exactly at a boundary", PartitionsConfig{Type: "daily", Start: "2024-01-01"}, "2024-01-04T00:00:00Z", "2024-01-03", 3},
		{"just before a boundary", PartitionsConfig{Type: "daily", Start: "2024-01-01"}, "2024-01-03T23:59:59Z", "2024-01-02", 2},
		{"before the first window ends", PartitionsConfig{Type: "daily", Start: "2024-01-01"}, "2024-01-01T12:00:00Z", "", 0},
		{"end_offset 1 includes the current window", PartitionsConfig{Type: "daily", Start: "2024-01-01", EndOffset: 1}, "2024-01-01T12:00:00Z", "2024-01-01", 1},
		{"end_offset -1", PartitionsConfig{Type: "daily", Start: "2024-01-01", EndOffset: -1}, "2024-01-04T00:00:00Z", "2024-01-02", 2},
		{"end cuts the keys", PartitionsConfig{Type: "daily", Start: "2024-01-01", End: "2024-01-03"}, "2024-06-01T00:00:00Z", "2024-01-02", 2},
		{"berlin day ends at local midnight", PartitionsConfig{Type: "daily", Start: "2024-03-30", Timezone: "Europe/Berlin"}, "2024-03-31T22:00:00Z", "2024-03-31", 2},
		{"berlin day not yet over in utc terms", PartitionsConfig{Type: "daily", Start: "2024-03-30", Timezone: "Europe/Berlin"}, "2024-03-31T21:59:59Z", "2024-03-30", 1},
		{"month end", PartitionsConfig{Type: "monthly", Start: "2024-01-01"}, "2024-03-01T00:00:00Z", "2024-02", 2},
		{"monthly start rounds down", PartitionsConfig{Type: "monthly", Start: "2024-01-15"}, "2024-03-01T00:00:00Z", "2024-02", 2},
		{"leap year of days", PartitionsConfig{Type: "daily", Start: "2024-01-01"}, "2025-01-01T00:00:00Z", "2024-12-31", 366},
		{"hourly in repeated hour", PartitionsConfig{Type: "hourly", Start: "2024-10-27", Timezone: "Europe/Berlin"}, "2024-10-27T01:30:00Z", "2024-10-27T01", 2},
		{"hourly after repeated hour", PartitionsConfig{Type: "hourly", Start: "2024-10-27", Timezone: "Europe/Berlin"}, "2024-10-27T02:00:00Z", "2024-10-27T02", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustDef(t, tt.cfg).(*TimeWindows)
			last, ok := d.Last(at(tt.now))
			if ok != (tt.wantLast != "") || last != tt.wantLast {
				t.Errorf("Last = %q, %v; want %q", last, ok, tt.wantLast)
			}
			keys, err := d.Keys(ctx, at(tt.now))
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != tt.wantCount {
				t.Errorf("%d keys, want %d", len(keys), tt.wantCount)
			}
			if tt.wantLast != "" && (len(keys) == 0 || keys[len(keys)-1] != tt.wantLast) {
				t.Errorf("keys end %v, want %q", keys[max(0, len(keys)-3):], tt.wantLast)
			}
			if tt.wantLast != "" {
				if in, _ := d.Contains(ctx, tt.wantLast, at(tt.now)); !in {
					t.Errorf("Contains(%q) = false", tt.wantLast)
				}
			}
		})
	}
}

func TestNextBoundary(t *testing.T) {
	d := mustDef(t, PartitionsConfig{Type: "daily", Start: "2024-01-01", Timezone: "Europe/Berlin"}).(*TimeWindows)
	got := d.NextBoundary(time.Date(2024, 3, 30, 23, 0, 0, 0, time.UTC))
	want := time.Date(2024, 3, 31, 22, 0, 0, 0, time.UTC) // midnight CEST
	if !got.Equal(want) {
		t.Fatalf("NextBoundary = %s, want %s", got, want)
	}
}

func TestDefinitionConfigErrors(t *testing.T) {
	tests := []struct {
		cfg  PartitionsConfig
		want string
	}{
		{PartitionsConfig{}, "type is missing"},
		{PartitionsConfig{Type: "yearly"}, "unknown type"},
		{PartitionsConfig{Type: "static"}, "need keys"},
		{PartitionsConfig{Type: "static", Keys: []string{"a", "a"}}, "listed twice"},
		{PartitionsConfig{Type: "static", Keys: []string{"a,b"}}, "comma"},
		{PartitionsConfig{Type: "static", Keys: []string{"a"}, Start: "2024-01-01"}, "apply to time windows"},
		{PartitionsConfig{Type: "daily"}, "need start"},
		{PartitionsConfig{Type: "daily", Start: "yesterday"}, "is not a date"},
		{PartitionsConfig{Type: "daily", Start: "2024-01-01", Timezone: "Mars/Olympus"}, "timezone"},
		{PartitionsConfig{Type: "daily", Start: "2024-01-01", End: "2023-01-01"}, "not after start"},
		{PartitionsConfig{Type: "daily", Start: "2024-01-01", Format: "2006-01"}, "same key"},
		{PartitionsConfig{Type: "daily", Start: "2024-01-01", Format: "%Q"}, "not supported"},
		{PartitionsConfig{Type: "daily", Start: "2024-01-01", WeekStart: "monday"}, "weekly partitions only"},
		{PartitionsConfig{Type: "weekly", Start: "2024-01-01", WeekStart: "funday"}, "not a day name"},
		{PartitionsConfig{Type: "dynamic", Keys: []string{"a"}}, "take no keys"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			errs := tt.cfg.Validate()
			if len(errs) == 0 {
				t.Fatalf("Validate(%+v) = no error, want %q", tt.cfg, tt.want)
			}
			var all []string
			for _, e := range errs {
				all = append(all, e.Error())
			}
			if !strings.Contains(strings.Join(all, "\n"), tt.want) {
				t.Fatalf("errors %q do not mention %q", all, tt.want)
			}
		})
	}
}

func TestStaticAndDynamic(t *testing.T) {
	ctx := context.Background()
	st := mustDef(t, PartitionsConfig{Type: "static", Keys: []string{"eu", "us", "apac"}})
	if got, _ := st.Range(ctx, "us", "apac"); !slices.Equal(got, []string{"us", "apac"}) {
		t.Errorf("static Range = %v", got)
	}
	if _, err := st.Range(ctx, "apac", "eu"); err == nil {
		t.Error("backwards static range: no error")
	}
	if _, _, _, err := st.Window("mars"); err == nil || !strings.Contains(err.Error(), "eu, us, apac") {
		t.Errorf("unknown static key error = %v", err)
	}
	ms := newMemStore()
	dyn, err := NewDefinition("files", PartitionsConfig{Type: "dynamic"}, ms)
	if err != nil {
		t.Fatal(err)
	}
	if in, _ := dyn.Contains(ctx, "a.csv", time.Time{}); in {
		t.Error("empty dynamic definition contains a.csv")
	}
	ms.AddPartitions(ctx, "files", []string{"a.csv", "b.csv"})
	if keys, _ := dyn.Keys(ctx, time.Time{}); !slices.Equal(keys, []string{"a.csv", "b.csv"}) {
		t.Errorf("dynamic keys = %v", keys)
	}
	p, err := PartitionFor(dyn, "b.csv")
	if err != nil || p.Key != "b.csv" || p.HasWindow() {
		t.Errorf("PartitionFor(dynamic) = %+v, %v", p, err)
	}
}

func TestPartitionForAndRange(t *testing.T) {
	d := mustDef(t, PartitionsConfig{Type: "daily", Start: "2024-01-01", Timezone: "Europe/Berlin"})
	p, err := PartitionFor(d, "2024-03-31")
	if err != nil {
		t.Fatal(err)
	}
	if p.End.Sub(p.Start) != 23*time.Hour {
		t.Errorf("partition window %s..%s", p.Start, p.End)
	}
	env := strings.Join(p.Env(), " ")
	if !strings.Contains(env, "ELT_PARTITION_START=2024-03-31T00:00:00+01:00") || !strings.Contains(env, "ELT_PARTITION_END=2024-04-01T00:00:00+02:00") {
		t.Errorf("env = %s", env)
	}
	if _, err := PartitionFor(d, "2024-02-30"); err == nil {
		t.Error("PartitionFor(2024-02-30): no error")
	}
	keys, _ := d.Range(context.Background(), "2024-02-28", "2024-03-01")
	r := RangePartition(d, keys)
	if !slices.Equal(r.Keys, []string{"2024-02-28", "2024-02-29", "2024-03-01"}) || r.Key != "2024-02-28" || !r.IsRange() {
		t.Errorf("range keys = %v", r.Keys)
	}
	if got := r.End.Sub(r.Start); got != 72*time.Hour {
		t.Errorf("range spans %s, want 72h", got)
	}
	if RangePartition(d, nil) != nil {
		t.Error("RangePartition(nil) != nil")
	}
}

func TestCompactStatusGolden(t *testing.T) {
	d := mustDef(t, PartitionsConfig{Type: "daily", Start: "2016-01-01"})
	keys, err := d.Keys(context.Background(), time.Date(2024, 4, 4, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, k := range keys {
		if k < "2024-04-01" {
			status[k] = StatusMaterialized
		}
	}
	status["2020-02-29"] = StatusFailed
	status["2024-04-02"] = StatusFailed
	segs := CompactStatus(keys, status)
	var b strings.Builder
	for _, s := range segs {
		b.WriteString(s.String() + "\n")
	}
	if len(keys) < 3000 || len(segs) != 6 {
		t.Errorf("%d keys folded into %d segments, want >3000 into 6", len(keys), len(segs))
	}
	golden := filepath.Join("testdata", "compact_status.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if b.String() != string(want) {
		t.Errorf("compact status:\n%s\nwant:\n%s", b.String(), want)
	}
}

func FuzzWindowKey(f *testing.F) {
	for _, k := range []string{"2024-02-29", "2024-10-27T02", "2024-03", "", "9999-99-99", "2024-03-31T02"} {
		f.Add(k)
	}
	defs := []Definition{
		mustDef(f, PartitionsConfig{Type: "daily", Start: "2000-01-01", Timezone: "Europe/Berlin"}),
		mustDef(f, PartitionsConfig{Type: "hourly", Start: "2000-01-01", Timezone: "America/New_York"}),
		mustDef(f, PartitionsConfig{Type: "monthly", Start: "2000-01-01", Format: "%Y-%m"}),
		mustDef(f, PartitionsConfig{Type: "weekly", Start: "2000-01-01", WeekStart: "sun"}),
	}
	f.Fuzz(func(t *testing.T, key string) {
		for _, d := range defs {
			s, e, _, err := d.Window(key)
			if err != nil {
				continue
			}
			if !e.After(s) {
				t.Fatalf("%s: window of %q is empty: %s..%s", d.Kind(), key, s, e)
			}
			keys, err := d.Range(context.Background(), key, key)
			if err != nil || len(keys) != 1 || keys[0] != key {
				t.Fatalf("%s: Range(%q, %q) = %v, %v", d.Kind(), key, key, keys, err)
			}
		}
	})
}
