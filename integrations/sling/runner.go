package sling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/integrations/command"
	manifest "github.com/eltproject/elt/manifest/sling"
	"github.com/eltproject/elt/process"
)

// StateFileName is the runtime-state file the injected end hook writes in
// the attempt's StepDir.
const StateFileName = "sling_runtime_state.json"

// Runner runs the selected streams of one replication file.
type Runner struct {
	cfg  Config
	path string // absolute replication path
	exe  string // sling executable, resolved against the project folder
	// streams are the stream names of every asset Load made; a plan that
	// covers them all runs the file without --streams.
	streams []string
}

// planned is one stream the attempt runs and the assets it feeds.
type planned struct {
	stream string
	keys   []asset.Key
}

// Run runs `sling run` for the requested assets and reports one event per
// asset: materialized (rows, bytes, table, duration) or failed (Sling's
// error for that stream). A partially failed replication reports both.
func (r *Runner) Run(ctx context.Context, req *engine.Request, emit engine.Emitter) error {
	plan, err := r.plan(req)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(r.path)
	if err != nil {
		return fmt.Errorf("sling %s: %w", r.cfg.Replication, err)
	}
	rep, err := manifest.Parse(r.path, raw, os.LookupEnv)
	if err != nil {
		return err
	}
	statePath, err := filepath.Abs(filepath.Join(req.StepDir, StateFileName))
	if err != nil {
		return err
	}
	_ = os.Remove(statePath)
	// Sling runs hooks only with a Sling Pro token (the free CLI logs
	// "invalid or missing token" and skips them), so the runtime-state
	// hook is added only then; otherwise the log tells each stream's
	// outcome.
	runPath := r.path
	if hasEnv(req.Env, "SLING_CLI_TOKEN") {
		runPath = filepath.Join(filepath.Dir(statePath), "replication.yaml")
		if err := writeWithStateHook(raw, runPath, statePath); err != nil {
			return fmt.Errorf("sling %s: %w", r.cfg.Replication, err)
		}
	}

	argv := []string{r.exe, "run", "-r", runPath}
	if names := streamNames(plan); !r.coversAll(names) {
		argv = append(argv, "--streams", strings.Join(names, ","))
	}
	extra, err := partitionArgs(rep, plan, req.Partition)
	if err != nil {
		return err
	}
	argv = append(argv, extra...)

	connEnv, secrets, duck, err := connectionEnv(&r.cfg, rep, req.Resources)
	if err != nil {
		return err
	}
	duck = duck || envHasDuckDB(req.Env, rep)
	env := command.Environ(req.Env, append(connEnv, req.Partition.Env()...)...)
	env = command.MergeEnv(env, toolEnv(env, req.ProjectDir, req.StepDir, r.exe, duck)...)
	red := engine.ResourceRedactor(req.Resources, secrets...)

	logw := req.Log
	if logw == nil {
		logw = io.Discard
	}
	progress := newLogProgress(streamNames(plan))
	emit(engine.LogLine("sling: " + strings.Join(argv, " ")))
	res, runErr := process.Run(ctx, &process.Proc{
		Argv: argv,
		Dir:  req.ProjectDir,
		Env:  env,
		OnLine: func(line string) {
			// Sling colors its log even into a pipe; the step log is plain text.
			line = red.String(stripANSI(line))
			fmt.Fprintln(logw, line)
			if msg := progress.feed(line); msg != "" {
				emit(engine.LogLine(msg))
			}
		},
	})

	var state *RuntimeState
	if b, err := os.ReadFile(statePath); err == nil {
		if st, perr := ParseRuntimeState(b); perr == nil {
			state = st
		} else {
			emit(engine.LogLine(fmt.Sprintf("sling: could not read the runtime state (%v); using the log", perr)))
		}
	}
	results := collect(plan, state, progress, runErr == nil && res.ExitCode == 0)

	var failed []string
	for _, p := range plan {
		o := results[p.stream]
		for _, k := range p.keys {
			switch o.status {
			case outcomeOK:
				emit(engine.Materialized(k, o.metadata()))
			case outcomeSkipped:
				emit(engine.Event{Type: engine.AssetSkipped, Asset: k, Status: engine.StatusSkipped, Message: red.String(o.err), Metadata: o.metadata()})
			default:
				msg := o.err
				if msg == "" {
					msg = "sling reported no result for this stream"
				}
				emit(engine.Event{Type: engine.AssetFailed, Asset: k, Status: engine.StatusFailed, Message: red.String(msg), Metadata: o.metadata()})
			}
		}
		if o.status == outcomeFailed {
			failed = append(failed, p.stream)
		}
	}
	switch {
	case runErr != nil && !isExit(runErr):
		// Killed (timeout, cancel) or not started: say so, with what ran.
		return fmt.Errorf("sling %s: %s", r.cfg.Replication, red.String(runErr.Error()))
	case len(failed) > 0:
		return fmt.Errorf("sling %s: %d of %d streams failed: %s", r.cfg.Replication, len(failed), len(plan), strings.Join(failed, ", "))
	case runErr != nil:
		return fmt.Errorf("sling %s: exited %d though every stream reported success (a hook failed?): %s", r.cfg.Replication, res.ExitCode, red.String(runErr.Error()))
	}
	return nil
}

// hasEnv reports whether env (or the process environment when env is nil)
// sets name to a non-empty value.
func hasEnv(env []string, name string) bool {
	if env == nil {
		return os.Getenv(name) != ""
	}
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok && v != "" {
			return true
		}
	}
	return false
}

func isExit(err error) bool {
	var ee *process.ExitError
	return errors.As(err, &ee)
}

