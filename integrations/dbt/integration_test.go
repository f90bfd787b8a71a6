package dbt

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	_ "github.com/eltproject/elt/integrations/duckdb" // registers elt's DuckDB driver
	"github.com/eltproject/elt/internal/testenv"
	dbtmanifest "github.com/eltproject/elt/manifest/dbt"
	dbttranslator "github.com/eltproject/elt/translator/dbt"
)

// The tests in this file drive the real dbt (dbt-core with dbt-duckdb, from
// `make tools`) on testdata/real_project. dbt takes seconds per
// invocation, so the project is prepared (real `dbt deps` and `dbt parse`)
// and built once per test binary; each test then asserts on that build or
// runs a small subset of its own.

// genModels is how many generated views the project gets, so that a build
// of everything selects more than 200 nodes (the selectors file path).
const genModels = 205

type realRun struct {
	evs    events
	err    error
	log    string
	target string // the attempt's target folder (run_results.json)
}

type realProject struct {
	dir   string // a copy of testdata/real_project
	cfg   Config
	specs []asset.Spec
	run   *Runner
	prep  string // Prepare's output
	build *realRun
	rows  map[string]int // row counts right after the build
	err   error          // setup failure
}

var (
	realOnce sync.Once
	realP    *realProject
	realRoot string // removed by TestMain
)

// realDBT returns the shared real project, preparing and building it on
// first use. It skips (fails in CI) when dbt is not installed.
func realDBT(t *testing.T) *realProject {
	t.Helper()
	testenv.Slow(t, "runs the real dbt")
	exe := testenv.Tool(t, "dbt")
	realOnce.Do(func() { realP = setupReal(exe) })
	if realP.err != nil {
		t.Fatalf("real dbt project: %v\n%s", realP.err, realP.prep)
	}
	return realP
}

func setupReal(exe string) *realProject {
	p := &realProject{}
	// dbt would try to send usage events over the network; tests stay off it.
	os.Setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
	root, err := os.MkdirTemp("", "elt-real-dbt-")
	if err != nil {
		p.err = err
		return p
	}
	realRoot = root
	p.dir = filepath.Join(root, "project")
	if err := os.CopyFS(p.dir, os.DirFS("testdata/real_project")); err != nil {
		p.err = err
		return p
	}
	for i := range genModels {
		path := filepath.Join(p.dir, "models", "gen", fmt.Sprintf("gen_%03d.sql", i))
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, fmt.Appendf(nil, "select %d as n\n", i), 0o644); err != nil {
			p.err = err
			return p
		}
	}
	p.cfg = Config{ProjectDir: p.dir, Executable: exe, Threads: 2}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var prep bytes.Buffer
	err = Prepare(ctx, p.cfg, "/", &prep)
	p.prep = prep.String()
	if err != nil {
		p.err = fmt.Errorf("prepare: %w", err)
		return p
	}
	specs, fams, err := Load(ctx, p.cfg, "/", nil)
	if err != nil {
		p.err = fmt.Errorf("load: %w", err)
		return p
	}
	p.specs, p.run = specs, fams[0].Runner.(*Runner)
	p.build = p.runDBT(ctx, 1, nil, nil)
	p.rows = map[string]int{}
	for _, tbl := range []string{"raw_items", "stg_items", "items", "checked", "gen_204"} {
		n, err := p.count(tbl)
		if err != nil {
			p.err = err
			return p
		}
		p.rows[tbl] = n
	}
	return p
}

// runDBT runs the runner on the assets named (all non-external assets
// when none) as step attempt n.
func (p *realProject) runDBT(ctx context.Context, attempt int, part *engine.Partition, names []string) *realRun {
	var log bytes.Buffer
	req := &engine.Request{
		RunID: "real", StepID: "dbt:elt_real", Attempt: attempt, Partition: part,
		Specs: map[asset.Key]*asset.Spec{}, StepDir: filepath.Join(p.dir, "..", "step"),
		Log: &log, Env: os.Environ(),
	}
	for i := range p.specs {
		s := &p.specs[i]
		req.Specs[s.Key] = s
		if s.External {
			continue
		}
		if names == nil || slices.Contains(names, s.Key.String()) {
			req.Assets = append(req.Assets, s.Key)
		}
	}
	r := &realRun{}
	r.err = p.run.Run(ctx, req, r.evs.emit)
	r.log = log.String()
	r.target = filepath.Join(req.StepDir, fmt.Sprintf("dbt-%d", attempt), "target")
	return r
}

