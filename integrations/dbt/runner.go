package dbt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/integrations/command"
	"github.com/eltproject/elt/process"
)

// Runner runs one `dbt <command>` per step attempt of a dbt step family,
// selecting exactly the requested assets (and, for build and test, the
// tests that are their checks), and reports dbt's per-node results as
// engine events while dbt runs.
type Runner struct {
	cfg   Config // resolved: absolute paths, defaults filled in
	index *fqnIndex
	// refuse, when set, is returned by every Run: the project's dbt is
	// too old to be run by elt (its metadata still loads).
	refuse error
}

// NewRunner returns the runner for cfg. projectDir is the folder of
// elt.yaml (relative paths in cfg resolve against it); specs are all the
// specs of the family, which keep the selection of a subset exact.
func NewRunner(cfg Config, projectDir string, specs []asset.Spec) (*Runner, error) {
	if err := cfg.validateErr(); err != nil {
		return nil, err
	}
	rc, err := cfg.resolved(projectDir)
	if err != nil {
		return nil, err
	}
	return &Runner{cfg: rc, index: newFQNIndex(specNodes(specs))}, nil
}

// outcome is how a dbt invocation ended, as far as per-asset events care.
type outcome int

const (
	outcomeOK          outcome = iota // exit 0
	outcomeFailed                     // exit 1, or a crash after nodes ran
	outcomeCouldNotRun                // exit 2 before any node, or no start
	outcomeCanceled                   // elt stopped it (timeout, Ctrl-C)
)

// Run implements engine.Runner.
func (r *Runner) Run(ctx context.Context, req *engine.Request, emit engine.Emitter) error {
	if r.refuse != nil {
		return r.refuse
	}
	log := req.Log
	if log == nil {
		log = io.Discard
	}
	redact := engine.ResourceRedactor(req.Resources).String
	p, err := newPlan(req, r.cfg.Command, r.index)
	if err != nil {
		return err
	}
	for _, u := range p.unrun {
		emit(engine.Event{Type: engine.AssetSkipped, Asset: u.key, Status: engine.StatusSkipped, Message: u.reason})
	}
	if len(p.selects) == 0 {
		fmt.Fprintf(log, "elt: nothing for dbt %s to run in this step\n", r.cfg.Command)
		return nil
	}
	inv, err := r.invocation(req, p)
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "elt: running %s\n", redact(inv.display))
	tr := newTracker(p, emit, log, redact)
	res, runErr := process.Run(ctx, &process.Proc{
		Argv:      inv.argv,
		Dir:       r.cfg.ProjectDir,
		Env:       inv.env,
		OnLine:    tr.line,
		TailLines: 40,
	})
	fallback, ferr := readRunResults(filepath.Join(inv.targetPath, "run_results.json"))
	if ferr != nil {
		fmt.Fprintf(log, "elt: %v\n", ferr)
	}
	var exitErr *process.ExitError
	out := outcomeOK
	switch {
	case res.Canceled:
		out = outcomeCanceled
	case runErr == nil:
	case errors.As(runErr, &exitErr) && exitErr.Code == 2 && !tr.seenNode:
		out = outcomeCouldNotRun
	case errors.As(runErr, &exitErr):
		out = outcomeFailed
	case !tr.seenNode:
		out = outcomeCouldNotRun // it did not start
	default:
		out = outcomeFailed
	}
	tr.finish(fallback, out)
	return r.stepError(runErr, out, tr, redact)
}

// invocation is one prepared dbt command.
type invocation struct {
	argv       []string
	env        []string
	targetPath string
	display    string // argv for the log, long selections shortened
}

