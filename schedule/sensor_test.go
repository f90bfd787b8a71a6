package schedule

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
)

// TestMain lets the test binary stand in for a command sensor's script (a
// test double): with ELT_TEST_FAKE_SENSOR set it acts as the script and
// exits instead of running tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv("ELT_TEST_FAKE_SENSOR"); mode != "" {
		os.Exit(fakeSensor(mode))
	}
	os.Exit(m.Run())
}

// fakeSensor is the stand-in script. In mode "files" it announces one new
// file per evaluation as a dynamic partition, counting in its cursor.
func fakeSensor(mode string) int {
	switch mode {
	case "files":
		n, _ := strconv.Atoi(os.Getenv(EnvSensorCursor))
		n++
		fmt.Fprintf(os.Stderr, "polling (evaluation %d)\n", n)
		fmt.Printf(`{"partition_key": "file-%d.csv", "add_partitions": {"files": ["file-%d.csv"]}, "tags": {"source": "ftp"}}`+"\n", n, n)
		fmt.Printf(`{"cursor": "%d"}`+"\n", n)
		return 0
	case "addonly":
		fmt.Println(`{"add_partitions": {"files": ["x.csv", "y.csv"]}}`)
		return 0
	case "fail":
		fmt.Println("cannot reach the FTP server")
		return 3
	case "bad":
		fmt.Println(`{"select": 42}`)
		return 0
	case "sleep":
		time.Sleep(time.Minute)
		return 0
	}
	return 2
}

func fakeSensorEnv(t *testing.T, mode string) SensorEnv {
	t.Helper()
	return SensorEnv{ProjectDir: t.TempDir(), Env: append(os.Environ(), "ELT_TEST_FAKE_SENSOR="+mode)}
}

func TestCommandSensor(t *testing.T) {
	ctx := context.Background()
	cfg := SensorConfig{Type: SensorCommand, Command: Command{Argv: []string{os.Args[0]}}, Job: "load"}
	s, err := NewSensor("ftp", cfg, fakeSensorEnv(t, "files"))
	if err != nil {
		t.Fatal(err)
	}
	reqs, cur, err := s.Evaluate(ctx, time.Now(), "")
	if err != nil {
		t.Fatal(err)
	}
	if cur != "1" || len(reqs) != 1 {
		t.Fatalf("cursor %q, %d requests", cur, len(reqs))
	}
	r := reqs[0]
	if r.PartitionKey != "file-1.csv" || !slices.Equal(r.AddPartitions["files"], []string{"file-1.csv"}) || r.Job != "load" || r.Tags["source"] != "ftp" || r.Tags[TagSensor] != "ftp" {
		t.Errorf("request = %+v", r)
	}
	reqs, cur, _ = s.Evaluate(ctx, time.Now(), cur)
	if cur != "2" || reqs[0].PartitionKey != "file-2.csv" {
		t.Errorf("second evaluation: cursor %q, %+v", cur, reqs)
	}

	for _, tt := range []struct {
		mode, want string
		timeout    time.Duration
	}{
		{"fail", "exit status 3", 0},
		{"bad", "command output:1", 0},
		{"sleep", "timed out", 200 * time.Millisecond},
	} {
		cfg.Timeout = tt.timeout
		s, _ := NewSensor("ftp", cfg, fakeSensorEnv(t, tt.mode))
		_, cur, err := s.Evaluate(ctx, time.Now(), "7")
		if err == nil || !strings.Contains(err.Error(), tt.want) || cur != "7" {
			t.Errorf("%s: cursor %q, error %v; want the old cursor and %q", tt.mode, cur, err, tt.want)
		}
	}
}

