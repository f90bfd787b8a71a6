package plugins

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"

	"github.com/eltproject/elt/process"
	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin/runner"
)

// servedRunner runs a plugin under elt's run supervisor (see package
// process) instead of letting go-plugin start it: the plugin and what it
// starts die with the step or with elt, for the cost of a request rather
// than of a supervisor process of its own.
type servedRunner struct {
	argv    []string
	dir     string
	env     []string
	mu      sync.Mutex
	prog    *process.Program
	stdout  *os.File
	stderr  *os.File
	started func(pid int)
}

// runnerFunc returns go-plugin's RunnerFunc for argv in dir, or nil when
// there is no run supervisor (go-plugin then starts cmd itself).
func runnerFunc(argv []string, dir string, started func(pid int)) func(hclog.Logger, *exec.Cmd, string) (goplugin.Runner, error) {
	if !process.Served() {
		return nil
	}
	return func(_ hclog.Logger, cmd *exec.Cmd, _ string) (goplugin.Runner, error) {
		// cmd carries the environment go-plugin prepared (handshake
		// cookie, protocol versions, socket folder).
		return &servedRunner{argv: argv, dir: dir, env: cmd.Env, started: started}, nil
	}
}

func (r *servedRunner) Start(context.Context) error {
	or, ow, err := os.Pipe()
	if err != nil {
		return err
	}
	er, ew, err := os.Pipe()
	if err != nil {
		or.Close()
		ow.Close()
		return err
	}
	prog, ok, err := process.Start(r.argv, r.env, r.dir, ow, ew)
	ow.Close()
	ew.Close()
	if err == nil && !ok {
		err = fmt.Errorf("start %s: no process supervisor", r.argv[0])
	}
	if err != nil {
		or.Close()
		er.Close()
		return err
	}
	r.mu.Lock()
	r.prog, r.stdout, r.stderr = prog, or, er
	r.mu.Unlock()
	if r.started != nil {
		r.started(prog.Pid)
	}
	return nil
}

func (r *servedRunner) Diagnose(context.Context) string { return "" }
func (r *servedRunner) Stdout() io.ReadCloser           { return r.stdout }
func (r *servedRunner) Stderr() io.ReadCloser           { return r.stderr }
func (r *servedRunner) Name() string                    { return r.argv[0] }

func (r *servedRunner) program() *process.Program {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.prog
}

func (r *servedRunner) Wait(context.Context) error {
	prog := r.program()
	if prog == nil {
		return nil
	}
	code, err := prog.Wait()
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("plugin exited with status %d", code)
	}
	return nil
}

// Kill ends the plugin at once (go-plugin calls it after its graceful
// shutdown had its chance).
func (r *servedRunner) Kill(context.Context) error {
	if prog := r.program(); prog != nil {
		prog.Stop(0)
		_, _ = prog.Wait()
	}
	return nil
}

// ID is the plugin's pid; empty before it started (go-plugin then has
// nothing to kill).
func (r *servedRunner) ID() string {
	if prog := r.program(); prog != nil {
		return strconv.Itoa(prog.Pid)
	}
	return ""
}

func (r *servedRunner) PluginToHost(n, a string) (string, string, error) { return n, a, nil }
func (r *servedRunner) HostToPlugin(n, a string) (string, string, error) { return n, a, nil }
