// Package command runs subprocesses for steps: command assets and the
// subprocesses of the dbt, Sling and dlt runners. A subprocess runs in its
// own process group so that a timeout or Ctrl-C ends its whole tree
// (SIGTERM, then SIGKILL after a grace period), and it is always waited
// for, so no zombie or orphan is left behind.
package command

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultGrace is how long a process group gets between SIGTERM and SIGKILL.
const DefaultGrace = 5 * time.Second

// Proc describes one subprocess.
type Proc struct {
	// Argv is the program and its arguments. Shell, when set instead, is run
	// with /bin/sh -c.
	Argv  []string
	Shell string
	Dir   string
	Env   []string
	// Output receives stdout and stderr as they are written.
	Output io.Writer
	// OnLine, when set, is called with each complete output line (stdout
	// and stderr), for live parsing of a tool's log.
	OnLine func(line string)
	// Grace between SIGTERM and SIGKILL; DefaultGrace when zero.
	Grace time.Duration
	// TailLines is how many last output lines Result keeps (default 20).
	TailLines int
}

// Result is how a subprocess ended.
type Result struct {
	ExitCode int // -1 when killed by a signal or not started
	Duration time.Duration
	// Tail holds the last output lines, for error messages.
	Tail []string
	// Canceled is set when the context ended the process.
	Canceled bool
}

// ExitError is returned when the process exits non-zero.
type ExitError struct {
	Code int
	Tail []string
}

func (e *ExitError) Error() string {
	// The first line stands alone (it is what summaries show): the exit
	// status and the last line of output; the lines before follow.
	msg := fmt.Sprintf("exit status %d", e.Code)
	if n := len(e.Tail); n > 0 {
		msg += ": " + e.Tail[n-1]
		if n > 1 {
			msg += "\n  last output:\n    " + strings.Join(e.Tail, "\n    ")
		}
	}
	return msg
}

// Run starts p and waits for it. A non-zero exit is an *ExitError; a
// context that ends first kills the process group and returns the context's
// error (its cause, for timeouts).
func Run(ctx context.Context, p *Proc) (Result, error) {
	start := time.Now()
	var cmd *exec.Cmd
	switch {
	case p.Shell != "":
		cmd = exec.Command("/bin/sh", "-c", p.Shell)
	case len(p.Argv) > 0:
		cmd = exec.Command(p.Argv[0], p.Argv[1:]...)
	default:
		return Result{ExitCode: -1}, errors.New("no command to run")
	}
	cmd.Dir = p.Dir
	cmd.Env = p.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A background child (`server &`) keeps the output pipes open after
	// the step's own process exits; stop waiting for them soon after, and
	// the group kill below ends the child.
	cmd.WaitDelay = time.Second
	tail := newTail(p.TailLines)
	lw := &lineWriter{onLine: func(l string) {
		tail.add(l)
		if p.OnLine != nil {
			p.OnLine(l)
		}
	}}
	var out io.Writer = lw
	if p.Output != nil {
		out = io.MultiWriter(p.Output, lw)
	}
	// One writer for both streams keeps their interleaving; os/exec copies
	// each through its own goroutine, so serialize writes.
	sw := &syncWriter{w: out}
	cmd.Stdout, cmd.Stderr = sw, sw
	cmd.Stdin = nil
	if err := cmd.Start(); err != nil {
		return Result{ExitCode: -1}, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	pgid := cmd.Process.Pid
	done := make(chan struct{})
	killed := make(chan struct{})
	go func() {
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		close(killed)
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		grace := p.Grace
		if grace <= 0 {
			grace = DefaultGrace
		}
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}()
	werr := cmd.Wait()
	close(done)
	if errors.Is(werr, exec.ErrWaitDelay) {
		// The step exited; only a background child still held the
		// output open. That child goes with the group below.
		werr = nil
	}
	// Whatever the leader left in its group (background children of a
	// shell script) goes with it.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	lw.flush()
	res := Result{ExitCode: cmd.ProcessState.ExitCode(), Duration: time.Since(start), Tail: tail.lines()}
	select {
	case <-killed:
		res.Canceled = true
		if c := context.Cause(ctx); c != nil {
			return res, c
		}
		return res, ctx.Err()
	default:
	}
	if werr != nil {
		var ee *exec.ExitError
		if errors.As(werr, &ee) {
			return res, &ExitError{Code: res.ExitCode, Tail: res.Tail}
		}
		return res, werr
	}
	return res, nil
}

// Environ returns os.Environ() with extra variables appended; later entries
// win over earlier ones of the same name.
func Environ(base []string, extra ...string) []string {
	if base == nil {
		base = os.Environ()
	}
	return MergeEnv(base, extra...)
}

// MergeEnv returns base with extra applied: a NAME=value in extra replaces
// NAME in base.
func MergeEnv(base []string, extra ...string) []string {
	idx := make(map[string]int, len(base)+len(extra))
	out := make([]string, 0, len(base)+len(extra))
	for _, kv := range append(append([]string{}, base...), extra...) {
		name, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[name]; ok {
			out[i] = kv
			continue
		}
		idx[name] = len(out)
		out = append(out, kv)
	}
	return out
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// lineWriter splits a byte stream into lines.
type lineWriter struct {
	buf    []byte
	onLine func(string)
}

func (l *lineWriter) Write(b []byte) (int, error) {
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.onLine(strings.TrimSuffix(string(l.buf[:i]), "\r"))
		l.buf = l.buf[i+1:]
	}
	// A very long line without a newline is delivered in pieces.
	if len(l.buf) > 1<<20 {
		l.onLine(string(l.buf))
		l.buf = l.buf[:0]
	}
	return len(b), nil
}

func (l *lineWriter) flush() {
	if len(l.buf) > 0 {
		l.onLine(string(l.buf))
		l.buf = nil
	}
}

type tailBuf struct {
	n   int
	buf []string
}

func newTail(n int) *tailBuf {
	if n <= 0 {
		n = 20
	}
	return &tailBuf{n: n}
}

func (t *tailBuf) add(l string) {
	if strings.TrimSpace(l) == "" {
		return
	}
	t.buf = append(t.buf, l)
	if len(t.buf) > t.n {
		t.buf = t.buf[len(t.buf)-t.n:]
	}
}

func (t *tailBuf) lines() []string { return append([]string(nil), t.buf...) }

// ScanLines calls f for each line of r; a helper for replaying logs.
func ScanLines(r io.Reader, f func(string)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for sc.Scan() {
		f(sc.Text())
	}
	return sc.Err()
}
