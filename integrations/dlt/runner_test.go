package dlt

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
)

// copyDir copies the test pipeline folder so runs can write lock files.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

type harness struct {
	t          *testing.T
	projectDir string
	record     string
	cfg        Config
	resources  map[string]engine.Resource
}

func newHarness(t *testing.T, mode string) *harness {
	t.Helper()
	dir := t.TempDir()
	copyDir(t, filepath.Join("testdata", "pipelines"), filepath.Join(dir, "pipelines"))
	h := &harness{t: t, projectDir: dir, record: filepath.Join(dir, "record.jsonl")}
	h.cfg = Config{
		Pipeline:     "github_pipeline",
		PipelinesDir: "pipelines",
		Command:      Command{Argv: []string{os.Args[0], "pipelines/github.py"}},
		Destination:  "warehouse",
		Env: map[string]string{
			"ELT_TEST_FAKE_DLT": "1",
			"FAKE_DLT_MODE":     mode,
			"FAKE_DLT_RECORD":   h.record,
		},
	}
	h.resources = map[string]engine.Resource{
		"warehouse": {Name: "warehouse", Type: "duckdb", Config: map[string]string{"path": "warehouse.duckdb"}},
	}
	return h
}

type result struct {
	events []engine.Event
	err    error
	log    string
}

func (r *result) of(typ engine.EventType, k asset.Key) *engine.Event {
	for i := range r.events {
		if r.events[i].Type == typ && r.events[i].Asset == k {
			return &r.events[i]
		}
	}
	return nil
}

func (h *harness) run(ctx context.Context, keys []asset.Key, part *engine.Partition) result {
	h.t.Helper()
	_, fams, err := Load(ctx, h.cfg, h.projectDir, h.resources)
	if err != nil {
		h.t.Fatal(err)
	}
	var mu sync.Mutex
	var res result
	var log bytes.Buffer
	req := &engine.Request{
		RunID: "r1", StepID: "dlt", Attempt: 1, Assets: keys, Partition: part,
		ProjectDir: h.projectDir, StepDir: h.t.TempDir(), Env: os.Environ(), Log: &log, Resources: h.resources,
	}
	res.err = fams[0].Runner.Run(ctx, req, func(e engine.Event) {
		mu.Lock()
		defer mu.Unlock()
		res.events = append(res.events, e)
	})
	res.log = log.String()
	return res
}

func (h *harness) records() []fakeRecord {
	h.t.Helper()
	f, err := os.Open(h.record)
	if err != nil {
		h.t.Fatalf("the stand-in pipeline left no record: %v", err)
	}
	defer f.Close()
	var out []fakeRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r fakeRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

var (
	issuesKey = asset.MustKey("dlt_github_issues")
	prsKey    = asset.MustKey("dlt_github_pull_requests")
	may1      = &engine.Partition{Key: "2024-05-01", Start: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC)}
)

func TestRunSuccess(t *testing.T) {
	for _, noEvents := range []bool{false, true} {
		name := "with load info"
		if noEvents {
			name = "without load info, found in _dlt_loads"
		}
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, "success")
			if noEvents {
				h.cfg.Env["FAKE_DLT_NO_EVENTS"] = "1"
			}
			res := h.run(context.Background(), []asset.Key{issuesKey}, may1)
			if res.err != nil {
				t.Fatalf("run failed: %v\nlog:\n%s", res.err, res.log)
			}
			recs := h.records()
			if len(recs) != 1 {
				t.Fatalf("%d runs recorded", len(recs))
			}
			rec := recs[0]
			if rec.Resources != "issues" || rec.IntervalStart != "2024-05-01T00:00:00Z" || rec.IntervalEnd != "2024-05-02T00:00:00Z" ||
				rec.PartitionKey != "2024-05-01" || rec.Pipeline != "github_pipeline" || rec.PipelineEnv != "" || rec.Dataset != "github_data" {
				t.Errorf("the script saw %+v", rec)
			}
			if rec.Dir != h.projectDir {
				t.Errorf("ran in %s, want the project folder %s", rec.Dir, h.projectDir)
			}
			ev := res.of(engine.AssetMaterialized, issuesKey)
			if ev == nil {
				t.Fatalf("no materialization of %s in %+v", issuesKey, res.events)
			}
			md := ev.Metadata
			if md["load_id"] != rec.LoadID || md["dataset"] != "github_data" || md["destination"] != "duckdb" || md["rows"] != int64(8) {
				t.Errorf("metadata %v (load id %s)", md, rec.LoadID)
			}
			byTable, _ := md["rows_by_table"].(map[string]int64)
			if byTable["issues"] != 3 || byTable["issues__labels"] != 5 {
				t.Errorf("rows by table %v, want issues 3 and issues__labels 5 (nested rows reached through _dlt_parent_id)", byTable)
			}
			if res.of(engine.AssetMaterialized, prsKey) != nil {
				t.Error("pull_requests was not selected but was reported")
			}
			logged := false
			for _, e := range res.events {
				logged = logged || (e.Type == engine.Log && e.Message == "fake dlt loaded issues")
			}
			if logged == noEvents {
				t.Errorf("script log event forwarded: %v, want %v", logged, !noEvents)
			}
		})
	}
}

