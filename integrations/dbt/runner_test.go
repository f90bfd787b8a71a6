package dbt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"go.yaml.in/yaml/v3"
)

// jaffleModels are the five models of the recorded jaffle_shop runs.
func jaffleModels() []asset.Spec {
	return []asset.Spec{
		model("model.jaffle_shop.stg_customers", "jaffle_shop", "staging", "stg_customers"),
		model("model.jaffle_shop.stg_orders", "jaffle_shop", "staging", "stg_orders"),
		model("model.jaffle_shop.stg_payments", "jaffle_shop", "staging", "stg_payments"),
		model("model.jaffle_shop.customers", "jaffle_shop", "customers"),
		model("model.jaffle_shop.orders", "jaffle_shop", "orders"),
	}
}

// jaffleBuild are the nodes of the recorded `dbt build --select +customers
// orders_snapshot`, with the tests as checks. The relationships test on
// orders is left out: orders is not part of the request.
func jaffleBuild() []asset.Spec {
	return []asset.Spec{
		model("seed.jaffle_shop.raw_customers", "jaffle_shop", "raw_customers"),
		model("seed.jaffle_shop.raw_orders", "jaffle_shop", "raw_orders"),
		model("seed.jaffle_shop.raw_payments", "jaffle_shop", "raw_payments"),
		withTests(model("model.jaffle_shop.stg_customers", "jaffle_shop", "staging", "stg_customers"),
			"test.jaffle_shop.not_null_stg_customers_customer_id.e2cfb1f9aa",
			"test.jaffle_shop.unique_stg_customers_customer_id.c7614daada"),
		withTests(model("model.jaffle_shop.stg_orders", "jaffle_shop", "staging", "stg_orders"),
			"test.jaffle_shop.accepted_values_stg_orders_status__placed__shipped__completed__return_pending__returned.080fb20aad",
			"test.jaffle_shop.not_null_stg_orders_order_id.81cfe2fe64",
			"test.jaffle_shop.unique_stg_orders_order_id.e3b841c71a"),
		withTests(model("model.jaffle_shop.stg_payments", "jaffle_shop", "staging", "stg_payments"),
			"test.jaffle_shop.accepted_values_stg_payments_payment_method__credit_card__coupon__bank_transfer__gift_card.3c3820f278",
			"test.jaffle_shop.not_null_stg_payments_payment_id.c19cc50075",
			"test.jaffle_shop.unique_stg_payments_payment_id.3744510712"),
		model("snapshot.jaffle_shop.orders_snapshot", "jaffle_shop", "orders_snapshot", "orders_snapshot"),
		withTests(model("model.jaffle_shop.customers", "jaffle_shop", "customers"),
			"test.jaffle_shop.accepted_values_customers_first_name__Jane.21e890a312",
			"test.jaffle_shop.not_null_customers_customer_id.5c9bf9911d",
			"test.jaffle_shop.unique_customers_customer_id.c5af1ff4b1"),
	}
}

// runFake runs the runner against the dbt test double.
func runFake(t *testing.T, cfg Config, specs []asset.Spec, script fakeScript) (*events, error, *fake, string) {
	t.Helper()
	f := newFake(t, map[string]fakeScript{"": script})
	if cfg.ProjectDir == "" {
		cfg.ProjectDir = project(t)
	}
	cfg.Executable = f.exe
	r, err := NewRunner(cfg, "/", specs)
	if err != nil {
		t.Fatal(err)
	}
	req, log := request(t, specs)
	var evs events
	runErr := r.Run(context.Background(), req, evs.emit)
	return &evs, runErr, f, log.String()
}

