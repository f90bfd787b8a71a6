package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/redact"
)

// Recorder persists events; the run store implements it. Record returns
// once the event is durable.
type Recorder interface {
	Record(ctx context.Context, ev Event) error
}

// ProcessRecorder is a Recorder that also records the process group (the
// supervisor, on Linux) of every process a step attempt starts, so that the
// processes of a run whose elt died can be found and ended before its
// locks are freed.
type ProcessRecorder interface {
	RecordProcess(ctx context.Context, runID, stepID string, attempt, pgid int) error
}

// BatchRecorder is a Recorder that can make several events durable in one
// commit; the engine uses it for events that happen together.
type BatchRecorder interface {
	RecordAll(ctx context.Context, evs []Event) error
}

// Engine executes plans. Its fields are set once; Execute may be called for
// several runs one after another.
type Engine struct {
	Graph        *asset.Graph
	Families     map[string]*Family
	CheckRunners map[string]CheckRunner
	Recorder     Recorder
	// Observe sees every event after it is recorded (live output). Calls
	// are serialized: Observe needs no locking of its own.
	Observe func(Event)
	// Concurrency caps running steps; <= 0 means 1.
	Concurrency int
	// PoolLimits caps steps per pool; pools not listed have a limit of 1.
	PoolLimits map[string]int
	// Pools, when set, is shared by every run of this process (a backfill's
	// or the daemon's concurrent runs), so a pool such as a DuckDB file's
	// writer slot holds across runs, not only within one.
	Pools      *PoolSet
	ProjectDir string
	// RunsDir holds per-run folders with step logs (.elt/runs).
	RunsDir   string
	Env       []string
	Resources map[string]Resource
	// Redactor removes secrets from events, errors and step logs; nil
	// means no secrets.
	Redactor *redact.Redactor
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// LastMaterialized tells freshness checks when an asset was last
	// materialized before this run; may be nil.
	LastMaterialized func(asset.Key) time.Time
	// PreviousMetadata returns the metadata of an asset's last
	// materialization before this run, if known; a materialization whose
	// "data_version" equals the previous one is marked "unchanged".
	PreviousMetadata func(asset.Key) map[string]any
}

// ExecOptions are per-run settings.
type ExecOptions struct {
	RunID     string
	Partition *Partition
	FailFast  bool
}

// Result summarises a run.
type Result struct {
	RunID  string
	Status string // succeeded, failed, canceled
	// Assets maps each planned asset to its final status.
	Assets map[asset.Key]string
	// Steps maps step id to its final status.
	Steps map[string]string
	// Checks lists failed checks ("asset:check") by severity.
	FailedChecks []Event
	Duration     time.Duration
	// Err describes the first failure, for the summary line.
	Err error
}

// Failed reports whether any step, asset or blocking check failed.
func (r *Result) Failed() bool { return r.Status != StatusSucceeded }

type execution struct {
	e       *Engine
	opts    ExecOptions
	plan    *Plan
	global  *slots
	prio    map[string]int // longest chain of steps from a step to a sink
	pools   map[string]*semaphore.Weighted
	mu      sync.Mutex
	assets  map[asset.Key]string // final status per asset
	blocked map[asset.Key]bool   // materialized but a blocking check failed
	steps   map[string]string
	down    map[string][]*Step
	stepOf  map[asset.Key]*Step // the planned step of each asset
	checks  []Event
	firstEr error
	cancel  context.CancelCauseFunc
	recErr  error
	obsMu   sync.Mutex // serializes Engine.Observe
}

// errFailFast is the cancel cause when --fail-fast stops the run.
var errFailFast = errors.New("stopped by --fail-fast after a failure")

// errNotDurable is the cancel cause when an event or a step log could not
// be written: nothing more starts, since nothing more could be kept.
var errNotDurable = errors.New("stopped: the run store or a step log could not be written")

// WriteError is a step log that could not be written (disk full, read-only
// folder): like a failed store write, it ends the run with an internal
// error that names the path and the OS error.
type WriteError struct {
	Path string
	Err  error
}

func (e *WriteError) Error() string {
	return fmt.Sprintf("cannot write step log %s: %v", e.Path, e.Err)
}
func (e *WriteError) Unwrap() error { return e.Err }

// notDurable records the first write failure and stops the run.
func (x *execution) notDurable(err error) {
	x.mu.Lock()
	if x.recErr == nil {
		x.recErr = err
	}
	x.mu.Unlock()
	if x.cancel != nil {
		x.cancel(errNotDurable)
	}
}