func TestParseCommandOutput(t *testing.T) {
	tests := []struct {
		name, out  string
		want       []RunRequest
		wantCursor string // "-" for none
		wantErr    string
	}{
		{"log lines are ignored", "starting\n\n  done\n", nil, "-", ""},
		{"select string", `{"select": "raw/orders+", "partition_key": "2024-01-01"}`,
			[]RunRequest{{Selection: []string{"raw/orders+"}, PartitionKey: "2024-01-01", Reason: "out:1"}}, "-", ""},
		{"select list and cursor", "{\"select\": [\"a\", \"b\"], \"reason\": \"new rows\"}\n{\"cursor\": \"42\"}\n{\"cursor\": \"43\"}",
			[]RunRequest{{Selection: []string{"a", "b"}, Reason: "new rows"}}, "43", ""},
		{"add only", `{"add_partitions": {"files": ["a.csv"]}}`,
			[]RunRequest{{AddPartitions: map[string][]string{"files": {"a.csv"}}, AddOnly: true, Reason: "out:1"}}, "-", ""},
		{"run false", `{"add_partitions": {"files": ["a.csv"]}, "run": false}`,
			[]RunRequest{{AddPartitions: map[string][]string{"files": {"a.csv"}}, AddOnly: true, Reason: "out:1"}}, "-", ""},
		{"unknown field", `{"selct": "a"}`, nil, "", "out:1: bad run request"},
		{"job and select", `{"job": "a", "select": "b"}`, nil, "", "not both"},
		{"empty object", `{}`, nil, "", "empty run request"},
		{"bad key", `{"partition_key": "a,b"}`, nil, "", "comma"},
		{"bad added key", `{"add_partitions": {"files": [""]}}`, nil, "", "empty"},
		{"two values", `{"job": "a"} {"job": "b"}`, nil, "", "more than one"},
		{"run false with target", `{"job": "a", "run": false}`, nil, "", "run target"},
		{"error names the line", "hello\n{\"job\": 1}", nil, "", "out:2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reqs, cur, err := ParseCommandOutput("out", []byte(tt.out))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%+v", reqs) != fmt.Sprintf("%+v", tt.want) {
				t.Errorf("requests:\n got %+v\nwant %+v", reqs, tt.want)
			}
			gotCur := "-"
			if cur != nil {
				gotCur = *cur
			}
			if gotCur != tt.wantCursor {
				t.Errorf("cursor = %q, want %q", gotCur, tt.wantCursor)
			}
		})
	}
}

func FuzzParseCommandOutput(f *testing.F) {
	for _, s := range []string{
		`{"select": "a+", "partition_key": "k", "add_partitions": {"d": ["k"]}, "tags": {"x": "y"}}`,
		"log\n{\"cursor\": \"3\"}\n",
		`{"select": ["a", "b"], "files": ["/x"], "run": false}`,
		`{"job": "j"}{`,
		"{\"add_partitions\": {\"\": [\"k\"]}}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		reqs, _, err := ParseCommandOutput("fuzz", b)
		if err != nil {
			return
		}
		for _, r := range reqs {
			if r.Job != "" && len(r.Selection) > 0 {
				t.Fatalf("request with job and selection: %+v", r)
			}
			if r.PartitionKey != "" && ValidateKey(r.PartitionKey) != nil {
				t.Fatalf("invalid partition key accepted: %q", r.PartitionKey)
			}
			for _, keys := range r.AddPartitions {
				for _, k := range keys {
					if ValidateKey(k) != nil {
						t.Fatalf("invalid added key accepted: %q", k)
					}
				}
			}
			if r.AddOnly && len(r.AddPartitions) == 0 {
				t.Fatalf("add-only request without partitions: %+v", r)
			}
		}
	})
}

