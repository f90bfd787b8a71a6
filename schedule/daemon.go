package schedule

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/eltproject/elt/engine"
)

// DaemonStore is the part of the run store the daemon uses (store.Store
// has these methods).
type DaemonStore interface {
	CursorStore
	AddPartitions(ctx context.Context, def string, keys []string) (int, error)
	RecordTick(ctx context.Context, schedule string, tick time.Time, runID, status string) error
	LastTick(ctx context.Context, schedule string) (time.Time, bool, error)
	AcquireDaemonLock(ctx context.Context, owner string, ttl time.Duration) (bool, error)
	DaemonHeartbeat(ctx context.Context, owner string) error
	ReleaseDaemonLock(ctx context.Context, owner string) error
}

// CursorStore persists sensor cursors.
type CursorStore interface {
	Cursor(ctx context.Context, name string) (string, bool, error)
	SetCursor(ctx context.Context, name, value string) error
}

// Tick statuses recorded by the daemon (besides the run's own status:
// succeeded, failed, canceled).
const (
	// TickBaseline marks when the daemon first saw a schedule: catch-up
	// never reaches before it.
	TickBaseline = "baseline"
	// TickSkipped is a tick passed over by the catch-up policy.
	TickSkipped = "skipped"
	// TickOverlap is a tick skipped because the previous run still ran.
	TickOverlap = "skipped_overlap"
	// TickNoPartition is a tick before the first window ended.
	TickNoPartition = "skipped_no_partition"
)

// ErrDaemonRunning is returned by Run when another daemon holds the lock.
var ErrDaemonRunning = errors.New("another elt daemon is running for this project")

// Daemon evaluates schedules and sensors and launches the runs they ask
// for, at most MaxRuns at a time.
type Daemon struct {
	Clock     Clock
	Store     DaemonStore
	Launch    Launcher
	Schedules []*Schedule
	Sensors   []*Sensor
	// MaxRuns bounds concurrent runs; 4 when zero. Requests beyond it
	// wait their turn.
	MaxRuns int
	// Owner identifies this daemon in the lock (host:pid).
	Owner string
	// Interval between evaluations; 1s when zero.
	Interval time.Duration
	// LockTTL is how long the lock outlives a silent daemon; 1m when zero.
	// Heartbeats come every LockTTL/4.
	LockTTL time.Duration
	// ShutdownGrace is how long runs in flight may go on finishing after
	// Run's context ends before they are canceled.
	ShutdownGrace time.Duration
	// SensorConcurrency bounds parallel sensor evaluations; 4 when zero.
	SensorConcurrency int
	// Notify receives requests that ask for a notification (freshness
	// sensors with action: notify); nil logs them.
	Notify func(ctx context.Context, req RunRequest) error
	// Log receives one line per event worth telling; nil discards.
	Log func(format string, args ...any)

	mu      sync.Mutex
	sched   map[string]*scheduleState
	sens    map[string]*sensorState
	wg      sync.WaitGroup
	slots   chan struct{}
	runCtx  context.Context
	started bool
}

type scheduleState struct {
	last     time.Time // newest tick handled
	next     time.Time // first tick after the last evaluation
	inflight int
}

type sensorState struct {
	next time.Time
}

// TickReport says what one evaluation did.
type TickReport struct {
	Time time.Time
	// SchedulesDue and SensorsEvaluated count what was looked at.
	SchedulesDue, SensorsEvaluated int
	Launched                       []Launched
	Skipped                        []Launched
	Errors                         []error
}

// Launched is one request the tick started (or skipped, with Reason).
type Launched struct {
	Source  string // "schedule:NAME" or "sensor:NAME"
	Tick    time.Time
	Request RunRequest
	Reason  string
}

func (d *Daemon) logf(format string, args ...any) {
	if d.Log != nil {
		d.Log(format, args...)
	}
}

func (d *Daemon) interval() time.Duration {
	if d.Interval > 0 {
		return d.Interval
	}
	return time.Second
}

func (d *Daemon) lockTTL() time.Duration {
	if d.LockTTL > 0 {
		return d.LockTTL
	}
	return time.Minute
}