func TestRunSuccess(t *testing.T) {
	stream := recorded(t, "openlineage_pg_run_success.jsonl")
	evs, err, f, log := runFake(t, Config{Command: "run"}, jaffleModels(), fakeScript{Replay: stream})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if n := len(evs.of(engine.AssetMaterialized)); n != 5 || len(evs.evs) != 5 {
		t.Fatalf("want 5 materializations and nothing else, got %d of %d events", n, len(evs.evs))
	}
	c := evs.byAsset(t, "customers")
	if c.Metadata["rows_affected"] != int64(100) || c.Metadata[MetaRelation] != `"postgres"."public"."customers"` || c.Metadata["message"] != "SELECT 100" {
		t.Errorf("customers metadata: %v", c.Metadata)
	}
	if d, _ := c.Metadata["duration"].(float64); d <= 0 {
		t.Errorf("customers duration: %v", c.Metadata["duration"])
	}
	if _, ok := evs.byAsset(t, "stg_orders").Metadata["rows_affected"]; ok {
		t.Errorf("a view reports rows_affected -1, which must be left out")
	}
	call := f.calls(t)[0]
	want := []string{"run", "--select", "fqn:jaffle_shop.staging.stg_customers fqn:jaffle_shop.staging.stg_orders fqn:jaffle_shop.staging.stg_payments fqn:jaffle_shop.customers fqn:jaffle_shop.orders"}
	if !slices.Equal(call.Argv, want) {
		t.Errorf("argv = %q, want %q", call.Argv, want)
	}
	if !strings.Contains(log, "1 of 5 START sql view model public.stg_customers") {
		t.Errorf("dbt's human log lines should reach the step log:\n%s", log)
	}
	if strings.Contains(log, "SQLQuery") || strings.Contains(log, `{"data"`) {
		t.Errorf("raw JSON or debug lines reached the step log")
	}
	evs.golden(t, "run_success")
}

func TestBuildFailedTest(t *testing.T) {
	stream := recorded(t, "openlineage_pg_build_test_fail.jsonl")
	evs, err, f, _ := runFake(t, Config{}, jaffleBuild(), fakeScript{Replay: stream, Exit: 1})
	var se *StepError
	if !errors.As(err, &se) || se.ExitCode != 1 {
		t.Fatalf("want a StepError with exit 1, got %v", err)
	}
	if !strings.Contains(err.Error(), "accepted_values_customers_first_name__Jane") {
		t.Errorf("the error should name the failed check: %v", err)
	}
	if n := len(evs.of(engine.AssetMaterialized)); n != 8 {
		t.Errorf("want 8 materializations (3 seeds, 4 models, 1 snapshot), got %d", n)
	}
	if n := len(evs.of(engine.CheckEvaluated)); n != 11 {
		t.Errorf("want 11 check results (the relationships test belongs to orders, not requested), got %d", n)
	}
	failed := evs.byCheck(t, "customers", "accepted_values_customers_first_name__Jane")
	if *failed.Passed || failed.Severity != "error" || failed.Metadata["failures"] != int64(78) || failed.Message != "Got 78 results, configured to fail if != 0" || !failed.Blocking {
		t.Errorf("failed check: %+v", failed)
	}
	if ok := evs.byCheck(t, "stg_orders", "not_null_stg_orders_order_id"); !*ok.Passed {
		t.Errorf("passing check reported as failed: %+v", ok)
	}
	if s := evs.byAsset(t, "raw_customers"); s.Metadata["rows_affected"] != int64(100) || s.Metadata["message"] != "INSERT 100" {
		t.Errorf("seed metadata: %v", s.Metadata)
	}
	argv := f.calls(t)[0].Argv
	if argv[0] != "build" || !slices.Contains(argv, "--indirect-selection") || !strings.Contains(argv[2], "fqn:accepted_values_customers_first_name__Jane,resource_type:test") {
		t.Errorf("build argv should select the check tests exactly: %q", argv)
	}
	evs.golden(t, "build_test_fail")
}

func TestRunModelError(t *testing.T) {
	stream := recorded(t, "openlineage_pg_run_model_error.jsonl")
	specs := []asset.Spec{
		model("model.jaffle_shop.orders", "jaffle_shop", "orders"),
		model("model.jaffle_shop.order_facts", "jaffle_shop", "order_facts"),
	}
	evs, err, _, _ := runFake(t, Config{Command: "run"}, specs, fakeScript{Replay: stream, Exit: 1})
	if err == nil || !strings.Contains(err.Error(), `syntax error at or near "final"`) {
		t.Fatalf("want dbt's error in the step error, got %v", err)
	}
	o := evs.byAsset(t, "orders")
	if o.Type != engine.AssetFailed || !strings.HasPrefix(o.Message, "Database Error in model orders (models/orders.sql)") {
		t.Errorf("orders: %+v", o)
	}
	// A node dbt never reached after a failure is skipped, so a rerun from
	// failure runs it.
	if s := evs.byAsset(t, "order_facts"); s.Type != engine.AssetSkipped {
		t.Errorf("order_facts: %+v", s)
	}
	evs.golden(t, "run_model_error")
}

