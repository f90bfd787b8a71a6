package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/process"
	"github.com/eltproject/elt/redact"
)

// TimeoutError says which step timed out and after how long.
type TimeoutError struct {
	Step    string
	Assets  []asset.Key
	Timeout time.Duration
}

func (e *TimeoutError) Error() string {
	what := "step " + e.Step
	if len(e.Assets) == 1 {
		what = "asset " + e.Assets[0].String()
	}
	return fmt.Sprintf("%s timed out after %s", what, e.Timeout)
}

// attemptOutcome is what one runner call achieved.
type attemptOutcome struct {
	materialized map[asset.Key]bool
	failed       map[asset.Key]string // asset → message
	skipped      map[asset.Key]string
	// toolSkipped are failed assets that the tool itself skipped because
	// another of the step's assets failed (dbt's skipped nodes): retried
	// with the failed ones, shown as upstream_failed.
	toolSkipped map[asset.Key]bool
	checks      map[asset.Key]map[string]bool // checks the runner reported
	// pending are the engine's own events about the attempt's assets
	// (implicit materializations and failures), emitted by the caller.
	pending []Event
	err     error
	// start is the attempt's step_started event while it is held back.
	start *pendingStart
}

// runStep runs a step through its attempts and returns its final status.
// ticket, when not nil, is the step's claim on a global slot; it is used by
// the first attempt or dropped. A step that succeeded returns hold, which
// frees its slot and pools: the caller queues the ready successors first.
func (x *execution) runStep(ctx context.Context, st *Step, ticket *waiter) (status string, hold func()) {
	defer func() {
		if ticket != nil {
			x.global.cancel(ticket)
		}
	}()
	if ctx.Err() != nil {
		x.markAll(ctx, st, st.Assets, StatusCanceled, "run canceled")
		return StatusCanceled, nil
	}
	todo := x.runnable(ctx, st)
	if len(todo) == 0 {
		msg := "every asset's upstream failed"
		x.mu.Lock()
		blocked := true
		for _, k := range st.Assets {
			if x.assets[k] != StatusBlockedByCheck {
				blocked = false
			}
		}
		x.mu.Unlock()
		if blocked {
			msg = "blocked by a failed blocking check upstream"
		}
		x.emit(ctx, Event{Type: StepSkipped, StepID: st.ID, Status: StatusSkipped, Message: msg})
		return StatusSkipped, nil
	}
	fam := x.e.Families[st.Family]
	if len(todo) < len(st.Assets) && !fam.Subset && len(st.Assets) > 1 {
		// A step that cannot run a subset would materialize assets whose
		// upstream failed; skip it whole.
		x.markAll(ctx, st, todo, StatusUpstreamFailed, "step cannot run a subset and some of its upstream failed")
		x.emit(ctx, Event{Type: StepSkipped, StepID: st.ID, Status: StatusSkipped, Message: "upstream failed"})
		return StatusSkipped, nil
	}
	policy := fam.Retry
	for attempt := 1; ; attempt++ {
		release, err := x.acquire(ctx, st, &ticket)
		if err != nil {
			x.markAll(ctx, st, todo, StatusCanceled, "run canceled")
			if attempt > 1 {
				// The step had started: it ends with a terminal event.
				x.emit(ctx, Event{Type: StepFailed, StepID: st.ID, Attempt: attempt - 1, Status: StatusCanceled, Message: "run canceled while the step waited to retry"})
			}
			return StatusCanceled, nil
		}
		out := x.attempt(ctx, st, fam, todo, attempt)
		for k := range out.materialized {
			x.setAsset(k, StatusSucceeded)
		}
		ok := len(out.failed) == 0 && out.err == nil
		if ok && !x.hasEngineChecks(st, out) && !x.hasMissingChecks(fam, out) {
			// The step's last events and its end share one commit, made
			// before the slot is freed so no more steps show as running
			// than the concurrency allows.
			for k := range out.skipped {
				x.setAsset(k, StatusSkipped)
			}
			// A short silent step's start joins that commit too.
			evs := append(out.start.take(), out.pending...)
			x.emitAll(ctx, append(evs, Event{Type: StepSucceeded, StepID: st.ID, Attempt: attempt, Status: StatusSucceeded}))
			return StatusSucceeded, release
		}
		out.start.flush()
		x.emitAll(ctx, out.pending)
		// Checks run while the step still holds its pools: a DuckDB check
		// reads the file the step wrote, and the file's pool keeps other
		// writers out meanwhile.
		x.runChecks(ctx, st, out)
		if ok {
			x.missingChecks(ctx, st, fam, out)
			for k := range out.skipped {
				x.setAsset(k, StatusSkipped)
			}
			x.emit(ctx, Event{Type: StepSucceeded, StepID: st.ID, Attempt: attempt, Status: StatusSucceeded})
			return StatusSucceeded, release
		}
		release()
		failedKeys := make([]asset.Key, 0, len(out.failed))
		for _, k := range todo {
			if _, ok := out.failed[k]; ok {
				failedKeys = append(failedKeys, k)
			}
		}
		canceled := ctx.Err() != nil
		// A runner that reported every asset materialized and still failed
		// (a dbt on-run-end hook, a script failing after its events) is
		// not retried: there is nothing left to materialize.
		retry := len(failedKeys) > 0 || !(fam.Subset || len(st.Assets) == 1)
		if !canceled && retry && attempt <= policy.MaxRetries {
			delay := policy.delay(attempt)
			if fam.Subset || len(st.Assets) == 1 {
				todo = x.retryable(ctx, st, failedKeys)
				if len(todo) == 0 {
					failedKeys = nil
					out.err = fmt.Errorf("%w; nothing left to retry: a blocking check upstream failed", errOr(out.err))
					goto failed
				}
			}
			x.emit(ctx, Event{Type: StepRetrying, StepID: st.ID, Attempt: attempt, Status: StatusFailed,
				Message:  fmt.Sprintf("attempt %d failed: %s; retrying in %s", attempt, errText(out.err), delay.Round(time.Millisecond)),
				Metadata: map[string]any{"delay_ms": delay.Milliseconds(), "next_attempt": attempt + 1}})
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
			if ctx.Err() == nil {
				continue
			}
			canceled = true
		}
	failed:
		status := StatusFailed
		if canceled { // by Ctrl-C, or by --fail-fast after another step failed
			status = StatusCanceled
		}
		for _, k := range failedKeys {
			if status == StatusFailed && out.toolSkipped[k] {
				x.setAsset(k, StatusUpstreamFailed)
				continue
			}
			x.setAsset(k, status)
		}
		for k := range out.skipped {
			x.setAsset(k, StatusSkipped)
		}
		err = out.err
		if err == nil {
			err = fmt.Errorf("%d asset(s) failed", len(failedKeys))
		}
		x.emit(ctx, Event{Type: StepFailed, StepID: st.ID, Attempt: attempt, Status: status, Message: err.Error()})
		x.mu.Lock()
		if x.firstEr == nil && status == StatusFailed {
			if !x.e.Redactor.Empty() {
				// The error leaves the engine (summaries, notifications):
				// only its redacted text does.
				x.firstEr = fmt.Errorf("step %s: %s", st.ID, x.e.Redactor.Error(err))
			} else {
				x.firstEr = fmt.Errorf("step %s: %w", st.ID, err)
			}
		}
		x.mu.Unlock()
		if x.opts.FailFast && status == StatusFailed {
			x.cancel(errFailFast)
		}
		return status, nil
	}
}

