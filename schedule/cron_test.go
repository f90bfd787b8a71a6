package schedule

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func rfc(t testing.TB, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func mustSchedule(t testing.TB, cfg ScheduleConfig, def Definition) *Schedule {
	t.Helper()
	s, err := NewSchedule("s", cfg, def)
	if err != nil {
		t.Fatalf("NewSchedule(%+v): %v", cfg, err)
	}
	return s
}

func formatTicks(ts []time.Time) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Format(time.RFC3339))
	}
	return out
}

func TestScheduleNextDST(t *testing.T) {
	mustLoc(t, "Europe/Berlin")
	tests := []struct {
		name  string
		cron  string
		tz    string
		after string
		want  []string
	}{
		{
			name: "spring forward: skipped 02:30 runs once at 03:00", cron: "30 2 * * *", tz: "Europe/Berlin",
			after: "2024-03-29T12:00:00+01:00",
			want:  []string{"2024-03-30T02:30:00+01:00", "2024-03-31T03:00:00+02:00", "2024-04-01T02:30:00+02:00"},
		},
		{
			name: "fall back: repeated 02:30 runs once", cron: "30 2 * * *", tz: "Europe/Berlin",
			after: "2024-10-26T12:00:00+02:00",
			want:  []string{"2024-10-27T02:30:00+02:00", "2024-10-28T02:30:00+01:00"},
		},
		{
			name: "fall back: from inside the second pass", cron: "30 2 * * *", tz: "Europe/Berlin",
			after: "2024-10-27T02:10:00+01:00",
			want:  []string{"2024-10-28T02:30:00+01:00"},
		},
		{
			name: "hourly across spring forward", cron: "0 * * * *", tz: "Europe/Berlin",
			after: "2024-03-31T00:30:00+01:00",
			want:  []string{"2024-03-31T01:00:00+01:00", "2024-03-31T03:00:00+02:00", "2024-03-31T04:00:00+02:00"},
		},
		{
			name: "hourly across fall back: the repeated wall hour once", cron: "0 * * * *", tz: "Europe/Berlin",
			after: "2024-10-27T00:30:00+02:00",
			want:  []string{"2024-10-27T01:00:00+02:00", "2024-10-27T02:00:00+02:00", "2024-10-27T03:00:00+01:00"},
		},
		{
			name: "new york spring forward", cron: "15 2 * * *", tz: "America/New_York",
			after: "2024-03-09T12:00:00-05:00",
			want:  []string{"2024-03-10T03:00:00-04:00", "2024-03-11T02:15:00-04:00"},
		},
		{
			name: "seconds field", cron: "*/20 0 12 * * *", tz: "",
			after: "2024-01-01T11:59:59Z",
			want:  []string{"2024-01-01T12:00:00Z", "2024-01-01T12:00:20Z", "2024-01-01T12:00:40Z", "2024-01-02T12:00:00Z"},
		},
		{
			name: "descriptor in a zone", cron: "@daily", tz: "Asia/Kolkata",
			after: "2024-01-01T00:00:00Z",
			want:  []string{"2024-01-02T00:00:00+05:30", "2024-01-03T00:00:00+05:30"},
		},
		{
			name: "leap day only", cron: "0 0 29 2 *", tz: "",
			after: "2024-03-01T00:00:00Z",
			want:  []string{"2028-02-29T00:00:00Z"},
		},
		{
			name: "last day of month style: 31st skips short months", cron: "0 6 31 * *", tz: "",
			after: "2024-01-31T07:00:00Z",
			want:  []string{"2024-03-31T06:00:00Z", "2024-05-31T06:00:00Z"},
		},
		{
			name: "every", cron: "@every 90m", tz: "",
			after: "2024-01-01T00:00:00Z",
			want:  []string{"2024-01-01T01:30:00Z", "2024-01-01T03:00:00Z"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustSchedule(t, ScheduleConfig{Cron: tt.cron, Timezone: tt.tz, Job: "j"}, nil)
			got := formatTicks(s.Preview(rfc(t, tt.after), len(tt.want)))
			if !slices.Equal(got, tt.want) {
				t.Errorf("ticks after %s:\n got %v\nwant %v", tt.after, got, tt.want)
			}
		})
	}
}