func TestFallbackRunResults(t *testing.T) {
	tests := []struct {
		name    string
		results string
		cmd     string
		specs   []asset.Spec
		exit    int
		check   func(t *testing.T, evs *events, err error)
	}{{
		name:    "warn test",
		results: "run_results_v6_test_warn.json",
		cmd:     "test",
		specs: []asset.Spec{withTests(model("model.fao_elt_pipeline.silver_production_cleaned", "fao_elt_pipeline", "silver", "silver_production_cleaned"),
			"test.fao_elt_pipeline.test_data_quality!warn",
			"test.fao_elt_pipeline.unique_silver_production_cleaned_production_id.3b195f0048")},
		check: func(t *testing.T, evs *events, err error) {
			if err != nil {
				t.Fatal(err)
			}
			w := evs.byCheck(t, "silver_production_cleaned", "test_data_quality")
			if *w.Passed || w.Severity != "warn" || w.Status != "warn" || w.Metadata["failures"] != int64(5) {
				t.Errorf("warn check: %+v", w)
			}
			if p := evs.byCheck(t, "silver_production_cleaned", "unique_silver_production_cleaned_production_id"); !*p.Passed {
				t.Errorf("pass check: %+v", p)
			}
			if len(evs.of(engine.AssetMaterialized))+len(evs.of(engine.AssetSkipped)) != 0 {
				t.Errorf("dbt test materializes nothing: %+v", evs.evs)
			}
		},
	}, {
		name:    "errors and skipped",
		results: "run_results_v6_run_error_skipped.json",
		cmd:     "run",
		exit:    1,
		specs: []asset.Spec{
			model("model.fao_elt_pipeline.silver_prices_cleaned", "fao_elt_pipeline", "silver", "silver_prices_cleaned"),
			model("model.fao_elt_pipeline.silver_production_cleaned", "fao_elt_pipeline", "silver", "silver_production_cleaned"),
			model("model.fao_elt_pipeline.gold_country_metrics", "fao_elt_pipeline", "gold", "gold_country_metrics"),
			model("model.fao_elt_pipeline.gold_regional_summary", "fao_elt_pipeline", "gold", "gold_regional_summary"),
		},
		check: func(t *testing.T, evs *events, err error) {
			if err == nil || !strings.Contains(err.Error(), "2 failed") {
				t.Fatalf("want 2 failures in the error, got %v", err)
			}
			if e := evs.byAsset(t, "silver_prices_cleaned"); e.Type != engine.AssetFailed || !strings.Contains(e.Message, `column "value" does not exist`) {
				t.Errorf("silver_prices_cleaned: %+v", e)
			}
			for _, k := range []string{"gold_country_metrics", "gold_regional_summary"} {
				if e := evs.byAsset(t, k); e.Type != engine.AssetSkipped || e.Message != "dbt skipped model.fao_elt_pipeline."+k {
					t.Errorf("%s: %+v", k, e)
				}
			}
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rr := recorded(t, tc.results)
			// No JSON log at all: an old dbt or a log that went elsewhere.
			evs, err, _, _ := runFake(t, Config{Command: tc.cmd}, tc.specs, fakeScript{RunResults: rr, Exit: tc.exit, Lines: []string{"Running with dbt=1.8.0"}})
			tc.check(t, evs, err)
			evs.golden(t, "fallback_"+strings.ReplaceAll(tc.name, " ", "_"))
		})
	}
}

