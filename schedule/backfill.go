package schedule

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/eltproject/elt/engine"
)

// Backfill policies.
const (
	// PolicyPerPartition runs one run per partition key.
	PolicyPerPartition = "per-partition"
	// PolicySingleRun hands each contiguous range of keys to one run
	// (dbt --vars, Sling --range, dlt intervals see the whole window).
	PolicySingleRun = "single-run"
)

// Backfill statuses (store.Backfill.Status).
const (
	BackfillRequested = "requested"
	BackfillRunning   = "running"
	BackfillSucceeded = "succeeded"
	BackfillFailed    = "failed"
	BackfillCanceled  = "canceled"
)

// BackfillOptions say which partitions a backfill covers.
type BackfillOptions struct {
	// From and To bound a range (both included); either may be empty to
	// mean the first or the newest key.
	From, To string
	// Keys lists partitions explicitly (--partitions); with From/To they
	// are cut to the range.
	Keys []string
	// MissingOnly leaves out partitions whose Status is materialized.
	MissingOnly bool
	// Policy is per-partition (default) or single-run.
	Policy string
	// Status maps keys to their current status (StatusMaterialized, …).
	Status map[string]string
	// Now is the time keys must exist at: a window still in progress
	// cannot be backfilled.
	Now time.Time
}

// BackfillPlan is what a backfill will run.
type BackfillPlan struct {
	Definition string
	Policy     string
	// Keys are the partitions, in definition order.
	Keys []string
	// Runs groups Keys into runs: one key each for per-partition, each
	// contiguous range for single-run.
	Runs [][]string
}

// PlanBackfill resolves opts against def.
func PlanBackfill(ctx context.Context, def Definition, opts BackfillOptions) (*BackfillPlan, error) {
	policy := opts.Policy
	switch policy {
	case "":
		policy = PolicyPerPartition
	case PolicyPerPartition, PolicySingleRun:
	default:
		return nil, fmt.Errorf("backfill policy %q: use per-partition or single-run", policy)
	}
	if opts.From == "" && opts.To == "" && len(opts.Keys) == 0 {
		return nil, errors.New("backfill needs --from/--to or --partitions")
	}
	all, err := def.Keys(ctx, opts.Now)
	if err != nil {
		return nil, err
	}
	pos := make(map[string]int, len(all))
	for i, k := range all {
		pos[k] = i
	}
	where := func(k, flag string) (int, error) {
		if i, ok := pos[k]; ok {
			return i, nil
		}
		if _, _, _, err := def.Window(k); err != nil {
			return 0, fmt.Errorf("%s: %w", flag, err)
		}
		last := "none yet"
		if len(all) > 0 {
			last = all[len(all)-1]
		}
		return 0, fmt.Errorf("%s: partition %q of %q does not exist yet (newest: %s)", flag, k, def.Name(), last)
	}
	lo, hi := 0, len(all)-1
	if opts.From != "" {
		if lo, err = where(opts.From, "--from"); err != nil {
			return nil, err
		}
	}
	if opts.To != "" {
		if hi, err = where(opts.To, "--to"); err != nil {
			return nil, err
		}
	}
	if hi < lo {
		return nil, fmt.Errorf("backfill range %s..%s is backwards", opts.From, opts.To)
	}
	var idx []int
	if len(opts.Keys) > 0 {
		seen := map[int]bool{}
		for _, k := range opts.Keys {
			i, err := where(k, "--partitions")
			if err != nil {
				return nil, err
			}
			if i >= lo && i <= hi && !seen[i] {
				seen[i] = true
				idx = append(idx, i)
			}
		}
		slices.Sort(idx)
	} else {
		for i := lo; i <= hi; i++ {
			idx = append(idx, i)
		}
	}
	plan := &BackfillPlan{Definition: def.Name(), Policy: policy}
	for _, i := range idx {
		if opts.MissingOnly && opts.Status[all[i]] == StatusMaterialized {
			continue
		}
		plan.Keys = append(plan.Keys, all[i])
	}
	plan.Runs = groupRuns(def, policy, plan.Keys)
	return plan, nil
}

// groupRuns splits keys into runs for policy.
func groupRuns(def Definition, policy string, keys []string) [][]string {
	if len(keys) == 0 {
		return nil
	}
	if policy != PolicySingleRun {
		runs := make([][]string, len(keys))
		for i, k := range keys {
			runs[i] = []string{k}
		}
		return runs
	}
	tw, ok := def.(*TimeWindows)
	if !ok {
		return [][]string{slices.Clone(keys)}
	}
	var runs [][]string
	cur := []string{keys[0]}
	for _, k := range keys[1:] {
		if tw.Adjacent(cur[len(cur)-1], k) {
			cur = append(cur, k)
			continue
		}
		runs = append(runs, cur)
		cur = []string{k}
	}
	return append(runs, cur)
}