// TestScheduleYearOfTicksDST walks a year of hourly and daily ticks in
// Berlin and checks that DST days have the expected number of ticks and
// that every tick is strictly after the previous one.
func TestScheduleYearOfTicksDST(t *testing.T) {
	mustLoc(t, "Europe/Berlin")
	for _, tt := range []struct {
		cron    string
		total   int
		perDay  map[string]int
		maxStep time.Duration
	}{
		{"30 2 * * *", 366, map[string]int{"2024-03-31": 1, "2024-10-27": 1}, 25 * time.Hour},
		{"0 * * * *", 366*24 - 1, map[string]int{"2024-03-31": 23, "2024-10-27": 24}, 2 * time.Hour},
	} {
		s := mustSchedule(t, ScheduleConfig{Cron: tt.cron, Timezone: "Europe/Berlin", Job: "j"}, nil)
		start := time.Date(2024, 1, 1, 0, 0, 0, 0, s.Location()).Add(-time.Second)
		end := time.Date(2025, 1, 1, 0, 0, 0, 0, s.Location())
		days := map[string]int{}
		n := 0
		prev := start
		for tk := s.Next(start); tk.Before(end); tk = s.Next(tk) {
			if !tk.After(prev) || tk.Sub(prev) > tt.maxStep && n > 0 {
				t.Fatalf("%s: tick %s after %s", tt.cron, tk, prev)
			}
			prev = tk
			days[tk.Format("2006-01-02")]++
			n++
		}
		if n != tt.total {
			t.Errorf("%s: %d ticks in 2024, want %d", tt.cron, n, tt.total)
		}
		for day, want := range tt.perDay {
			if days[day] != want {
				t.Errorf("%s: %d ticks on %s, want %d", tt.cron, days[day], day, want)
			}
		}
	}
}

func TestScheduleNaturalCadence(t *testing.T) {
	def := mustDef(t, PartitionsConfig{Type: "daily", Start: "2024-03-01", Timezone: "Europe/Berlin"})
	s := mustSchedule(t, ScheduleConfig{Job: "orders"}, def)
	ticks := s.Preview(rfc(t, "2024-03-30T12:00:00+01:00"), 2)
	want := []string{"2024-03-31T00:00:00+01:00", "2024-04-01T00:00:00+02:00"}
	if got := formatTicks(ticks); !slices.Equal(got, want) {
		t.Fatalf("ticks = %v, want %v", got, want)
	}
	req, ok := s.Request(ticks[1])
	if !ok || req.PartitionKey != "2024-03-31" || req.Job != "orders" || req.Tags[TagSchedule] != "s" {
		t.Errorf("request at %s = %+v, %v; want the 23-hour day 2024-03-31", ticks[1], req, ok)
	}
	// A cron on a partitioned job runs the last complete window at the tick
	// (time bounding): at 02:00 on April 2nd, April 1st.
	c := mustSchedule(t, ScheduleConfig{Cron: "0 2 * * *", Timezone: "Europe/Berlin", Select: "tag:daily"}, def)
	req, ok = c.Request(rfc(t, "2024-04-02T02:00:00+02:00"))
	if !ok || req.PartitionKey != "2024-04-01" || !slices.Equal(req.Selection, []string{"tag:daily"}) {
		t.Errorf("cron request = %+v, %v", req, ok)
	}
	if _, ok := c.Request(rfc(t, "2024-03-01T12:00:00+01:00")); ok {
		t.Error("request before the first window ended: ok")
	}
}