// Execute runs plan. It returns a Result even when steps fail; the error is
// reserved for the run not being able to proceed (its folder cannot be
// created, the recorder fails).
func (e *Engine) Execute(ctx context.Context, plan *Plan, opts ExecOptions) (*Result, error) {
	start := e.now()
	x := &execution{
		e: e, opts: opts, plan: plan,
		assets: map[asset.Key]string{}, blocked: map[asset.Key]bool{},
		steps: map[string]string{}, down: map[string][]*Step{}, stepOf: map[asset.Key]*Step{},
		pools: map[string]*semaphore.Weighted{},
	}
	conc := e.Concurrency
	if conc <= 0 {
		conc = 1
	}
	x.global = newSlots(conc)
	pools := e.Pools
	if pools == nil {
		pools = NewPoolSet()
	}
	ids := make([]string, len(plan.Steps))
	deps := make(map[string][]string, len(plan.Steps))
	byID := make(map[string]*Step, len(plan.Steps))
	for i, st := range plan.Steps {
		for _, p := range st.Pools {
			if x.pools[p] == nil {
				x.pools[p] = pools.get(p, e.PoolLimits[p])
			}
		}
		ids[i], deps[st.ID], byID[st.ID] = st.ID, st.Deps, st
		for _, k := range st.Assets {
			x.stepOf[k] = st
		}
		for _, d := range st.Deps {
			x.down[d] = append(x.down[d], st)
		}
	}
	x.prio = stepPriorities(plan, x.down)
	if err := os.MkdirAll(e.runDir(opts.RunID), 0o755); err != nil {
		return nil, fmt.Errorf("create run folder: %w", err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	x.cancel = cancel
	x.emit(ctx, Event{Type: RunStarted, Metadata: map[string]any{"steps": len(plan.Steps), "assets": plan.AssetCount()}})
	// Ready steps claim their slots in priority order before any starts
	// (the first steps, then each finished step's successors before its
	// slot is freed), so a long chain's head does not lose a slot to
	// whichever goroutine happened to run first, and a freed slot goes to
	// the highest-priority ready step, successors included.
	var tmu sync.Mutex
	tickets := make(map[string]*waiter)
	RunDAGWith(ids, deps, DAGHooks{
		Ready: func(ready []string) {
			sort.SliceStable(ready, func(i, j int) bool { return x.prio[ready[i]] > x.prio[ready[j]] })
			tmu.Lock()
			defer tmu.Unlock()
			for _, id := range ready {
				// A step with pools takes them before its slot (a fixed
				// order that cannot deadlock), so it claims no slot in
				// advance.
				if len(byID[id].Pools) == 0 && ctx.Err() == nil {
					tickets[id] = x.global.reserve(x.prio[id])
				}
			}
		},
		Run: func(id string) func() {
			tmu.Lock()
			ticket := tickets[id]
			delete(tickets, id)
			tmu.Unlock()
			status, hold := x.runStep(ctx, byID[id], ticket)
			x.mu.Lock()
			x.steps[id] = status
			x.mu.Unlock()
			return hold
		},
	})
	res := &Result{RunID: opts.RunID, Assets: x.assets, Steps: x.steps, FailedChecks: x.checks, Duration: e.now().Sub(start), Err: x.firstEr}
	res.Status = StatusSucceeded
	for _, s := range x.steps {
		if s != StatusSucceeded {
			res.Status = StatusFailed
		}
	}
	for _, s := range x.assets {
		if s != StatusSucceeded {
			res.Status = StatusFailed
		}
	}
	if len(x.blocked) > 0 || x.writeErr() != nil {
		res.Status = StatusFailed
	}
	endType := RunSucceeded
	if cause := context.Cause(ctx); ctx.Err() != nil && !errors.Is(cause, errFailFast) && !errors.Is(cause, errNotDurable) {
		res.Status = StatusCanceled
		endType = RunCanceled
	} else if res.Status == StatusFailed {
		endType = RunFailed
	}
	msg := ""
	if res.Err != nil {
		msg = res.Err.Error()
	}
	// The run's end is recorded even when the run context was canceled.
	x.emit(context.WithoutCancel(ctx), Event{Type: endType, Status: res.Status, Message: msg, Metadata: map[string]any{"duration_ms": res.Duration.Milliseconds()}})
	if err := x.writeErr(); err != nil {
		// Not durable, so not succeeded. The store marks the run failed
		// when it can be written again (the next command reaps it).
		res.Status = StatusFailed
		return res, err
	}
	return res, nil
}

func (x *execution) writeErr() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.recErr
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Engine) runDir(runID string) string { return filepath.Join(e.RunsDir, runID) }

// emitAll is emit for events that happen together: with a BatchRecorder
// they are made durable in one commit.
func (x *execution) emitAll(ctx context.Context, evs []Event) {
	br, ok := x.e.Recorder.(BatchRecorder)
	if !ok || len(evs) < 2 {
		for _, ev := range evs {
			x.emit(ctx, ev)
		}
		return
	}
	for i := range evs {
		x.prepare(&evs[i])
	}
	if err := br.RecordAll(context.WithoutCancel(ctx), evs); err != nil {
		// Shown means stored: what could not be kept is not shown.
		x.notDurable(fmt.Errorf("record events: %w", err))
		return
	}
	if x.e.Observe != nil {
		x.obsMu.Lock()
		for _, ev := range evs {
			x.e.Observe(ev)
		}
		x.obsMu.Unlock()
	}
}

// prepare stamps and redacts an event.
func (x *execution) prepare(ev *Event) {
	ev.RunID = x.opts.RunID
	if ev.Time.IsZero() {
		ev.Time = x.e.now()
	}
	if ev.Partition == "" && x.opts.Partition != nil {
		ev.Partition = x.opts.Partition.Key
		// A range run (single-run backfill) materializes every key of the
		// range; the store records each from "partition_keys".
		if x.opts.Partition.IsRange() && (ev.Type == AssetMaterialized || ev.Type == AssetFailed) {
			md := make(map[string]any, len(ev.Metadata)+1)
			for k, v := range ev.Metadata {
				md[k] = v
			}
			md["partition_keys"] = x.opts.Partition.Keys
			ev.Metadata = md
		}
	}
	if r := x.e.Redactor; !r.Empty() {
		ev.Message = r.String(ev.Message)
		ev.Metadata = r.Map(ev.Metadata)
	}
}

// emit stamps, redacts, records and shows one event.
func (x *execution) emit(ctx context.Context, ev Event) {
	x.prepare(&ev)
	if x.e.Recorder != nil {
		if err := x.e.Recorder.Record(context.WithoutCancel(ctx), ev); err != nil {
			// Shown means stored: what could not be kept is not shown.
			x.notDurable(fmt.Errorf("record event: %w", err))
			return
		}
	}
	if x.e.Observe != nil {
		x.obsMu.Lock()
		x.e.Observe(ev)
		x.obsMu.Unlock()
	}
}

// runnable splits a step's assets into those whose in-plan upstream assets
// all succeeded, and marks the others upstream_failed or blocked_by_check.
func (x *execution) runnable(ctx context.Context, st *Step) []asset.Key {
	g := x.e.Graph
	x.mu.Lock()
	var ok []asset.Key
	type skip struct {
		key    asset.Key
		status string
		why    string
	}
	var skips []skip
	for _, k := range st.Assets {
		status, why := "", ""
		for _, d := range g.DirectDeps(k) {
			ds, planned := x.assets[d]
			if !planned {
				if other := x.stepOf[d]; other != nil && other != st {
					// The dep's step ended without a status for it.
					status, why = StatusUpstreamFailed, d.String()+" did not run"
					break
				}
				continue
			}
			if x.blocked[d] {
				status, why = StatusBlockedByCheck, "a blocking check of "+d.String()+" failed"
				break
			}
			if ds == StatusBlockedByCheck {
				status, why = StatusBlockedByCheck, d.String()+" was blocked by a failed check upstream"
				break
			}
			if ds != StatusSucceeded {
				status, why = StatusUpstreamFailed, d.String()+" "+ds
				break
			}
		}
		if status == "" {
			ok = append(ok, k)
		} else {
			x.assets[k] = status
			skips = append(skips, skip{k, status, why})
		}
	}
	x.mu.Unlock()
	for _, s := range skips {
		x.emit(ctx, Event{Type: AssetSkipped, StepID: st.ID, Asset: s.key, Status: s.status, Message: s.why})
	}
	return ok
}

// sortedPools returns the step's pools in a fixed order so that steps
// acquire them without deadlock.
func sortedPools(st *Step) []string {
	p := append([]string(nil), st.Pools...)
	sort.Strings(p)
	return p
}

// acquire takes the step's pools, then a global slot: the claim *ticket
// when set (it is used up), else a new one.
func (x *execution) acquire(ctx context.Context, st *Step, ticket **waiter) (release func(), err error) {
	var held []*semaphore.Weighted
	releasePools := func() {
		for i := len(held) - 1; i >= 0; i-- {
			held[i].Release(1)
		}
	}
	for _, p := range sortedPools(st) {
		s := x.pools[p]
		if err := s.Acquire(ctx, 1); err != nil {
			releasePools()
			return nil, err
		}
		held = append(held, s)
	}
	w := *ticket
	*ticket = nil
	if w == nil {
		w = x.global.reserve(x.prio[st.ID])
	}
	if err := x.global.wait(ctx, w); err != nil {
		releasePools()
		return nil, err
	}
	return func() {
		x.global.release()
		releasePools()
	}, nil
}

// stepPriorities gives each step the number of steps on its longest path
// to a sink: the critical path the scheduler favours.
func stepPriorities(plan *Plan, down map[string][]*Step) map[string]int {
	prio := make(map[string]int, len(plan.Steps))
	// Plan steps are ordered by level, so walking backwards sees every
	// downstream step first.
	for i := len(plan.Steps) - 1; i >= 0; i-- {
		st := plan.Steps[i]
		p := 1
		for _, d := range down[st.ID] {
			p = max(p, prio[d.ID]+1)
		}
		prio[st.ID] = p
	}
	return prio
}
