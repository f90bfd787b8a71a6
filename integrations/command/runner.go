package command

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/process"

	"github.com/eltproject/elt/internal/toolpath"
)

// Spec is how a command asset (or one op of a graph-asset) is run.
type Spec struct {
	// Argv or Shell: exactly one is set.
	Argv  []string
	Shell string
	// Env holds extra NAME=value entries.
	Env []string
	// Dir is the working directory, relative to the project folder.
	Dir string
}

// Op is one command of a graph-asset: ops run in dependency order, in
// parallel where their deps allow.
type Op struct {
	Name    string
	Command Spec
	Deps    []string
}

// Step is what a command family runs: one command, or a graph of ops.
type Step struct {
	Command *Spec
	Ops     []Op
}

// Runner runs command steps: one command or op graph per step (the step
// may materialize several assets, a graph-multi-asset).
type Runner struct {
	Step Step
}

// Run implements engine.Runner. The subprocess gets req.Env, the step's
// env, the partition variables and ELT_EVENTS_FILE; structured events it
// appends there are reported after it exits.
func (r *Runner) Run(ctx context.Context, req *engine.Request, emit engine.Emitter) error {
	var def asset.Key
	if len(req.Assets) == 1 {
		def = req.Assets[0]
	}
	if r.Step.Command != nil {
		return runOne(ctx, req, emit, "", *r.Step.Command, def)
	}
	return runOps(ctx, req, emit, r.Step.Ops, def)
}

func runOne(ctx context.Context, req *engine.Request, emit engine.Emitter, op string, s Spec, def asset.Key) error {
	// The events file sits beside the step's folder, in the run's folder
	// that always exists: command steps need no folder of their own.
	eventsPath := req.StepDir + ".events.jsonl"
	if op != "" {
		eventsPath = req.StepDir + ".events." + op + ".jsonl"
	}
	env := MergeEnv(req.Env, req.Partition.Env()...)
	env = MergeEnv(env, s.Env...)
	env = MergeEnv(env, EventsFileEnv+"="+eventsPath, "ELT_PROJECT_DIR="+req.ProjectDir)
	env = toolpath.Env(req.ProjectDir, env) // the project's .venv/bin first, as if activated
	if len(req.Assets) > 0 {
		keys := make([]string, len(req.Assets))
		for i, k := range req.Assets {
			keys[i] = k.String()
		}
		env = MergeEnv(env, "ELT_ASSETS="+strings.Join(keys, ","))
	}
	if op != "" {
		env = MergeEnv(env, "ELT_OP="+op)
	}
	dir := req.ProjectDir
	if s.Dir != "" {
		dir = s.Dir
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(req.ProjectDir, dir)
		}
	}
	argv := s.Argv
	if len(argv) > 0 {
		// An argv list has no shell to expand ${VAR}: elt does, from the
		// step's environment (${VAR:-default} too; $${ is a literal ${).
		lookup := envLookup(env)
		argv = make([]string, len(s.Argv))
		for i, a := range s.Argv {
			argv[i] = ExpandVars(a, lookup)
		}
	}
	p := &process.Proc{Argv: argv, Shell: s.Shell, Dir: dir, Env: env, Output: req.Log}
	if op != "" {
		p.Output = &prefixWriter{w: req.Log, prefix: "[" + op + "] "}
	}
	_, runErr := process.Run(ctx, p)
	evs, raws, perr := ReadEventsFile(eventsPath, def)
	for _, r := range raws {
		evs = append(evs, engine.LogLine(fmt.Sprintf("%s:%d: ignored an event of unknown type %q (known: materialization, check, log, failure)", eventsPath, r.Line, r.Type)))
	}
	req.EmitAll(emit, evs)
	if runErr != nil {
		return runErr
	}
	if perr != nil {
		return fmt.Errorf("events file: %w", perr)
	}
	return nil
}

