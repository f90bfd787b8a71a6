package schedule

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
)

// TestDaemonYearsOfTicks drives two years of hourly daemon ticks through a
// Berlin schedule with the fake clock: every day runs exactly once at
// 02:00 local time or, on the spring-forward day, at 03:00.
func TestDaemonYearsOfTicks(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	ms := newMemStore()
	l := &recordingLauncher{onLaunch: func(context.Context, RunRequest) error { return nil }}
	s := mustSchedule(t, ScheduleConfig{Cron: "0 2 * * *", Timezone: "Europe/Berlin", Job: "nightly", Catchup: CatchupNone}, nil)
	d := &Daemon{Store: ms, Launch: l.launch, Schedules: []*Schedule{s}, Interval: time.Hour}
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, berlin)
	end := time.Date(2026, 1, 1, 0, 0, 0, 0, berlin)
	ctx := context.Background()
	for now := start; now.Before(end); now = now.Add(time.Hour) {
		if _, err := d.Tick(ctx, now); err != nil {
			t.Fatal(err)
		}
		d.Wait() // runs take no time on the fake clock
	}
	days := map[string]int{}
	for _, r := range ms.tickRecords(s.Name) {
		if r.Status != engine.StatusSucceeded {
			continue
		}
		lt := r.Tick.In(berlin)
		days[lt.Format("2006-01-02")]++
		want := 2
		if lt.Format("01-02") == "03-31" && lt.Year() == 2024 || lt.Format("2006-01-02") == "2025-03-30" {
			want = 3
		}
		if lt.Hour() != want || lt.Minute() != 0 {
			t.Errorf("tick at %s", lt)
		}
	}
	if len(days) != 731 {
		t.Errorf("%d days with a run in 2024-2025, want 731", len(days))
	}
	for day, n := range days {
		if n != 1 {
			t.Errorf("%s ran %d times", day, n)
		}
	}
}

// blockingLauncher holds every run until release is closed or ctx ends.
type blockingLauncher struct {
	mu      sync.Mutex
	started chan RunRequest
	release chan struct{}
	n       int
}

func newBlockingLauncher() *blockingLauncher {
	return &blockingLauncher{started: make(chan RunRequest, 100), release: make(chan struct{})}
}

func (b *blockingLauncher) launch(ctx context.Context, req RunRequest) (string, error) {
	b.mu.Lock()
	b.n++
	b.mu.Unlock()
	b.started <- req
	select {
	case <-b.release:
		return "run-ok", nil
	case <-ctx.Done():
		return "run-canceled", ctx.Err()
	}
}

