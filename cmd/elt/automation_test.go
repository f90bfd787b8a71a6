package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestFailureNotifications(t *testing.T) {
	var mu sync.Mutex
	var bodies []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		json.Unmarshal(b, &m)
		mu.Lock()
		bodies = append(bodies, m)
		mu.Unlock()
		if r.Header.Get("X-Team") != "data" {
			w.WriteHeader(400)
		}
	}))
	defer srv.Close()
	dir := newProject(t, `
name: notify
resources:
  api: {type: http, token: "sekret-token-1", secret: [token]}
notifications:
  - {type: webhook, url: "`+srv.URL+`/hooks/T000", headers: {X-Team: data}}
  - {type: command, command: "cat > notified.json", on: [failure]}
  - {type: webhook, url: "`+srv.URL+`/success-only", on: [success]}
assets:
  - {key: bad, command: "echo using sekret-token-1 >&2; exit 2"}
`)
	_, _, code := elt(t, dir, "run")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 1 {
		t.Fatalf("%d webhook calls, want 1 (failure only)", len(bodies))
	}
	text, _ := bodies[0]["text"].(string)
	if !strings.Contains(text, "failed") || !strings.Contains(text, "bad") {
		t.Errorf("slack text %q", text)
	}
	if strings.Contains(text, "sekret-token-1") {
		t.Errorf("secret in notification: %q", text)
	}
	b, err := os.ReadFile(filepath.Join(dir, "notified.json"))
	if err != nil || !strings.Contains(string(b), `"status":"failed"`) {
		t.Errorf("command notification: %s %v", b, err)
	}
}

func TestSecondRunRefusedWhileAssetsLocked(t *testing.T) {
	dir := newProject(t, `
name: locks
assets:
  - {key: slow, command: "touch started; sleep 2"}
`)
	cmd := eltCmd(t, dir, "run")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	waitForFile(t, cmd, filepath.Join(dir, "started"))
	_, errOut, code := elt(t, dir, "run")
	if code != 1 || !strings.Contains(errOut, "slow") {
		t.Fatalf("second run: exit %d %q", code, errOut)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("first run: %v", err)
	}
	// Once the first run is done the assets are free again.
	if _, errOut, code := elt(t, dir, "run"); code != 0 {
		t.Fatalf("third run: %d %s", code, errOut)
	}
}