// recordedSpecs loads the specs of testdata/real_project from the manifest
// that real dbt wrote (testdata/recorded, made by testdata/record.sh).
func recordedSpecs(t *testing.T, manifest string) []asset.Spec {
	t.Helper()
	specs, _, err := Load(context.Background(), Config{ProjectDir: abs(t, "testdata/real_project"), Manifest: abs(t, manifest)}, "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	return specs
}

// TestRecordedBuild replays testdata/recorded/build.jsonl, a `dbt build`
// by the real dbt 1.11 with dbt-duckdb: a model that fails, its child
// skipped, an error test that fails and blocks its model's child, a warn
// test and passing tests.
func TestRecordedBuild(t *testing.T) {
	var specs []asset.Spec
	for _, s := range recordedSpecs(t, "testdata/recorded/manifest_v12.json") {
		if !s.External && s.Key.String() != "eph" {
			specs = append(specs, s)
		}
	}
	evs, err, _, log := runFake(t, Config{}, specs, fakeScript{Replay: abs(t, "testdata/recorded/build.jsonl"), Exit: 1})
	if err == nil || !strings.Contains(err.Error(), "a_table_that_does_not_exist") || !strings.Contains(err.Error(), "not_null_checked_id") {
		t.Fatalf("want the model's and the test's failures, got %v", err)
	}
	for key, want := range map[string]engine.EventType{
		"raw_items": engine.AssetMaterialized, "stg_items": engine.AssetMaterialized, "items": engine.AssetMaterialized,
		"helper_days": engine.AssetMaterialized, "checked": engine.AssetMaterialized,
		"bad_model": engine.AssetFailed, "after_bad": engine.AssetSkipped, "after_checked": engine.AssetSkipped,
	} {
		if ev := evs.byAsset(t, key); ev.Type != want {
			t.Errorf("%s: %s %q, want %s", key, ev.Type, ev.Message, want)
		}
	}
	// dbt-duckdb's adapter response is only {"_message": "OK"}: no row count.
	if m := evs.byAsset(t, "items"); m.Metadata["relation"] != `"warehouse"."main"."items"` || m.Metadata["message"] != "OK" || m.Metadata["duration"] == nil {
		t.Errorf("items does not carry dbt's result metadata: %+v", m.Metadata)
	}
	w := evs.byCheck(t, "items", "accepted_values_items_amount_cents__150__200__325__400")
	if *w.Passed || w.Severity != "warn" || w.Metadata["failures"] != int64(1) {
		t.Errorf("warn check: %+v", w)
	}
	if c := evs.byCheck(t, "checked", "not_null_checked_id"); *c.Passed || c.Metadata["failures"] != int64(1) {
		t.Errorf("error check: %+v", c)
	}
	if n := len(evs.of(engine.CheckEvaluated)); n != 5 {
		t.Errorf("%d checks evaluated, want 5:\n%s", n, log)
	}
	evs.golden(t, "recorded_build")
}

func TestCouldNotRun(t *testing.T) {
	evs, err, _, _ := runFake(t, Config{}, jaffleModels()[:1], fakeScript{Replay: abs(t, "testdata/recorded/profile_error.jsonl"), Exit: 2})
	var se *StepError
	if !errors.As(err, &se) || se.ExitCode != 2 {
		t.Fatalf("want a StepError with exit 2, got %v", err)
	}
	if !strings.Contains(err.Error(), "does not have a target named 'missing'") || !strings.Contains(err.Error(), "could not run") {
		t.Errorf("the error should carry dbt's message: %v", err)
	}
	if len(evs.evs) != 0 {
		t.Errorf("dbt ran nothing; the engine fails the assets from the error, got %+v", evs.evs)
	}
}

func TestCouldNotStart(t *testing.T) {
	specs := jaffleModels()[:1]
	r, err := NewRunner(Config{ProjectDir: project(t), Executable: "/nonexistent/dbt"}, "/", specs)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := request(t, specs)
	err = r.Run(context.Background(), req, func(engine.Event) {})
	if err == nil || !strings.Contains(err.Error(), "could not start") {
		t.Fatalf("want a start error, got %v", err)
	}
}

func TestTextErrorExit2(t *testing.T) {
	_, err, _, _ := runFake(t, Config{}, jaffleModels()[:1], fakeScript{Lines: []string{"Usage: dbt build [OPTIONS]", "Error: No such option: --bogus"}, Exit: 2})
	if err == nil || !strings.Contains(err.Error(), "No such option: --bogus") {
		t.Fatalf("plain-text errors should reach the step error: %v", err)
	}
	// Only debug JSON lines: their text, not raw JSON, explains the exit.
	debug := `{"data": {"success": false}, "info": {"level": "debug", "msg": "Command ` + "`dbt build`" + ` failed at 10:00:02", "name": "CommandCompleted"}}`
	_, err, _, _ = runFake(t, Config{}, jaffleModels()[:1], fakeScript{Lines: []string{debug}, Exit: 2})
	if err == nil || !strings.Contains(err.Error(), "Command `dbt build` failed at 10:00:02") || strings.Contains(err.Error(), `"info"`) {
		t.Fatalf("err = %v", err)
	}
}

// TestCrashMidRun cuts the successful stream after the second model and
// exits without run_results.json, as a killed dbt would.
func TestCrashMidRun(t *testing.T) {
	stream := recorded(t, "openlineage_pg_run_success.jsonl")
	cut := lineAfter(t, stream, func(l logLine) bool {
		return l.Name == "NodeStart" && l.Node.UniqueID == "model.jaffle_shop.stg_payments"
	})
	evs, err, _, _ := runFake(t, Config{Command: "run"}, jaffleModels(), fakeScript{Replay: stream, ReplayMax: cut, Exit: 1})
	if err == nil {
		t.Fatal("want an error")
	}
	want := map[string]engine.EventType{
		"stg_customers": engine.AssetMaterialized,
		"stg_orders":    engine.AssetMaterialized,
		"stg_payments":  engine.AssetFailed,
		"customers":     engine.AssetSkipped,
		"orders":        engine.AssetSkipped,
	}
	for k, typ := range want {
		if e := evs.byAsset(t, k); e.Type != typ {
			t.Errorf("%s: got %s, want %s (%s)", k, e.Type, typ, e.Message)
		}
	}
}

// lineAfter returns how many lines of path precede and include the first
// line matching f.
func lineAfter(t *testing.T, path string, f func(logLine) bool) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if ll, err := parseLogLine([]byte(l)); err == nil && ll.Node != nil && f(ll) {
			return i + 1
		}
	}
	t.Fatalf("no matching line in %s", path)
	return 0
}