func (r *Runner) invocation(req *engine.Request, p *plan) (*invocation, error) {
	if req.StepDir == "" {
		return nil, errors.New("dbt: the step request has no step folder")
	}
	stepDir, err := filepath.Abs(req.StepDir)
	if err != nil {
		return nil, err
	}
	// One folder per attempt: dbt writes its artifacts (run_results.json,
	// compiled SQL) there, so concurrent steps and retries never share one.
	work := filepath.Join(stepDir, fmt.Sprintf("dbt-%d", req.Attempt))
	inv := &invocation{targetPath: filepath.Join(work, "target")}
	if err := os.MkdirAll(inv.targetPath, 0o755); err != nil {
		return nil, fmt.Errorf("dbt: %w", err)
	}
	copyPartialParse(filepath.Dir(r.cfg.Manifest), inv.targetPath)

	projectDir := r.cfg.ProjectDir
	argv := []string{r.cfg.Executable, r.cfg.Command}
	indirect := ""
	if runsTests(r.cfg.Command) {
		// Run exactly the selected tests, not every test touching a
		// selected model.
		indirect = "empty"
	}
	selection := p.selectArgs()
	if len(p.selects)+len(p.exclude) > selectorsFileThreshold {
		y, err := p.selectorsYAML(indirect)
		if err != nil {
			return nil, fmt.Errorf("dbt: write selectors: %w", err)
		}
		projectDir = filepath.Join(work, "project")
		if err := shadowProject(r.cfg.ProjectDir, projectDir, y); err != nil {
			return nil, fmt.Errorf("dbt: %w", err)
		}
		argv = append(argv, "--selector", selectorName)
		inv.display = strings.Join(argv, " ") + fmt.Sprintf(" (%d nodes in %s)", len(p.selects), filepath.Join(projectDir, "selectors.yml"))
	} else {
		argv = append(argv, selection...)
		if indirect != "" {
			argv = append(argv, "--indirect-selection", indirect)
		}
	}
	if r.cfg.Target != "" {
		argv = append(argv, "--target", r.cfg.Target)
	}
	if r.cfg.Threads > 0 {
		argv = append(argv, "--threads", fmt.Sprint(r.cfg.Threads))
	}
	vars, err := r.vars(req.Partition)
	if err != nil {
		return nil, err
	}
	if vars != "" {
		argv = append(argv, "--vars", vars)
	}
	if p := req.Partition; p.HasWindow() && (r.cfg.Command == CommandBuild || r.cfg.Command == CommandRun) {
		// Microbatch models load exactly the partition's window; dbt
		// ignores these flags for every other model. They take
		// click's datetime formats: no zone suffix, so UTC is spelled
		// out by converting first.
		const eventTime = "2006-01-02T15:04:05"
		argv = append(argv, "--event-time-start", p.Start.UTC().Format(eventTime), "--event-time-end", p.End.UTC().Format(eventTime))
	}
	inv.argv = argv
	if inv.display == "" {
		inv.display = displayArgv(argv)
	}

	env := []string{
		"DBT_LOG_FORMAT=json",
		// NodeFinished, which carries each node's adapter response, is a
		// debug-level event.
		"DBT_LOG_LEVEL=debug",
		"DBT_USE_COLORS=false",
		"DBT_TARGET_PATH=" + inv.targetPath,
		"DBT_LOG_PATH=" + filepath.Join(work, "logs"),
		"DBT_PROJECT_DIR=" + projectDir,
	}
	if pd := r.profilesDir(); pd != "" {
		env = append(env, "DBT_PROFILES_DIR="+pd)
	}
	env = append(env, req.Partition.Env()...)
	base := req.Env
	if base == nil {
		base = os.Environ()
	}
	inv.env = command.MergeEnv(base, env...)
	return inv, nil
}

// profilesDir is the configured profiles folder, else the project folder
// when it holds a profiles.yml; "" leaves dbt's default (~/.dbt).
func (r *Runner) profilesDir() string {
	if r.cfg.ProfilesDir != "" {
		return r.cfg.ProfilesDir
	}
	if _, err := os.Stat(filepath.Join(r.cfg.ProjectDir, "profiles.yml")); err == nil {
		return r.cfg.ProjectDir
	}
	return ""
}

