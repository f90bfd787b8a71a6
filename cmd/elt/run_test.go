package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runEvents runs `elt run -o json` in-process and decodes the event lines.
func runEvents(t *testing.T, dir string, args ...string) ([]map[string]any, int) {
	t.Helper()
	out, errOut, code := elt(t, dir, append([]string{"run", "-o", "json"}, args...)...)
	var evs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("not JSON: %q (stderr %s)", sc.Text(), errOut)
		}
		evs = append(evs, ev)
	}
	return evs, code
}

func lastRunID(evs []map[string]any) string {
	for _, ev := range evs {
		if ev["type"] == "run_started" {
			return ev["run_id"].(string)
		}
	}
	return ""
}

func assetStatus(evs []map[string]any) map[string]string {
	out := map[string]string{}
	for _, ev := range evs {
		a, ok := ev["asset"].([]any)
		if !ok {
			continue
		}
		parts := make([]string, len(a))
		for i, p := range a {
			parts[i] = p.(string)
		}
		key := strings.Join(parts, "/")
		switch ev["type"] {
		case "asset_materialized":
			out[key] = "materialized"
		case "asset_failed", "asset_skipped":
			out[key] = ev["status"].(string)
		}
	}
	return out
}

func TestRunDiamondThenStatus(t *testing.T) {
	dir := newProject(t, `
name: diamond
assets:
  - {key: a, command: "echo a >> order.txt"}
  - {key: b, deps: [a], command: "echo b >> order.txt"}
  - {key: c, deps: [a], command: "echo c >> order.txt"}
  - {key: d, deps: [b, c], command: "echo d >> order.txt; echo '{\"type\":\"materialization\",\"metadata\":{\"rows\":42}}' >> $ELT_EVENTS_FILE"}
`)
	evs, code := runEvents(t, dir)
	if code != 0 {
		t.Fatalf("exit %d: %v", code, evs)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "order.txt"))
	order := strings.Fields(string(b))
	if len(order) != 4 || order[0] != "a" || order[3] != "d" {
		t.Fatalf("order %v", order)
	}
	var rows float64
	for _, ev := range evs {
		if ev["type"] == "asset_materialized" {
			if md, ok := ev["metadata"].(map[string]any); ok && md["rows"] != nil {
				rows = md["rows"].(float64)
			}
		}
	}
	if rows != 42 {
		t.Errorf("metadata from ELT_EVENTS_FILE not recorded")
	}
	runID := lastRunID(evs)
	out, _, code := elt(t, dir, "runs", "show", runID, "-o", "json")
	if code != 0 {
		t.Fatal(out)
	}
	var d runDetail
	mustJSON(t, out, &d)
	if d.Run.Status != "succeeded" || len(d.Steps) != 4 || len(d.Materializations) != 4 {
		t.Fatalf("run detail %+v", d)
	}
	out, _, _ = elt(t, dir, "runs", "list")
	if !strings.Contains(out, runID) || !strings.Contains(out, "succeeded") {
		t.Fatalf("runs list:\n%s", out)
	}
	out, _, _ = elt(t, dir, "runs", "logs", runID, "--step", "a")
	if !strings.Contains(out, "── a (attempt 1, succeeded) ──") {
		t.Fatalf("logs:\n%s", out)
	}
	out, _, _ = elt(t, dir, "assets", "status", "-o", "json")
	var st []assetStatusJSON
	mustJSON(t, out, &st)
	if len(st) != 4 || st[0].Status != "succeeded" || st[0].Stale {
		t.Fatalf("status %+v", st)
	}
	// Re-materialize a alone: b, c, d become stale.
	if _, code := runEvents(t, dir, "-s", "a"); code != 0 {
		t.Fatal("rerun a failed")
	}
	out, _, _ = elt(t, dir, "assets", "status", "-o", "json")
	mustJSON(t, out, &st)
	stale := 0
	for _, s := range st {
		if s.Stale {
			stale++
		}
	}
	if stale != 2 { // b and c; d's deps were not re-materialized
		t.Errorf("%d stale assets, want 2: %+v", stale, st)
	}
}

func TestRunFailureIndependentBranchAndFromFailure(t *testing.T) {
	dir := newProject(t, `
name: branches
assets:
  - {key: a, command: "test -f fixed"}
  - {key: b, deps: [a], command: "true"}
  - {key: x, command: "true"}
  - {key: y, deps: [x], command: "echo y >> y.txt"}
`)
	evs, code := runEvents(t, dir)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	st := assetStatus(evs)
	if st["a"] != "failed" || st["b"] != "upstream_failed" || st["x"] != "materialized" || st["y"] != "materialized" {
		t.Fatalf("statuses %v", st)
	}
	runID := lastRunID(evs)
	os.WriteFile(filepath.Join(dir, "fixed"), nil, 0o644)
	evs2, code := runEvents(t, dir, "--from-failure", runID)
	if code != 0 {
		t.Fatalf("from-failure exit %d", code)
	}
	st2 := assetStatus(evs2)
	if len(st2) != 2 || st2["a"] != "materialized" || st2["b"] != "materialized" {
		t.Fatalf("from-failure ran %v; want only a and b", st2)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "y.txt"))
	if strings.Count(string(b), "y") != 1 {
		t.Error("y ran again in --from-failure")
	}
	_, errOut, code := elt(t, dir, "run", "--from-failure", lastRunID(evs2))
	if code != 2 || !strings.Contains(errOut, "nothing to re-run") {
		t.Errorf("from-failure of a good run: %d %s", code, errOut)
	}
}

