package dbt

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/eltproject/elt/engine"
)

// tracker turns dbt's log lines and run results into engine events. It is
// fed from one goroutine (process.Run's line callback) and then finished.
type tracker struct {
	plan   *plan
	emit   engine.Emitter
	log    io.Writer
	redact func(string) string

	reported map[string]bool        // unique_ids already turned into events
	started  map[string]bool        // unique_ids dbt began running
	pending  map[string]*nodeResult // Log*Result seen, NodeFinished not yet
	seenNode bool                   // dbt started or reported a node

	failures []string // one line per failed node of the request
	others   []string // failed nodes dbt ran that were not requested
	errors   []string // error-level messages not about one node
	text     []string // last lines that were not JSON
}

func newTracker(p *plan, emit engine.Emitter, log io.Writer, redact func(string) string) *tracker {
	if log == nil {
		log = io.Discard
	}
	if redact == nil {
		redact = func(s string) string { return s }
	}
	return &tracker{
		plan: p, emit: emit, log: log, redact: redact,
		reported: map[string]bool{}, started: map[string]bool{}, pending: map[string]*nodeResult{},
	}
}

const keepLines = 20

func keepLast(s []string, l string) []string {
	s = append(s, l)
	if len(s) > keepLines {
		s = s[len(s)-keepLines:]
	}
	return s
}

// line handles one output line of dbt.
func (t *tracker) line(s string) {
	if strings.TrimSpace(s) == "" {
		return
	}
	l, err := parseLogLine([]byte(s))
	if err != nil {
		// Plain text: a traceback, a usage error, an old dbt's text log.
		t.text = keepLast(t.text, s)
		fmt.Fprintln(t.log, s)
		return
	}
	if l.Level != "debug" && l.Msg != "" {
		fmt.Fprintln(t.log, strings.TrimRight(l.Msg, "\n"))
	}
	if l.Level == "error" && l.Node == nil {
		msg := l.Exc
		if msg == "" {
			msg = l.Msg
		}
		t.errors = keepLast(t.errors, strings.TrimSpace(msg))
	}
	switch {
	case l.Name == "NodeStart" && l.Node != nil:
		t.started[l.Node.UniqueID] = true
		t.seenNode = true
	case l.Name == "NodeFinished" && l.Result != nil:
		r := l.Result
		if p := t.pending[r.UniqueID]; p != nil {
			r.Summary = p.Summary
			delete(t.pending, r.UniqueID)
		}
		t.result(*r)
	case resultEvents[l.Name] && l.Result != nil:
		t.pending[l.Result.UniqueID] = l.Result
	}
}

// result turns one node result into events, once per node.
func (t *tracker) result(r nodeResult) {
	if r.UniqueID == "" || t.reported[r.UniqueID] {
		return
	}
	t.reported[r.UniqueID] = true
	t.seenNode = true
	failed := nodeFailed(r.Status)
	if a := t.plan.assets[r.UniqueID]; a != nil {
		t.assetResult(a, r, failed)
		return
	}
	if c := t.plan.checks[r.UniqueID]; c != nil {
		t.checkResult(c, r)
		return
	}
	if failed {
		t.others = append(t.others, fmt.Sprintf("%s: %s", r.UniqueID, t.redact(summary(r.Message))))
	}
}

func nodeFailed(status string) bool {
	switch status {
	case "error", "fail", "runtime error", "partial success":
		return true
	}
	return false
}

func (t *tracker) assetResult(a *target, r nodeResult, failed bool) {
	md := t.metadata(a, r)
	switch {
	case r.Status == "success":
		t.emit(engine.Materialized(a.key, md))
	case failed:
		msg := strings.TrimSpace(r.Message)
		if msg == "" {
			msg = fmt.Sprintf("dbt reported %s for %s", r.Status, a.uid)
		}
		msg = t.redact(msg)
		t.failures = append(t.failures, fmt.Sprintf("%s (%s): %s", a.key, a.uid, summary(msg)))
		t.emit(engine.Event{Type: engine.AssetFailed, Asset: a.key, Status: engine.StatusFailed, Message: msg, Metadata: md})
	default:
		// skipped (an upstream node failed), no-op, or a status this
		// version of elt does not know.
		msg := fmt.Sprintf("dbt skipped %s", a.uid)
		if r.Status != "skipped" {
			msg = fmt.Sprintf("dbt reported %q for %s", r.Status, a.uid)
		}
		if m := strings.TrimSpace(r.Message); m != "" {
			msg += ": " + t.redact(m)
		}
		t.emit(engine.Event{Type: engine.AssetSkipped, Asset: a.key, Status: engine.StatusSkipped, Message: msg, Metadata: md})
	}
}