// Launcher starts a run and waits for it to end: runID names the run and
// err is non-nil when it failed or could not start. The run must stop when
// ctx ends. The daemon and the backfiller call it concurrently.
type Launcher func(ctx context.Context, req RunRequest) (runID string, err error)

// BackfillStore records backfill progress (store.Store has these methods).
type BackfillStore interface {
	UpdateBackfillPartition(ctx context.Context, id, partition, status, runID string) error
	SetBackfillStatus(ctx context.Context, id, status string) error
}

// BackfillJob is a backfill to execute or resume: the fields of the
// store's record that matter here.
type BackfillJob struct {
	ID         string
	Selection  string
	Job        string
	Policy     string
	Partitions []string
	// Done maps partitions to their recorded status; those that
	// succeeded are not run again.
	Done map[string]string
}

// Backfiller executes backfills through a Launcher.
type Backfiller struct {
	Store  BackfillStore
	Launch Launcher
	// Def is the partition definition the backfill covers.
	Def Definition
	// MaxConcurrent bounds simultaneous runs; 1 when zero.
	MaxConcurrent int
	// Status, when set, reads the backfill's recorded status; it is
	// checked before each run so `elt backfill cancel` in another process
	// stops new runs.
	Status func(ctx context.Context, id string) (string, error)
}

// BackfillResult counts partition outcomes of one Execute.
type BackfillResult struct {
	Status                                   string
	Succeeded, Failed, Canceled, AlreadyDone int
}

// Execute runs every partition of job that has not succeeded and records
// each outcome as it happens, then the backfill's status. Resuming a
// backfill is calling Execute again with Done read from the store.
// Canceling ctx stops it: runs in flight are canceled and recorded.
func (b *Backfiller) Execute(ctx context.Context, job BackfillJob) (BackfillResult, error) {
	res := BackfillResult{}
	var todo []string
	for _, k := range job.Partitions {
		if job.Done[k] == engine.StatusSucceeded {
			res.AlreadyDone++
			continue
		}
		todo = append(todo, k)
	}
	bg := context.WithoutCancel(ctx)
	if err := b.Store.SetBackfillStatus(ctx, job.ID, BackfillRunning); err != nil {
		return res, fmt.Errorf("backfill %s: %w", job.ID, err)
	}
	var (
		mu       sync.Mutex
		canceled bool
		errs     []error
	)
	record := func(keys []string, status, runID string) {
		for _, k := range keys {
			if err := b.Store.UpdateBackfillPartition(bg, job.ID, k, status, runID); err != nil {
				errs = append(errs, fmt.Errorf("backfill %s partition %s: %w", job.ID, k, err))
			}
		}
		switch status {
		case engine.StatusSucceeded:
			res.Succeeded += len(keys)
		case engine.StatusFailed:
			res.Failed += len(keys)
		default:
			res.Canceled += len(keys)
		}
	}
	g := &errgroup.Group{}
	limit := b.MaxConcurrent
	if limit <= 0 {
		limit = 1
	}
	g.SetLimit(limit)
	for _, keys := range groupRuns(b.Def, job.Policy, todo) {
		if ctx.Err() == nil && b.Status != nil {
			if st, err := b.Status(ctx, job.ID); err == nil && st == BackfillCanceled {
				mu.Lock()
				canceled = true
				mu.Unlock()
			}
		}
		mu.Lock()
		stop := canceled || ctx.Err() != nil
		mu.Unlock()
		if stop {
			break
		}
		g.Go(func() error {
			// g.Go waited for a slot: look again before starting.
			mu.Lock()
			stop := canceled || ctx.Err() != nil
			mu.Unlock()
			if stop {
				return nil
			}
			req := RunRequest{Job: job.Job, PartitionKey: keys[0], Tags: map[string]string{TagBackfill: job.ID},
				Reason: fmt.Sprintf("backfill %s", job.ID)}
			if job.Selection != "" {
				req.Selection = []string{job.Selection}
			}
			if len(keys) > 1 {
				req.PartitionKeys = keys
			}
			mu.Lock()
			for _, k := range keys {
				_ = b.Store.UpdateBackfillPartition(bg, job.ID, k, engine.StatusRunning, "")
			}
			mu.Unlock()
			runID, err := b.Launch(ctx, req)
			status := engine.StatusSucceeded
			switch {
			case err != nil && ctx.Err() != nil:
				status = engine.StatusCanceled
			case err != nil:
				status = engine.StatusFailed
			}
			mu.Lock()
			record(keys, status, runID)
			mu.Unlock()
			return nil
		})
	}
	_ = g.Wait()
	switch {
	case canceled || ctx.Err() != nil || res.Canceled > 0:
		res.Status = BackfillCanceled
	case res.Failed > 0:
		res.Status = BackfillFailed
	default:
		res.Status = BackfillSucceeded
	}
	if err := b.Store.SetBackfillStatus(bg, job.ID, res.Status); err != nil {
		errs = append(errs, fmt.Errorf("backfill %s: %w", job.ID, err))
	}
	return res, errors.Join(errs...)
}
