//go:build !linux

package process

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

const supported = false

// Supervise prepares cmd to run in its own process group. Outside Linux
// there is no supervisor: the group is ended on timeout and cancellation,
// but a descendant that leaves the group (setsid) or a process whose elt
// was SIGKILLed is not tracked.
func Supervise(cmd *exec.Cmd, grace time.Duration) bool {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return false
}

func supervise(string, []string) int {
	fmt.Fprintln(os.Stderr, supervisorTag+"supervision needs Linux")
	return exitStartFailed
}

// Descendants is not available outside Linux.
func Descendants(root int) []int { return nil }

// EndRun cannot find a dead run's processes outside Linux: it does nothing
// and reports none left.
func EndRun(groups []int, parent int, marker string, grace time.Duration) []int { return nil }

func serveMain(string) int {
	fmt.Fprintln(os.Stderr, supervisorTag+"supervision needs Linux")
	return exitStartFailed
}

func runServed(ctx context.Context, p *Proc, argv []string, out io.Writer) (Result, error, bool) {
	return Result{}, nil, false
}

var noServer bool

// Program is a program started by Start; outside Linux Start never
// starts one.
type Program struct{ Pid int }

// Start has no run supervisor to use outside Linux: ok is false.
func Start(argv, env []string, dir string, stdout, stderr *os.File) (p *Program, ok bool, err error) {
	return nil, false, nil
}

// Wait is never called outside Linux.
func (p *Program) Wait() (int, error) { return -1, nil }

// Stop is never called outside Linux.
func (p *Program) Stop(grace time.Duration) {}