func TestCanceled(t *testing.T) {
	stream := recorded(t, "openlineage_pg_run_success.jsonl")
	cut := lineAfter(t, stream, func(l logLine) bool {
		return l.Name == "NodeStart" && l.Node.UniqueID == "model.jaffle_shop.stg_orders"
	})
	specs := jaffleModels()
	f := newFake(t, map[string]fakeScript{"": {Replay: stream, ReplayMax: cut, Sleep: "30s"}})
	r, err := NewRunner(Config{ProjectDir: project(t), Executable: f.exe, Command: "run"}, "/", specs)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := request(t, specs)
	ctx, cancel := context.WithTimeoutCause(context.Background(), 2*time.Second, errors.New("step timed out"))
	defer cancel()
	var evs events
	start := time.Now()
	err = r.Run(ctx, req, evs.emit)
	if err == nil || !strings.Contains(err.Error(), "step timed out") {
		t.Fatalf("want the timeout cause, got %v", err)
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("dbt was not stopped promptly")
	}
	if e := evs.byAsset(t, "stg_orders"); e.Type != engine.AssetFailed {
		t.Errorf("the node running when dbt was stopped failed: %+v", e)
	}
	if e := evs.byAsset(t, "orders"); e.Type != engine.AssetSkipped {
		t.Errorf("orders: %+v", e)
	}
}

