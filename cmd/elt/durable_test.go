package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/eltproject/elt/internal/testenv"
)

// TestFullDiskShownMeansStored runs elt in a child process whose file size
// limit (RLIMIT_FSIZE via `ulimit -f`; Go ignores SIGXFSZ, so writes past
// it fail with EFBIG "file too large") cuts the run store off at a
// different point each time. This simulates a full disk for the store and
// the step logs; it does not simulate a read-only folder (tests run as
// root, where permissions do not stop writes).
//
// For every limit: elt exits 0 or 3; on 3 it names the store or log path
// and the OS error; every step it showed as succeeded is in the store; and
// the next command (without the limit) marks the run failed.
func TestFullDiskShownMeansStored(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		testenv.Missing(t, "sh (for ulimit -f)", "run the tests on a Unix system")
	}
	failures := 0
	for lim := 280; lim <= 480; lim += 8 {
		dir := newProject(t, `
name: full
assets:
  - {key: a, command: "echo a"}
  - {key: b, deps: [a], command: "echo b"}
  - {key: c, deps: [b], command: "echo c"}
`)
		if _, errOut, code := elt(t, dir, "run"); code != 0 {
			t.Fatalf("first run: exit %d: %s", code, errOut)
		}
		cmd := exec.Command("sh", "-c", fmt.Sprintf(`ulimit -f %d; exec "$0" "$@"`, lim), os.Args[0], "-C", dir, "run", "-o", "json")
		cmd.Env = append(os.Environ(), "ELT_TEST_AS_ELT=1", "NO_COLOR=1")
		var errb strings.Builder
		cmd.Stderr = &errb
		out, _ := cmd.Output()
		code := cmd.ProcessState.ExitCode()
		var runID string
		shown := map[string]bool{}
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		for sc.Scan() {
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) != nil {
				continue
			}
			if ev["type"] == "run_started" {
				runID, _ = ev["run_id"].(string)
			}
			if ev["type"] == "step_succeeded" {
				shown[ev["step_id"].(string)] = true
			}
		}
		switch code {
		case 0:
			continue
		case 3:
			failures++
		default:
			t.Fatalf("limit %d: exit %d, want 0 or 3; stderr %s", lim, code, errb.String())
		}
		msg := errb.String()
		if !strings.Contains(msg, dir) || !strings.Contains(msg, "file too large") {
			t.Errorf("limit %d: stderr lacks the path or the OS error: %s", lim, msg)
		}
		if runID == "" {
			if len(shown) > 0 {
				t.Errorf("limit %d: steps shown before the run was: %v", lim, shown)
			}
			continue
		}
		// The next command reaps the run (its process is gone).
		stdout, errOut, c := elt(t, dir, "runs", "show", runID, "-o", "json")
		if c != 0 {
			t.Fatalf("limit %d: runs show: exit %d: %s", lim, c, errOut)
		}
		var shownRun struct {
			Run struct {
				Status string `json:"status"`
			} `json:"run"`
			Steps []struct {
				StepID string `json:"step_id"`
				Status string `json:"status"`
			} `json:"steps"`
		}
		mustJSON(t, stdout, &shownRun)
		if shownRun.Run.Status != "failed" {
			t.Errorf("limit %d: run %s is %q after the next command, want failed", lim, runID, shownRun.Run.Status)
		}
		stored := map[string]bool{}
		for _, s := range shownRun.Steps {
			if s.Status == "succeeded" {
				stored[s.StepID] = true
			}
		}
		for s := range shown {
			if !stored[s] {
				t.Errorf("limit %d: step %s shown as succeeded but not stored as such", lim, s)
			}
		}
	}
	if failures == 0 {
		t.Fatal("no limit made the store fail: the test proves nothing")
	}
	t.Logf("%d runs cut off by the file size limit; steps shown but not stored: 0", failures)
}