func TestFileSensor(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, body string, mtime time.Time) {
		p := filepath.Join(dir, "landing", rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	s, err := NewSensor("landing", SensorConfig{Type: SensorFile, Path: "landing", Glob: "**/*.csv", Job: "load"}, SensorEnv{ProjectDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	reqs, cur, err := s.Evaluate(ctx, t0, "")
	if err != nil || len(reqs) != 0 {
		t.Fatalf("missing folder: %v, %v", reqs, err)
	}
	write("a.csv", "1", t0)
	write("2024/05/b.csv", "1", t0)
	write("notes.txt", "x", t0)
	reqs, cur, _ = s.Evaluate(ctx, t0, cur)
	want := []string{filepath.Join(dir, "landing/2024/05/b.csv"), filepath.Join(dir, "landing/a.csv")}
	if len(reqs) != 1 || !slices.Equal(reqs[0].Files, want) || reqs[0].Job != "load" {
		t.Fatalf("first files: %+v", reqs)
	}
	if reqs, cur, _ = s.Evaluate(ctx, t0, cur); len(reqs) != 0 {
		t.Fatalf("nothing changed but got %+v", reqs)
	}
	write("a.csv", "12", t0.Add(time.Minute)) // changed
	reqs, _, _ = s.Evaluate(ctx, t0, cur)
	if len(reqs) != 1 || !slices.Equal(reqs[0].Files, want[1:]) {
		t.Fatalf("changed file: %+v", reqs)
	}

	per, _ := NewSensor("landing", SensorConfig{Type: SensorFile, Path: filepath.Join(dir, "landing"), Glob: "*.csv", Job: "load", PerFile: true, AddPartitions: "files"}, SensorEnv{})
	reqs, _, _ = per.Evaluate(ctx, t0, "")
	if len(reqs) != 1 || reqs[0].PartitionKey != "a.csv" || !slices.Equal(reqs[0].AddPartitions["files"], []string{"a.csv"}) {
		t.Fatalf("per-file requests: %+v", reqs)
	}
}

func TestMatchGlob(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"*.csv", "a.csv", true},
		{"*.csv", "x/a.csv", false},
		{"**/*.csv", "a.csv", true},
		{"**/*.csv", "x/y/a.csv", true},
		{"x/**", "x/y/z", true},
		{"x/**/z.csv", "x/z.csv", true},
		{"x/**/z.csv", "y/z.csv", false},
		{"[ab].csv", "b.csv", true},
	}
	for _, tt := range tests {
		if got, _ := matchGlob(tt.pattern, tt.name); got != tt.want {
			t.Errorf("matchGlob(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
	if err := validateGlob("a/[x"); err == nil {
		t.Error("validateGlob(a/[x): no error")
	}
}

type fakeMats struct{ m map[asset.Key]time.Time }

func (f *fakeMats) get(context.Context) (map[asset.Key]time.Time, error) { return f.m, nil }

func TestAssetSensor(t *testing.T) {
	ctx := context.Background()
	orders := asset.MustKey("raw", "orders")
	t0 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	mats := &fakeMats{m: map[asset.Key]time.Time{orders: t0}}
	s, err := NewSensor("downstream", SensorConfig{Type: SensorAsset, Assets: []string{"raw/orders", "raw/customers"}}, SensorEnv{Materializations: mats.get})
	if err != nil {
		t.Fatal(err)
	}
	reqs, cur, _ := s.Evaluate(ctx, t0, "")
	if len(reqs) != 0 {
		t.Fatalf("first evaluation requested %+v; it should only take a baseline", reqs)
	}
	if reqs, cur, _ = s.Evaluate(ctx, t0, cur); len(reqs) != 0 {
		t.Fatalf("no new materialization but %+v", reqs)
	}
	mats.m[orders] = t0.Add(time.Hour)
	reqs, cur, _ = s.Evaluate(ctx, t0, cur)
	if len(reqs) != 1 || !slices.Equal(reqs[0].Selection, []string{"raw/orders+"}) || !slices.Equal(reqs[0].Exclude, []string{"raw/orders"}) {
		t.Fatalf("requests after materialization: %+v", reqs)
	}
	if reqs, _, _ = s.Evaluate(ctx, t0, cur); len(reqs) != 0 {
		t.Fatalf("same materialization requested twice: %+v", reqs)
	}
	if _, _, err := s.Evaluate(ctx, t0, "not json"); err == nil {
		t.Error("corrupt cursor: no error")
	}
}

func TestFreshnessSensor(t *testing.T) {
	ctx := context.Background()
	orders := asset.MustKey("marts", "orders")
	t0 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	mats := &fakeMats{m: map[asset.Key]time.Time{orders: t0}}
	// action: notify notifies on transitions only: TestFreshnessNotifyTransitions.
	for _, action := range []string{"run"} {
		s, err := NewSensor("fresh", SensorConfig{Type: SensorFreshness, Assets: []string{"marts/orders", "marts/never"}, MaxAge: 24 * time.Hour, Action: action}, SensorEnv{Materializations: mats.get})
		if err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			at   time.Duration
			want []string
		}{
			{time.Hour, []string{"marts/never"}},
			{2 * time.Hour, nil},                                      // already asked
			{24*time.Hour + 30*time.Minute, []string{"marts/orders"}}, // orders went stale
			{25*time.Hour + 30*time.Minute, []string{"marts/never"}},  // 24h after its last request                                     // asked an hour ago
			{48*time.Hour + 30*time.Minute, []string{"marts/orders"}},
			{48*time.Hour + 31*time.Minute, nil}, // ask again
		}
		cur := ""
		for _, st := range steps {
			var reqs []RunRequest
			reqs, cur, err = s.Evaluate(ctx, t0.Add(st.at), cur)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range reqs {
				got = append(got, r.Selection...)
			}
			if !slices.Equal(got, st.want) {
				t.Errorf("%s at +%s: requested %v, want %v", action, st.at, got, st.want)
			}
		}
	}
}

func TestSensorConfigErrors(t *testing.T) {
	tests := []struct {
		cfg  SensorConfig
		want string
	}{
		{SensorConfig{}, "type is missing"},
		{SensorConfig{Type: "cron"}, "unknown type"},
		{SensorConfig{Type: SensorFile, Job: "j"}, "needs path"},
		{SensorConfig{Type: SensorFile, Path: "x"}, "needs job"},
		{SensorConfig{Type: SensorFile, Path: "x", Job: "j", Glob: "[x"}, "glob"},
		{SensorConfig{Type: SensorFile, Path: "x", Job: "j", AddPartitions: "files"}, "per_file"},
		{SensorConfig{Type: SensorAsset}, "needs assets"},
		{SensorConfig{Type: SensorFreshness, Assets: []string{"a"}}, "max_age"},
		{SensorConfig{Type: SensorCommand}, "needs command"},
		{SensorConfig{Type: SensorCommand, Command: Command{Shell: "x"}, Action: "notify"}, "freshness sensors"},
		{SensorConfig{Type: SensorCommand, Command: Command{Shell: "x"}, Path: "x"}, "apply to file sensors"},
		{SensorConfig{Type: SensorCommand, Command: Command{Shell: "x"}, Job: "a", Select: "b"}, "not both"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := NewSensor("s", tt.cfg, SensorEnv{Materializations: (&fakeMats{}).get})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestFreshnessNotifyTransitions runs the daemon on a fake clock, a tick a
// second: a freshness sensor with action: notify notifies once when an
// asset becomes stale, once when it recovers, and once when it goes stale
// again; never at every interval in between.
func TestFreshnessNotifyTransitions(t *testing.T) {
	ctx := context.Background()
	orders := asset.MustKey("marts", "orders")
	clock := NewFakeClock(time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC))
	mats := &fakeMats{m: map[asset.Key]time.Time{orders: clock.Now()}}
	s, err := NewSensor("fresh", SensorConfig{Type: SensorFreshness, Assets: []string{"marts/orders"}, MaxAge: 10 * time.Second, Interval: 5 * time.Second, Action: "notify"}, SensorEnv{Materializations: mats.get})
	if err != nil {
		t.Fatal(err)
	}
	type note struct {
		at        time.Duration
		recovered bool
	}
	var notes []note
	start := clock.Now()
	l := &recordingLauncher{}
	d := &Daemon{Clock: clock, Store: newMemStore(), Launch: l.launch, Sensors: []*Sensor{s},
		Notify: func(_ context.Context, r RunRequest) error {
			if !r.AddOnly || !strings.Contains(r.Reason, "marts/orders") {
				t.Errorf("notification %+v", r)
			}
			notes = append(notes, note{clock.Now().Sub(start), r.Recovered})
			return nil
		}}
	tick := func(until time.Duration) {
		for clock.Now().Sub(start) < until {
			if _, err := d.Tick(ctx, clock.Now()); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Second)
		}
	}
	tick(90 * time.Second) // stale from +10s to +90s
	mats.m[orders] = clock.Now()
	tick(95 * time.Second) // fresh again
	tick(200 * time.Second)
	d.Wait()
	// Evaluated every 5 s: stale at +15 (first evaluation past +10s),
	// recovered at +90, stale again at +105 (materialized at +90).
	want := []note{{15 * time.Second, false}, {90 * time.Second, true}, {105 * time.Second, false}}
	if !slices.Equal(notes, want) {
		t.Errorf("notifications at %v, want %v", notes, want)
	}
	if len(l.keys()) != 0 {
		t.Errorf("notify sensor launched runs: %v", l.keys())
	}
}
