package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/redact"
)

// memRecorder keeps events in memory.
type memRecorder struct {
	mu  sync.Mutex
	evs []Event
}

func (m *memRecorder) Record(_ context.Context, ev Event) error {
	m.mu.Lock()
	m.evs = append(m.evs, ev)
	m.mu.Unlock()
	return nil
}

func (m *memRecorder) of(t EventType) []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Event
	for _, e := range m.evs {
		if e.Type == t {
			out = append(out, e)
		}
	}
	return out
}

type fixture struct {
	specs    []asset.Spec
	families map[string]*Family
}

func k(s string) asset.Key {
	key, err := asset.ParseKey(s)
	if err != nil {
		panic(err)
	}
	return key
}

// add defines a single-asset family with runner r.
func (f *fixture) add(key string, r RunnerFunc, deps ...string) *Family {
	s := asset.Spec{Key: k(key), Step: "f:" + key, Origin: "test"}
	for _, d := range deps {
		s.Deps = append(s.Deps, k(d))
	}
	f.specs = append(f.specs, s)
	fam := &Family{Name: s.Step, Runner: r, Kind: "test"}
	if f.families == nil {
		f.families = map[string]*Family{}
	}
	f.families[fam.Name] = fam
	return fam
}

func (f *fixture) engine(t *testing.T) (*Engine, *memRecorder) {
	t.Helper()
	g, err := asset.NewGraph(f.specs, asset.GraphOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec := &memRecorder{}
	return &Engine{Graph: g, Families: f.families, Recorder: rec, Concurrency: 4, RunsDir: t.TempDir()}, rec
}

func (f *fixture) run(t *testing.T, e *Engine, opts ExecOptions) *Result {
	t.Helper()
	plan, err := NewPlan(e.Graph, e.Families, e.Graph.AllSet())
	if err != nil {
		t.Fatal(err)
	}
	if opts.RunID == "" {
		opts.RunID = "r1"
	}
	res, err := e.Execute(context.Background(), plan, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

var ok RunnerFunc = func(ctx context.Context, req *Request, emit Emitter) error { return nil }

func fail(msg string) RunnerFunc {
	return func(ctx context.Context, req *Request, emit Emitter) error { return errors.New(msg) }
}

func TestDiamondRunsInDependencyOrder(t *testing.T) {
	var mu sync.Mutex
	var order []string
	rec := func(name string) RunnerFunc {
		return func(ctx context.Context, req *Request, emit Emitter) error {
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			return nil
		}
	}
	var f fixture
	f.add("a", rec("a"))
	f.add("b", rec("b"), "a")
	f.add("c", rec("c"), "a")
	f.add("d", rec("d"), "b", "c")
	e, _ := f.engine(t)
	res := f.run(t, e, ExecOptions{})
	if res.Status != StatusSucceeded {
		t.Fatalf("status %s: %v", res.Status, res.Err)
	}
	if order[0] != "a" || order[3] != "d" {
		t.Fatalf("order %v", order)
	}
}

func TestFailureSkipsDownstreamButIndependentBranchRuns(t *testing.T) {
	var f fixture
	f.add("a", fail("boom"))
	f.add("b", ok, "a")
	f.add("c", ok, "b")
	f.add("x", ok)
	f.add("y", ok, "x")
	e, rec := f.engine(t)
	res := f.run(t, e, ExecOptions{})
	want := map[string]string{"a": StatusFailed, "b": StatusUpstreamFailed, "c": StatusUpstreamFailed, "x": StatusSucceeded, "y": StatusSucceeded}
	for key, st := range want {
		if res.Assets[k(key)] != st {
			t.Errorf("%s = %s, want %s", key, res.Assets[k(key)], st)
		}
	}
	if res.Status != StatusFailed || res.Err == nil || !strings.Contains(res.Err.Error(), "boom") {
		t.Errorf("result %s %v", res.Status, res.Err)
	}
	if len(rec.of(RunFailed)) != 1 {
		t.Error("no run_failed event")
	}
}

func TestFailFastStopsEverything(t *testing.T) {
	var f fixture
	started := make(chan struct{})
	f.add("a", func(ctx context.Context, req *Request, emit Emitter) error {
		<-started
		return errors.New("boom")
	})
	f.add("slow", func(ctx context.Context, req *Request, emit Emitter) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	f.add("after", ok, "slow")
	e, _ := f.engine(t)
	res := f.run(t, e, ExecOptions{FailFast: true})
	if res.Status != StatusFailed {
		t.Fatalf("status %s", res.Status)
	}
	if res.Assets[k("after")] == StatusSucceeded {
		t.Error("downstream ran after fail-fast")
	}
}

func TestRetrySucceedsOnThirdAttempt(t *testing.T) {
	var calls atomic.Int32
	var f fixture
	fam := f.add("flaky", func(ctx context.Context, req *Request, emit Emitter) error {
		if calls.Add(1) < 3 {
			return fmt.Errorf("attempt %d failed", req.Attempt)
		}
		return nil
	})
	fam.Retry = RetryPolicy{MaxRetries: 3, Delay: time.Millisecond, Backoff: "exponential"}
	e, rec := f.engine(t)
	res := f.run(t, e, ExecOptions{})
	if res.Status != StatusSucceeded || calls.Load() != 3 {
		t.Fatalf("status %s after %d calls", res.Status, calls.Load())
	}
	if n := len(rec.of(StepRetrying)); n != 2 {
		t.Errorf("%d retry events, want 2", n)
	}
	if st := rec.of(StepSucceeded); len(st) != 1 || st[0].Attempt != 3 {
		t.Errorf("succeeded events %+v", st)
	}
}

func TestRetryDoesNotHoldSlot(t *testing.T) {
	// With concurrency 1, a step waiting 200ms to retry must let another
	// step run meanwhile.
	var f fixture
	var calls atomic.Int32
	var otherRanDuringWait atomic.Bool
	fam := f.add("flaky", func(ctx context.Context, req *Request, emit Emitter) error {
		if calls.Add(1) == 1 {
			return errors.New("first")
		}
		return nil
	})
	fam.Retry = RetryPolicy{MaxRetries: 1, Delay: 200 * time.Millisecond, Backoff: "constant"}
	// Whichever of gate and flaky gets the slot first, other runs after
	// flaky's first attempt and long before its retry, unless the waiting
	// retry holds the only slot.
	f.add("gate", func(ctx context.Context, req *Request, emit Emitter) error {
		time.Sleep(10 * time.Millisecond)
		return nil
	})
	f.add("other", func(ctx context.Context, req *Request, emit Emitter) error {
		if calls.Load() == 1 {
			otherRanDuringWait.Store(true)
		}
		return nil
	}, "gate")
	e, _ := f.engine(t)
	e.Concurrency = 1
	res := f.run(t, e, ExecOptions{})
	if res.Status != StatusSucceeded {
		t.Fatal(res.Err)
	}
	if !otherRanDuringWait.Load() {
		t.Error("other step did not run while flaky waited to retry")
	}
}

func TestRetryDelays(t *testing.T) {
	tests := []struct {
		p    RetryPolicy
		n    int
		want time.Duration
	}{
		{RetryPolicy{Delay: time.Second}, 1, time.Second},
		{RetryPolicy{Delay: time.Second}, 3, 4 * time.Second},
		{RetryPolicy{Delay: time.Second, Backoff: "linear"}, 3, 3 * time.Second},
		{RetryPolicy{Delay: time.Second, Backoff: "constant"}, 5, time.Second},
		{RetryPolicy{Delay: time.Second, MaxDelay: 3 * time.Second}, 5, 3 * time.Second},
	}
	for _, tt := range tests {
		if got := tt.p.delay(tt.n); got != tt.want {
			t.Errorf("%+v delay(%d) = %s, want %s", tt.p, tt.n, got, tt.want)
		}
	}
	j := RetryPolicy{Delay: time.Second, Backoff: "constant", Jitter: 0.5}
	for i := 0; i < 100; i++ {
		d := j.delay(1)
		if d < 500*time.Millisecond || d > 1500*time.Millisecond {
			t.Fatalf("jittered delay %s out of bounds", d)
		}
	}
}

func TestTimeoutNamesAsset(t *testing.T) {
	var f fixture
	fam := f.add("raw/slow", func(ctx context.Context, req *Request, emit Emitter) error {
		<-ctx.Done()
		return context.Cause(ctx)
	})
	fam.Timeout = 50 * time.Millisecond
	e, _ := f.engine(t)
	res := f.run(t, e, ExecOptions{})
	if res.Status != StatusFailed {
		t.Fatalf("status %s", res.Status)
	}
	if !strings.Contains(res.Err.Error(), "asset raw/slow timed out after 50ms") {
		t.Errorf("err = %v", res.Err)
	}
}

func TestCanceledRun(t *testing.T) {
	var f fixture
	started := make(chan struct{})
	f.add("a", func(ctx context.Context, req *Request, emit Emitter) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	f.add("b", ok, "a")
	e, rec := f.engine(t)
	plan, _ := NewPlan(e.Graph, e.Families, e.Graph.AllSet())
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	res, err := e.Execute(ctx, plan, ExecOptions{RunID: "r"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusCanceled || len(rec.of(RunCanceled)) != 1 {
		t.Fatalf("status %s", res.Status)
	}
}

// checkRunner fails checks named "bad".
type checkRunner struct{}

func (checkRunner) RunCheck(ctx context.Context, req *CheckRequest) (CheckResult, error) {
	return CheckResult{Passed: req.Check.Name != "bad", Message: "checked " + req.Asset.Key.String()}, nil
}

func TestBlockingCheckBlocksDownstreamNonBlockingWarns(t *testing.T) {
	var f fixture
	f.add("a", ok)
	f.add("b", ok, "a")
	f.add("c", ok)
	f.add("d", ok, "c")
	f.specs[0].Checks = []asset.CheckSpec{{Name: "bad", Blocking: true, Severity: "error", Runner: "x"}, {Name: "good", Runner: "x"}}
	f.specs[2].Checks = []asset.CheckSpec{{Name: "bad", Blocking: false, Severity: "warn", Runner: "x"}}
	e, rec := f.engine(t)
	e.CheckRunners = map[string]CheckRunner{"x": checkRunner{}}
	res := f.run(t, e, ExecOptions{})
	if res.Assets[k("b")] != StatusBlockedByCheck {
		t.Errorf("b = %s, want blocked_by_check", res.Assets[k("b")])
	}
	if res.Assets[k("d")] != StatusSucceeded {
		t.Errorf("d = %s; a warning must not block", res.Assets[k("d")])
	}
	if res.Status != StatusFailed {
		t.Errorf("run status %s; a failed blocking check fails the run", res.Status)
	}
	checks := rec.of(CheckEvaluated)
	if len(checks) != 3 {
		t.Fatalf("%d check events", len(checks))
	}
	for _, c := range checks {
		if c.Asset == k("c") && (c.Status != "warn" || c.Blocking) {
			t.Errorf("warn check event %+v", c)
		}
	}
}

func TestRunnerReportedCheckBlocks(t *testing.T) {
	var f fixture
	f.add("a", func(ctx context.Context, req *Request, emit Emitter) error {
		emit(Checked(k("a"), "no_zero_prices", CheckResult{Passed: false, Message: "3 rows <= 0"}))
		return nil
	})
	f.add("b", ok, "a")
	f.specs[0].Checks = []asset.CheckSpec{{Name: "no_zero_prices", Blocking: true, Severity: "error"}}
	e, _ := f.engine(t)
	res := f.run(t, e, ExecOptions{})
	if res.Assets[k("b")] != StatusBlockedByCheck {
		t.Errorf("b = %s", res.Assets[k("b")])
	}
}

func TestPoolLimitsConcurrency(t *testing.T) {
	var f fixture
	var cur, peak atomic.Int32
	r := func(ctx context.Context, req *Request, emit Emitter) error {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(60 * time.Millisecond)
		cur.Add(-1)
		return nil
	}
	for i := 0; i < 6; i++ {
		fam := f.add(fmt.Sprintf("w%d", i), r)
		fam.Pools = []string{"warehouse"}
	}
	e, _ := f.engine(t)
	e.Concurrency = 6
	e.PoolLimits = map[string]int{"warehouse": 2}
	f.run(t, e, ExecOptions{})
	if peak.Load() != 2 {
		t.Errorf("peak concurrency %d, want 2", peak.Load())
	}
}

func TestMultiAssetPartialFailureAndSubsetRetry(t *testing.T) {
	var f fixture
	var attempts [][]asset.Key
	var mu sync.Mutex
	multi := RunnerFunc(func(ctx context.Context, req *Request, emit Emitter) error {
		mu.Lock()
		attempts = append(attempts, slices.Clone(req.Assets))
		mu.Unlock()
		for _, a := range req.Assets {
			if a == k("m2") && req.Attempt == 1 {
				emit(Event{Type: AssetFailed, Asset: a, Message: "m2 broke"})
				continue
			}
			emit(Materialized(a, map[string]any{"rows": 1}))
		}
		if req.Attempt == 1 {
			return errors.New("one model failed")
		}
		return nil
	})
	f.families = map[string]*Family{"dbt:p": {Name: "dbt:p", Runner: multi, Multi: true, Subset: true, Kind: "dbt", Retry: RetryPolicy{MaxRetries: 1, Delay: time.Millisecond}}}
	f.specs = []asset.Spec{
		{Key: k("m1"), Step: "dbt:p"}, {Key: k("m2"), Step: "dbt:p"}, {Key: k("m3"), Step: "dbt:p", Deps: []asset.Key{k("m1")}},
	}
	e, _ := f.engine(t)
	res := f.run(t, e, ExecOptions{})
	if res.Status != StatusSucceeded {
		t.Fatalf("status %s %v", res.Status, res.Err)
	}
	if len(attempts) != 2 || len(attempts[0]) != 3 || !slices.Equal(attempts[1], []asset.Key{k("m2")}) {
		t.Fatalf("attempts %v; the retry must run only the failed model", attempts)
	}
}

func TestPlanSplitsInterleavedMultiAsset(t *testing.T) {
	// dbt a -> sling s -> dbt b must not be one dbt step.
	fams := map[string]*Family{
		"dbt:p":   {Name: "dbt:p", Multi: true, Subset: true, Runner: ok, Kind: "dbt"},
		"sling:r": {Name: "sling:r", Multi: true, Subset: true, Runner: ok, Kind: "sling"},
	}
	specs := []asset.Spec{
		{Key: k("a"), Step: "dbt:p"},
		{Key: k("s"), Step: "sling:r", Deps: []asset.Key{k("a")}},
		{Key: k("b"), Step: "dbt:p", Deps: []asset.Key{k("s")}},
		{Key: k("c"), Step: "dbt:p"},
		{Key: k("src"), External: true},
	}
	g, err := asset.NewGraph(specs, asset.GraphOptions{})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := NewPlan(g, fams, g.AllSet())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range plan.Steps {
		got = append(got, fmt.Sprintf("%s%v<-%v", s.ID, s.Assets, s.Deps))
	}
	want := []string{"dbt-p_0[a c]<-[]", "sling-r[s]<-[dbt-p_0]", "dbt-p_2[b]<-[sling-r]"}
	if !slices.Equal(got, want) {
		t.Fatalf("plan %v, want %v", got, want)
	}
	if len(plan.Skipped) != 1 {
		t.Errorf("external not reported: %v", plan.Skipped)
	}
	if _, err := NewPlan(g, map[string]*Family{}, g.AllSet()); err == nil {
		t.Error("unknown family accepted")
	}
}

func TestSecretsRedacted(t *testing.T) {
	var f fixture
	f.add("a", func(ctx context.Context, req *Request, emit Emitter) error {
		fmt.Fprintf(req.Log, "connecting with hunter2\n")
		emit(LogLine("token=hunter2"))
		return errors.New("auth hunter2 rejected")
	})
	e, rec := f.engine(t)
	e.Redactor = redact.New("hunter2")
	f.run(t, e, ExecOptions{})
	for _, ev := range rec.evs {
		if strings.Contains(ev.Message, "hunter2") {
			t.Errorf("secret in event %+v", ev)
		}
	}
}

func TestSlotsPriorityAndCancel(t *testing.T) {
	s := newSlots(1)
	if err := s.acquire(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	var order []int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range []int{1, 5, 3} {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			if err := s.acquire(context.Background(), p); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, p)
			mu.Unlock()
			s.release()
		}(p)
	}
	// A canceled waiter leaves the queue without taking a slot.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.acquire(ctx, 100) }()
	for {
		s.mu.Lock()
		n := len(s.waiters)
		s.mu.Unlock()
		if n == 4 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled acquire = %v", err)
	}
	s.release()
	wg.Wait()
	if !slices.Equal(order, []int{5, 3, 1}) {
		t.Fatalf("order %v, want highest priority first", order)
	}
	if s.free != 1 {
		t.Fatalf("free = %d after all released", s.free)
	}
}

func TestUnchangedDataVersion(t *testing.T) {
	var f fixture
	f.add("a", func(ctx context.Context, req *Request, emit Emitter) error {
		emit(Materialized(k("a"), map[string]any{"rows": 3, "data_version": "abc"}))
		return nil
	})
	f.add("b", func(ctx context.Context, req *Request, emit Emitter) error {
		emit(Materialized(k("b"), map[string]any{"data_version": "new"}))
		return nil
	})
	e, rec := f.engine(t)
	e.PreviousMetadata = func(key asset.Key) map[string]any { return map[string]any{"data_version": "abc"} }
	f.run(t, e, ExecOptions{})
	for _, ev := range rec.of(AssetMaterialized) {
		want := ev.Asset == k("a")
		if (ev.Metadata["unchanged"] == true) != want {
			t.Errorf("%s unchanged = %v", ev.Asset, ev.Metadata["unchanged"])
		}
	}
}

func TestNoRetryWhenEverythingWasMaterialized(t *testing.T) {
	var calls atomic.Int32
	var f fixture
	fam := f.add("a", func(ctx context.Context, req *Request, emit Emitter) error {
		calls.Add(1)
		if len(req.Assets) == 0 {
			t.Error("runner called with no assets")
		}
		emit(Materialized(k("a"), nil))
		return errors.New("on-run-end hook failed")
	})
	fam.Subset = true
	fam.Retry = RetryPolicy{MaxRetries: 2, Delay: time.Millisecond}
	e, _ := f.engine(t)
	res := f.run(t, e, ExecOptions{})
	if calls.Load() != 1 || res.Status != StatusFailed || res.Assets[k("a")] != StatusSucceeded {
		t.Fatalf("calls %d status %s asset %s", calls.Load(), res.Status, res.Assets[k("a")])
	}
}

func TestRetryLeavesOutAssetsBelowAFailedBlockingCheck(t *testing.T) {
	var attempts [][]asset.Key
	var mu sync.Mutex
	multi := RunnerFunc(func(ctx context.Context, req *Request, emit Emitter) error {
		mu.Lock()
		attempts = append(attempts, slices.Clone(req.Assets))
		mu.Unlock()
		emit(Materialized(k("m1"), nil))
		emit(Checked(k("m1"), "t", CheckResult{Passed: false}))
		emit(Event{Type: AssetSkipped, Asset: k("m2"), Message: "skipped by dbt"})
		return errors.New("a test failed")
	})
	var f fixture
	f.families = map[string]*Family{"dbt:p": {Name: "dbt:p", Runner: multi, Multi: true, Subset: true, Kind: "dbt", Retry: RetryPolicy{MaxRetries: 2, Delay: time.Millisecond}}}
	f.specs = []asset.Spec{
		{Key: k("m1"), Step: "dbt:p", Checks: []asset.CheckSpec{{Name: "t", Blocking: true, Severity: "error"}}},
		{Key: k("m2"), Step: "dbt:p", Deps: []asset.Key{k("m1")}},
	}
	e, _ := f.engine(t)
	res := f.run(t, e, ExecOptions{})
	if len(attempts) != 1 {
		t.Fatalf("attempts %v; m2 sits below a failed blocking check and must not be retried", attempts)
	}
	if res.Assets[k("m2")] != StatusBlockedByCheck {
		t.Errorf("m2 = %s", res.Assets[k("m2")])
	}
}

func TestEventsForOtherAssetsAreIgnored(t *testing.T) {
	var f fixture
	f.add("a", func(ctx context.Context, req *Request, emit Emitter) error {
		emit(Event{Type: AssetFailed, Asset: k("zzz"), Message: "typo"})
		emit(Checked(k("zzz"), "c", CheckResult{Passed: false}))
		return nil
	})
	e, rec := f.engine(t)
	res := f.run(t, e, ExecOptions{})
	if res.Status != StatusSucceeded {
		t.Fatalf("status %s: %v", res.Status, res.Assets)
	}
	if len(rec.of(Log)) != 2 {
		t.Errorf("ignored events not logged")
	}
}

// TestFreedSlotGoesToSuccessor: with one slot, a chain's next step takes
// the slot its predecessor frees, ahead of independent steps that were
// already waiting with a lower priority.
func TestFreedSlotGoesToSuccessor(t *testing.T) {
	var mu sync.Mutex
	var order []string
	rec := func(name string) RunnerFunc {
		return func(ctx context.Context, req *Request, emit Emitter) error {
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			// Long enough for every root to queue for the slot.
			time.Sleep(10 * time.Millisecond)
			return nil
		}
	}
	var f fixture
	f.add("a", rec("a"))
	f.add("b", rec("b"), "a")
	f.add("c", rec("c"), "b")
	f.add("d", rec("d"), "c")
	for _, name := range []string{"x", "y", "z"} {
		f.add(name, rec(name))
	}
	e, _ := f.engine(t)
	e.Concurrency = 1
	if res := f.run(t, e, ExecOptions{}); res.Status != StatusSucceeded {
		t.Fatalf("status %s", res.Status)
	}
	i := slices.Index(order, "a")
	if i < 0 || i+2 >= len(order) || order[i+1] != "b" || order[i+2] != "c" {
		t.Fatalf("order %v: b and c should follow a at once (chain priority 4, 3, 2 over 1)", order)
	}
}

// TestTicketCanceled: a queued claim that is dropped leaves the queue, and
// a granted one passes its slot on.
func TestTicketCanceled(t *testing.T) {
	s := newSlots(1)
	held := s.reserve(1)
	queued := s.reserve(2)
	s.cancel(queued)
	if len(s.waiters) != 0 {
		t.Fatalf("%d waiters after cancel", len(s.waiters))
	}
	s.cancel(held)
	if s.free != 1 {
		t.Fatalf("free = %d after a granted claim was dropped", s.free)
	}
}

// A model the tool skipped because another model of the step failed (dbt's
// skipped nodes) is retried with the failed one, and when the step still
// fails it is shown upstream_failed, not failed.
func TestToolSkippedAssetIsUpstreamFailed(t *testing.T) {
	var f fixture
	var attempts [][]asset.Key
	var mu sync.Mutex
	multi := RunnerFunc(func(ctx context.Context, req *Request, emit Emitter) error {
		mu.Lock()
		attempts = append(attempts, slices.Clone(req.Assets))
		mu.Unlock()
		for _, a := range req.Assets {
			switch a {
			case k("bad"):
				emit(Event{Type: AssetFailed, Asset: a, Message: "bad broke"})
			case k("after_bad"):
				emit(Event{Type: AssetSkipped, Asset: a, Message: "dbt skipped after_bad"})
			default:
				emit(Materialized(a, nil))
			}
		}
		return errors.New("one model failed")
	})
	f.families = map[string]*Family{"dbt:p": {Name: "dbt:p", Runner: multi, Multi: true, Subset: true, Kind: "dbt", Retry: RetryPolicy{MaxRetries: 1, Delay: time.Millisecond}}}
	f.specs = []asset.Spec{
		{Key: k("ok"), Step: "dbt:p"}, {Key: k("bad"), Step: "dbt:p"}, {Key: k("after_bad"), Step: "dbt:p", Deps: []asset.Key{k("bad")}},
	}
	e, _ := f.engine(t)
	res := f.run(t, e, ExecOptions{})
	if res.Status != StatusFailed {
		t.Fatalf("status %s", res.Status)
	}
	if len(attempts) != 2 || !slices.Equal(attempts[1], []asset.Key{k("bad"), k("after_bad")}) {
		t.Fatalf("attempts %v; the retry must run the failed model and the one dbt skipped", attempts)
	}
	want := map[asset.Key]string{k("ok"): StatusSucceeded, k("bad"): StatusFailed, k("after_bad"): StatusUpstreamFailed}
	for key, st := range want {
		if res.Assets[key] != st {
			t.Errorf("%s: %s, want %s (all: %v)", key, res.Assets[key], st, res.Assets)
		}
	}
}