func TestSyncReportsChanges(t *testing.T) {
	dir := newProject(t, `
name: sync
assets:
  - {key: a, command: "echo a"}
  - {key: b, deps: [a], command: "echo b"}
`)
	out, _, code := elt(t, dir, "sync")
	if code != 0 || !strings.Contains(out, "first sync: 2 assets") {
		t.Fatalf("first sync: %d %s", code, out)
	}
	out, _, _ = elt(t, dir, "sync")
	if !strings.Contains(out, "nothing changed") {
		t.Fatalf("second sync: %s", out)
	}
	os.WriteFile(filepath.Join(dir, "elt.yaml"), []byte(`
name: sync
assets:
  - {key: a, command: "echo a2"}
  - {key: c, deps: [a], command: "echo c"}
`), 0o644)
	out, _, _ = elt(t, dir, "sync", "-o", "json")
	var res struct {
		Changes []struct {
			Key    []string `json:"key"`
			Change string   `json:"change"`
			What   []string `json:"what"`
		} `json:"changes"`
	}
	mustJSON(t, out, &res)
	got := map[string]string{}
	for _, c := range res.Changes {
		got[strings.Join(c.Key, "/")] = c.Change + ":" + strings.Join(c.What, ",")
	}
	want := map[string]string{"a": "changed:code", "b": "removed:", "c": "added:"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}

const partitioned = `
name: parts
partitions:
  days: {type: daily, start: 2024-01-01, end: 2024-01-08}
  regions: {type: dynamic}
assets:
  - key: daily
    partitions: days
    command: 'echo "$ELT_PARTITION_KEY $ELT_PARTITION_START $ELT_PARTITION_END" >> windows.txt; test "$ELT_PARTITION_KEY" != 2024-01-05'
  - key: regional
    partitions: regions
    command: 'echo $ELT_PARTITION_KEY >> regions.txt'
jobs:
  days: daily
`

func TestPartitionedRunAndBackfill(t *testing.T) {
	dir := newProject(t, partitioned)
	_, _, code := elt(t, dir, "run", "-s", "daily", "--partition", "2024-01-02")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "windows.txt"))
	if strings.TrimSpace(string(b)) != "2024-01-02 2024-01-02T00:00:00Z 2024-01-03T00:00:00Z" {
		t.Fatalf("window %q", b)
	}
	_, errOut, code := elt(t, dir, "run", "-s", "daily", "--partition", "2023-12-31")
	if code != 2 || !strings.Contains(errOut, "not a key of days") {
		t.Fatalf("bad key: %d %s", code, errOut)
	}
	out, _, _ := elt(t, dir, "backfill", "--job", "days", "--from", "2024-01-01", "--to", "2024-01-07", "--missing-only", "--dry-run")
	if !strings.Contains(out, "backfill of 6 partitions") {
		t.Fatalf("dry run:\n%s", out)
	}
	out, _, code = elt(t, dir, "backfill", "--job", "days", "--from", "2024-01-01", "--to", "2024-01-07", "--missing-only", "--max-concurrent", "2")
	if code != 1 || !strings.Contains(out, "5 succeeded, 1 failed") {
		t.Fatalf("backfill: %d\n%s", code, out)
	}
	out, _, _ = elt(t, dir, "assets", "status", "--partitions", "daily")
	for _, want := range []string{"7 keys: 6 materialized, 1 failed, 0 missing", "2024-01-01..2024-01-04 materialized (4)", "2024-01-05 failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	// Resume after fixing the failure runs only 2024-01-05.
	os.WriteFile(filepath.Join(dir, "elt.yaml"), []byte(strings.Replace(partitioned, `; test "$ELT_PARTITION_KEY" != 2024-01-05`, "", 1)), 0o644)
	listOut, _, _ := elt(t, dir, "backfill", "list", "-o", "json")
	var bfs []map[string]any
	mustJSON(t, listOut, &bfs)
	if len(bfs) != 1 {
		t.Fatalf("backfills %v", bfs)
	}
	id := bfs[0]["id"].(string)
	os.Remove(filepath.Join(dir, "windows.txt"))
	out, _, code = elt(t, dir, "backfill", "resume", id)
	if code != 0 || !strings.Contains(out, "1 succeeded, 0 failed, 0 canceled, 5 already done") {
		t.Fatalf("resume: %d\n%s", code, out)
	}
	b, _ = os.ReadFile(filepath.Join(dir, "windows.txt"))
	if strings.Count(string(b), "\n") != 1 || !strings.HasPrefix(string(b), "2024-01-05") {
		t.Errorf("resume ran %q", b)
	}
}

func TestDynamicPartitionsCLI(t *testing.T) {
	dir := newProject(t, partitioned)
	out, _, code := elt(t, dir, "partitions", "add", "regions", "eu", "us")
	if code != 0 || !strings.Contains(out, "added 2 of 2") {
		t.Fatalf("add: %d %s", code, out)
	}
	out, _, _ = elt(t, dir, "partitions", "list", "regions")
	if out != "eu\nus\n" {
		t.Fatalf("list %q", out)
	}
	if _, _, code := elt(t, dir, "run", "-s", "regional", "--partition", "eu"); code != 0 {
		t.Fatal("run eu failed")
	}
	if _, errOut, code := elt(t, dir, "run", "-s", "regional", "--partition", "apac"); code != 2 || !strings.Contains(errOut, "not a key") {
		t.Fatalf("unknown dynamic key: %d %s", code, errOut)
	}
	elt(t, dir, "partitions", "delete", "regions", "us")
	out, _, _ = elt(t, dir, "partitions", "list", "regions")
	if out != "eu\n" {
		t.Fatalf("after delete %q", out)
	}
	if _, errOut, code := elt(t, dir, "partitions", "add", "days", "x"); code != 2 || !strings.Contains(errOut, "only dynamic") {
		t.Fatalf("add to daily: %d %s", code, errOut)
	}
}