func TestRunFailedLoadIsAFailure(t *testing.T) {
	for _, noEvents := range []bool{false, true} {
		t.Run("no_events="+map[bool]string{false: "false", true: "true"}[noEvents], func(t *testing.T) {
			h := newHarness(t, "failed")
			if noEvents {
				h.cfg.Env["FAKE_DLT_NO_EVENTS"] = "1"
			}
			res := h.run(context.Background(), []asset.Key{issuesKey, prsKey}, nil)
			if res.err == nil {
				t.Fatal("a load package without a _dlt_loads row was reported as a success")
			}
			if !strings.Contains(res.err.Error(), "no completed row (status 0) in github_data._dlt_loads") {
				t.Errorf("error %v", res.err)
			}
			for _, k := range []asset.Key{issuesKey, prsKey} {
				ev := res.of(engine.AssetFailed, k)
				if ev == nil {
					t.Fatalf("no failure event for %s: %+v", k, res.events)
				}
				if res.of(engine.AssetMaterialized, k) != nil {
					t.Errorf("%s reported materialized too", k)
				}
			}
			if !noEvents {
				msg := res.of(engine.AssetFailed, issuesKey).Message
				if !strings.Contains(msg, "issues__labels.80eb41650c.insert_values") || !strings.Contains(msg, "a random fail occurred") {
					t.Errorf("failure message %q does not name the failed job", msg)
				}
			}
		})
	}
}

func TestRunScriptReportsFailure(t *testing.T) {
	h := newHarness(t, "success")
	h.cfg.Env["FAKE_DLT_FAIL_ASSET"] = "dlt_github_issues"
	res := h.run(context.Background(), []asset.Key{issuesKey, prsKey}, nil)
	if res.err == nil || !strings.Contains(res.err.Error(), "1 of 2 assets failed") {
		t.Fatalf("error %v", res.err)
	}
	if ev := res.of(engine.AssetFailed, issuesKey); ev == nil || !strings.Contains(ev.Message, "row count check failed") {
		t.Errorf("issues failure: %+v", ev)
	}
	if res.of(engine.AssetMaterialized, issuesKey) != nil || res.of(engine.AssetMaterialized, prsKey) == nil {
		t.Errorf("events %+v", res.events)
	}
}

func TestRunCrash(t *testing.T) {
	h := newHarness(t, "crash")
	h.cfg.Env["FAKE_DLT_SECRET"] = "s3cr3t-pw"
	h.resources["pg"] = engine.Resource{Name: "pg", Type: "postgres", Config: map[string]string{"password": "s3cr3t-pw"}, Secret: []string{"password"}}
	if dir := fixtures(); dir != "" {
		b, err := os.ReadFile(filepath.Join(dir, "recorded", "config_field_missing_exception.txt"))
		if err != nil {
			t.Fatal(err)
		}
		h.cfg.Env["FAKE_DLT_TRACEBACK"] = string(b)
	}
	res := h.run(context.Background(), []asset.Key{issuesKey}, nil)
	if res.err == nil {
		t.Fatal("exit status 1 was not a failure")
	}
	msg := res.err.Error()
	if !strings.Contains(msg, "exited with status 1") || !strings.Contains(msg, "failed") {
		t.Errorf("error %q", msg)
	}
	if fixtures() != "" && !strings.Contains(msg, "Please refer to https://dlthub.com/docs/general-usage/credentials/") {
		t.Errorf("error does not carry the script's last stderr lines: %q", msg)
	}
	if strings.Contains(msg, "s3cr3t-pw") || !strings.Contains(msg, "loader:****@") {
		t.Errorf("secret not redacted: %q", msg)
	}
	if !strings.Contains(res.log, "extracting issues") {
		t.Errorf("the script's output did not reach the step log: %q", res.log)
	}
}