func TestRunRetrySucceedsOnThirdAttempt(t *testing.T) {
	dir := newProject(t, `
name: retry
assets:
  - key: flaky
    retries: {max: 3, delay: 10ms}
    command: "echo x >> tries; test $(wc -l < tries) -ge 3"
`)
	evs, code := runEvents(t, dir)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	retries := 0
	for _, ev := range evs {
		if ev["type"] == "step_retrying" {
			retries++
		}
		if ev["type"] == "step_succeeded" && ev["attempt"].(float64) != 3 {
			t.Errorf("succeeded on attempt %v", ev["attempt"])
		}
	}
	if retries != 2 {
		t.Errorf("%d retries", retries)
	}
	out, _, _ := elt(t, dir, "runs", "logs", lastRunID(evs))
	if strings.Count(out, "── flaky (attempt") != 3 {
		t.Errorf("logs of every attempt expected:\n%s", out)
	}
}

func TestRunTimeoutLeavesNoProcess(t *testing.T) {
	dir := newProject(t, `
name: timeout
assets:
  - key: slow
    timeout: 300ms
    command: "sleep 600 & echo $! > child.pid; sleep 600"
`)
	start := time.Now()
	evs, code := runEvents(t, dir)
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	if time.Since(start) > 20*time.Second {
		t.Fatal("timeout not enforced")
	}
	msg := ""
	for _, ev := range evs {
		if ev["type"] == "step_failed" {
			msg = ev["message"].(string)
		}
	}
	if !strings.Contains(msg, "asset slow timed out after 300ms") {
		t.Errorf("failure message %q", msg)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "child.pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid == 0 {
		t.Fatal("no child pid")
	}
	deadline := time.Now().Add(3 * time.Second)
	for syscall.Kill(pid, 0) == nil && !isZombie(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("background child %d survived the timeout", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func TestRunBlockingVersusNonBlockingCheck(t *testing.T) {
	report := func(name string, passed bool) string {
		return fmt.Sprintf(`echo '{"type":"check","check":"%s","passed":%v,"message":"share_price <= 0 in 2 rows"}' >> $ELT_EVENTS_FILE`, name, passed)
	}
	dir := newProject(t, fmt.Sprintf(`
name: checks
assets:
  - key: raw_data
    command: %q
    checks: [{name: positive_prices, blocking: true}]
  - {key: daily, deps: [raw_data], command: "true"}
  - key: other
    command: %q
    checks: [{name: soft, severity: warn}]
  - {key: other_down, deps: [other], command: "true"}
`, report("positive_prices", false), report("soft", false)))
	out, _, code := elt(t, dir, "run")
	if code != 1 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{"blocked_by_check daily", "check raw_data:positive_prices FAILED (blocking)", "check other:soft warn", "materialized other_down"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Only the warning: exit 0.
	dir2 := newProject(t, fmt.Sprintf(`
name: warn
assets:
  - key: other
    command: %q
    checks: [{name: soft, severity: warn}]
`, report("soft", false)))
	if _, _, code := elt(t, dir2, "run"); code != 0 {
		t.Errorf("a warning failed the run: exit %d", code)
	}
}

func TestRunJUnitAndGitHub(t *testing.T) {
	dir := newProject(t, `
name: ci
assets:
  - {key: ok, command: "true"}
  - {key: bad, command: "echo broken >&2; exit 3"}
`)
	junit := filepath.Join(dir, "report.xml")
	summary := filepath.Join(dir, "summary.md")
	t.Setenv("GITHUB_ACTIONS", "true")
	t.Setenv("GITHUB_STEP_SUMMARY", summary)
	out, _, code := elt(t, dir, "run", "--junit", junit)
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	x, _ := os.ReadFile(junit)
	if !strings.Contains(string(x), `<testcase name="bad" classname="elt.step"`) || !strings.Contains(string(x), "<failure") {
		t.Errorf("junit:\n%s", x)
	}
	if !strings.Contains(out, "::error title=elt step bad failed::") {
		t.Errorf("no GitHub annotation:\n%s", out)
	}
	s, _ := os.ReadFile(summary)
	if !strings.Contains(string(s), "| `bad` | failed |") {
		t.Errorf("summary:\n%s", s)
	}
}

func TestRunSecretsRedacted(t *testing.T) {
	t.Setenv("ELT_TEST_SECRET", "s3cr3t-value")
	dir := newProject(t, `
name: secrets
secret_env: [ELT_TEST_SECRET]
resources:
  api: {type: http, token: "tok-abcdef", secret: [token]}
assets:
  - {key: leak, command: "echo token=$ELT_RESOURCE_API_TOKEN other=$ELT_TEST_SECRET; exit 1"}
`)
	out, errOut, _ := elt(t, dir, "run")
	all := out + errOut
	runsOut, _, _ := elt(t, dir, "runs", "list", "-o", "json")
	var runs []map[string]any
	mustJSON(t, runsOut, &runs)
	logOut, _, _ := elt(t, dir, "runs", "logs", runs[0]["id"].(string))
	all += logOut
	if strings.Contains(all, "tok-abcdef") || strings.Contains(all, "s3cr3t-value") {
		t.Fatalf("secret leaked:\n%s", all)
	}
	if !strings.Contains(logOut, "token=****") {
		t.Errorf("log not redacted as expected:\n%s", logOut)
	}
}

// TestKillNineThenResume kills elt in the middle of a run; the store keeps
// what was reported, the run shows as failed, and --from-failure resumes.
func TestKillNineThenResume(t *testing.T) {
	dir := newProject(t, `
name: kill
assets:
  - {key: first, command: "echo first >> done.txt"}
  - {key: second, deps: [first], command: "touch second.started; sleep 600"}
  - {key: third, deps: [second], command: "echo third >> done.txt"}
`)
	cmd := eltCmd(t, dir, "run")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForFile(t, cmd, filepath.Join(dir, "second.started"))
	// kill -9 elt and its children (the sleep is in its own group; kill it
	// too so the test leaves nothing behind).
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Process.Kill()
	cmd.Wait()
	killSleeps(t, dir)
	out, _, code := elt(t, dir, "runs", "list", "-o", "json")
	if code != 0 {
		t.Fatal(out)
	}
	var runs []map[string]any
	mustJSON(t, out, &runs)
	if len(runs) != 1 || runs[0]["Status"] == "running" || runs[0]["status"] == "running" {
		t.Fatalf("dead run not detected: %v", runs)
	}
	id, _ := runs[0]["id"].(string)
	if id == "" {
		id, _ = runs[0]["ID"].(string)
	}
	// The materialization of first survived the kill.
	show, _, _ := elt(t, dir, "runs", "show", id, "-o", "json")
	var d runDetail
	mustJSON(t, show, &d)
	if len(d.Materializations) != 1 || d.Materializations[0].Asset.String() != "first" {
		t.Fatalf("materializations after kill: %+v", d.Materializations)
	}
	// Resume: second and third only.
	os.WriteFile(filepath.Join(dir, "elt.yaml"), []byte(`
name: kill
assets:
  - {key: first, command: "echo first >> done.txt"}
  - {key: second, deps: [first], command: "true"}
  - {key: third, deps: [second], command: "echo third >> done.txt"}
`), 0o644)
	evs, code := runEvents(t, dir, "--from-failure", id)
	if code != 0 {
		t.Fatalf("resume exit %d", code)
	}
	st := assetStatus(evs)
	if len(st) != 2 || st["second"] != "materialized" || st["third"] != "materialized" {
		t.Fatalf("resume ran %v", st)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "done.txt"))
	if string(b) != "first\nthird\n" {
		t.Errorf("done.txt = %q", b)
	}
}

// killSleeps ends any `sleep 600` started from dir's steps.
func killSleeps(t *testing.T, dir string) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		if err == nil && cwd == dir {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func TestSIGTERMCancelsRun(t *testing.T) {
	dir := newProject(t, `
name: sigterm
assets:
  - {key: long, command: "touch started; sleep 600"}
  - {key: after, deps: [long], command: "true"}
`)
	cmd := eltCmd(t, dir, "run")
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForFile(t, cmd, filepath.Join(dir, "started"))
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	if code != 130 {
		t.Fatalf("exit %d (%v):\n%s", code, err, out.String())
	}
	runsOut, _, _ := elt(t, dir, "runs", "list")
	if !strings.Contains(runsOut, "canceled") {
		t.Errorf("run not recorded as canceled:\n%s", runsOut)
	}
}

func TestRunsLogsFollow(t *testing.T) {
	dir := newProject(t, `
name: follow
assets:
  - {key: chatty, command: "echo one; touch started; sleep 1; echo two"}
`)
	cmd := eltCmd(t, dir, "run")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "started")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	runs, _, _ := elt(t, dir, "runs", "list", "-o", "json")
	var rs []map[string]any
	mustJSON(t, runs, &rs)
	out, _, code := elt(t, dir, "runs", "logs", rs[0]["id"].(string), "--follow")
	if code != 0 || !strings.Contains(out, "one\n") || !strings.Contains(out, "two\n") || strings.Count(out, "── chatty") != 1 {
		t.Fatalf("follow: %d\n%s", code, out)
	}
}