// plan groups the requested assets by stream, in request order.
func (r *Runner) plan(req *engine.Request) ([]planned, error) {
	var out []planned
	idx := map[string]int{}
	for _, k := range req.Assets {
		s := req.Specs[k]
		if s == nil {
			return nil, fmt.Errorf("sling %s: no spec for asset %s", r.cfg.Replication, k)
		}
		name, _ := s.Metadata["stream"].(string)
		if name == "" {
			return nil, fmt.Errorf("sling %s: asset %s has no stream metadata", r.cfg.Replication, k)
		}
		i, ok := idx[name]
		if !ok {
			i = len(out)
			idx[name] = i
			out = append(out, planned{stream: name})
		}
		out[i].keys = append(out[i].keys, k)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("sling %s: no assets requested", r.cfg.Replication)
	}
	return out, nil
}

func streamNames(plan []planned) []string {
	out := make([]string, len(plan))
	for i, p := range plan {
		out[i] = p.stream
	}
	return out
}

// coversAll reports whether the plan holds every stream Load found, so
// --streams can be left out (which also leaves wildcard expansion and
// disabled streams to Sling).
func (r *Runner) coversAll(names []string) bool {
	for _, n := range r.streams {
		if !slices.Contains(names, n) {
			return false
		}
	}
	return true
}

// writeWithStateHook copies the replication with a write hook as the first
// step of hooks.end, so the runtime state is saved even when a later end
// hook (a check with on_failure: break, as in many real files) stops.
func writeWithStateHook(raw []byte, copyPath, statePath string) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return err
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return errors.New("replication is not a mapping")
	}
	root := doc.Content[0]
	hook := &yaml.Node{Kind: yaml.MappingNode}
	for _, kv := range [][2]string{
		{"type", "write"},
		{"id", "elt_runtime_state"},
		{"to", "local/" + statePath},
		{"content", "{runtime_state}"},
		{"on_failure", "warn"},
	} {
		hook.Content = append(hook.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Value: kv[0]},
			&yaml.Node{Kind: yaml.ScalarNode, Value: kv[1], Style: yaml.SingleQuotedStyle})
	}
	hooks := mapNode(root, "hooks")
	end := mapNode(hooks, "end")
	switch {
	case end.Kind == yaml.SequenceNode:
	case end.Kind == yaml.MappingNode && len(end.Content) == 0:
		end.Kind, end.Tag, end.Value = yaml.SequenceNode, "", ""
	default:
		return fmt.Errorf("line %d: hooks.end must be a list of hooks", end.Line)
	}
	end.Content = append([]*yaml.Node{hook}, end.Content...)
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return err
	}
	return os.WriteFile(copyPath, out, 0o600)
}

// mapNode returns the value of key in m, creating an empty mapping when
// missing or null.
func mapNode(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v := m.Content[i+1]
			if v.Kind == yaml.ScalarNode && (v.Tag == "!!null" || v.Value == "") {
				v.Kind, v.Tag, v.Value = yaml.MappingNode, "", ""
			}
			return v
		}
	}
	v := &yaml.Node{Kind: yaml.MappingNode}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, v)
	return v
}

// connectionEnv builds NAME=value for each Sling connection backed by an
// elt resource: the mapping in Config, or a resource named like the
// connection. It returns the values to redact, and whether a connection is
// a DuckDB file (see toolenv.go for what that needs).
func connectionEnv(cfg *Config, rep *manifest.Replication, resources map[string]engine.Resource) (env, secrets []string, duck bool, err error) {
	conns := map[string]string{}
	for c, res := range cfg.Connections {
		conns[c] = res
	}
	for _, c := range []string{rep.Source, rep.Target} {
		if _, ok := conns[c]; ok || c == "" {
			continue
		}
		if _, ok := resources[c]; ok {
			conns[c] = c
		}
	}
	names := make([]string, 0, len(conns))
	for c := range conns {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		res, ok := resources[conns[c]]
		if !ok {
			return nil, nil, false, fmt.Errorf("sling %s: connection %s maps to resource %q, which is not defined", cfg.Replication, c, conns[c])
		}
		val := res.Config["url"]
		if res.Type == "duckdb" || strings.HasPrefix(val, "duckdb://") {
			duck = true
			val = duckdbURL(val)
		}
		if val == "" {
			// Sling reads a connection given as JSON when it has a type;
			// elt's DuckDB resource calls its file "path", Sling
			// "instance".
			m := map[string]string{"type": res.Type}
			for k, v := range res.Config {
				if res.Type == "duckdb" && k == "path" {
					k = "instance"
				}
				m[k] = v
			}
			if res.Type == "duckdb" && m["copy_method"] == "" {
				// Sling's default streams rows to duckdb over HTTP, which
				// needs the httpfs extension (a download); files need none.
				m["copy_method"] = "csv_files"
			}
			b, err := json.Marshal(m)
			if err != nil {
				return nil, nil, false, fmt.Errorf("sling %s: resource %s: %w", cfg.Replication, res.Name, err)
			}
			val = string(b)
		}
		env = append(env, c+"="+val)
		// A connection string carries credentials whether or not the
		// resource marks it secret.
		secrets = append(secrets, val)
		if u, err := url.Parse(val); err == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok {
				secrets = append(secrets, pw)
			}
		}
		for _, k := range res.Secret {
			if v := res.Config[k]; v != "" {
				secrets = append(secrets, v)
			}
		}
	}
	return env, secrets, duck, nil
}

// envHasDuckDB reports whether the replication's source or target is a
// connection given in the environment as a duckdb:// URL.
func envHasDuckDB(env []string, rep *manifest.Replication) bool {
	for _, kv := range env {
		name, val, _ := strings.Cut(kv, "=")
		if (name == rep.Source || name == rep.Target) && name != "" && strings.HasPrefix(val, "duckdb://") {
			return true
		}
	}
	return false
}