func TestRunShellCommandFromPath(t *testing.T) {
	h := newHarness(t, "success")
	bin := t.TempDir()
	wrapper := "#!/bin/sh\nexec '" + os.Args[0] + "' \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "python"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	h.cfg.Command = Command{Shell: "python pipelines/github.py --full"}
	h.cfg.Env["PATH"] = bin + string(os.PathListSeparator) + os.Getenv("PATH")
	h.cfg.WorkingDir = "pipelines"
	h.cfg.Keys = "table"
	res := h.run(context.Background(), []asset.Key{asset.MustKey("github_data", "pull_requests")}, nil)
	if res.err != nil {
		t.Fatalf("%v\n%s", res.err, res.log)
	}
	rec := h.records()[0]
	if got := strings.Join(rec.Argv[1:], " "); got != "pipelines/github.py --full" {
		t.Errorf("argv %q", got)
	}
	if rec.Dir != filepath.Join(h.projectDir, "pipelines") || rec.Resources != "pull_requests" || rec.Tables != "pull_requests" {
		t.Errorf("record %+v", rec)
	}
	if rec.IntervalStart != "" {
		t.Errorf("unpartitioned run got DLT_INTERVAL_START=%s", rec.IntervalStart)
	}
	ev := res.of(engine.AssetMaterialized, asset.MustKey("github_data", "pull_requests"))
	if ev == nil || ev.Metadata["rows"] != int64(2) {
		t.Errorf("events %+v", res.events)
	}
}

func TestRunSerializesSamePipeline(t *testing.T) {
	h := newHarness(t, "success")
	h.cfg.Env["FAKE_DLT_SLEEP"] = "400ms"
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = h.run(context.Background(), []asset.Key{prsKey}, nil).err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	recs := h.records()
	if len(recs) != 2 {
		t.Fatalf("%d runs recorded", len(recs))
	}
	a, b := recs[0], recs[1]
	if a.Start.Before(b.End) && b.Start.Before(a.End) {
		t.Errorf("two runs of pipeline github_pipeline overlapped: %v–%v and %v–%v", a.Start, a.End, b.Start, b.End)
	}
}

func TestRunPipelinePerPartition(t *testing.T) {
	h := newHarness(t, "success")
	h.cfg.PipelinePerPartition = true
	for _, p := range []*engine.Partition{may1, {Key: "eu/west"}} {
		if res := h.run(context.Background(), []asset.Key{prsKey}, p); res.err != nil {
			t.Fatal(res.err)
		}
	}
	recs := h.records()
	want := []string{"github_pipeline_2024-05-01", "github_pipeline_eu_west"}
	for i, r := range recs {
		if r.Pipeline != want[i] || r.PipelineEnv != want[i] {
			t.Errorf("run %d used pipeline %q / PIPELINE_NAME %q, want %q", i, r.Pipeline, r.PipelineEnv, want[i])
		}
	}
}

func TestRunWithoutDestinationOrLoadInfo(t *testing.T) {
	h := newHarness(t, "success")
	h.cfg.Destination = ""
	h.cfg.Env["FAKE_DLT_NO_EVENTS"] = "1"
	h.cfg.Env[EnvDuckDBCredentials] = filepath.Join(h.projectDir, "elsewhere.duckdb")
	res := h.run(context.Background(), []asset.Key{issuesKey}, nil)
	if res.err != nil {
		t.Fatal(res.err)
	}
	var warned bool
	for _, e := range res.events {
		if e.Type == engine.Log && strings.Contains(e.Message, "success is taken from the exit code") {
			warned = true
		}
	}
	if !warned {
		t.Errorf("no warning that the load could not be confirmed: %+v", res.events)
	}
}

func TestRunCanceled(t *testing.T) {
	h := newHarness(t, "success")
	h.cfg.Env["FAKE_DLT_SLEEP"] = "30s"
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res := h.run(ctx, []asset.Key{issuesKey}, nil)
	if res.err == nil || !strings.Contains(res.err.Error(), "deadline") {
		t.Fatalf("error %v, want the context's", res.err)
	}
}
