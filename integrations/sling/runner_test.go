package sling

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	manifest "github.com/eltproject/elt/manifest/sling"
)

const secretURL = "postgres://ana:s3cr3t-pw@db.internal:5432/app"

const threeStreams = `source: MY_SRC
target: MY_DUCK
defaults:
  mode: full-refresh
  object: 'main.{stream_schema}_{stream_table}'
streams:
  public.accounts:
  public."Transactions":
    mode: incremental
    primary_key: id
    update_key: updated_at
  public.users:
hooks:
  end:
    - type: check
      check: execution.status.error == 0
      on_failure: break
`

type project struct {
	dir, replication string
	specs            []asset.Spec
	fam              engine.Family
	resources        map[string]engine.Resource
}

func newProject(t *testing.T, yamlText string, cfg Config) *project {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sling"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sling", "main.yaml"), []byte(yamlText), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Replication = "sling/main.yaml"
	if cfg.Connections == nil {
		cfg.Connections = map[string]string{"MY_SRC": "src"}
	}
	res := map[string]engine.Resource{
		"src":     {Name: "src", Type: "postgres", Config: map[string]string{"url": secretURL}, Secret: []string{"url"}},
		"MY_DUCK": {Name: "MY_DUCK", Type: "duckdb", Config: map[string]string{"type": "duckdb", "instance": "/tmp/x.duckdb"}},
	}
	specs, fams, err := Load(context.Background(), cfg, dir, res)
	if err != nil {
		t.Fatal(err)
	}
	if len(fams) != 1 {
		t.Fatalf("families = %d", len(fams))
	}
	return &project{dir: dir, replication: cfg.Replication, specs: specs, fam: fams[0], resources: res}
}

// request builds an attempt for the assets of the named streams (all when
// none are named).
func (p *project) request(t *testing.T, streams ...string) (*engine.Request, *bytes.Buffer) {
	t.Helper()
	keys, err := StreamSelection(p.specs, p.replication, streams)
	if err != nil {
		t.Fatal(err)
	}
	specs := map[asset.Key]*asset.Spec{}
	for i := range p.specs {
		specs[p.specs[i].Key] = &p.specs[i]
	}
	var log bytes.Buffer
	return &engine.Request{
		RunID: "r1", StepID: "s1", Attempt: 1,
		Assets: keys, Specs: specs,
		ProjectDir: p.dir, StepDir: t.TempDir(),
		Env: os.Environ(), Log: &log, Resources: p.resources,
	}, &log
}

type events struct {
	mu  sync.Mutex
	evs []engine.Event
}

func (e *events) emit(ev engine.Event) { e.mu.Lock(); e.evs = append(e.evs, ev); e.mu.Unlock() }

func (e *events) byType(tp engine.EventType) map[string]engine.Event {
	out := map[string]engine.Event{}
	for _, ev := range e.evs {
		if ev.Type == tp {
			out[ev.Asset.String()] = ev
		}
	}
	return out
}

func TestRunAllSucceed(t *testing.T) {
	exe, record := fakeSlingExe(t, "ok")
	p := newProject(t, threeStreams, Config{Executable: exe})
	req, log := p.request(t)
	var ev events
	if err := p.fam.Runner.Run(context.Background(), req, ev.emit); err != nil {
		t.Fatal(err)
	}
	mat := ev.byType(engine.AssetMaterialized)
	if len(mat) != 3 {
		t.Fatalf("materialized %d assets, want 3: %+v", len(mat), ev.evs)
	}
	tx := mat["target/public/transactions"]
	if tx.Metadata["rows"] != int64(200) || tx.Metadata["source"] != "runtime_state" || tx.Metadata["bytes"] != int64(2000) {
		t.Errorf("transactions metadata = %v", tx.Metadata)
	}
	rec := readRecord(t, record)
	if slices.Contains(rec.Argv, "--streams") {
		t.Errorf("running every stream should not pass --streams: %v", rec.Argv)
	}
	if rec.Env["MY_SRC"] != secretURL {
		t.Errorf("connection env MY_SRC = %q", rec.Env["MY_SRC"])
	}
	if !strings.Contains(rec.Env["MY_DUCK"], `"instance":"/tmp/x.duckdb"`) {
		t.Errorf("a resource named like the connection should be passed as JSON: %q", rec.Env["MY_DUCK"])
	}
	for _, a := range rec.Argv {
		if strings.Contains(a, "s3cr3t") {
			t.Errorf("secret in argv: %v", rec.Argv)
		}
	}
	if strings.Contains(log.String(), "s3cr3t") {
		t.Errorf("secret reached the step log:\n%s", log.String())
	}
	if !strings.Contains(log.String(), "using source url ***") {
		t.Errorf("log should keep the line with the secret redacted:\n%s", log.String())
	}
	for _, e := range ev.evs {
		if strings.Contains(e.Message, "s3cr3t") {
			t.Errorf("secret in event %+v", e)
		}
	}
	// The copy run has the state hook first in hooks.end; the user's file
	// is untouched.
	copyText, err := os.ReadFile(rec.Argv[2])
	if err != nil {
		t.Fatal(err)
	}
	if i, j := strings.Index(string(copyText), "{runtime_state}"), strings.Index(string(copyText), "execution.status.error"); i < 0 || j < 0 || i > j {
		t.Errorf("state hook must come before the user's end hooks:\n%s", copyText)
	}
	orig, _ := os.ReadFile(filepath.Join(p.dir, "sling", "main.yaml"))
	if string(orig) != threeStreams {
		t.Error("the user's replication file was modified")
	}
	if rec.Dir != p.dir {
		t.Errorf("sling ran in %s, want the project folder %s", rec.Dir, p.dir)
	}
}

