package process

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The run supervisor: starting the elt binary costs ~10 ms of CPU (a
// large binary to load and initialize), too much to pay per step. So elt
// starts one supervisor, on first use, and asks it over a socket to start
// each step's program; the supervisor is the programs' parent and the
// subreaper of all they start, ends each program's leftovers when it
// exits, and everything when elt dies.

// request is what elt sends the supervisor; the program's stdin, stdout
// and stderr travel with a start request as SCM_RIGHTS.
type request struct {
	ID    uint64        `json:"id"`
	Op    string        `json:"op"` // "start" or "stop"
	Path  string        `json:"path,omitempty"`
	Args  []string      `json:"args,omitempty"`
	Env   []string      `json:"env,omitempty"`
	Dir   string        `json:"dir,omitempty"`
	Grace time.Duration `json:"grace,omitempty"`
}

// reply is what the supervisor sends back: the pid once started (or the
// error), then the wait status once the program exited and what it left
// behind was killed.
type reply struct {
	ID     uint64 `json:"id"`
	Pid    int    `json:"pid,omitempty"`
	Err    string `json:"err,omitempty"`
	Exited bool   `json:"exited,omitempty"`
	Status uint32 `json:"status,omitempty"`
}

// maxMessage bounds one request or reply (a large environment).
const maxMessage = 1 << 20

// client is elt's end of the connection to its run supervisor.
type client struct {
	conn    *net.UnixConn
	pid     int
	wmu     sync.Mutex
	mu      sync.Mutex
	next    uint64
	waiters map[uint64]chan reply
	dead    error
}

// noServer makes Run start programs under a supervisor each (tests of
// that path).
var noServer bool

var (
	clientOnce sync.Once
	theClient  *client
	clientErr  error
)

// runSupervisor returns the connection to the run supervisor, starting it
// on first use.
func runSupervisor() (*client, error) {
	clientOnce.Do(func() {
		// The parent-death signal follows the thread that forks: start
		// the supervisor from a thread that lives as long as elt.
		done := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			theClient, clientErr = startSupervisor()
			close(done)
			select {} // keep this thread
		}()
		<-done
	})
	if clientErr != nil {
		return nil, clientErr
	}
	theClient.mu.Lock()
	dead := theClient.dead
	theClient.mu.Unlock()
	if dead != nil {
		return nil, dead
	}
	return theClient, nil
}

func startSupervisor() (*client, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("supervisor socket: %w", err)
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "supervisor"), os.NewFile(uintptr(fds[1]), "supervisor")
	defer theirs.Close()
	spec := supervisorSpec{grace: DefaultGrace, parent: os.Getpid()}
	cmd := exec.Command(self)
	cmd.Env = append(withoutEnv(os.Environ(), envSupervisor), envSupervisor+"="+servePrefix+spec.String())
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		mine.Close()
		return nil, fmt.Errorf("start supervisor: %w", err)
	}
	fc, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		_ = cmd.Process.Kill()
		return nil, err
	}
	c := &client{conn: fc.(*net.UnixConn), pid: cmd.Process.Pid, waiters: map[uint64]chan reply{}}
	go func() {
		_ = cmd.Wait()
		c.fail(errors.New("the process supervisor exited"))
	}()
	go c.readLoop()
	return c, nil
}

func (c *client) readLoop() {
	buf := make([]byte, maxMessage)
	for {
		n, err := c.conn.Read(buf)
		if err != nil {
			c.fail(fmt.Errorf("process supervisor: %w", err))
			return
		}
		var r reply
		if err := json.Unmarshal(buf[:n], &r); err != nil {
			continue
		}
		c.mu.Lock()
		ch := c.waiters[r.ID]
		c.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	}
}

// fail ends every wait: the supervisor is gone (and with it, through the
// parent-death signal, every program it ran).
func (c *client) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead != nil {
		return
	}
	c.dead = err
	for id, ch := range c.waiters {
		ch <- reply{ID: id, Exited: true, Status: uint32(syscall.SIGKILL), Err: err.Error()}
		delete(c.waiters, id)
	}
}

// send writes one request with files attached.
func (c *client) send(r request, files ...*os.File) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if len(b) > maxMessage {
		return fmt.Errorf("request of %d bytes is too large", len(b))
	}
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = unix.UnixRights(fds...)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, _, err = c.conn.WriteMsgUnix(b, oob, nil)
	return err
}

