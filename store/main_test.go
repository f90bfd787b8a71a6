package store

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
)

// Child process modes. The test binary re-executes itself as a test double
// of a second elt process sharing the store file.
const (
	envChild = "ELT_STORE_TEST_CHILD" // record | lock
	envDB    = "ELT_STORE_TEST_DB"
	envRun   = "ELT_STORE_TEST_RUN"
	envN     = "ELT_STORE_TEST_N"    // events to record; 0 = until killed
	envKill  = "ELT_STORE_TEST_KILL" // "1": SIGKILL itself after N events
	envKeys  = "ELT_STORE_TEST_KEYS" // comma-separated asset keys to lock
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(envChild); mode != "" {
		if err := childMain(mode); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childMain is the test double of another elt process. "record" creates a
// run and records log events, printing each index once Record returned;
// "lock" creates a run, locks assets, prints "locked" and waits for stdin
// to close (or to be killed).
func childMain(mode string) error {
	ctx := context.Background()
	s, err := Open(ctx, os.Getenv(envDB))
	if err != nil {
		return err
	}
	runID := os.Getenv(envRun)
	if err := s.CreateRun(ctx, Run{ID: runID, Job: "child"}); err != nil {
		return err
	}
	switch mode {
	case "record":
		n, _ := strconv.Atoi(os.Getenv(envN))
		for i := 0; n == 0 || i < n; i++ {
			if err := s.Record(ctx, engine.Event{Type: engine.Log, RunID: runID, Message: strconv.Itoa(i)}); err != nil {
				return err
			}
			fmt.Println(i) // reported: must survive a kill from now on
		}
		if os.Getenv(envKill) == "1" {
			return syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	case "lock":
		var keys []asset.Key
		for _, k := range strings.Split(os.Getenv(envKeys), ",") {
			keys = append(keys, asset.MustKey(strings.Split(k, "/")...))
		}
		if err := s.LockAssets(ctx, runID, keys); err != nil {
			return err
		}
		fmt.Println("locked")
		_, _ = io.Copy(io.Discard, os.Stdin)
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	return s.Close()
}

// child starts the test binary as a child process in mode.
func child(t *testing.T, mode, db, runID string, env ...string) (*exec.Cmd, *bufio.Scanner, io.WriteCloser) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"="+mode, envDB+"="+db, envRun+"="+runID)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, bufio.NewScanner(out), in
}

// fakeClock is an injectable clock for heartbeat, lock and tick times.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 23, 22, 30, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// openTest opens a fresh store in a temp dir, closed at cleanup.
func openTest(t testing.TB, opts ...Option) *SQLite {
	t.Helper()
	path := filepath.Join(t.TempDir(), ".elt", "elt.db")
	s, err := Open(context.Background(), path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustCreateRun(t testing.TB, s *SQLite, r Run) {
	t.Helper()
	if err := s.CreateRun(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

func mustRecord(t testing.TB, s *SQLite, evs ...engine.Event) {
	t.Helper()
	for _, ev := range evs {
		if err := s.Record(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
}

// deadPID returns the id of a process that has exited and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"=none")
	_ = cmd.Run() // the unknown mode makes it exit 3 at once
	return cmd.Process.Pid
}