func TestSchedulesAndSensorsCLI(t *testing.T) {
	dir := newProject(t, `
name: auto
partitions:
  days: {type: daily, start: 2024-01-01}
assets:
  - {key: daily, partitions: days, command: "true"}
  - {key: raw, command: "true"}
  - {key: mart, deps: [raw], command: "echo ran >> mart.txt"}
jobs:
  days: daily
schedules:
  nightly: {cron: "0 2 * * *", timezone: Europe/Berlin, job: days}
sensors:
  landing: {type: file, path: landing, glob: "*.csv", select: mart, interval: 1m}
`)
	out, _, code := elt(t, dir, "schedules", "list")
	if code != 0 || !strings.Contains(out, "nightly") || !strings.Contains(out, "Europe/Berlin") {
		t.Fatalf("schedules list: %d\n%s", code, out)
	}
	out, _, _ = elt(t, dir, "schedules", "preview", "nightly", "--count", "3")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "02:00:00") || !strings.Contains(lines[0], "partition ") {
		t.Fatalf("preview:\n%s", out)
	}
	os.MkdirAll(filepath.Join(dir, "landing"), 0o755)
	os.WriteFile(filepath.Join(dir, "landing", "a.csv"), []byte("x"), 0o644)
	out, _, code = elt(t, dir, "sensors", "tick", "landing", "--dry-run")
	if code != 0 || !strings.Contains(out, "request: select mart") {
		t.Fatalf("tick dry run: %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "mart.txt")); err == nil {
		t.Fatal("dry run ran")
	}
	out, _, code = elt(t, dir, "sensors", "tick", "landing")
	if code != 0 || !strings.Contains(out, "succeeded") {
		t.Fatalf("tick: %d\n%s", code, out)
	}
	out, _, _ = elt(t, dir, "sensors", "tick", "landing")
	if !strings.Contains(out, "no run requested") {
		t.Fatalf("cursor not kept:\n%s", out)
	}
	out, _, _ = elt(t, dir, "status")
	if !strings.Contains(out, "daemon: not running") {
		t.Fatalf("status:\n%s", out)
	}
}

