package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eltproject/elt/store"
)

// holdDaemonLock records a daemon lock held by pid on this host, as a
// daemon started in dir would.
func holdDaemonLock(t *testing.T, dir string, pid int) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, ".elt", "elt.db"), store.WithPID(pid))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got, err := st.AcquireDaemonLock(ctx, "test-daemon", 0); !got || err != nil {
		t.Fatalf("acquire daemon lock: %v %v", got, err)
	}
}

// A daemon whose process is gone is not running at once, whatever its
// fresh heartbeat says, and status fails so it can be a health check.
func TestStatusDaemonProcessGone(t *testing.T) {
	dir := newProject(t, "name: x\nassets:\n  - {key: a, command: 'true'}\n")
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	holdDaemonLock(t, dir, dead.Process.Pid)
	out, errOut, code := elt(t, dir, "status")
	if code != 1 || !strings.Contains(out, "daemon: not running") || !strings.Contains(out, "is gone") {
		t.Fatalf("dead daemon: exit %d, want 1 and not running\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if _, _, code := elt(t, dir, "status", "-o", "json"); code != 1 {
		t.Errorf("dead daemon, -o json: exit %d, want 1", code)
	}

	live := newProject(t, "name: x\nassets:\n  - {key: a, command: 'true'}\n")
	holdDaemonLock(t, live, os.Getpid())
	out, errOut, code = elt(t, live, "status")
	if code != 0 || !strings.Contains(out, "daemon: alive") {
		t.Fatalf("live daemon: exit %d, want 0 and alive\nstdout: %s\nstderr: %s", code, out, errOut)
	}
}