// vars renders --vars: the configured vars, the partition key and the
// partition window.
func (r *Runner) vars(part *engine.Partition) (string, error) {
	vars := maps.Clone(r.cfg.Vars)
	if vars == nil {
		vars = map[string]any{}
	}
	if part != nil && r.cfg.PartitionVars.Via != PartitionViaEnv {
		vars[PartitionKeyVar] = part.Key
		if part.HasWindow() {
			start, end := r.cfg.windowVars()
			vars[start] = part.Start.Format(time.RFC3339)
			vars[end] = part.End.Format(time.RFC3339)
		}
	}
	if len(vars) == 0 {
		return "", nil
	}
	b, err := json.Marshal(vars)
	if err != nil {
		return "", fmt.Errorf("dbt: vars cannot be written as JSON: %w", err)
	}
	return string(b), nil
}

// stepError is Run's error: nil on success; otherwise what failed, in
// dbt's words, with secrets removed.
func (r *Runner) stepError(runErr error, out outcome, tr *tracker, redact func(string) string) error {
	name := "dbt " + r.cfg.Command
	var exitErr *process.ExitError
	switch out {
	case outcomeOK:
		return nil
	case outcomeCanceled:
		return fmt.Errorf("%s stopped: %w", name, runErr)
	case outcomeCouldNotRun:
		if !errors.As(runErr, &exitErr) {
			return fmt.Errorf("%s could not start (install dbt or set executable: in elt.yaml): %w", name, runErr)
		}
		return &StepError{Command: name, ExitCode: exitErr.Code, Message: redact(tr.errorText(exitErr.Tail))}
	}
	code := -1
	var tail []string
	if errors.As(runErr, &exitErr) {
		code, tail = exitErr.Code, exitErr.Tail
	}
	var msg string
	if n := len(tr.failures); n > 0 {
		shown := tr.failures[:min(n, 3)]
		msg = fmt.Sprintf("%d failed: %s", n, strings.Join(shown, "; "))
		if n > 3 {
			msg += fmt.Sprintf("; and %d more", n-3)
		}
	}
	if len(tr.others) > 0 {
		if msg != "" {
			msg += "; "
		}
		msg += "nodes elt did not ask for failed: " + strings.Join(tr.others[:min(len(tr.others), 3)], "; ")
	}
	if msg == "" {
		msg = tr.errorText(tail)
	}
	return &StepError{Command: name, ExitCode: code, Message: redact(msg)}
}

// errorText is dbt's own account of why it stopped: its error-level
// messages, else the last plain-text lines, else the output tail.
func (t *tracker) errorText(tail []string) string {
	switch {
	case len(t.errors) > 0:
		return strings.Join(t.errors, "\n")
	case len(t.text) > 0:
		return strings.Join(t.text, "\n")
	}
	// The tail holds raw JSON lines: keep their human text.
	var msgs []string
	for _, s := range tail {
		if l, err := parseLogLine([]byte(s)); err == nil {
			if l.Msg != "" {
				msgs = append(msgs, l.Msg)
			}
		} else {
			msgs = append(msgs, s)
		}
	}
	if len(msgs) > 0 {
		return strings.Join(msgs[max(0, len(msgs)-5):], "\n")
	}
	return "no output"
}

// StepError is returned when dbt exits non-zero: exit 1 when nodes failed
// (the per-asset events say which), 2 when dbt could not run at all.
type StepError struct {
	Command  string // "dbt build"
	ExitCode int
	Message  string
}

// Error says how dbt ended and why.
func (e *StepError) Error() string {
	if e.ExitCode == 2 {
		return fmt.Sprintf("%s could not run (exit status 2): %s", e.Command, e.Message)
	}
	return fmt.Sprintf("%s failed (exit status %d): %s", e.Command, e.ExitCode, e.Message)
}

// copyPartialParse copies dbt's partial parse state from the prepared
// target folder into an attempt's target folder, so dbt does not parse the
// whole project again. A missing or unreadable file only costs time.
func copyPartialParse(fromDir, toDir string) {
	b, err := os.ReadFile(filepath.Join(fromDir, "partial_parse.msgpack"))
	if err != nil {
		return
	}
	_ = os.WriteFile(filepath.Join(toDir, "partial_parse.msgpack"), b, 0o644)
}

// displayArgv joins argv for the log, shortening a long selection.
func displayArgv(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if len(a) > 400 {
			a = a[:400] + fmt.Sprintf("… (%d characters)", len(a))
		}
		if strings.ContainsAny(a, " \"'{}") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