func TestRunOneOfThreeFails(t *testing.T) {
	exe, _ := fakeSlingExe(t, "one_fails")
	p := newProject(t, threeStreams, Config{Executable: exe})
	req, _ := p.request(t)
	var ev events
	err := p.fam.Runner.Run(context.Background(), req, ev.emit)
	if err == nil || !strings.Contains(err.Error(), "1 of 3 streams failed") || !strings.Contains(err.Error(), `public."Transactions"`) {
		t.Fatalf("error = %v", err)
	}
	mat, failed := ev.byType(engine.AssetMaterialized), ev.byType(engine.AssetFailed)
	if len(mat) != 2 || len(failed) != 1 {
		t.Fatalf("materialized %d, failed %d; want 2 and 1", len(mat), len(failed))
	}
	f := failed["target/public/transactions"]
	if !strings.Contains(f.Message, "does not exist") {
		t.Errorf("failure message = %q", f.Message)
	}
	if _, ok := mat["target/public/users"]; !ok {
		t.Error("the stream after the failed one should be materialized")
	}
}

func TestRunFallsBackToLogWithoutState(t *testing.T) {
	exe, _ := fakeSlingExe(t, "no_state")
	p := newProject(t, threeStreams, Config{Executable: exe})
	req, _ := p.request(t)
	var ev events
	if err := p.fam.Runner.Run(context.Background(), req, ev.emit); err == nil {
		t.Fatal("want an error")
	}
	mat, failed := ev.byType(engine.AssetMaterialized), ev.byType(engine.AssetFailed)
	if len(mat) != 2 || len(failed) != 1 {
		t.Fatalf("materialized %d, failed %d; want 2 and 1", len(mat), len(failed))
	}
	if m := mat["target/public/accounts"]; m.Metadata["source"] != "log" || m.Metadata["rows"] != int64(100) {
		t.Errorf("log fallback metadata = %v", m.Metadata)
	}
	if f := failed["target/public/transactions"]; !strings.Contains(f.Message, "does not exist") {
		t.Errorf("log fallback failure message = %q", f.Message)
	}
}

func TestRunSubsetPassesStreamsAsWritten(t *testing.T) {
	exe, record := fakeSlingExe(t, "ok")
	p := newProject(t, threeStreams, Config{Executable: exe})
	req, _ := p.request(t, `public."Transactions"`, "public.users")
	var ev events
	if err := p.fam.Runner.Run(context.Background(), req, ev.emit); err != nil {
		t.Fatal(err)
	}
	rec := readRecord(t, record)
	i := slices.Index(rec.Argv, "--streams")
	if i < 0 || rec.Argv[i+1] != `public."Transactions",public.users` {
		t.Errorf("argv = %q", rec.Argv)
	}
	if n := len(ev.byType(engine.AssetMaterialized)); n != 2 {
		t.Errorf("materialized %d, want 2", n)
	}
}

func TestRunTimeoutKeepsFinishedStreams(t *testing.T) {
	exe, _ := fakeSlingExe(t, "timeout")
	p := newProject(t, threeStreams, Config{Executable: exe})
	req, _ := p.request(t)
	ctx, cancel := context.WithTimeoutCause(context.Background(), 1500*time.Millisecond, errors.New("sling step timed out after 1.5s"))
	defer cancel()
	var ev events
	start := time.Now()
	err := p.fam.Runner.Run(ctx, req, ev.emit)
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("error = %v", err)
	}
	if time.Since(start) > 15*time.Second {
		t.Errorf("the process group was not killed promptly (%s)", time.Since(start))
	}
	mat := ev.byType(engine.AssetMaterialized)
	if _, ok := mat["target/public/accounts"]; !ok || len(mat) != 1 {
		t.Errorf("want only the first stream materialized (from the log), got %v", mat)
	}
}