// start asks for a program to run with stdin, stdout and stderr; it
// returns the request id (for stop), the program's pid and a channel that
// gets its exit.
func (c *client) start(r request, stdin, stdout, stderr *os.File) (uint64, int, <-chan reply, error) {
	ch := make(chan reply, 2)
	c.mu.Lock()
	if c.dead != nil {
		c.mu.Unlock()
		return 0, 0, nil, c.dead
	}
	c.next++
	r.ID, r.Op = c.next, "start"
	c.waiters[r.ID] = ch
	c.mu.Unlock()
	if err := c.send(r, stdin, stdout, stderr); err != nil {
		c.forget(r.ID)
		return 0, 0, nil, &sendError{err}
	}
	first := <-ch
	if first.Err != "" || first.Exited {
		c.forget(r.ID)
		return 0, 0, nil, errors.New(first.Err)
	}
	return r.ID, first.Pid, ch, nil
}

// sendError is a request that could not be sent (too large an
// environment for one message, say): the caller starts the program itself.
type sendError struct{ err error }

func (e *sendError) Error() string { return e.err.Error() }

func (c *client) stop(id uint64, grace time.Duration) {
	_ = c.send(request{ID: id, Op: "stop", Grace: grace})
}

func (c *client) forget(id uint64) {
	c.mu.Lock()
	delete(c.waiters, id)
	c.mu.Unlock()
}

// runServed runs argv through the run supervisor. ok is false when there
// is none (not enabled, or it could not start): the caller then starts
// the program itself.
func runServed(ctx context.Context, p *Proc, argv []string, out io.Writer) (res Result, err error, ok bool) {
	if !enabled || noServer {
		return res, nil, false
	}
	c, cerr := runSupervisor()
	if cerr != nil {
		return res, nil, false
	}
	start := time.Now()
	res.ExitCode = -1
	// Resolve the program as exec.Command does (PATH lookup, or a path
	// relative to Dir).
	cmd := exec.Command(argv[0], argv[1:]...)
	if cmd.Err != nil {
		return res, fmt.Errorf("start %s: %w", argv[0], cmd.Err), true
	}
	env := p.Env
	if env == nil {
		env = os.Environ()
	}
	var stdin *os.File
	feed := func(bool) {}
	switch in := p.Stdin.(type) {
	case nil:
		f, err := os.Open(os.DevNull)
		if err != nil {
			return res, fmt.Errorf("start %s: %w", argv[0], err), true
		}
		defer f.Close()
		stdin = f
	case *os.File:
		stdin = in
	default:
		pr, pw, err := os.Pipe()
		if err != nil {
			return res, fmt.Errorf("start %s: %w", argv[0], err), true
		}
		defer pr.Close()
		stdin = pr
		// Feed the pipe once the program runs: if it is not started
		// here, p.Stdin must still be unread.
		feed = func(ok bool) {
			if !ok {
				pw.Close()
				return
			}
			go func() {
				_, _ = io.Copy(pw, in)
				pw.Close()
			}()
		}
	}
	or, ow, err := os.Pipe()
	if err != nil {
		return res, fmt.Errorf("start %s: %w", argv[0], err), true
	}
	defer or.Close()
	id, pid, exited, err := c.start(request{Path: cmd.Path, Args: argv, Env: env, Dir: p.Dir}, stdin, ow, ow)
	ow.Close()
	feed(err == nil)
	var se *sendError
	if errors.As(err, &se) {
		return res, nil, false
	}
	if err != nil {
		return res, fmt.Errorf("start %s: %w", argv[0], err), true
	}
	defer c.forget(id)
	res.Pgid = pid
	if p.OnStart != nil {
		p.OnStart(pid)
	}
	Started(ctx, pid)
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(out, or)
		close(copied)
	}()
	var rep reply
	canceled := false
	select {
	case rep = <-exited:
	case <-ctx.Done():
		canceled = true
		c.stop(id, p.grace())
		backstop := time.NewTimer(p.grace() + 2*time.Second)
		select {
		case rep = <-exited:
		case <-backstop.C:
			// The supervisor did not end it: end the group ourselves.
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			rep = <-exited
		}
		backstop.Stop()
	}
	// A background child that escaped the kill (it cannot, but a step
	// may pass its output to a process elt did not start) must not hold
	// the step: stop reading soon after the program's exit.
	select {
	case <-copied:
	case <-time.After(time.Second):
		or.Close()
		<-copied
	}
	ws := unix.WaitStatus(rep.Status)
	if ws.Exited() {
		res.ExitCode = ws.ExitStatus()
	}
	res.Duration = time.Since(start)
	res.Canceled = canceled
	if rep.Err != "" {
		return res, fmt.Errorf("%s: %s", argv[0], rep.Err), true
	}
	return res, nil, true
}