func TestEnvAndArgv(t *testing.T) {
	specs := jaffleModels()[:2]
	proj := project(t)
	profiles := t.TempDir()
	f := newFake(t, map[string]fakeScript{"": {}})
	r, err := NewRunner(Config{
		ProjectDir: proj, ProfilesDir: profiles, Executable: f.exe, Command: "run",
		Target: "prod", Threads: 4, Vars: map[string]any{"region": "eu", "limits": map[string]any{"n": 3}},
		PartitionVars: PartitionVars{Start: "start_ts", End: "end_ts"},
	}, "/", specs)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := request(t, specs)
	req.Partition = &engine.Partition{Key: "2024-05-01",
		Start: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC)}
	req.Env = append(req.Env, "DBT_LOG_FORMAT=text", "DBT_TARGET_PATH=/elsewhere")
	for attempt := 1; attempt <= 2; attempt++ {
		req.Attempt = attempt
		if err := r.Run(context.Background(), req, func(engine.Event) {}); err != nil {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
	}
	calls := f.calls(t)
	if len(calls) != 2 {
		t.Fatalf("want 2 invocations, got %d", len(calls))
	}
	c := calls[0]
	wantEnv := map[string]string{
		"DBT_LOG_FORMAT":      "json",
		"DBT_PROFILES_DIR":    profiles,
		"DBT_PROJECT_DIR":     proj,
		"ELT_PARTITION_KEY":   "2024-05-01",
		"ELT_PARTITION_START": "2024-05-01T00:00:00Z",
		"ELT_PARTITION_END":   "2024-05-02T00:00:00Z",
	}
	for k, v := range wantEnv {
		if c.Env[k] != v {
			t.Errorf("env %s = %q, want %q", k, c.Env[k], v)
		}
	}
	t1, t2 := c.Env["DBT_TARGET_PATH"], calls[1].Env["DBT_TARGET_PATH"]
	if t1 == t2 || !strings.HasPrefix(t1, req.StepDir) || !strings.HasPrefix(t2, req.StepDir) {
		t.Errorf("DBT_TARGET_PATH must be unique per attempt under the step folder: %q, %q", t1, t2)
	}
	if !c.PartialParse {
		t.Errorf("partial_parse.msgpack was not copied into the attempt's target folder")
	}
	if c.Dir != proj {
		t.Errorf("dbt runs in the project folder, got %q", c.Dir)
	}
	i := slices.Index(c.Argv, "--vars")
	if i < 0 {
		t.Fatalf("no --vars in %q", c.Argv)
	}
	var vars map[string]any
	if err := json.Unmarshal([]byte(c.Argv[i+1]), &vars); err != nil {
		t.Fatal(err)
	}
	wantVars := map[string]any{"region": "eu", "limits": map[string]any{"n": 3.0}, "partition_key": "2024-05-01",
		"start_ts": "2024-05-01T00:00:00Z", "end_ts": "2024-05-02T00:00:00Z"}
	if fmt.Sprint(vars) != fmt.Sprint(wantVars) {
		t.Errorf("vars = %v, want %v", vars, wantVars)
	}
	for _, pair := range [][2]string{{"--target", "prod"}, {"--threads", "4"}} {
		if j := slices.Index(c.Argv, pair[0]); j < 0 || c.Argv[j+1] != pair[1] {
			t.Errorf("want %s %s in %q", pair[0], pair[1], c.Argv)
		}
	}
	if strings.Contains(strings.Join(c.Argv, " "), "hunter2secret") {
		t.Errorf("a secret reached argv: %q", c.Argv)
	}
	if c.Env["ELT_RESOURCE_WAREHOUSE_PASSWORD"] != "hunter2secret" {
		t.Errorf("resources reach dbt through the environment")
	}
}

func TestSelectorsFile(t *testing.T) {
	var specs []asset.Spec
	for i := range 230 {
		name := fmt.Sprintf("m%03d", i)
		specs = append(specs, model("model.big."+name, "big", "marts", name))
	}
	proj := project(t)
	evs, err, f, _ := runFake(t, Config{ProjectDir: proj}, specs, fakeScript{})
	if err != nil {
		t.Fatal(err)
	}
	c := f.calls(t)[0]
	if slices.Contains(c.Argv, "--select") || !slices.Equal(c.Argv[:3], []string{"build", "--selector", selectorName}) {
		t.Errorf("argv = %q", c.Argv)
	}
	if c.Env["DBT_PROJECT_DIR"] == proj {
		t.Errorf("the generated selectors.yml needs its own project root")
	}
	if _, err := os.Stat(filepath.Join(c.Env["DBT_PROJECT_DIR"], "dbt_project.yml")); err != nil {
		t.Errorf("the stand-in project root lacks dbt_project.yml: %v", err)
	}
	if _, err := os.Stat(filepath.Join(proj, "selectors.yml")); err == nil {
		t.Errorf("the user's project was modified")
	}
	var doc struct {
		Selectors []struct {
			Name       string `yaml:"name"`
			Definition struct {
				Union []map[string]string `yaml:"union"`
			} `yaml:"definition"`
		} `yaml:"selectors"`
	}
	if err := yaml.Unmarshal([]byte(c.Selectors), &doc); err != nil {
		t.Fatalf("selectors.yml: %v\n%s", err, c.Selectors)
	}
	if len(doc.Selectors) != 1 || doc.Selectors[0].Name != selectorName || len(doc.Selectors[0].Definition.Union) != 230 {
		t.Fatalf("selectors.yml: %s", c.Selectors)
	}
	first := doc.Selectors[0].Definition.Union[0]
	if first["method"] != "fqn" || first["value"] != "big.marts.m000" || first["indirect_selection"] != "empty" {
		t.Errorf("first selector: %v", first)
	}
	// dbt ran and reported nothing: every asset is skipped, none silently
	// counted as materialized.
	if len(evs.of(engine.AssetSkipped)) != 230 {
		t.Errorf("want 230 skipped, got %d", len(evs.of(engine.AssetSkipped)))
	}
}

