package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eltproject/elt/internal/testenv"
)

// TestKillNineLeavesNoOrphans kills elt with SIGKILL while a step runs a
// tree of processes: background `sleep`s, a double fork and a setsid
// escapee, all holding a lock on copy.lock. None may survive elt, and
// `elt run --from-failure` must not run the step beside a surviving copy.
func TestKillNineLeavesNoOrphans(t *testing.T) {
	testenv.LinuxProc(t)
	dir := newProject(t, `
name: orphans
assets:
  - {key: first, command: "true"}
  - key: second
    deps: [first]
    command: |
      flock -n copy.lock sh -c 'sleep 600 & sh -c "sleep 600 &"; setsid sh -c "sleep 600" & touch second.started; wait' || { echo a second copy is running >&2; exit 1; }
`)
	dir, _ = filepath.EvalSymlinks(dir)
	t.Cleanup(func() { killSleeps(t, dir) })
	cmd := eltCmd(t, dir, "run")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForFile(t, cmd, filepath.Join(dir, "second.started"))
	before := stepProcesses(dir)
	if len(before) < 4 {
		t.Fatalf("the step started only %v", before)
	}
	// kill -9 elt alone: its step's processes are not told.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	var left []int
	deadline := time.Now().Add(8 * time.Second)
	for {
		left = stepProcesses(dir)
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("step processes before kill -9: %d, orphans after: %d", len(before), len(left))
	if len(left) > 0 {
		t.Fatalf("%d processes outlived elt: %s", len(left), describe(left))
	}
	out, _, code := elt(t, dir, "runs", "list", "-o", "json")
	if code != 0 {
		t.Fatal(out)
	}
	var runs []map[string]any
	mustJSON(t, out, &runs)
	if len(runs) != 1 {
		t.Fatalf("runs %v", runs)
	}
	id, _ := runs[0]["id"].(string)
	// runs show: the step that was running is failed, saying why, and the
	// run lasted until its last heartbeat (it started less than the
	// heartbeat interval before the kill), not until it was noticed.
	show, _, _ := elt(t, dir, "runs", "show", id, "-o", "json")
	var d runDetail
	mustJSON(t, show, &d)
	steps := map[string]string{}
	for _, s := range d.Steps {
		steps[s.StepID] = s.Status + ": " + s.Error
	}
	if steps["second"] != "failed: elt process died" || d.Run.Status != "failed" {
		t.Errorf("runs show of the reaped run: %s, steps %v", d.Run.Status, steps)
	}
	if dur := d.Run.EndedAt.Sub(d.Run.StartedAt); dur < 0 || dur > 5*time.Second {
		t.Errorf("reaped run lasted %s: want up to its last heartbeat", dur)
	}
	if err := os.WriteFile(filepath.Join(dir, "elt.yaml"), []byte(`
name: orphans
assets:
  - {key: first, command: "true"}
  - {key: second, deps: [first], command: "flock -n copy.lock true || { echo a second copy is running >&2; exit 1; }"}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	evs, code := runEvents(t, dir, "--from-failure", id)
	if st := assetStatus(evs); code != 0 || st["second"] != "materialized" {
		t.Fatalf("resume: exit %d, %v", code, st)
	}
}

// stepProcesses lists live processes whose working folder is dir (every
// process a step of that project started), other than this test.
func stepProcesses(dir string) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() || isZombie(pid) {
			continue
		}
		cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		if err == nil && cwd == dir {
			out = append(out, pid)
		}
	}
	return out
}

func describe(pids []int) string {
	var b strings.Builder
	for _, p := range pids {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		fmt.Fprintf(&b, "\n  %d %s", p, strings.ReplaceAll(string(cmdline), "\x00", " "))
	}
	return b.String()
}

// TestRunTimeoutKillsSetsidEscapee: a child that left the step's process
// group with setsid dies at the step's timeout all the same.
func TestRunTimeoutKillsSetsidEscapee(t *testing.T) {
	testenv.LinuxProc(t)
	dir := newProject(t, `
name: escapee
assets:
  - key: slow
    timeout: 300ms
    command: "setsid sh -c 'echo $$ > escapee.pid; exec sleep 600' > /dev/null 2>&1 & sleep 600"
`)
	dir, _ = filepath.EvalSymlinks(dir)
	t.Cleanup(func() { killSleeps(t, dir) })
	if _, code := runEvents(t, dir); code != 1 {
		t.Fatalf("exit %d", code)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "escapee.pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid == 0 {
		t.Fatal("the escapee never started")
	}
	deadline := time.Now().Add(2 * time.Second)
	for !isZombie(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("setsid escapee %d survived the step's timeout", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if left := stepProcesses(dir); len(left) > 0 {
		t.Errorf("orphans after the timeout: %s", describe(left))
	}
}
