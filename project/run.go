package project

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/store"
)

// RunOptions say what to materialize and how.
type RunOptions struct {
	Job             string
	Select, Exclude []string
	// Assets, when set, is the selection (daemon and backfill callers).
	Assets []asset.Key
	// Partition is one partition key; PartitionKeys a range run.
	Partition     string
	PartitionKeys []string
	// FromFailure re-runs what failed, was skipped or never ran in that run.
	FromFailure string
	Concurrency int
	FailFast    bool
	// Trigger says who started the run: manual, schedule:NAME, sensor:NAME,
	// backfill:ID.
	Trigger string
	Tags    map[string]string
	// Observe sees every event as it is recorded.
	Observe func(engine.Event)
	// RunID is generated when empty.
	RunID string
}

// StateDir is the folder of elt's own state: the run store and run logs.
func (p *Project) StateDir() string { return filepath.Join(p.Dir, ".elt") }

// OpenStore opens the project's run store, creating it on first use.
func (p *Project) OpenStore(ctx context.Context) (*store.SQLite, error) {
	return store.Open(ctx, filepath.Join(p.StateDir(), "elt.db"))
}

// SelectForRun resolves a run's selection to asset keys, including
// --from-failure.
func (p *Project) SelectForRun(ctx context.Context, st store.Store, opts RunOptions) (asset.Set, error) {
	if len(opts.Assets) > 0 {
		var missing []string
		for _, k := range opts.Assets {
			if !p.Graph.Has(k) {
				missing = append(missing, k.String())
			}
		}
		if len(missing) > 0 {
			return asset.Set{}, &Error{Problems: []Problem{{File: p.File, Msg: "unknown assets: " + strings.Join(missing, ", ")}}}
		}
		return p.Graph.SetOf(opts.Assets...), nil
	}
	if opts.FromFailure != "" {
		return p.failedOf(ctx, st, opts.FromFailure)
	}
	return p.Select(opts.Job, opts.Select, opts.Exclude)
}

// failedOf returns the assets of a previous run that did not succeed:
// failed, skipped, blocked, canceled, or never reached because the process
// died.
func (p *Project) failedOf(ctx context.Context, st store.Store, runID string) (asset.Set, error) {
	run, err := st.GetRun(ctx, runID)
	if err != nil {
		return asset.Set{}, &Error{Problems: []Problem{{Msg: fmt.Sprintf("--from-failure %s: %v", runID, err)}}}
	}
	if run.Status == engine.StatusRunning {
		return asset.Set{}, &Error{Problems: []Problem{{Msg: fmt.Sprintf("run %s is still running; wait for it or stop it first", run.ID)}}}
	}
	var sel []string
	if run.Selection != "" {
		sel = strings.Split(run.Selection, "\n")
	}
	var set asset.Set
	if planned := run.Tags["assets"]; planned != "" {
		var keys []asset.Key
		for _, s := range strings.Split(planned, ",") {
			if k, err := asset.ParseKey(s); err == nil && p.Graph.Has(k) {
				keys = append(keys, k)
			}
		}
		set = p.Graph.SetOf(keys...)
	} else {
		set, err = p.Select(run.Job, sel, nil)
		if err != nil {
			return asset.Set{}, err
		}
	}
	evs, err := st.Events(ctx, run.ID, 0, 0)
	if err != nil {
		return asset.Set{}, err
	}
	// The last outcome of each asset counts: a later attempt may have
	// failed what an earlier one materialized.
	done := map[asset.Key]bool{}
	blocked := map[asset.Key]bool{}
	for _, ev := range evs {
		switch ev.Type {
		case engine.AssetMaterialized:
			done[ev.Asset] = true
		case engine.AssetFailed:
			done[ev.Asset] = false
		case engine.CheckEvaluated:
			if ev.Blocking && ev.Passed != nil && !*ev.Passed {
				blocked[ev.Asset] = true
			}
		}
	}
	var keep []asset.Key
	for k, ok := range done {
		if ok && !blocked[k] {
			keep = append(keep, k)
		}
	}
	rest := set.Minus(p.Graph.SetOf(keep...))
	var todo []asset.Key
	for _, s := range p.Graph.SetSpecs(rest) {
		if !s.External {
			todo = append(todo, s.Key)
		}
	}
	if len(todo) == 0 {
		return asset.Set{}, &Error{Problems: []Problem{{Msg: fmt.Sprintf("run %s has nothing to re-run: every asset succeeded", run.ID)}}}
	}
	return p.Graph.SetOf(todo...), nil
}

// Plan plans a selection.
func (p *Project) Plan(sel asset.Set) (*engine.Plan, error) {
	plan, err := engine.NewPlan(p.Graph, p.Families, sel)
	if err != nil {
		var pe *engine.PlanError
		if errors.As(err, &pe) {
			e := &Error{}
			for _, m := range pe.Problems {
				e.Problems = append(e.Problems, Problem{Msg: m})
			}
			return nil, e
		}
		return nil, err
	}
	return plan, nil
}

// Engine returns an engine for this project writing to rec.
func (p *Project) Engine(rec engine.Recorder, concurrency int, last func(asset.Key) time.Time) *engine.Engine {
	if concurrency <= 0 {
		concurrency = p.Config.Concurrency
	}
	if concurrency <= 0 {
		concurrency = runtime.NumCPU()
	}
	e := &engine.Engine{
		Graph: p.Graph, Families: p.Families, CheckRunners: p.CheckRunners, Recorder: rec,
		Concurrency: concurrency, PoolLimits: p.Config.Pools, ProjectDir: p.Dir,
		RunsDir: filepath.Join(p.StateDir(), "runs"), Env: p.Env(), Resources: p.Resources,
		LastMaterialized: last, Pools: p.pools,
	}
	if p.HasSecrets() {
		e.Redactor = p.Redactor()
	}
	return e
}

