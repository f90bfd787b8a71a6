// Package process is the one way elt starts a subprocess: step commands
// (and through them the dbt, Sling and dlt runners), notification commands
// and plugin processes.
//
// On Linux, once the binary has called Main, programs run under a
// supervisor: the elt binary re-executed, a child subreaper (orphans of
// everything it started are re-parented to it, setsid and double-forked
// ones included) with a parent-death signal (it gets SIGTERM when elt dies,
// by SIGKILL too, and then ends everything). Steps share one run
// supervisor per elt process, started on first use, which starts each
// program on request and kills what a program left behind when it exits
// (found by the ELT_PROCESS_TAG variable its descendants inherit). Start
// gives callers that manage a program themselves (plugins, through
// go-plugin's runner hook) the same; Supervise wraps an exec.Cmd in a
// supervisor of its own where the run supervisor cannot be used.
// Elsewhere a program runs in its own process group only.
//
// Ending a program is always SIGTERM to it and everything it started, a
// grace period, then SIGKILL, and it is always waited for.
package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultGrace is how long a process gets between SIGTERM and SIGKILL.
const DefaultGrace = 5 * time.Second

// Redactor removes secrets from a line of output. The redaction package
// of elt satisfies it; a nil Redactor leaves output as it is.
type Redactor interface {
	Redact(s string) string
}

// RedactFunc adapts a function to Redactor.
type RedactFunc func(string) string

// Redact calls f.
func (f RedactFunc) Redact(s string) string { return f(s) }

// Proc describes one subprocess.
type Proc struct {
	// Argv is the program and its arguments. Shell, when set instead, is run
	// with /bin/sh -c.
	Argv  []string
	Shell string
	Dir   string
	Env   []string
	// Stdin is the process's standard input (nothing when nil).
	Stdin io.Reader
	// Output receives stdout and stderr as they are written (line by line,
	// redacted, when Redactor is set).
	Output io.Writer
	// OnLine, when set, is called with each complete output line (stdout
	// and stderr), for live parsing of a tool's log.
	OnLine func(line string)
	// Redactor, when set, is applied to every line before Output, OnLine
	// and the tail see it.
	Redactor Redactor
	// Grace between SIGTERM and SIGKILL; DefaultGrace when zero.
	Grace time.Duration
	// TailLines is how many last output lines Result keeps (default 20).
	TailLines int
	// OnStart, when set, is called with the process (group) id once the
	// process runs: the supervisor's pid when there is one. Killing that
	// process group ends everything the process started (see Terminate).
	OnStart func(pgid int)
}

// Result is how a subprocess ended.
type Result struct {
	ExitCode int // -1 when killed by a signal or not started
	Duration time.Duration
	// Tail holds the last output lines, for error messages.
	Tail []string
	// Canceled is set when the context ended the process.
	Canceled bool
	// Pgid is the process group the process ran in.
	Pgid int
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

func (p *Proc) grace() time.Duration {
	if p.Grace <= 0 {
		return DefaultGrace
	}
	return p.Grace
}

// Run starts p and waits for it. A non-zero exit is an *ExitError; a
// context that ends first ends the process (SIGTERM, grace, SIGKILL) and
// returns the context's error (its cause, for timeouts).
func Run(ctx context.Context, p *Proc) (Result, error) {
	var argv []string
	switch {
	case p.Shell != "":
		argv = []string{"/bin/sh", "-c", p.Shell}
	case len(p.Argv) > 0:
		argv = p.Argv
	default:
		return Result{ExitCode: -1}, errors.New("no command to run")
	}
	tail := newTail(p.TailLines)
	lw := &lineWriter{onLine: func(l string) {
		tail.add(l)
		if p.OnLine != nil {
			p.OnLine(l)
		}
	}}
	var out io.Writer = lw
	switch {
	case p.Redactor != nil:
		inner := lw.onLine
		lw.onLine = func(l string) {
			l = p.Redactor.Redact(l)
			if p.Output != nil {
				_, _ = io.WriteString(p.Output, l+"\n")
			}
			inner(l)
		}
	case p.Output != nil:
		out = io.MultiWriter(p.Output, lw)
	}
	// One writer for both streams keeps their interleaving; os/exec copies
	// each through its own goroutine, so serialize writes.
	sw := &syncWriter{w: out}
	res, err, served := runServed(ctx, p, argv, sw)
	if !served {
		res, err = runDirect(ctx, p, argv, sw)
	}
	lw.flush()
	res.Tail = tail.lines()
	if err != nil {
		return res, err
	}
	if res.Canceled {
		if c := context.Cause(ctx); c != nil {
			return res, c
		}
		return res, ctx.Err()
	}
	if res.ExitCode != 0 {
		return res, &ExitError{Code: res.ExitCode, Tail: res.Tail}
	}
	return res, nil
}

// runDirect starts argv itself: in its own process group, under a
// supervisor of its own when Supervise provides one.
func runDirect(ctx context.Context, p *Proc, argv []string, out io.Writer) (Result, error) {
	start := time.Now()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = p.Dir
	cmd.Env = p.Env
	supervised := Supervise(cmd, p.grace())
	// A background child (`server &`) keeps the output pipes open after
	// the step's own process exits; stop waiting for them soon after, and
	// the group kill below ends the child.
	cmd.WaitDelay = time.Second
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Stdin = p.Stdin
	if err := cmd.Start(); err != nil {
		return Result{ExitCode: -1}, fmt.Errorf("start %s: %w", argv[0], err)
	}
	pgid := cmd.Process.Pid
	if p.OnStart != nil {
		p.OnStart(pgid)
	}
	Started(ctx, pgid)
	done := make(chan struct{})
	killed := make(chan struct{})
	go func() {
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		close(killed)
		grace := p.grace()
		if supervised {
			// The supervisor runs TERM, grace, KILL over every
			// descendant; the group kill is only a backstop.
			_ = syscall.Kill(pgid, syscall.SIGTERM)
			grace += time.Second
		} else {
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
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
	// Whatever the leader left in its group (background children of a
	// shell script) goes with it.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	res := Result{ExitCode: cmd.ProcessState.ExitCode(), Duration: time.Since(start), Pgid: pgid}
	select {
	case <-killed:
		res.Canceled = true
		return res, nil
	default:
	}
	if werr != nil && !errors.Is(werr, exec.ErrWaitDelay) {
		var ee *exec.ExitError
		if !errors.As(werr, &ee) {
			return res, werr
		}
		if res.ExitCode == exitStartFailed && supervised {
			// The supervisor could not start the program; it said why.
			return res, fmt.Errorf("start %s: supervisor could not start it", argv[0])
		}
	}
	return res, nil
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
