// Package plugins runs elt plugins: separate processes speaking gRPC through
// hashicorp/go-plugin (the wire format is documented in plugins/sdk, which
// both sides share). The host starts one plugin process per step attempt,
// describe or check call (start-up costs about 10 ms, so there is no pool),
// streams its events into the engine, and turns a crash into a failed step
// carrying the tail of the plugin's stderr. Built-in plugins are served by
// the elt binary itself (`elt plugin serve NAME`, see Serve).
package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/plugins/sdk"
	"github.com/eltproject/elt/process"
	"github.com/eltproject/elt/redact"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

// PluginRef says which plugin to start. Exactly one of Path, Builtin and
// Cmd is set.
type PluginRef struct {
	// Name identifies the plugin in errors and logs.
	Name string
	// Path is an external plugin binary (declared in elt.yaml by path);
	// make it absolute, since the plugin runs in the project folder.
	Path string
	// Builtin names a plugin served by the elt binary itself: the host
	// runs os.Executable() with "plugin", "serve", Builtin.
	Builtin string
	// Cmd overrides the command line (tests; wrappers).
	Cmd []string
}

func (p PluginRef) label() string {
	switch {
	case p.Name != "":
		return p.Name
	case p.Builtin != "":
		return p.Builtin
	case p.Path != "":
		return filepath.Base(p.Path)
	case len(p.Cmd) > 0:
		return filepath.Base(p.Cmd[0])
	}
	return "plugin"
}

func (p PluginRef) argv() ([]string, error) {
	switch {
	case len(p.Cmd) > 0:
		return p.Cmd, nil
	case p.Path != "":
		return []string{p.Path}, nil
	case p.Builtin != "":
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("plugin %s: finding the elt binary to serve the built-in plugin: %w", p.label(), err)
		}
		return []string{self, "plugin", "serve", p.Builtin}, nil
	}
	return nil, fmt.Errorf("plugin %s: neither path nor builtin is set", p.label())
}

// pluginGrace is how long the supervisor gives a plugin (and what it
// started) between SIGTERM and SIGKILL when elt dies.
const pluginGrace = 2 * time.Second

// startTimeout bounds the handshake of a plugin that never answers.
const startTimeout = 30 * time.Second

// session is one running plugin process.
type session struct {
	ref    PluginRef
	client *plugin.Client
	api    *sdk.Client
	tail   *tailWriter
	quiet  *quietWriter
}

// start launches the plugin in dir (when set). out receives the plugin's
// stdout and stderr (nil discards them); secrets are redacted from what the
// tail reports.
func start(ctx context.Context, ref PluginRef, dir string, out io.Writer, secrets []string) (*session, error) {
	argv, err := ref.argv()
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = io.Discard
	}
	quiet := &quietWriter{w: out}
	out = quiet
	tail := newTailWriter(out, secrets)
	cfg := &plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake(),
		VersionedPlugins: sdk.VersionedPlugins(nil), // protocol 1 and 2 plugins
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     startTimeout,
		Stderr:           tail,
		SyncStdout:       out,
		SyncStderr:       tail,
		Logger:           hclog.New(&hclog.LoggerOptions{Level: hclog.Off, Output: io.Discard}),
	}
	// Like every process elt starts, the plugin and anything it starts
	// die with the step or with elt: on Linux it runs under the run
	// supervisor (recorded with the step, so a dead run's plugin can be
	// found), elsewhere in its own process group.
	var cmd *exec.Cmd
	cfg.RunnerFunc = runnerFunc(argv, dir, func(pid int) { process.Started(ctx, pid) })
	if cfg.RunnerFunc == nil {
		cmd = exec.Command(argv[0], argv[1:]...)
		cmd.Dir = dir
		process.Supervise(cmd, pluginGrace)
		cfg.Cmd = cmd
	}
	client := plugin.NewClient(cfg)
	s := &session{ref: ref, client: client, tail: tail, quiet: quiet}
	// go-plugin's start-up is not context-aware; kill the process if ctx
	// ends while it is still handshaking.
	stop := context.AfterFunc(ctx, client.Kill)
	defer stop()
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		if verr := sdk.VersionMismatch(err); verr != nil {
			return nil, fmt.Errorf("plugin %s: %w", s.ref.label(), verr)
		}
		return nil, s.failure("starting", err)
	}
	if cmd != nil && cmd.Process != nil {
		process.Started(ctx, cmd.Process.Pid)
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		client.Kill()
		return nil, s.failure("starting", err)
	}
	s.api = raw.(*sdk.Client)
	return s, nil
}