// Run holds the daemon lock and evaluates schedules and sensors every
// Interval until ctx ends; then it lets runs in flight finish for
// ShutdownGrace, cancels the rest, waits for them to be recorded and
// releases the lock.
func (d *Daemon) Run(ctx context.Context) error {
	if d.Owner == "" || d.Store == nil || d.Launch == nil {
		return errors.New("daemon: Owner, Store and Launch must be set")
	}
	if d.Clock == nil {
		d.Clock = RealClock{}
	}
	ok, err := d.Store.AcquireDaemonLock(ctx, d.Owner, d.lockTTL())
	if err != nil {
		return fmt.Errorf("daemon lock: %w", err)
	}
	if !ok {
		return ErrDaemonRunning
	}
	bg := context.WithoutCancel(ctx)
	runCtx, cancelRuns := context.WithCancel(bg)
	defer cancelRuns()
	d.mu.Lock()
	d.runCtx = runCtx
	d.mu.Unlock()
	d.logf("daemon %s started: %d schedules, %d sensors", d.Owner, len(d.Schedules), len(d.Sensors))

	// Heartbeats run beside the loop so that a slow evaluation (a command
	// sensor waiting for its timeout) does not let the lock expire.
	hbCtx, stopBeats := context.WithCancel(ctx)
	hbErr := make(chan error, 1)
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		for {
			select {
			case <-hbCtx.Done():
				return
			case <-d.Clock.After(d.lockTTL() / 4):
			}
			if err := d.Store.DaemonHeartbeat(hbCtx, d.Owner); err != nil && hbCtx.Err() == nil {
				hbErr <- err
				return
			}
		}
	}()

	var loopErr error
loop:
	for ctx.Err() == nil {
		now := d.Clock.Now()
		if _, err := d.Tick(ctx, now); err != nil && ctx.Err() == nil {
			d.logf("tick %s: %v", now.Format(time.RFC3339), err)
		}
		select {
		case <-ctx.Done():
		case err := <-hbErr:
			loopErr = fmt.Errorf("daemon heartbeat: %w", err)
			break loop
		case <-d.Clock.After(d.interval()):
		}
	}
	stopBeats()
	<-hbDone

	// Shut down: give runs in flight a grace period, then cancel them.
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	if d.ShutdownGrace > 0 {
		select {
		case <-done:
		case <-d.Clock.After(d.ShutdownGrace):
		}
	}
	cancelRuns()
	<-done
	rctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	if err := d.Store.ReleaseDaemonLock(rctx, d.Owner); err != nil {
		loopErr = errors.Join(loopErr, fmt.Errorf("release daemon lock: %w", err))
	}
	d.logf("daemon %s stopped", d.Owner)
	return loopErr
}

// Wait blocks until every run the daemon launched has ended and been
// recorded (for Tick callers; Run waits by itself).
func (d *Daemon) Wait() { d.wg.Wait() }

// init loads each schedule's last tick; a schedule never seen gets a
// baseline tick at now so that a restart catches up from there.
func (d *Daemon) init(ctx context.Context, now time.Time) error {
	if d.started {
		return nil
	}
	d.sched = make(map[string]*scheduleState, len(d.Schedules))
	d.sens = make(map[string]*sensorState, len(d.Sensors))
	n := d.MaxRuns
	if n <= 0 {
		n = 4
	}
	d.slots = make(chan struct{}, n)
	for _, s := range d.Schedules {
		last, ok, err := d.Store.LastTick(ctx, s.Name)
		if err != nil {
			return fmt.Errorf("schedule %q: last tick: %w", s.Name, err)
		}
		if !ok {
			last = now
			if err := d.Store.RecordTick(ctx, s.Name, now, "", TickBaseline); err != nil {
				return fmt.Errorf("schedule %q: record baseline: %w", s.Name, err)
			}
		}
		d.sched[s.Name] = &scheduleState{last: last, next: s.Next(last)}
	}
	for _, s := range d.Sensors {
		d.sens[s.Name] = &sensorState{}
	}
	d.started = true
	return nil
}

// Tick evaluates every due schedule and sensor at now and starts the runs
// they request (without waiting for them). Errors of single schedules or
// sensors are collected in the report and returned joined; the others
// still run.
func (d *Daemon) Tick(ctx context.Context, now time.Time) (*TickReport, error) {
	rep := &TickReport{Time: now}
	d.mu.Lock()
	err := d.init(ctx, now)
	d.mu.Unlock()
	if err != nil {
		return rep, err
	}
	grace := 2 * d.interval()
	if grace < 10*time.Second {
		grace = 10 * time.Second
	}
	for _, s := range d.Schedules {
		d.mu.Lock()
		st := d.sched[s.Name]
		due := !st.next.IsZero() && !now.Before(st.next)
		d.mu.Unlock()
		if !due {
			continue
		}
		rep.SchedulesDue++
		if err := d.tickSchedule(ctx, s, st, now, grace, rep); err != nil {
			rep.Errors = append(rep.Errors, err)
		}
	}
	d.tickSensors(ctx, now, rep)
	return rep, errors.Join(rep.Errors...)
}