func TestCommandDoesNotMaterialize(t *testing.T) {
	specs := []asset.Spec{
		model("seed.jaffle_shop.raw_orders", "jaffle_shop", "raw_orders"),
		model("model.jaffle_shop.orders", "jaffle_shop", "orders"),
	}
	evs, _, f, _ := runFake(t, Config{Command: "seed"}, specs, fakeScript{})
	if e := evs.byAsset(t, "orders"); e.Type != engine.AssetSkipped || !strings.Contains(e.Message, "dbt seed does not materialize models") {
		t.Errorf("orders: %+v", e)
	}
	if argv := f.calls(t)[0].Argv; !slices.Equal(argv, []string{"seed", "--select", "fqn:jaffle_shop.raw_orders"}) {
		t.Errorf("argv = %q", argv)
	}
}

func TestRedactsSecrets(t *testing.T) {
	lines := []string{`{"data": {"exc": "Runtime Error\n  password authentication failed: hunter2secret"}, "info": {"level": "error", "msg": "Encountered an error:\nRuntime Error\n  password authentication failed: hunter2secret", "name": "MainEncounteredError"}}`}
	_, err, _, _ := runFake(t, Config{}, jaffleModels()[:1], fakeScript{Lines: lines, Exit: 2})
	if err == nil || strings.Contains(err.Error(), "hunter2secret") || !strings.Contains(err.Error(), "****") {
		t.Errorf("secret values must be redacted from errors: %v", err)
	}
}

func abs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestPartitionViaEnv: with partition_vars.via: env the window reaches dbt
// only as ELT_PARTITION_* variables; --vars carries the configured vars
// alone, so it is the same for every partition and dbt keeps its partial
// parse.
func TestPartitionViaEnv(t *testing.T) {
	specs := jaffleModels()[:1]
	f := newFake(t, map[string]fakeScript{"": {}})
	cfg := Config{ProjectDir: project(t), Executable: f.exe, Vars: map[string]any{"region": "eu"}, PartitionVars: PartitionVars{Via: PartitionViaEnv}}
	r, err := NewRunner(cfg, "/", specs)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := request(t, specs)
	for i, day := range []int{1, 2} {
		req.Attempt = i + 1
		req.Partition = &engine.Partition{Key: fmt.Sprintf("2024-05-0%d", day),
			Start: time.Date(2024, 5, day, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 5, day+1, 0, 0, 0, 0, time.UTC)}
		if err := r.Run(context.Background(), req, func(engine.Event) {}); err != nil {
			t.Fatal(err)
		}
	}
	calls := f.calls(t)
	for i, c := range calls {
		argv := strings.Join(c.Argv, " ")
		if !strings.Contains(argv, `--vars {"region":"eu"}`) || strings.Contains(argv, "partition_key") || strings.Contains(argv, "min_date") {
			t.Errorf("call %d: argv %s", i, argv)
		}
		if want := fmt.Sprintf("2024-05-0%dT00:00:00Z", i+1); c.Env["ELT_PARTITION_START"] != want {
			t.Errorf("call %d: ELT_PARTITION_START %q, want %q", i, c.Env["ELT_PARTITION_START"], want)
		}
		// Microbatch models get the window from dbt's own flags.
		if want := fmt.Sprintf("--event-time-start 2024-05-0%dT00:00:00 --event-time-end 2024-05-0%dT00:00:00", i+1, i+2); !strings.Contains(argv, want) {
			t.Errorf("call %d: argv %s lacks %s", i, argv, want)
		}
	}
	bad := cfg
	bad.PartitionVars.Via = "flags"
	if errs := bad.Validate(); len(errs) != 1 || !strings.Contains(errs[0].Error(), `partition_vars.via "flags" must be vars`) {
		t.Errorf("validate: %v", errs)
	}
}