// RunError is returned when a run cannot start (lock conflict).
type RunError struct{ Err error }

func (e *RunError) Error() string { return e.Err.Error() }
func (e *RunError) Unwrap() error { return e.Err }

// Run materializes a selection: it records the run, locks its assets
// against other elt processes, executes the plan and sends notifications.
// A run that fails still returns its Result with a nil error.
func (p *Project) Run(ctx context.Context, st store.Store, opts RunOptions) (*engine.Result, error) {
	if _, err := st.ReapDeadRuns(ctx, 2*time.Minute); err != nil {
		return nil, err
	}
	sel, err := p.SelectForRun(ctx, st, opts)
	if err != nil {
		return nil, err
	}
	plan, err := p.Plan(sel)
	if err != nil {
		return nil, err
	}
	if opts.FromFailure != "" && opts.Partition == "" && len(opts.PartitionKeys) == 0 {
		// Re-run the failed run's partition (or range), not everything.
		if parent, err := st.GetRun(ctx, opts.FromFailure); err == nil && parent.Partition != "" {
			if from, to, isRange := strings.Cut(parent.Partition, ".."); isRange {
				def, err := p.partitionsOf(sel)
				if err != nil || def == nil {
					return nil, &Error{Problems: []Problem{{Msg: fmt.Sprintf("run %s covered partitions %s, which the selected assets no longer have", parent.ID, parent.Partition)}}}
				}
				keys, err := def.Range(ctx, from, to)
				if err != nil {
					return nil, &Error{Problems: []Problem{{Msg: fmt.Sprintf("partitions %s of run %s: %v", parent.Partition, parent.ID, err)}}}
				}
				opts.PartitionKeys = keys
			} else {
				opts.Partition = parent.Partition
			}
		}
	}
	part, err := p.PartitionFor(ctx, st, sel, opts.Partition, opts.PartitionKeys)
	if err != nil {
		return nil, err
	}
	runID := opts.RunID
	if runID == "" {
		runID = store.NewRunID()
	}
	var planned []asset.Key
	for _, s := range plan.Steps {
		planned = append(planned, s.Assets...)
	}
	latest, err := st.LatestMaterializations(ctx)
	if err != nil {
		return nil, err
	}
	isPartitioned := func(k asset.Key) bool {
		s, ok := p.Graph.Spec(k)
		return ok && s.Partitions != ""
	}
	if err := st.LockAssets(ctx, runID, lockKeys(planned, part, isPartitioned)); err != nil {
		return nil, &RunError{Err: err}
	}
	defer func() { _ = st.UnlockAssets(context.WithoutCancel(ctx), runID) }()
	trigger := opts.Trigger
	if trigger == "" {
		trigger = "manual"
	}
	tags := map[string]string{}
	for k, v := range opts.Tags {
		tags[k] = v
	}
	tags["assets"] = joinKeys(planned)
	run := store.Run{ID: runID, Status: engine.StatusRunning, Selection: strings.Join(opts.Select, "\n"), Job: opts.Job,
		Trigger: trigger, ParentRunID: opts.FromFailure, PID: os.Getpid(), Tags: tags}
	if part != nil {
		run.Partition = part.Key
		if len(part.Keys) > 1 {
			run.Partition = part.Keys[0] + ".." + part.Keys[len(part.Keys)-1]
		}
	}
	if err := st.CreateRun(ctx, run); err != nil {
		return nil, err
	}
	hbCtx, stopHB := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHB()
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-hbCtx.Done():
				return
			case <-t.C:
				_ = st.Heartbeat(hbCtx, runID)
			}
		}
	}()
	eng := p.Engine(st, opts.Concurrency, func(k asset.Key) time.Time { return latest[k].Time })
	eng.PreviousMetadata = func(k asset.Key) map[string]any { return latest[k].Metadata }
	observe, finishLineage := p.lineageHook(st, opts, runID, plan, part, latest)
	defer finishLineage()
	eng.Observe = observe
	res, err := eng.Execute(ctx, plan, engine.ExecOptions{RunID: runID, Partition: part, FailFast: opts.FailFast})
	if err != nil {
		if res == nil {
			// The run could not start: end its record all the same.
			_ = st.Record(context.WithoutCancel(ctx), engine.Event{Type: engine.RunFailed, RunID: runID, Status: engine.StatusFailed, Message: err.Error()})
		}
		return res, err
	}
	p.notify(context.WithoutCancel(ctx), res)
	return res, nil
}

func joinKeys(keys []asset.Key) string {
	s := make([]string, len(keys))
	for i, k := range keys {
		s[i] = k.String()
	}
	return strings.Join(s, ",")
}

// lockKeys are the keys a run locks: the assets themselves, or for a
// partitioned run each (asset, partition) pair, so runs of different
// partitions of one asset may go on at once (backfills).
func lockKeys(keys []asset.Key, part *engine.Partition, partitioned func(asset.Key) bool) []asset.Key {
	if part == nil {
		return keys
	}
	pkeys := part.Keys
	if len(pkeys) == 0 {
		pkeys = []string{part.Key}
	}
	out := make([]asset.Key, 0, len(keys)*len(pkeys))
	for _, k := range keys {
		if !partitioned(k) {
			// An unpartitioned asset in a partitioned run is rebuilt
			// whole: it locks the asset itself.
			out = append(out, k)
			continue
		}
		for _, pk := range pkeys {
			lk, err := asset.NewKey(append(k.Parts(), "[partition "+strings.ReplaceAll(pk, "/", "%2F")+"]")...)
			if err != nil {
				out = append(out, k)
				continue
			}
			out = append(out, lk)
		}
	}
	return out
}