func (d *Daemon) tickSchedule(ctx context.Context, s *Schedule, st *scheduleState, now time.Time, grace time.Duration, rep *TickReport) error {
	policy, window := s.Catchup()
	d.mu.Lock()
	last := st.last
	d.mu.Unlock()
	run, newest := CatchupTicks(s.Next, last, now, policy, window, grace)
	src := "schedule:" + s.Name
	skip := func(t time.Time, status, why string) error {
		rep.Skipped = append(rep.Skipped, Launched{Source: src, Tick: t, Reason: why})
		if err := d.Store.RecordTick(ctx, s.Name, t, "", status); err != nil {
			return fmt.Errorf("schedule %q: record tick: %w", s.Name, err)
		}
		return nil
	}
	var errs []error
	if len(run) == 0 && !newest.IsZero() {
		errs = append(errs, skip(newest, TickSkipped, fmt.Sprintf("missed (catchup: %s)", policy)))
	}
	// Catch-up ticks of one evaluation run one after another (unless
	// overlap is allowed); a tick that finds the previous evaluation's
	// run still going is skipped.
	var chain []tickRun
	for _, t := range run {
		req, ok := s.Request(t)
		d.mu.Lock()
		busy := st.inflight > 0 && !s.Config.AllowOverlap
		d.mu.Unlock()
		switch {
		case !ok:
			errs = append(errs, skip(t, TickNoPartition, "no partition window has ended yet"))
		case busy:
			errs = append(errs, skip(t, TickOverlap, "previous run still running"))
		default:
			rep.Launched = append(rep.Launched, Launched{Source: src, Tick: t, Request: req})
			chain = append(chain, tickRun{t, req})
			if s.Config.AllowOverlap {
				d.launchTicks(ctx, s, st, chain)
				chain = nil
			}
		}
	}
	if len(chain) > 0 {
		d.launchTicks(ctx, s, st, chain)
	}
	d.mu.Lock()
	if !newest.IsZero() {
		st.last = newest
	}
	st.next = s.Next(now)
	d.mu.Unlock()
	return errors.Join(errs...)
}

type tickRun struct {
	tick time.Time
	req  RunRequest
}

// launchTicks runs the ticks' requests one after another and records each
// outcome.
func (d *Daemon) launchTicks(ctx context.Context, s *Schedule, st *scheduleState, ticks []tickRun) {
	d.mu.Lock()
	st.inflight++
	d.mu.Unlock()
	d.launch(ctx, func(runCtx context.Context, run func(RunRequest) (string, string)) {
		defer func() {
			d.mu.Lock()
			st.inflight--
			d.mu.Unlock()
		}()
		bg := context.WithoutCancel(runCtx)
		for _, tr := range ticks {
			runID, status := "", engine.StatusCanceled
			if runCtx.Err() == nil {
				runID, status = run(tr.req)
			}
			if err := d.Store.RecordTick(bg, s.Name, tr.tick, runID, status); err != nil {
				d.logf("schedule %s: record tick %s: %v", s.Name, tr.tick.Format(time.RFC3339), err)
			}
		}
	})
}

type sensorOutcome struct {
	s    *Sensor
	reqs []RunRequest
	err  error
}