// count reads a table's row count through elt's DuckDB driver.
func (p *realProject) count(table string) (int, error) {
	db, err := sql.Open("duckdb", filepath.Join(p.dir, "warehouse.duckdb")+"?access_mode=read_only")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int
	err = db.QueryRow("select count(*) from main." + table).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", table, err)
	}
	return n, nil
}

// results reads an attempt's run_results.json: status by unique_id.
func results(t *testing.T, target string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(target, "run_results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Results []struct {
			UniqueID string `json:"unique_id"`
			Status   string `json:"status"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range f.Results {
		out[r.UniqueID] = r.Status
	}
	return out
}

func statusOf(t *testing.T, evs *events, key string) engine.Event {
	t.Helper()
	var found []engine.Event
	for _, ev := range evs.evs {
		if ev.Check == "" && ev.Asset.String() == key && ev.Type != engine.Log {
			found = append(found, ev)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one event for %s, got %d: %+v", key, len(found), found)
	}
	return found[0]
}

// TestRealDBTBuild: a build of the whole project, with a model that fails
// (its child is skipped), an error test that fails (it blocks its model's
// child), a warn test, a local package, and more than 200 nodes.
func TestRealDBTBuild(t *testing.T) {
	p := realDBT(t)
	b := p.build
	var se *StepError
	if !errors.As(b.err, &se) || se.ExitCode != 1 {
		t.Fatalf("build: want a StepError with exit 1, got %v\n%s", b.err, b.log)
	}
	if !strings.Contains(se.Message, "bad_model") || !strings.Contains(se.Message, "not_null_checked_id") {
		t.Errorf("the step error names neither the failed model nor the failed test: %s", se.Message)
	}
	// More than 200 nodes: the selection goes through a selectors file.
	if !strings.Contains(b.log, "selectors.yml") {
		t.Errorf("a build of %d+ nodes did not use a selectors file:\n%s", genModels, firstLines(b.log, 5))
	}
	for key, want := range map[string]engine.EventType{
		"raw_items":     engine.AssetMaterialized,
		"stg_items":     engine.AssetMaterialized,
		"items":         engine.AssetMaterialized,
		"helper_days":   engine.AssetMaterialized,
		"bad_model":     engine.AssetFailed,
		"after_bad":     engine.AssetSkipped,
		"checked":       engine.AssetMaterialized,
		"after_checked": engine.AssetSkipped,
		"gen_000":       engine.AssetMaterialized,
		"gen_204":       engine.AssetMaterialized,
	} {
		if ev := statusOf(t, &b.evs, key); ev.Type != want {
			t.Errorf("%s: %s (%s), want %s", key, ev.Type, ev.Message, want)
		}
	}
	if ev := statusOf(t, &b.evs, "bad_model"); !strings.Contains(ev.Message, "a_table_that_does_not_exist") {
		t.Errorf("bad_model's failure does not carry DuckDB's error: %q", ev.Message)
	}
	if n := len(b.evs.of(engine.AssetMaterialized)); n != genModels+6 {
		t.Errorf("%d materializations, want %d", n, genModels+6)
	}
	checks := map[string]bool{}
	for _, ev := range b.evs.of(engine.CheckEvaluated) {
		checks[ev.Asset.String()+"/"+ev.Check] = *ev.Passed
	}
	for name, passed := range map[string]bool{
		"items/not_null_items_id":                                      true,
		"items/unique_items_id":                                        true,
		"items/items_not_empty":                                        true,
		"checked/not_null_checked_id":                                  false,
		"items/accepted_values_items_amount_cents__150__200__325__400": false,
	} {
		got, ok := checks[name]
		if !ok || got != passed {
			t.Errorf("check %s: evaluated %v, passed %v; want passed %v (all: %v)", name, ok, got, passed, checks)
		}
	}
	// What dbt really did: rows in DuckDB, statuses in run_results.json.
	for tbl, want := range map[string]int{"raw_items": 5, "stg_items": 5, "items": 5, "checked": 2, "gen_204": 1} {
		if p.rows[tbl] != want {
			t.Errorf("%s has %d rows, want %d", tbl, p.rows[tbl], want)
		}
	}
	rr := results(t, b.target)
	for id, want := range map[string]string{
		"model.elt_real.items":                         "success",
		"model.elt_real.bad_model":                     "error",
		"model.elt_real.after_bad":                     "skipped",
		"model.elt_real.after_checked":                 "skipped",
		"test.elt_real.not_null_checked_id.4e1d1a3a0e": "fail",
		"seed.elt_real.raw_items":                      "success",
		"model.elt_helpers.helper_days":                "success",
	} {
		got := rr[id]
		if strings.HasPrefix(id, "test.") {
			got = rr[testID(rr, id)]
		}
		if got != want {
			t.Errorf("run_results.json: %s is %q, want %q", id, got, want)
		}
	}
	// elt asked for no unit test, no source test and no test of an
	// ephemeral model: dbt must not have run them.
	for id := range rr {
		if strings.HasPrefix(id, "unit_test.") || strings.Contains(id, "source_not_null") || strings.Contains(id, "_eph_") {
			t.Errorf("dbt ran %s, which elt did not select", id)
		}
	}
}

// testID finds the run_results id of a test by its name part, whatever
// the hash dbt gave it.
func testID(rr map[string]string, id string) string {
	parts := strings.Split(id, ".")
	prefix := strings.Join(parts[:3], ".") + "."
	for k := range rr {
		if strings.HasPrefix(k, prefix) {
			return k
		}
	}
	return id
}

// TestRealDBTFromFailure runs again only what failed or was skipped, as
// `elt run --from-failure` does: dbt runs exactly those nodes.
func TestRealDBTFromFailure(t *testing.T) {
	p := realDBT(t)
	var again []string
	for _, ev := range p.build.evs.evs {
		if ev.Check == "" && (ev.Type == engine.AssetFailed || ev.Type == engine.AssetSkipped) {
			again = append(again, ev.Asset.String())
		}
	}
	slices.Sort(again)
	if strings.Join(again, " ") != "after_bad after_checked bad_model" {
		t.Fatalf("failed or skipped in the build: %v", again)
	}
	// checked's blocking test failed: from-failure runs it (and its test) too.
	again = append(again, "checked")
	ctx := context.Background()
	r := p.runDBT(ctx, 2, nil, again)
	if r.err == nil {
		t.Fatalf("bad_model still fails; the re-run succeeded:\n%s", r.log)
	}
	var ran []string
	for id := range results(t, r.target) {
		ran = append(ran, id)
	}
	slices.Sort(ran)
	want := []string{"model.elt_real.after_bad", "model.elt_real.after_checked", "model.elt_real.bad_model", "model.elt_real.checked"}
	var models []string
	tests := 0
	for _, id := range ran {
		if strings.HasPrefix(id, "test.") {
			tests++
			if !strings.Contains(id, "checked_id") {
				t.Errorf("re-run ran test %s", id)
			}
			continue
		}
		models = append(models, id)
	}
	if !slices.Equal(models, want) || tests != 1 {
		t.Errorf("re-run ran %v, want %v and checked's test", ran, want)
	}
}

// TestRealDBTPartitionVars: a partition's window reaches the model as
// min_date/max_date vars, and the table holds that day's rows only.
func TestRealDBTPartitionVars(t *testing.T) {
	p := realDBT(t)
	part := &engine.Partition{Key: "2024-01-02",
		Start: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 1, 3, 0, 0, 0, 0, time.UTC)}
	r := p.runDBT(context.Background(), 3, part, []string{"items"})
	if r.err != nil {
		t.Fatalf("run: %v\n%s", r.err, r.log)
	}
	if ev := statusOf(t, &r.evs, "items"); ev.Type != engine.AssetMaterialized {
		t.Fatalf("items: %+v", ev)
	}
	n, err := p.count("items")
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("items holds %d rows for 2024-01-02, want 2", n)
	}
	if !strings.Contains(r.log, `"min_date":"2024-01-02T00:00:00Z"`) {
		t.Errorf("the log does not show the window vars:\n%s", firstLines(r.log, 3))
	}
	// What dbt 1.11 does when --vars differ from the parse: it drops its
	// partial parse and parses the whole project again.
	if !strings.Contains(r.log, "Unable to do partial parsing") {
		t.Logf("dbt kept its partial parse despite new --vars (newer dbt?):\n%s", firstLines(r.log, 8))
	}

	// partition_vars: {via: env}: no --vars, the window in ELT_PARTITION_*,
	// and dbt re-parses only the model that reads it.
	cfg := p.cfg
	cfg.PartitionVars.Via = PartitionViaEnv
	envRunner, err := NewRunner(cfg, "/", p.specs)
	if err != nil {
		t.Fatal(err)
	}
	saved := p.run
	p.run = envRunner
	defer func() { p.run = saved }()
	part = &engine.Partition{Key: "2024-01-03",
		Start: time.Date(2024, 1, 3, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 1, 4, 0, 0, 0, 0, time.UTC)}
	r = p.runDBT(context.Background(), 4, part, []string{"items_env"})
	if r.err != nil {
		t.Fatalf("run via env: %v\n%s", r.err, r.log)
	}
	if n, err := p.count("items_env"); err != nil || n != 1 {
		t.Errorf("items_env holds %d rows for 2024-01-03 (%v), want 1", n, err)
	}
	if strings.Contains(r.log, "--vars") || strings.Contains(r.log, "Unable to do partial parsing") {
		t.Errorf("via env: dbt got --vars or parsed everything again:\n%s", firstLines(r.log, 8))
	}
}

func firstLines(s string, n int) string {
	l := strings.SplitN(s, "\n", n+1)
	return strings.Join(l[:min(n, len(l))], "\n")
}

// TestRealDBTStateModified: state:modified+ against a manifest that dbt
// itself wrote: parse, edit a model, parse again (`elt sync --prepare`).
func TestRealDBTStateModified(t *testing.T) {
	p := realDBT(t)
	prod := filepath.Join(t.TempDir(), "manifest.json")
	b, err := os.ReadFile(filepath.Join(p.dir, "target", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prod, b, 0o644); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(p.dir, "models", "checked.sql")
	src, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(model, append(src, "-- edited on a branch\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var out bytes.Buffer
	if err := Prepare(ctx, p.cfg, "/", &out); err != nil {
		t.Fatalf("prepare after the edit: %v\n%s", err, out.String())
	}
	if strings.Contains(out.String(), "dbt deps") {
		t.Errorf("the packages are installed; prepare ran dbt deps again:\n%s", out.String())
	}
	specs, _, err := Load(ctx, p.cfg, "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := dbtmanifest.ReadManifest(filepath.Join(p.dir, "target", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	prev, err := dbtmanifest.ReadManifest(prod)
	if err != nil {
		t.Fatal(err)
	}
	g, err := asset.NewGraph(specs, asset.GraphOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sel := &asset.Selector{Graph: g, Methods: dbttranslator.StateMethods(dbtmanifest.Compare(cur, prev))}
	for expr, want := range map[string]string{
		"state:modified+": "after_checked checked",
		"state:modified":  "checked",
	} {
		set, err := sel.Select([]string{expr}, nil)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		var keys []string
		for _, k := range g.SetKeys(set) {
			keys = append(keys, k.String())
		}
		slices.Sort(keys)
		if strings.Join(keys, " ") != want {
			t.Errorf("%s selects %v, want %s", expr, keys, want)
		}
	}
}