// runOps runs a graph-asset's ops with the engine's DAG executor: each op
// once its deps succeeded; the first failure cancels the rest.
func runOps(ctx context.Context, req *engine.Request, emit engine.Emitter, ops []Op, def asset.Key) error {
	names := make([]string, len(ops))
	deps := make(map[string][]string, len(ops))
	byName := make(map[string]*Op, len(ops))
	for i := range ops {
		names[i], deps[ops[i].Name], byName[ops[i].Name] = ops[i].Name, ops[i].Deps, &ops[i]
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu   sync.Mutex
		errs []error
		ok   = map[string]bool{}
	)
	engine.RunDAG(names, deps, func(name string) {
		o := byName[name]
		mu.Lock()
		for _, d := range o.Deps {
			if !ok[d] {
				mu.Unlock()
				return
			}
		}
		mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		if err := runOne(ctx, req, emit, o.Name, o.Command, def); err != nil {
			mu.Lock()
			errs = append(errs, fmt.Errorf("op %s: %w", o.Name, err))
			mu.Unlock()
			cancel(fmt.Errorf("op %s failed", o.Name))
			return
		}
		mu.Lock()
		ok[o.Name] = true
		mu.Unlock()
	})
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if len(ok) != len(ops) {
		if err := context.Cause(ctx); err != nil {
			return err
		}
		return errors.New("some ops did not run")
	}
	return nil
}

// ValidateOps checks op names are unique, deps exist and there is no cycle.
func ValidateOps(ops []Op) error {
	names := map[string]bool{}
	for _, o := range ops {
		if o.Name == "" {
			return errors.New("every op needs a name")
		}
		if names[o.Name] {
			return fmt.Errorf("op %q is defined twice", o.Name)
		}
		names[o.Name] = true
	}
	for _, o := range ops {
		for _, d := range o.Deps {
			if !names[d] {
				known := make([]string, 0, len(names))
				for n := range names {
					known = append(known, n)
				}
				sort.Strings(known)
				return fmt.Errorf("op %q depends on unknown op %q (ops: %s)", o.Name, d, strings.Join(known, ", "))
			}
		}
	}
	// Cycle check by repeated removal of ops whose deps are done.
	left := append([]Op(nil), ops...)
	doneSet := map[string]bool{}
	for len(left) > 0 {
		progressed := false
		rest := left[:0]
		for _, o := range left {
			ready := true
			for _, d := range o.Deps {
				if !doneSet[d] {
					ready = false
				}
			}
			if ready {
				doneSet[o.Name] = true
				progressed = true
			} else {
				rest = append(rest, o)
			}
		}
		left = rest
		if !progressed {
			var names []string
			for _, o := range left {
				names = append(names, o.Name)
			}
			return fmt.Errorf("ops form a cycle: %s", strings.Join(names, ", "))
		}
	}
	return nil
}

type prefixWriter struct {
	mu     sync.Mutex
	w      interface{ Write([]byte) (int, error) }
	prefix string
	mid    bool
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []byte
	for _, c := range b {
		if !p.mid {
			out = append(out, p.prefix...)
			p.mid = true
		}
		out = append(out, c)
		if c == '\n' {
			p.mid = false
		}
	}
	if _, err := p.w.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}

// envLookup looks names up in a NAME=value list (the last entry wins).
func envLookup(env []string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		for i := len(env) - 1; i >= 0; i-- {
			if k, v, ok := strings.Cut(env[i], "="); ok && k == name {
				return v, true
			}
		}
		return "", false
	}
}

// ExpandVars replaces ${VAR} and ${VAR:-default} in s; an unset variable
// without a default becomes empty, as in a shell. $${ is a literal ${, and
// an unclosed ${ stays as written.
func ExpandVars(s string, lookup func(string) (string, bool)) string {
	out, err := ExpandFunc(s, func(expr string) (string, error) {
		name, def, hasDef := strings.Cut(expr, ":-")
		if v, ok := lookup(name); ok && v != "" {
			return v, nil
		} else if hasDef {
			return def, nil
		}
		return "", nil
	})
	if err != nil {
		return s
	}
	return out
}

// ExpandFunc replaces each ${expr} in s with fn(expr); $${ is a literal
// ${. An unclosed ${ is an error. It is the one scanner behind elt.yaml's
// interpolation and the run-time expansion of argv commands.
func ExpandFunc(s string, fn func(expr string) (string, error)) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") {
			b.WriteString("${")
			i += 3
			continue
		}
		if !strings.HasPrefix(s[i:], "${") {
			b.WriteByte(s[i])
			i++
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unclosed ${ in %q", s)
		}
		v, err := fn(s[i+2 : i+end])
		if err != nil {
			return "", err
		}
		b.WriteString(v)
		i += end + 1
	}
	return b.String(), nil
}