func (d *Daemon) tickSensors(ctx context.Context, now time.Time, rep *TickReport) {
	var due []*Sensor
	d.mu.Lock()
	for _, s := range d.Sensors {
		if st := d.sens[s.Name]; !now.Before(st.next) {
			st.next = now.Add(s.Interval())
			due = append(due, s)
		}
	}
	d.mu.Unlock()
	if len(due) == 0 {
		return
	}
	out := make([]sensorOutcome, len(due))
	g, gctx := errgroup.WithContext(ctx)
	n := d.SensorConcurrency
	if n <= 0 {
		n = 4
	}
	g.SetLimit(n)
	// File sensors watching the same folder share one listing of it (and
	// one stat per file) per tick.
	scans := newFileScans()
	for i, s := range due {
		eval := func() error {
			reqs, err := evaluateSensor(gctx, d.Store, s, now, false, scans)
			out[i] = sensorOutcome{s: s, reqs: reqs, err: err}
			return nil
		}
		// Asset and freshness sensors only read memory; file and command
		// sensors wait on the disk or a process, so they get goroutines.
		if t := s.Config.Type; t == SensorAsset || t == SensorFreshness {
			_ = eval()
			continue
		}
		g.Go(eval)
	}
	_ = g.Wait()
	rep.SensorsEvaluated += len(due)
	for _, o := range out {
		if o.err != nil {
			rep.Errors = append(rep.Errors, o.err)
			continue
		}
		for _, req := range o.reqs {
			if err := d.submit(ctx, o.s, req, rep); err != nil {
				rep.Errors = append(rep.Errors, err)
			}
		}
	}
}

// submit adds a request's partitions, sends its notification or launches
// its run.
func (d *Daemon) submit(ctx context.Context, s *Sensor, req RunRequest, rep *TickReport) error {
	src := "sensor:" + s.Name
	for def, keys := range req.AddPartitions {
		if _, err := d.Store.AddPartitions(ctx, def, keys); err != nil {
			return fmt.Errorf("sensor %q: add partitions to %q: %w", s.Name, def, err)
		}
	}
	if req.Notify {
		if d.Notify != nil {
			if err := d.Notify(ctx, req); err != nil {
				return fmt.Errorf("sensor %q: notify: %w", s.Name, err)
			}
		} else {
			d.logf("sensor %s: %s", s.Name, req.Reason)
		}
	}
	if req.AddOnly {
		return nil
	}
	rep.Launched = append(rep.Launched, Launched{Source: src, Request: req})
	d.launch(ctx, func(_ context.Context, run func(RunRequest) (string, string)) {
		runID, status := run(req)
		d.logf("sensor %s: run %s %s", s.Name, runID, status)
	})
	return nil
}

// launch calls body in a goroutine; body starts runs with run, which
// waits for a free run slot, calls the Launcher and returns the run id and
// its status (succeeded, failed or canceled).
func (d *Daemon) launch(ctx context.Context, body func(runCtx context.Context, run func(RunRequest) (runID, status string))) {
	d.mu.Lock()
	runCtx := d.runCtx
	d.mu.Unlock()
	if runCtx == nil {
		runCtx = ctx
	}
	run := func(req RunRequest) (string, string) {
		select {
		case d.slots <- struct{}{}:
		case <-runCtx.Done():
			return "", engine.StatusCanceled
		}
		defer func() { <-d.slots }()
		runID, err := d.Launch(runCtx, req)
		switch {
		case err != nil && runCtx.Err() != nil:
			return runID, engine.StatusCanceled
		case err != nil:
			d.logf("run %s (%s): %v", runID, req.Reason, err)
			return runID, engine.StatusFailed
		}
		return runID, engine.StatusSucceeded
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		body(runCtx, run)
	}()
}

// EvaluateSensor evaluates s at now with its stored cursor and, unless
// dryRun, stores the new cursor. It is `elt sensors tick` and one sensor's
// share of a daemon tick.
func EvaluateSensor(ctx context.Context, st CursorStore, s *Sensor, now time.Time, dryRun bool) ([]RunRequest, error) {
	return evaluateSensor(ctx, st, s, now, dryRun, nil)
}

// evaluateSensor is EvaluateSensor with folder listings shared by a
// tick's file sensors (scans may be nil).
func evaluateSensor(ctx context.Context, st CursorStore, s *Sensor, now time.Time, dryRun bool, scans *fileScans) ([]RunRequest, error) {
	cur, _, err := st.Cursor(ctx, s.CursorName())
	if err != nil {
		return nil, fmt.Errorf("sensor %q: read cursor: %w", s.Name, err)
	}
	reqs, next, err := s.evaluate(ctx, now, cur, scans)
	if err != nil {
		return nil, err
	}
	if !dryRun && next != cur {
		if err := st.SetCursor(ctx, s.CursorName(), next); err != nil {
			return nil, fmt.Errorf("sensor %q: save cursor: %w", s.Name, err)
		}
	}
	return reqs, nil
}
