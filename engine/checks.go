package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/eltproject/elt/asset"
)

// Checks: those the engine runs after a materialization (DuckDB and other
// check runners), those a step reports, and the blocking that follows.

// hasEngineChecks reports whether any materialized asset of the attempt
// has a check the engine must run.
func (x *execution) hasEngineChecks(st *Step, out attemptOutcome) bool {
	for k := range out.materialized {
		spec, _ := x.e.Graph.Spec(k)
		for _, cs := range spec.Checks {
			if cs.Runner != "" && !out.checks[k][cs.Name] {
				return true
			}
		}
	}
	return false
}

// decorateCheck fills severity and blocking from the asset's CheckSpec.
func (x *execution) decorateCheck(ev *Event) {
	spec, ok := x.e.Graph.Spec(ev.Asset)
	if !ok {
		return
	}
	cs, ok := spec.Check(ev.Check)
	if ev.Severity == "" {
		ev.Severity = cs.Severity
		if ev.Severity == "" {
			ev.Severity = "error"
		}
	}
	ev.Blocking = ok && cs.Blocking && ev.Severity != "warn"
	if ev.Passed != nil {
		switch {
		case *ev.Passed:
			ev.Status = "passed"
		case ev.Severity == "warn":
			ev.Status = "warn"
		default:
			ev.Status = "failed"
		}
	}
}

// noteCheck remembers a failed check; a failed blocking check blocks the
// asset's downstream.
func (x *execution) noteCheck(ev Event) {
	if ev.Passed == nil || *ev.Passed {
		return
	}
	x.prepare(&ev) // FailedChecks leave the engine: redacted

	x.mu.Lock()
	defer x.mu.Unlock()
	x.checks = append(x.checks, ev)
	if ev.Blocking {
		x.blocked[ev.Asset] = true
	}
}

// runChecks evaluates the engine-run checks of every asset the attempt
// materialized that the runner did not report itself.
func (x *execution) runChecks(ctx context.Context, st *Step, out attemptOutcome) {
	for _, k := range st.Assets {
		if !out.materialized[k] {
			continue
		}
		spec, _ := x.e.Graph.Spec(k)
		for _, cs := range spec.Checks {
			if cs.Runner == "" || out.checks[k][cs.Name] {
				continue
			}
			if ctx.Err() != nil {
				return // canceled: a check not run is not a failed check
			}
			cr := x.e.CheckRunners[cs.Runner]
			var res CheckResult
			if cr == nil {
				res = CheckResult{Passed: false, Severity: "error", Message: fmt.Sprintf("no check runner %q is configured", cs.Runner)}
			} else {
				var last time.Time
				if x.e.LastMaterialized != nil {
					last = x.e.LastMaterialized(k)
				}
				if out.materialized[k] {
					last = x.e.now()
				}
				r, err := cr.RunCheck(ctx, &CheckRequest{RunID: x.opts.RunID, Asset: spec, Check: cs, Partition: x.opts.Partition,
					ProjectDir: x.e.ProjectDir, Resources: x.e.Resources, LastMaterialized: last})
				if err != nil {
					r = CheckResult{Passed: false, Severity: cs.Severity, Message: "check could not run: " + err.Error()}
				}
				res = r
			}
			if res.Severity == "" {
				res.Severity = cs.Severity
			}
			ev := Checked(k, cs.Name, res)
			ev.StepID = st.ID
			x.decorateCheck(&ev)
			x.emit(ctx, ev)
			x.noteCheck(ev)
		}
	}
}

// RunChecks evaluates the engine-run checks of the given assets without
// materializing them (`elt check`). Results are emitted as events of runID.
func (e *Engine) RunChecks(ctx context.Context, runID string, keys []asset.Key, p *Partition) *Result {
	x := &execution{e: e, opts: ExecOptions{RunID: runID, Partition: p}, assets: map[asset.Key]string{}, blocked: map[asset.Key]bool{}, steps: map[string]string{}}
	out := attemptOutcome{materialized: map[asset.Key]bool{}, checks: map[asset.Key]map[string]bool{}}
	for _, k := range keys {
		out.materialized[k] = true
	}
	x.emit(ctx, Event{Type: RunStarted, Metadata: map[string]any{"checks_only": true}})
	x.runChecks(ctx, &Step{ID: "checks", Assets: keys}, out)
	res := &Result{RunID: runID, Status: StatusSucceeded, Assets: x.assets, Steps: x.steps, FailedChecks: x.checks}
	for _, c := range x.checks {
		if c.Blocking || c.Severity == "error" {
			res.Status = StatusFailed
		}
	}
	end := RunSucceeded
	switch {
	case ctx.Err() != nil:
		res.Status, end = StatusCanceled, RunCanceled
	case res.Status == StatusFailed:
		end = RunFailed
	}
	x.emit(context.WithoutCancel(ctx), Event{Type: end, Status: res.Status})
	return res
}

// scriptKinds are the families whose declared checks without a runner are
// the step's to report: a script that never reports one has a bug. (dbt,
// Sling and dlt steps report what their tool ran; a test dbt skipped is
// simply not evaluated.)
var scriptKinds = map[string]bool{"command": true, "ops": true, "plugin": true}

func (x *execution) hasMissingChecks(fam *Family, out attemptOutcome) bool {
	if !scriptKinds[fam.Kind] {
		return false
	}
	for k := range out.materialized {
		spec, _ := x.e.Graph.Spec(k)
		for _, cs := range spec.Checks {
			if cs.Runner == "" && !out.checks[k][cs.Name] {
				return true
			}
		}
	}
	return false
}

// missingChecks fails the declared checks a script step did not report,
// so a blocking one still guards what is downstream.
func (x *execution) missingChecks(ctx context.Context, st *Step, fam *Family, out attemptOutcome) {
	if !scriptKinds[fam.Kind] {
		return
	}
	for _, k := range st.Assets {
		if !out.materialized[k] {
			continue
		}
		spec, _ := x.e.Graph.Spec(k)
		for _, cs := range spec.Checks {
			if cs.Runner != "" || out.checks[k][cs.Name] {
				continue
			}
			ev := Checked(k, cs.Name, CheckResult{Passed: false, Severity: cs.Severity,
				Message: "the step did not report this check; append a \"check\" line to $ELT_EVENTS_FILE"})
			ev.StepID = st.ID
			x.decorateCheck(&ev)
			x.emit(ctx, ev)
			x.noteCheck(ev)
		}
	}
}