func TestDaemonRunsScheduleAndStopsCleanly(t *testing.T) {
	dir := newProject(t, `
name: daemon
assets:
  - {key: tick, command: "echo ran >> ticks.txt"}
schedules:
  every_second: {cron: "* * * * * *", select: tick, catchup: none}
`)
	cmd := eltCmd(t, dir, "daemon", "--max-runs", "1")
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(dir, "ticks.txt"))
		if strings.Count(string(b), "ran") >= 2 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("schedule did not run twice:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	status, _, _ := elt(t, dir, "status")
	if !strings.Contains(status, "daemon: alive") {
		t.Errorf("status while running:\n%s", status)
	}
	// A second daemon is refused.
	if _, errOut, code := elt(t, dir, "daemon"); code != 2 || !strings.Contains(errOut, "another elt daemon") {
		t.Errorf("second daemon: %d %s", code, errOut)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("daemon exit: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), " stopped") {
		t.Errorf("output:\n%s", out.String())
	}
	runs, _, _ := elt(t, dir, "runs", "list", "-o", "json")
	var rs []map[string]any
	mustJSON(t, runs, &rs)
	if len(rs) < 2 || rs[0]["trigger"] != "daemon" {
		t.Fatalf("runs %v", rs)
	}
	for _, r := range rs {
		if r["status"] == "running" {
			t.Errorf("run left running after SIGTERM: %v", r)
		}
	}
	status, _, _ = elt(t, dir, "status")
	if strings.Contains(status, "daemon: alive") {
		t.Errorf("status after stop:\n%s", status)
	}
}

func TestCheckCommand(t *testing.T) {
	dir := newProject(t, `
name: checkcmd
resources:
  warehouse: {type: duckdb, path: wh.duckdb}
assets:
  - key: nums
    sql: "SELECT * FROM (VALUES (1), (2), (NULL)) t(n)"
    checks:
      - {type: not_null, column: n, severity: warn}
      - {type: row_count, min: 1, blocking: true}
`)
	if _, _, code := elt(t, dir, "run"); code != 0 {
		t.Fatalf("run exit %d", code)
	}
	out, _, code := elt(t, dir, "check")
	if code != 0 || !strings.Contains(out, "2 checks on 1 assets, 1 not passed") || !strings.Contains(out, "nums:not_null_n") {
		t.Fatalf("check: %d\n%s", code, out)
	}
	os.WriteFile(filepath.Join(dir, "elt.yaml"), []byte(`
name: checkcmd
resources:
  warehouse: {type: duckdb, path: wh.duckdb}
assets:
  - key: nums
    sql: "SELECT * FROM (VALUES (1), (2), (NULL)) t(n)"
    checks:
      - {type: not_null, column: n, blocking: true}
`), 0o644)
	if out, _, code := elt(t, dir, "check"); code != 1 {
		t.Fatalf("error check passed: %d\n%s", code, out)
	}
}

// TestRunSlingShorthand runs `elt run sling FILE --streams` with a stand-in
// sling (a test double that records its arguments and environment).
func TestRunSlingShorthand(t *testing.T) {
	dir := newProject(t, `
name: sling
resources:
  pg: {type: postgres, url: "postgres://u:hunter22@db/x", secret: [url]}
sling:
  - replication: pg.yaml
    executable: ./fake-sling
    connections: {MY_PG: pg}
`)
	os.WriteFile(filepath.Join(dir, "pg.yaml"), []byte(`
source: MY_PG
target: MY_DUCKDB
defaults: {mode: full-refresh, object: "raw.{stream_table}"}
streams:
  public.orders:
  public.users:
  public."Accounts":
`), 0o644)
	os.WriteFile(filepath.Join(dir, "fake-sling"), []byte("#!/bin/sh\necho \"$@\" > argv.txt\necho \"MY_PG=$MY_PG\" > env.txt\necho 'execution succeeded'\n"), 0o755)
	out, _, code := elt(t, dir, "assets", "list", "-o", "json")
	if code != 0 {
		t.Fatal(out)
	}
	var assets []assetJSON
	mustJSON(t, out, &assets)
	var keys []string
	for _, a := range assets {
		keys = append(keys, a.Key.String())
	}
	// dagster-sling's keys: "target" + the stream's own object or name
	// (defaults.object does not count); the source stream is the dep.
	for _, want := range []string{"target/public/orders", "target/public/accounts", "public/orders"} {
		if !strings.Contains(strings.Join(keys, " "), want) {
			t.Errorf("keys %v lack %s", keys, want)
		}
	}
	out, errOut, code := elt(t, dir, "run", "sling", "pg.yaml", "--streams", "public.orders,public.users")
	if code != 0 {
		t.Fatalf("run sling: %d\n%s\n%s", code, out, errOut)
	}
	argv, _ := os.ReadFile(filepath.Join(dir, "argv.txt"))
	if !strings.Contains(string(argv), "run -r") || !strings.Contains(string(argv), "--streams public.orders,public.users") {
		t.Errorf("sling argv %q", argv)
	}
	env, _ := os.ReadFile(filepath.Join(dir, "env.txt"))
	if !strings.Contains(string(env), "hunter22") {
		t.Errorf("connection env not passed: %q", env)
	}
	if strings.Contains(out, "hunter22") || strings.Contains(errOut, "hunter22") {
		t.Error("connection URL printed")
	}
	if !strings.Contains(out, "materialized target/public/orders") || strings.Contains(out, "materialized target/public/accounts") {
		t.Errorf("run output:\n%s", out)
	}
	if _, errOut, code := elt(t, dir, "run", "sling", "pg.yaml", "--streams", "public.nope"); code != 2 || !strings.Contains(errOut, "public.orders") {
		t.Errorf("unknown stream: %d %s", code, errOut)
	}
}