// close stops the plugin process. go-plugin streams the plugin's stdout
// and stderr asynchronously and drops what is still in flight at Kill, so
// first wait (at most a second) for that output to go quiet.
func (s *session) close() {
	s.quiet.waitQuiet(50*time.Millisecond, time.Second)
	s.client.Kill()
}

// quietWriter remembers when output last arrived.
type quietWriter struct {
	mu   sync.Mutex
	w    io.Writer
	last time.Time
}

func (q *quietWriter) Write(b []byte) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.last = time.Now()
	return q.w.Write(b)
}

// waitQuiet returns once no output came for idle (counting from the
// call, as output may still be on its way), or after max.
func (q *quietWriter) waitQuiet(idle, max time.Duration) {
	start := time.Now()
	deadline := start.Add(max)
	for time.Now().Before(deadline) {
		q.mu.Lock()
		ref := q.last
		q.mu.Unlock()
		if ref.Before(start) {
			ref = start
		}
		since := time.Since(ref)
		if since >= idle {
			return
		}
		time.Sleep(idle - since)
	}
}

// failure reports a failed call: the plugin's own error as it is, anything
// else (the process crashed or never started) with its stderr tail.
func (s *session) failure(what string, err error) error {
	var remote *sdk.RemoteError
	if errors.As(err, &remote) {
		return fmt.Errorf("plugin %s: %s", s.ref.label(), s.tail.redact(remote.Msg))
	}
	s.client.Kill() // waits for stderr to be read to the end
	tail := s.tail.String()
	exited := s.client.Exited()
	msg := s.tail.redact(err.Error())
	switch {
	case exited && tail != "":
		return fmt.Errorf("plugin %s crashed while %s (%s); last lines of its stderr:\n%s", s.ref.label(), what, msg, tail)
	case exited:
		return fmt.Errorf("plugin %s crashed while %s (%s) and wrote nothing to stderr", s.ref.label(), what, msg)
	case tail != "":
		return fmt.Errorf("plugin %s failed while %s: %s; last lines of its stderr:\n%s", s.ref.label(), what, msg, tail)
	}
	return fmt.Errorf("plugin %s failed while %s: %s", s.ref.label(), what, msg)
}

// ctxFailure prefers the context's cause when the context ended, so a
// timeout reads as a timeout rather than a transport error.
func (s *session) ctxFailure(ctx context.Context, what string, err error) error {
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		// gRPC's own deadline timer can fire just before the context's.
		<-ctx.Done()
	}
	if ctx.Err() != nil {
		s.client.Kill()
		return fmt.Errorf("plugin %s stopped while %s: %w", s.ref.label(), what, context.Cause(ctx))
	}
	return s.failure(what, err)
}

// NewRunner returns the engine runner of a plugin step: each attempt
// starts the plugin, sends it cfg, the request and the resources that cfg
// names, and forwards its events.
func NewRunner(p PluginRef, cfg map[string]any, resources map[string]engine.Resource) engine.Runner {
	return &runner{ref: p, cfg: cfg, resources: resources}
}

type runner struct {
	ref       PluginRef
	cfg       map[string]any
	resources map[string]engine.Resource
}

// Run starts the plugin for this attempt and streams its events to emit.
func (r *runner) Run(ctx context.Context, req *engine.Request, emit engine.Emitter) error {
	cfg, err := json.Marshal(r.cfg)
	if err != nil {
		return fmt.Errorf("plugin %s: config is not JSON-serialisable: %w", r.ref.label(), err)
	}
	res := mergeResources(r.resources, req.Resources)
	named := namedResources(r.cfg, res)
	secrets := secretValues(named)
	sess, err := start(ctx, r.ref, req.ProjectDir, req.Log, secrets)
	if err != nil {
		return err
	}
	defer sess.close()
	preq := &sdk.Request{
		RunID: req.RunID, StepID: req.StepID, Attempt: req.Attempt,
		Assets:     req.Assets,
		Partition:  sdk.PartitionOf(req.Partition),
		Resources:  named,
		ProjectDir: req.ProjectDir,
		StepDir:    req.StepDir,
		Config:     sdk.Config(cfg),
	}
	forward := func(ev engine.Event) {
		if ev.Type == engine.Log {
			ev.Message = sess.tail.redact(ev.Message)
		}
		emit(ev)
	}
	if err := sess.api.Materialize(ctx, preq, forward); err != nil {
		return sess.ctxFailure(ctx, "materializing", err)
	}
	return nil
}