func TestRunPartitionWindow(t *testing.T) {
	exe, record := fakeSlingExe(t, "ok")
	p := newProject(t, threeStreams, Config{Executable: exe})
	req, _ := p.request(t, `public."Transactions"`)
	req.Partition = &engine.Partition{Key: "2024-01-01", Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)}
	var ev events
	if err := p.fam.Runner.Run(context.Background(), req, ev.emit); err != nil {
		t.Fatal(err)
	}
	rec := readRecord(t, record)
	got := strings.Join(rec.Argv[3:], " ")
	want := "--streams public.\"Transactions\" --mode backfill --range 2024-01-01 00:00:00,2024-01-01 23:59:59.999999"
	if got != want {
		t.Errorf("args = %q\nwant   %q", got, want)
	}
	if rec.Env["ELT_PARTITION_KEY"] != "2024-01-01" {
		t.Errorf("partition env missing: %v", rec.Env)
	}
	// A stream without update_key cannot take a window.
	req2, _ := p.request(t, "public.users")
	req2.Partition = req.Partition
	err := p.fam.Runner.Run(context.Background(), req2, ev.emit)
	if err == nil || !strings.Contains(err.Error(), "main.yaml:12: stream public.users cannot load the time window 2024-01-01: add update_key") {
		t.Errorf("error = %v", err)
	}
}

func TestRange(t *testing.T) {
	tests := []struct {
		start, end time.Time
		want       string
	}{
		{time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC), "2024-01-01 00:00:00,2024-01-31 23:59:59.999999"},
		{time.Date(2024, 1, 1, 13, 0, 0, 0, time.UTC), time.Date(2024, 1, 1, 14, 0, 0, 0, time.UTC), "2024-01-01 13:00:00,2024-01-01 13:59:59.999999"},
	}
	for _, tt := range tests {
		if got := Range(tt.start, tt.end); got != tt.want {
			t.Errorf("Range = %q, want %q", got, tt.want)
		}
	}
	// Adjacent windows never share an instant.
	a := strings.Split(Range(tests[0].start, tests[0].end), ",")[1]
	b := strings.Split(Range(tests[0].end, tests[0].end.AddDate(0, 1, 0)), ",")[0]
	if a >= b {
		t.Errorf("window end %s overlaps next start %s", a, b)
	}
}

func TestRealSling(t *testing.T) {
	exe, err := exec.LookPath("sling")
	if err != nil {
		t.Skip("sling is not on PATH; skipping the real-sling integration test")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(in, []byte("id,name\n1,a\n2,b\n3,c\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	y := "source: LOCAL\ntarget: LOCAL\nstreams:\n  'file://" + in + "':\n    object: 'file://" + filepath.Join(dir, "out.csv") + "'\n"
	p := newProject(t, y, Config{Executable: exe, Connections: map[string]string{}})
	req, _ := p.request(t)
	var ev events
	if err := p.fam.Runner.Run(context.Background(), req, ev.emit); err != nil {
		t.Fatal(err)
	}
	mat := ev.byType(engine.AssetMaterialized)
	if len(mat) != 1 {
		t.Fatalf("materialized = %v", ev.evs)
	}
	for _, m := range mat {
		t.Logf("real sling metadata: %v", m.Metadata)
	}
}

func TestConnectionEnvWithoutURL(t *testing.T) {
	rep, err := manifest.Parse("r.yaml", []byte("source: MY_PG\ntarget: WAREHOUSE\nstreams:\n  public.a:\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	res := map[string]engine.Resource{
		"WAREHOUSE": {Name: "WAREHOUSE", Type: "duckdb", Config: map[string]string{"path": "/p/wh.duckdb"}},
		"pg":        {Name: "pg", Type: "postgres", Config: map[string]string{"host": "db", "password": "hunter22"}},
	}
	env, secrets, err := connectionEnv(&Config{Replication: "r.yaml", Connections: map[string]string{"MY_PG": "pg"}}, rep, res)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(env, "\n")
	if !strings.Contains(all, `WAREHOUSE={"copy_method":"csv_files","instance":"/p/wh.duckdb","type":"duckdb"}`) || !strings.Contains(all, `"type":"postgres"`) {
		t.Fatalf("env %q", env)
	}
	if len(secrets) < 2 {
		t.Errorf("connection values not treated as secrets: %v", secrets)
	}
}

func TestDiscoveredTablesListedAsStreamsStayTheirOwn(t *testing.T) {
	rep, err := manifest.Parse("r.yaml", []byte("source: S\ntarget: T\nstreams:\n  public.*:\n  public.accounts: {mode: incremental, primary_key: [id], update_key: ts}\n  public.old: {disabled: true}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := removeDisabled(rep, []string{"public.accounts", "public.users", "public.old"})
	if strings.Join(got, ",") != "public.users" {
		t.Fatalf("got %v; explicit streams (enabled or not) leave the wildcard", got)
	}
}