func TestScheduleConfigErrors(t *testing.T) {
	daily := mustDef(t, PartitionsConfig{Type: "daily", Start: "2024-01-01"})
	static := mustDef(t, PartitionsConfig{Type: "static", Keys: []string{"a"}})
	tests := []struct {
		cfg  ScheduleConfig
		def  Definition
		want string
	}{
		{ScheduleConfig{Cron: "0 2 * * *"}, nil, "exactly one of job"},
		{ScheduleConfig{Cron: "0 2 * * *", Job: "a", Select: "b"}, nil, "exactly one of job"},
		{ScheduleConfig{Cron: "0 25 * * *", Job: "a"}, nil, "cron"},
		{ScheduleConfig{Cron: "0 2 * * *", Job: "a", Timezone: "Nowhere/Land"}, nil, "timezone"},
		{ScheduleConfig{Job: "a"}, nil, "cron is missing"},
		{ScheduleConfig{Cron: "0 2 * * *", Job: "a", Catchup: "some"}, nil, "catchup"},
		{ScheduleConfig{Cron: "0 2 * * *", Job: "a"}, static, "set partition: KEY"},
		{ScheduleConfig{Cron: "0 2 * * *", Job: "a", Partition: "x"}, nil, "not partitioned"},
		{ScheduleConfig{Job: "a", Timezone: "Asia/Tokyo"}, daily, "differs from the partitions"},
		{ScheduleConfig{Cron: "CRON_TZ=Asia/Tokyo 0 2 * * *", Timezone: "Europe/Berlin", Job: "a"}, nil, "names time zone"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := NewSchedule("s", tt.cfg, tt.def)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestCatchupTicks(t *testing.T) {
	s := mustSchedule(t, ScheduleConfig{Cron: "0 * * * *", Job: "j"}, nil)
	last := rfc(t, "2024-01-01T00:00:00Z")
	tests := []struct {
		name       string
		now        string
		policy     string
		window     time.Duration
		wantRun    []string
		wantNewest string
	}{
		{"on time", "2024-01-01T01:00:03Z", CatchupNone, 0, []string{"2024-01-01T01:00:00Z"}, "2024-01-01T01:00:00Z"},
		{"nothing due", "2024-01-01T00:59:59Z", CatchupAll, time.Hour, nil, ""},
		{"none after downtime", "2024-01-01T05:30:00Z", CatchupNone, 24 * time.Hour, nil, "2024-01-01T05:00:00Z"},
		{"latest after downtime", "2024-01-01T05:30:00Z", CatchupLatest, 24 * time.Hour, []string{"2024-01-01T05:00:00Z"}, "2024-01-01T05:00:00Z"},
		{"latest older than window", "2024-01-01T05:30:00Z", CatchupLatest, 20 * time.Minute, nil, "2024-01-01T05:00:00Z"},
		{"all after downtime", "2024-01-01T03:30:00Z", CatchupAll, 24 * time.Hour,
			[]string{"2024-01-01T01:00:00Z", "2024-01-01T02:00:00Z", "2024-01-01T03:00:00Z"}, "2024-01-01T03:00:00Z"},
		{"all within window", "2024-01-01T05:30:00Z", CatchupAll, 2 * time.Hour,
			[]string{"2024-01-01T04:00:00Z", "2024-01-01T05:00:00Z"}, "2024-01-01T05:00:00Z"},
		{"all, window edge inclusive", "2024-01-01T05:00:00Z", CatchupAll, 2 * time.Hour,
			[]string{"2024-01-01T03:00:00Z", "2024-01-01T04:00:00Z", "2024-01-01T05:00:00Z"}, "2024-01-01T05:00:00Z"},
		{"a year down, none", "2025-01-01T00:30:00Z", CatchupNone, 24 * time.Hour, nil, "2025-01-01T00:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run, newest := CatchupTicks(s.Next, last, rfc(t, tt.now), tt.policy, tt.window, 10*time.Second)
			if got := formatTicks(run); !slices.Equal(got, tt.wantRun) {
				t.Errorf("run = %v, want %v", got, tt.wantRun)
			}
			got := ""
			if !newest.IsZero() {
				got = newest.UTC().Format(time.RFC3339)
			}
			if got != tt.wantNewest {
				t.Errorf("newest = %q, want %q", got, tt.wantNewest)
			}
		})
	}
}

func TestCatchupCapsAll(t *testing.T) {
	s := mustSchedule(t, ScheduleConfig{Cron: "* * * * *", Job: "j"}, nil)
	last := rfc(t, "2024-01-01T00:00:00Z")
	run, _ := CatchupTicks(s.Next, last, last.Add(30*24*time.Hour), CatchupAll, 30*24*time.Hour, 0)
	if len(run) != maxCatchupTicks || !run[len(run)-1].Equal(last.Add(30*24*time.Hour)) {
		t.Fatalf("%d ticks ending %s; want the newest %d", len(run), run[len(run)-1], maxCatchupTicks)
	}
}

func TestCatchupFromLongAgo(t *testing.T) {
	s := mustSchedule(t, ScheduleConfig{Cron: "0 0 1 1 *", Job: "j"}, nil)
	now := rfc(t, "2024-06-01T00:00:00Z")
	run, newest := CatchupTicks(s.Next, time.Time{}, now, CatchupNone, 0, time.Minute)
	if len(run) != 0 || !newest.Equal(rfc(t, "2024-01-01T00:00:00Z")) {
		t.Fatalf("run %v, newest %s", run, newest)
	}
}