// Describe starts the plugin and asks which assets (and checks) it
// materializes under cfg. The caller sets Spec.Step.
func Describe(ctx context.Context, p PluginRef, cfg map[string]any) ([]asset.Spec, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: config is not JSON-serialisable: %w", p.label(), err)
	}
	sess, err := start(ctx, p, "", nil, nil)
	if err != nil {
		return nil, err
	}
	defer sess.close()
	specs, err := sess.api.Describe(ctx, sdk.Config(b))
	if err != nil {
		return nil, sess.ctxFailure(ctx, "describing its assets", err)
	}
	return specs, nil
}

// NewCheckRunner returns a check runner that asks the plugin (which must
// implement sdk.Checker) to evaluate each check.
func NewCheckRunner(p PluginRef, cfg map[string]any, resources map[string]engine.Resource) engine.CheckRunner {
	return &checkRunner{ref: p, cfg: cfg, resources: resources}
}

type checkRunner struct {
	ref       PluginRef
	cfg       map[string]any
	resources map[string]engine.Resource
}

// RunCheck starts the plugin and asks it to evaluate one check.
func (c *checkRunner) RunCheck(ctx context.Context, req *engine.CheckRequest) (engine.CheckResult, error) {
	cfg, err := json.Marshal(c.cfg)
	if err != nil {
		return engine.CheckResult{}, fmt.Errorf("plugin %s: config is not JSON-serialisable: %w", c.ref.label(), err)
	}
	named := namedResources(c.cfg, mergeResources(c.resources, req.Resources))
	sess, err := start(ctx, c.ref, req.ProjectDir, nil, secretValues(named))
	if err != nil {
		return engine.CheckResult{}, err
	}
	defer sess.close()
	creq := &sdk.CheckRequest{
		RunID:            req.RunID,
		Check:            req.Check.Name,
		Metadata:         req.Check.Metadata,
		Partition:        sdk.PartitionOf(req.Partition),
		ProjectDir:       req.ProjectDir,
		Resources:        named,
		LastMaterialized: req.LastMaterialized,
		Config:           sdk.Config(cfg),
	}
	if req.Asset != nil {
		creq.Asset = req.Asset.Key
	}
	r, err := sess.api.Check(ctx, creq)
	if err != nil {
		return engine.CheckResult{}, sess.ctxFailure(ctx, "checking "+creq.Asset.String()+" "+creq.Check, err)
	}
	return r, nil
}

func mergeResources(base, over map[string]engine.Resource) map[string]engine.Resource {
	out := make(map[string]engine.Resource, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// namedResources returns the resources cfg refers to: the string value of
// any "resource" key, or the strings of any "resources" list, at any
// depth. A plugin gets only what its configuration names, so an external
// binary never sees the project's other secrets.
func namedResources(cfg map[string]any, all map[string]engine.Resource) map[string]sdk.Resource {
	names := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, val := range x {
				switch k {
				case "resource":
					if s, ok := val.(string); ok {
						names[s] = true
					}
				case "resources":
					if l, ok := val.([]any); ok {
						for _, e := range l {
							if s, ok := e.(string); ok {
								names[s] = true
							}
						}
					}
				}
				walk(val)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(map[string]any(cfg))
	out := map[string]sdk.Resource{}
	for n := range names {
		if r, ok := all[n]; ok {
			out[n] = sdk.Resource{Type: r.Type, Config: r.Config, Secret: r.Secret}
		}
	}
	return out
}

func secretValues(res map[string]sdk.Resource) []string {
	var out []string
	for _, r := range res {
		out = append(out, redact.Settings(r.Config, r.Secret)...)
	}
	return out
}