func (t *tracker) checkResult(c *target, r nodeResult) {
	res := engine.CheckResult{Severity: c.severity, Message: t.redact(strings.TrimSpace(r.Message))}
	status := ""
	switch r.Status {
	case "pass", "success":
		res.Passed, status = true, "passed"
	case "warn":
		res.Severity, status = "warn", "warn"
	case "fail", "error", "runtime error":
		res.Severity, status = "error", "failed"
		if c.severity == "warn" && r.Status == "fail" {
			// dbt reports "fail" only for error severity; trust the spec
			// if they disagree.
			res.Severity, status = "warn", "warn"
		}
		t.failures = append(t.failures, fmt.Sprintf("check %s of %s (%s): %s", c.check, c.key, c.uid, summary(res.Message)))
	default:
		// skipped: the test did not run (its model failed); no result.
		fmt.Fprintf(t.log, "elt: dbt %s test %s, so check %s of %s was not evaluated\n", r.Status, c.uid, c.check, c.key)
		return
	}
	md := map[string]any{MetaUniqueID: c.uid, "dbt_status": r.Status}
	if r.ExecutionTime > 0 {
		md["duration"] = roundMillis(r.ExecutionTime)
	}
	if r.Failures != nil {
		md["failures"] = *r.Failures
	}
	ev := engine.Checked(c.key, c.check, res)
	ev.Status = status
	ev.Blocking = c.blocking
	ev.Metadata = md
	t.emit(ev)
}

// metadata is what a materialization of a node reports.
func (t *tracker) metadata(a *target, r nodeResult) map[string]any {
	md := map[string]any{MetaUniqueID: a.uid, "dbt_status": r.Status}
	if r.ExecutionTime > 0 {
		md["duration"] = roundMillis(r.ExecutionTime)
	}
	if rel := r.Relation; rel != "" {
		md[MetaRelation] = rel
	} else if a.relation != "" {
		md[MetaRelation] = a.relation
	}
	msg := r.Summary
	if m, ok := r.AdapterResponse["_message"].(string); ok && m != "" {
		msg = m
	}
	if msg == "" && r.Status == "success" {
		msg = r.Message
	}
	if msg != "" {
		md["message"] = t.redact(msg)
	}
	if n := intPtr(r.AdapterResponse["rows_affected"]); n != nil && *n >= 0 {
		md["rows_affected"] = *n
	}
	// Other adapter fields (a warehouse query id, bytes processed) are
	// worth keeping; the message and row count are already above.
	for k, v := range r.AdapterResponse {
		if k == "_message" || k == "rows_affected" || k == "code" {
			continue
		}
		if s, ok := v.(string); ok {
			v = t.redact(s)
		}
		md["adapter_"+k] = v
	}
	return md
}

func roundMillis(sec float64) float64 { return math.Round(sec*1000) / 1000 }

// finish reports what the log stream left out: results found only in
// run_results.json or only as Log*Result lines, then every requested asset
// dbt said nothing about.
func (t *tracker) finish(fallback []nodeResult, out outcome) {
	for _, r := range fallback {
		if p := t.pending[r.UniqueID]; p != nil && r.Summary == "" {
			r.Summary = p.Summary
		}
		t.result(r)
	}
	for _, uid := range t.pendingOrder() {
		t.result(*t.pending[uid])
	}
	clear(t.pending)
	if out == outcomeCouldNotRun {
		// dbt could not run at all (bad profile, bad project): the step's
		// error says why and the engine fails every asset.
		return
	}
	for _, uid := range t.plan.order {
		if t.reported[uid] {
			continue
		}
		a := t.plan.assets[uid]
		t.reported[uid] = true
		md := map[string]any{MetaUniqueID: uid}
		switch {
		case out == outcomeOK:
			t.emit(engine.Event{Type: engine.AssetSkipped, Asset: a.key, Status: engine.StatusSkipped, Metadata: md,
				Message: fmt.Sprintf("dbt finished without running %s; the manifest may be stale: run `elt sync --prepare`", uid)})
		case t.started[uid]:
			msg := fmt.Sprintf("dbt stopped while running %s", uid)
			t.failures = append(t.failures, fmt.Sprintf("%s (%s): %s", a.key, uid, msg))
			t.emit(engine.Event{Type: engine.AssetFailed, Asset: a.key, Status: engine.StatusFailed, Message: msg, Metadata: md})
		default:
			t.emit(engine.Event{Type: engine.AssetSkipped, Asset: a.key, Status: engine.StatusSkipped, Metadata: md,
				Message: fmt.Sprintf("dbt did not reach %s: an upstream node failed or dbt stopped", uid)})
		}
	}
}

// pendingOrder lists pending results in request order, then the rest, so
// fallback events come out deterministically.
func (t *tracker) pendingOrder() []string {
	var out []string
	seen := map[string]bool{}
	for _, uid := range t.plan.order {
		if t.pending[uid] != nil {
			out = append(out, uid)
			seen[uid] = true
		}
	}
	var rest []string
	for uid := range t.pending {
		if !seen[uid] {
			rest = append(rest, uid)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}
