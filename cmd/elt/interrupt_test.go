package main

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSecondInterruptStopsAtOnce: the first SIGINT gives a step that
// ignores SIGTERM its grace period (5s); a second SIGINT stops elt at
// once, with the run and its step recorded as canceled and no process
// of the step left.
func TestSecondInterruptStopsAtOnce(t *testing.T) {
	dir := newProject(t, `
name: twice
assets:
  - {key: stubborn, command: "trap '' TERM; touch started; while :; do sleep 0.05; done"}
`)
	dir, _ = filepath.EvalSymlinks(dir)
	t.Cleanup(func() { killSleeps(t, dir) })
	cmd := eltCmd(t, dir, "run")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForFile(t, cmd, filepath.Join(dir, "started"))
	_ = cmd.Process.Signal(syscall.SIGINT)
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	select {
	case <-exited:
		t.Fatalf("elt exited before the step's grace period:\n%s", out.String())
	case <-time.After(300 * time.Millisecond):
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-exited:
	case <-time.After(4 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		t.Fatalf("a second interrupt did not stop elt before the grace period ended:\n%s", out.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != exitInterrupted {
		t.Errorf("exit %d, want %d:\n%s", code, exitInterrupted, out.String())
	}
	if left := stepProcesses(dir); len(left) > 0 {
		t.Errorf("processes left: %s", describe(left))
	}
	listOut, _, _ := elt(t, dir, "runs", "list", "-o", "json")
	var runs []map[string]any
	mustJSON(t, listOut, &runs)
	if len(runs) != 1 {
		t.Fatalf("runs %v", runs)
	}
	id, _ := runs[0]["id"].(string)
	show, _, _ := elt(t, dir, "runs", "show", id, "-o", "json")
	var d runDetail
	mustJSON(t, show, &d)
	if d.Run.Status != "canceled" || len(d.Steps) != 1 || d.Steps[0].Status != "canceled" {
		t.Errorf("run %s, steps %+v: want both canceled", d.Run.Status, d.Steps)
	}
}