func TestDaemonNoOverlap(t *testing.T) {
	for _, allow := range []bool{false, true} {
		ms := newMemStore()
		bl := newBlockingLauncher()
		s := mustSchedule(t, ScheduleConfig{Cron: "* * * * *", Job: "j", AllowOverlap: allow}, nil)
		ctx, cancel := context.WithCancel(context.Background())
		d := &Daemon{Store: ms, Launch: bl.launch, Schedules: []*Schedule{s}, MaxRuns: 10}
		t0 := time.Date(2024, 1, 1, 0, 0, 30, 0, time.UTC)
		for i := range 4 {
			if _, err := d.Tick(ctx, t0.Add(time.Duration(i)*time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		wantRuns, wantOverlap := 1, 2
		if allow {
			wantRuns, wantOverlap = 3, 0
		}
		for range wantRuns {
			<-bl.started
		}
		var overlap int
		for _, r := range ms.tickRecords("s") {
			if r.Status == TickOverlap {
				overlap++
			}
		}
		if overlap != wantOverlap {
			t.Errorf("allow_overlap %v: %d overlap skips, want %d", allow, overlap, wantOverlap)
		}
		close(bl.release)
		d.Wait()
		bl.mu.Lock()
		if bl.n != wantRuns {
			t.Errorf("allow_overlap %v: %d runs, want %d", allow, bl.n, wantRuns)
		}
		bl.mu.Unlock()
		// Once the run ended the next tick runs again.
		rep, _ := d.Tick(ctx, t0.Add(4*time.Minute))
		if len(rep.Launched) != 1 {
			t.Errorf("allow_overlap %v: after the run ended: %+v", allow, rep)
		}
		d.Wait()
		cancel()
	}
}

// TestDaemonCatchupAfterRestart stops a daemon, lets 5 hourly ticks pass
// and starts a new one on the same store.
func TestDaemonCatchupAfterRestart(t *testing.T) {
	tests := []struct {
		policy string
		window time.Duration
		want   []string // hours (UTC) of the ticks run after the restart
	}{
		{CatchupNone, 0, nil},
		{CatchupLatest, 0, []string{"06"}},
		{CatchupAll, 0, []string{"02", "03", "04", "05", "06"}},
		{CatchupAll, 150 * time.Minute, []string{"04", "05", "06"}}, // 03:50 onwards
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			ctx := context.Background()
			ms := newMemStore()
			cfg := ScheduleConfig{Cron: "0 * * * *", Job: "j", Catchup: tt.policy, CatchupWindow: tt.window}
			t0 := time.Date(2024, 1, 1, 0, 30, 0, 0, time.UTC)
			l := &recordingLauncher{onLaunch: func(context.Context, RunRequest) error { return nil }}
			d1 := &Daemon{Store: ms, Launch: l.launch, Schedules: []*Schedule{mustSchedule(t, cfg, nil)}}
			d1.Tick(ctx, t0)
			d1.Tick(ctx, t0.Add(30*time.Minute)) // 01:00 runs
			d1.Wait()
			// Down from 01:00 to 07:20.
			l2 := &recordingLauncher{onLaunch: func(context.Context, RunRequest) error { return nil }}
			d2 := &Daemon{Store: ms, Launch: l2.launch, Schedules: []*Schedule{mustSchedule(t, cfg, nil)}}
			rep, err := d2.Tick(ctx, time.Date(2024, 1, 1, 6, 20, 0, 0, time.UTC))
			if err != nil {
				t.Fatal(err)
			}
			d2.Wait()
			var got []string
			for _, x := range rep.Launched {
				got = append(got, x.Tick.UTC().Format("15"))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("caught up %v, want %v", got, tt.want)
			}
			// The newest missed tick is recorded either way, so a third
			// daemon does not catch up again.
			last, _, _ := ms.LastTick(ctx, "s")
			if last.UTC().Hour() != 6 {
				t.Errorf("last tick %s", last)
			}
			d3 := &Daemon{Store: ms, Launch: l2.launch, Schedules: []*Schedule{mustSchedule(t, cfg, nil)}}
			if rep, _ := d3.Tick(ctx, time.Date(2024, 1, 1, 6, 21, 0, 0, time.UTC)); len(rep.Launched) != 0 {
				t.Errorf("third daemon ran %+v again", rep.Launched)
			}
		})
	}
}

// TestDaemonFileSensorRestart checks that a file sensor's cursor survives
// a daemon restart: files seen before are not requested again.
func TestDaemonFileSensorRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	landing := filepath.Join(dir, "landing")
	os.MkdirAll(landing, 0o755)
	write := func(name string) {
		if err := os.WriteFile(filepath.Join(landing, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ms := newMemStore()
	newDaemon := func(l *recordingLauncher) *Daemon {
		s, err := NewSensor("landing", SensorConfig{Type: SensorFile, Path: "landing", Glob: "*.csv", Job: "load", Interval: time.Minute}, SensorEnv{ProjectDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		return &Daemon{Store: ms, Launch: l.launch, Sensors: []*Sensor{s}}
	}
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	write("a.csv")
	l1 := &recordingLauncher{}
	d1 := newDaemon(l1)
	rep, _ := d1.Tick(ctx, t0)
	d1.Wait()
	if len(rep.Launched) != 1 || !slices.Equal(rep.Launched[0].Request.Files, []string{filepath.Join(landing, "a.csv")}) {
		t.Fatalf("first daemon: %+v", rep.Launched)
	}
	if rep, _ := d1.Tick(ctx, t0.Add(30*time.Second)); rep.SensorsEvaluated != 0 {
		t.Errorf("sensor evaluated before its interval passed")
	}

	write("b.csv")
	l2 := &recordingLauncher{}
	d2 := newDaemon(l2)
	rep, _ = d2.Tick(ctx, t0.Add(time.Hour))
	d2.Wait()
	if len(rep.Launched) != 1 || !slices.Equal(rep.Launched[0].Request.Files, []string{filepath.Join(landing, "b.csv")}) {
		t.Fatalf("after restart: %+v (a.csv must not come again)", rep.Launched)
	}
	if rep.Launched[0].Request.Tags[TagSensor] != "landing" {
		t.Errorf("tags = %v", rep.Launched[0].Request.Tags)
	}
}

// TestDaemonCommandSensorDynamicPartitions runs a command sensor (the test
// binary standing in for a script) that announces files as dynamic
// partitions; the daemon adds them to the store and runs each partition.
func TestDaemonCommandSensorDynamicPartitions(t *testing.T) {
	ctx := context.Background()
	ms := newMemStore()
	s, err := NewSensor("ftp", SensorConfig{Type: SensorCommand, Command: Command{Argv: []string{os.Args[0]}}, Job: "load_file", Interval: time.Minute}, fakeSensorEnv(t, "files"))
	if err != nil {
		t.Fatal(err)
	}
	l := &recordingLauncher{}
	d := &Daemon{Store: ms, Launch: l.launch, Sensors: []*Sensor{s}}
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		if _, err := d.Tick(ctx, t0.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	d.Wait()
	want := []string{"file-1.csv", "file-2.csv", "file-3.csv"}
	if keys, _ := ms.Partitions(ctx, "files"); !slices.Equal(keys, want) {
		t.Errorf("dynamic partitions = %v, want %v", keys, want)
	}
	if got := l.keys(); !slices.Equal(got, want) {
		t.Errorf("runs for %v, want %v", got, want)
	}
	if c, _, _ := ms.Cursor(ctx, s.CursorName()); c != "3" {
		t.Errorf("cursor = %q", c)
	}
	def, _ := NewDefinition("files", PartitionsConfig{Type: KindDynamic}, ms)
	if ok, _ := def.Contains(ctx, "file-2.csv", t0); !ok {
		t.Error("dynamic definition does not see the added key")
	}
	// A dry run evaluates without moving the cursor.
	reqs, err := EvaluateSensor(ctx, ms, s, t0, true)
	if err != nil || len(reqs) != 1 || reqs[0].PartitionKey != "file-4.csv" {
		t.Errorf("dry run: %+v, %v", reqs, err)
	}
	if c, _, _ := ms.Cursor(ctx, s.CursorName()); c != "3" {
		t.Errorf("dry run moved the cursor to %q", c)
	}
}

func TestDaemonTimeBoundedPartition(t *testing.T) {
	ctx := context.Background()
	def := mustDef(t, PartitionsConfig{Type: "daily", Start: "2024-01-01", Timezone: "Europe/Berlin"})
	s := mustSchedule(t, ScheduleConfig{Job: "orders"}, def)
	l := &recordingLauncher{}
	d := &Daemon{Store: newMemStore(), Launch: l.launch, Schedules: []*Schedule{s}}
	berlin := def.(*TimeWindows).Location()
	for h := range 72 {
		d.Tick(ctx, time.Date(2024, 3, 30, 12, 0, 0, 0, berlin).Add(time.Duration(h)*time.Hour))
		d.Wait()
	}
	d.Wait()
	if got := l.keys(); !slices.Equal(got, []string{"2024-03-30", "2024-03-31", "2024-04-01"}) {
		t.Errorf("partitions run = %v", got)
	}
}

// TestDaemonRun exercises the loop with the fake clock: the lock, a run
// in flight at shutdown (canceled, or finished within the grace period),
// the recorded tick and the released lock.
func TestDaemonRun(t *testing.T) {
	for _, tt := range []struct {
		name   string
		grace  time.Duration
		finish bool
		want   string
	}{
		{"cancel in-flight run", 0, false, engine.StatusCanceled},
		{"finish within grace", time.Minute, true, engine.StatusSucceeded},
		{"grace runs out", time.Minute, false, engine.StatusCanceled},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ms := newMemStore()
			clock := NewFakeClock(time.Date(2024, 1, 1, 0, 0, 30, 0, time.UTC))
			bl := newBlockingLauncher()
			s := mustSchedule(t, ScheduleConfig{Cron: "* * * * *", Job: "j"}, nil)
			d := &Daemon{Clock: clock, Store: ms, Launch: bl.launch, Schedules: []*Schedule{s}, Owner: "host:1", Interval: time.Second, LockTTL: 4 * time.Second, ShutdownGrace: tt.grace}
			// A second daemon is refused while the first holds the lock.
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() { errc <- d.Run(ctx) }()
			stop := make(chan struct{})
			defer close(stop)
			if !clock.WaitForWaiters(1, stop) {
				t.Fatal("daemon never slept")
			}
			other := &Daemon{Clock: clock, Store: ms, Launch: bl.launch, Owner: "host:2"}
			if err := other.Run(ctx); !errors.Is(err, ErrDaemonRunning) {
				t.Fatalf("second daemon: %v", err)
			}
			// Advance second by second until the 00:01:00 tick launches,
			// giving the daemon goroutine real time to react.
		loop:
			for {
				clock.Advance(time.Second)
				select {
				case <-bl.started:
					break loop
				case <-time.After(time.Millisecond):
				}
			}
			cancel()
			if tt.finish {
				close(bl.release)
			}
			var runErr error
		wait:
			for {
				select {
				case runErr = <-errc:
					break wait
				case <-time.After(time.Millisecond):
					if !tt.finish {
						clock.Advance(time.Second) // let the grace period run out
					}
				}
			}
			if runErr != nil {
				t.Fatal(runErr)
			}
			recs := ms.tickRecords("s")
			lastRec := recs[len(recs)-1]
			if lastRec.Status != tt.want || lastRec.Tick.Second() != 0 {
				t.Errorf("recorded %+v, want %s on a whole minute", lastRec, tt.want)
			}
			if ms.lockOwner != "" {
				t.Errorf("lock still held by %q", ms.lockOwner)
			}
			if ms.beats == 0 {
				t.Error("no heartbeat in a minute of fake time")
			}
		})
	}
}

// TestDaemonHourlyPartitionsDST runs an hourly-partitioned job on its
// natural cadence through both Berlin DST days: every window runs once,
// 23 on the spring-forward day and 24 (one of them two hours long) on the
// fall-back day.
func TestDaemonHourlyPartitionsDST(t *testing.T) {
	ctx := context.Background()
	def := mustDef(t, PartitionsConfig{Type: "hourly", Start: "2024-01-01", Timezone: "Europe/Berlin"})
	berlin := def.(*TimeWindows).Location()
	for _, day := range []struct {
		date string
		want int
	}{{"2024-03-31", 23}, {"2024-10-27", 24}} {
		s := mustSchedule(t, ScheduleConfig{Job: "hourly"}, def)
		l := &recordingLauncher{onLaunch: func(context.Context, RunRequest) error { return nil }}
		d := &Daemon{Store: newMemStore(), Launch: l.launch, Schedules: []*Schedule{s}}
		start, _ := time.ParseInLocation("2006-01-02", day.date, berlin)
		// From 23:59 the day before to 00:01 the day after, minute by minute.
		for now := start.Add(-time.Minute); now.Before(start.Add(26 * time.Hour)); now = now.Add(time.Minute) {
			if _, err := d.Tick(ctx, now); err != nil {
				t.Fatal(err)
			}
			d.Wait()
		}
		var got []string
		for _, k := range l.keys() {
			if strings.HasPrefix(k, day.date) {
				got = append(got, k)
			}
		}
		if len(got) != day.want || len(slices.Compact(slices.Clone(got))) != day.want {
			t.Errorf("%s: ran %d windows %v, want %d distinct", day.date, len(got), got, day.want)
		}
	}
}

// TestDaemonNotifyAndAddOnly checks requests that start no run: a
// freshness sensor's notification and a command sensor's add-only line.
func TestDaemonNotifyAndAddOnly(t *testing.T) {
	ctx := context.Background()
	ms := newMemStore()
	mats := &fakeMats{m: map[asset.Key]time.Time{}}
	fresh, err := NewSensor("fresh", SensorConfig{Type: SensorFreshness, Assets: []string{"marts/orders"}, MaxAge: time.Hour, Action: "notify"}, SensorEnv{Materializations: mats.get})
	if err != nil {
		t.Fatal(err)
	}
	add, err := NewSensor("add", SensorConfig{Type: SensorCommand, Command: Command{Argv: []string{os.Args[0]}}}, fakeSensorEnv(t, "addonly"))
	if err != nil {
		t.Fatal(err)
	}
	var notes []RunRequest
	l := &recordingLauncher{}
	d := &Daemon{Store: ms, Launch: l.launch, Sensors: []*Sensor{fresh, add},
		Notify: func(_ context.Context, r RunRequest) error { notes = append(notes, r); return nil }}
	rep, err := d.Tick(ctx, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	d.Wait()
	if len(rep.Launched) != 0 || len(l.keys()) != 0 {
		t.Errorf("launched %+v", rep.Launched)
	}
	if len(notes) != 1 || !strings.Contains(notes[0].Reason, "marts/orders never materialized") {
		t.Errorf("notifications = %+v", notes)
	}
	if keys, _ := ms.Partitions(ctx, "files"); !slices.Equal(keys, []string{"x.csv", "y.csv"}) {
		t.Errorf("added partitions = %v", keys)
	}
}

func TestMemoMaterializations(t *testing.T) {
	clock := NewFakeClock(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	calls := 0
	f := MemoMaterializations(clock, time.Second, func(context.Context) (map[asset.Key]time.Time, error) {
		calls++
		return map[asset.Key]time.Time{}, nil
	})
	for range 3 {
		f(context.Background())
	}
	clock.Advance(time.Second)
	f(context.Background())
	if calls != 2 {
		t.Errorf("%d queries, want 2 (one per second)", calls)
	}
}
