package process

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Program is a program started with Start: it runs under the run
// supervisor, which kills what it leaves behind when it exits.
type Program struct {
	Pid    int
	c      *client
	id     uint64
	exited <-chan reply
	once   sync.Once
	code   int
	err    error
}

// Start starts argv under the run supervisor, in dir with env (as
// exec.Cmd takes them), its stdin /dev/null and its output to stdout
// and stderr. ok is false when there is no run supervisor (not Linux,
// Main not called, or ELT_SUPERVISE=0): start the program with Supervise.
func Start(argv, env []string, dir string, stdout, stderr *os.File) (p *Program, ok bool, err error) {
	if !enabled || noServer || len(argv) == 0 {
		return nil, false, nil
	}
	c, err := runSupervisor()
	if err != nil {
		return nil, false, nil
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	if cmd.Err != nil {
		return nil, true, fmt.Errorf("start %s: %w", argv[0], cmd.Err)
	}
	if env == nil {
		env = os.Environ()
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		return nil, true, err
	}
	defer null.Close()
	id, pid, exited, err := c.start(request{Path: cmd.Path, Args: argv, Env: env, Dir: dir}, null, stdout, stderr)
	var se *sendError
	if errors.As(err, &se) {
		return nil, false, nil
	}
	if err != nil {
		return nil, true, fmt.Errorf("start %s: %w", argv[0], err)
	}
	return &Program{Pid: pid, c: c, id: id, exited: exited}, true, nil
}

// Wait waits for the program to exit and returns its exit code (-1 when
// a signal ended it); it may be called more than once.
func (p *Program) Wait() (int, error) {
	p.once.Do(func() {
		rep := <-p.exited
		p.c.forget(p.id)
		p.code = -1
		if ws := unix.WaitStatus(rep.Status); ws.Exited() {
			p.code = ws.ExitStatus()
		}
		if rep.Err != "" {
			p.err = errors.New(rep.Err)
		}
	})
	return p.code, p.err
}

// Stop ends the program and everything it started: SIGTERM, then SIGKILL
// after grace.
func (p *Program) Stop(grace time.Duration) { p.c.stop(p.id, grace) }