func errText(err error) string {
	if err == nil {
		return "some assets failed"
	}
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

func (x *execution) setAsset(k asset.Key, status string) {
	x.mu.Lock()
	x.assets[k] = status
	x.mu.Unlock()
}

func (x *execution) markAll(ctx context.Context, st *Step, keys []asset.Key, status, why string) {
	for _, k := range keys {
		x.setAsset(k, status)
		x.emit(ctx, Event{Type: AssetSkipped, StepID: st.ID, Asset: k, Status: status, Message: why})
	}
}

// attempt makes one runner call and collects what it reported.
func (x *execution) attempt(ctx context.Context, st *Step, fam *Family, todo []asset.Key, attempt int) attemptOutcome {
	out := attemptOutcome{materialized: map[asset.Key]bool{}, failed: map[asset.Key]string{}, skipped: map[asset.Key]string{}, toolSkipped: map[asset.Key]bool{}, checks: map[asset.Key]map[string]bool{}}
	stepDir := filepath.Join(x.e.runDir(x.opts.RunID), fmt.Sprintf("%s.%d", st.ID, attempt))
	logPath := filepath.Join(x.e.runDir(x.opts.RunID), fmt.Sprintf("%s.%d.log", st.ID, attempt))
	// The log file is created on the first byte of output: a silent step
	// leaves no file behind.
	logf := &lazyFile{path: logPath}
	defer logf.Close()
	if !fam.NoStepDir {
		if err := os.Mkdir(stepDir, 0o755); err != nil && !os.IsExist(err) {
			out.err = fmt.Errorf("create step folder: %w", err)
			x.failRest(&out, todo)
			return out
		}
	}
	start := x.deferStart(ctx, Event{Type: StepStarted, StepID: st.ID, Attempt: attempt, Status: StatusRunning,
		Metadata: map[string]any{"log_path": logPath, "assets": keyStrings(todo), "kind": st.Kind}})
	out.start = start
	logw := x.e.Redactor.Writer(logf)
	specs := make(map[asset.Key]*asset.Spec, len(todo))
	for _, k := range todo {
		specs[k], _ = x.e.Graph.Spec(k)
	}
	req := &Request{
		RunID: x.opts.RunID, StepID: st.ID, Attempt: attempt, Assets: todo, Specs: specs,
		Partition: x.opts.Partition, ProjectDir: x.e.ProjectDir, StepDir: stepDir,
		Env:       append(append([]string(nil), x.e.Env...), "ELT_RUN_ID="+x.opts.RunID, "ELT_STEP_ID="+st.ID, fmt.Sprintf("ELT_ATTEMPT=%d", attempt)),
		Log:       logw,
		Resources: x.e.Resources,
	}
	rctx := ctx
	if fam.Timeout > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeoutCause(ctx, fam.Timeout, &TimeoutError{Step: st.ID, Assets: todo, Timeout: fam.Timeout})
		defer cancel()
	}
	want := make(map[asset.Key]bool, len(todo))
	for _, k := range todo {
		want[k] = true
	}
	var mu sync.Mutex
	// accept stamps a runner's event and applies it to the attempt's
	// outcome.
	accept := func(ev *Event) {
		ev.StepID, ev.Attempt = st.ID, attempt
		switch ev.Type {
		case AssetMaterialized, AssetFailed, AssetSkipped, CheckEvaluated:
			// A runner speaks only for the assets it was asked for: an
			// event about another (a typo in an events file) must not
			// change this run's outcome; a note takes its place.
			if !want[ev.Asset] {
				*ev = Event{Type: Log, StepID: st.ID, Attempt: attempt,
					Message: fmt.Sprintf("ignored a %s event for %s, which this step attempt does not materialize", ev.Type, ev.Asset)}
				return
			}
		}
		mu.Lock()
		switch ev.Type {
		case AssetMaterialized:
			out.materialized[ev.Asset] = true
			delete(out.failed, ev.Asset)
			ev.Metadata = x.markUnchanged(ev.Asset, ev.Metadata)
		case AssetFailed:
			out.failed[ev.Asset] = ev.Message
			delete(out.materialized, ev.Asset)
			if ev.Status == "" {
				ev.Status = StatusFailed
			}
		case AssetSkipped:
			out.skipped[ev.Asset] = ev.Message
			if ev.Status == "" {
				ev.Status = StatusSkipped
			}
		case CheckEvaluated:
			if out.checks[ev.Asset] == nil {
				out.checks[ev.Asset] = map[string]bool{}
			}
			out.checks[ev.Asset][ev.Check] = true
			x.decorateCheck(ev)
		}
		mu.Unlock()
	}
	emit := func(ev Event) {
		start.flush()
		accept(&ev)
		x.emit(ctx, ev)
		if ev.Type == CheckEvaluated {
			x.noteCheck(ev)
		}
	}
	// A runner replaying many events at once (an events file) records
	// them in one commit: 100,000 events one by one took seconds, which
	// Ctrl-C had to wait for.
	req.emitAll = func(evs []Event) {
		start.flush()
		kept := make([]Event, len(evs))
		for i, ev := range evs {
			accept(&ev)
			kept[i] = ev
		}
		x.emitAll(ctx, kept)
		for _, ev := range kept {
			if ev.Type == CheckEvaluated {
				x.noteCheck(ev)
			}
		}
	}
	if pr, ok := x.e.Recorder.(ProcessRecorder); ok {
		rctx = process.WithStartHook(rctx, func(pgid int) {
			_ = pr.RecordProcess(context.WithoutCancel(ctx), x.opts.RunID, st.ID, attempt, pgid)
		})
	}
	runErr := fam.Runner.Run(rctx, req, emit)
	_ = redact.Flush(logw)
	if runErr == nil && rctx.Err() != nil {
		runErr = context.Cause(rctx)
	}
	if runErr != nil && rctx.Err() != nil {
		if c := context.Cause(rctx); c != nil {
			runErr = c
		}
	}
	if werr := logf.Err(); werr != nil {
		// The step's output is lost: say where and why, and stop the run
		// (exit 3) rather than blaming the step.
		var pe *os.PathError
		if errors.As(werr, &pe) {
			werr = pe.Err
		}
		we := &WriteError{Path: logPath, Err: werr}
		x.notDurable(we)
		runErr = we
	}
	mu.Lock()
	defer mu.Unlock()
	out.err = runErr
	for _, k := range todo {
		if out.materialized[k] {
			continue
		}
		if _, ok := out.failed[k]; ok {
			continue
		}
		if _, ok := out.skipped[k]; ok {
			if runErr != nil {
				// A node the tool skipped because of a failure is retried
				// with the failed ones.
				out.failed[k] = out.skipped[k]
				out.toolSkipped[k] = true
				delete(out.skipped, k)
			}
			continue
		}
		if runErr == nil {
			out.materialized[k] = true
			out.pending = append(out.pending, Event{Type: AssetMaterialized, StepID: st.ID, Attempt: attempt, Asset: k, Status: StatusSucceeded})
		} else {
			out.failed[k] = errText(runErr)
			status := StatusFailed
			if ctx.Err() != nil {
				status = StatusCanceled
			}
			out.pending = append(out.pending, Event{Type: AssetFailed, StepID: st.ID, Attempt: attempt, Asset: k, Status: status, Message: runErr.Error()})
		}
	}
	return out
}

func (x *execution) failRest(out *attemptOutcome, todo []asset.Key) {
	for _, k := range todo {
		out.failed[k] = errText(out.err)
	}
}

func keyStrings(keys []asset.Key) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.String()
	}
	return out
}

// markUnchanged sets "unchanged" when the materialization's data_version
// equals the one before this run.
func (x *execution) markUnchanged(k asset.Key, md map[string]any) map[string]any {
	v, ok := md["data_version"]
	if !ok || x.e.PreviousMetadata == nil {
		return md
	}
	prev := x.e.PreviousMetadata(k)
	if pv, ok := prev["data_version"]; ok && fmt.Sprint(pv) == fmt.Sprint(v) {
		out := make(map[string]any, len(md)+1)
		for key, val := range md {
			out[key] = val
		}
		out["unchanged"] = true
		return out
	}
	return md
}
