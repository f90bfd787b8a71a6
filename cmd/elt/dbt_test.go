package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/eltproject/elt/internal/testenv"
)

// fixture returns a path under ../shared/fixtures; testenv stops the test
// when it is absent (a failure in CI).
func fixture(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join(testenv.Fixtures(t), rel)
	if _, err := os.Stat(p); err != nil {
		testenv.Missing(t, p, "the public fixtures are read from ../shared/fixtures")
	}
	return p
}

// TestSlimCIStateModified is the documented CI step: with --state pointing
// at production's manifest, state:modified+ selects the changed model and
// everything downstream of it.
func TestSlimCIStateModified(t *testing.T) {
	src := fixture(t, "dbt/jaffle_shop_classic_v9/manifest.json")
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	prod := filepath.Join(dir, "prod-artifacts")
	os.MkdirAll(prod, 0o755)
	os.WriteFile(filepath.Join(prod, "manifest.json"), raw, 0o644)
	// The branch changes stg_orders' SQL.
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	node := m["nodes"].(map[string]any)["model.jaffle_shop.stg_orders"].(map[string]any)
	node["raw_code"] = node["raw_code"].(string) + "\n-- changed"
	node["checksum"] = map[string]any{"name": "sha256", "checksum": "0000changed"}
	cur, _ := json.Marshal(m)
	os.MkdirAll(filepath.Join(dir, "jaffle", "target"), 0o755)
	os.WriteFile(filepath.Join(dir, "jaffle", "target", "manifest.json"), cur, 0o644)
	os.WriteFile(filepath.Join(dir, "jaffle", "dbt_project.yml"), []byte("name: jaffle_shop\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "elt.yaml"), []byte("name: ci\ndbt:\n  - project_dir: jaffle\n"), 0o644)

	out, errOut, code := elt(t, dir, "assets", "list", "-o", "json")
	if code != 0 {
		t.Fatalf("list: %d %s", code, errOut)
	}
	var all []assetJSON
	mustJSON(t, out, &all)
	if len(all) != 8 { // 5 models + 3 seeds
		t.Fatalf("%d dbt assets, want 8", len(all))
	}
	out, errOut, code = elt(t, dir, "--state", prod, "assets", "list", "-s", "state:modified+", "-o", "json")
	if code != 0 {
		t.Fatalf("state:modified+: %d %s", code, errOut)
	}
	var sel []assetJSON
	mustJSON(t, out, &sel)
	var keys []string
	for _, a := range sel {
		keys = append(keys, a.Key.String())
	}
	slices.Sort(keys)
	if strings.Join(keys, " ") != "customers orders stg_orders" {
		t.Fatalf("state:modified+ = %v", keys)
	}
	out, _, _ = elt(t, dir, "--state", prod, "plan", "-s", "state:modified+")
	if !strings.Contains(out, "1 step, 3 assets") {
		t.Fatalf("plan:\n%s", out)
	}
	// A change that touches no dbt node: nothing to run is success, and
	// the JUnit report still exists (CI uploads it).
	same := filepath.Join(dir, "same")
	os.MkdirAll(same, 0o755)
	os.WriteFile(filepath.Join(same, "manifest.json"), cur, 0o644)
	junit := filepath.Join(dir, "j.xml")
	if out, errOut, code := elt(t, dir, "--state", same, "run", "-s", "state:modified+", "--junit", junit); code != 0 || !strings.Contains(out, "0 steps") {
		t.Fatalf("no change: %d\n%s%s", code, out, errOut)
	}
	if b, _ := os.ReadFile(junit); !strings.Contains(string(b), "<testsuites>") {
		t.Errorf("junit %q", b)
	}
	if _, errOut, code := elt(t, dir, "assets", "list", "-s", "state:modified"); code != 2 || !strings.Contains(errOut, "pass --state DIR") {
		t.Fatalf("state: without --state: %d %s", code, errOut)
	}
}

// TestDbtBuildThroughEngine runs `elt run` on the jaffle_shop manifest with
// a stand-in dbt (a test double: a shell script replaying the recorded JSON
// log of a real `dbt build` in which one test failed) and checks what the
// run store learnt from it.
func TestDbtBuildThroughEngine(t *testing.T) {
	manifest := fixture(t, "dbt/jaffle_shop_classic_v9/manifest.json")
	stream := fixture(t, "dbt/recorded/openlineage_pg_build_test_fail.jsonl")
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "jaffle"), 0o755)
	os.WriteFile(filepath.Join(dir, "jaffle", "dbt_project.yml"), []byte("name: jaffle_shop\n"), 0o644)
	fake := filepath.Join(dir, "fake-dbt")
	os.WriteFile(fake, []byte("#!/bin/sh\necho \"$@\" > "+filepath.Join(dir, "argv.txt")+"\ncat "+stream+"\nexit 1\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "elt.yaml"), []byte("name: dbt\ndbt:\n  - project_dir: jaffle\n    manifest: "+manifest+"\n    executable: "+fake+"\n"), 0o644)
	evs, code := runEvents(t, dir, "-s", "+customers")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (a test failed)", code)
	}
	st := assetStatus(evs)
	for _, k := range []string{"raw_customers", "stg_customers", "stg_orders", "stg_payments", "customers"} {
		if st[k] != "materialized" {
			t.Errorf("%s = %q, want materialized (statuses %v)", k, st[k], st)
		}
	}
	// The test that failed in the recording is not in this manifest; the
	// tests that are became passed checks, and dbt's exit 1 failed the step.
	passed := map[string]bool{}
	stepFailed := false
	for _, ev := range evs {
		if ev["type"] == "check_evaluated" && ev["passed"] == true {
			passed[ev["check"].(string)] = true
		}
		if ev["type"] == "step_failed" {
			stepFailed = true
		}
	}
	if !passed["unique_customers_customer_id"] || !passed["not_null_stg_orders_order_id"] {
		t.Errorf("passed checks %v", passed)
	}
	if !stepFailed {
		t.Error("dbt's exit code 1 did not fail the step")
	}
	argv, _ := os.ReadFile(filepath.Join(dir, "argv.txt"))
	if !strings.HasPrefix(string(argv), "build") || !strings.Contains(string(argv), "--select") {
		t.Errorf("dbt argv %q", argv)
	}
}

// TestBadManifestExit2: a manifest that would silently change the graph is
// refused with exit 2, naming the file, the node and what to do.
func TestBadManifestExit2(t *testing.T) {
	const meta = `{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json", "project_name": "p"}, `
	model := func(id, extra string) string {
		return `"` + id + `": {"unique_id": "` + id + `", "resource_type": "model", "name": "` + id[len("model.p."):] + `", "package_name": "p", "fqn": ["p", "x"]` + extra + `}`
	}
	for _, tc := range []struct{ name, manifest, want string }{
		{"depends_on.nodes not a list", meta + `"nodes": {` + model("model.p.a", "") + `, ` + model("model.p.b", `, "depends_on": {"nodes": "model.p.a"}`) + `}}`,
			"node model.p.b: depends_on.nodes is a string, not a list"},
		{"depends_on a missing node", meta + `"nodes": {` + model("model.p.b", `, "depends_on": {"nodes": ["model.p.gone"]}`) + `}}`,
			`node model.p.b depends on "model.p.gone", which is not in the manifest`},
		{"resource_type 7", meta + `"nodes": {"model.p.a": {"unique_id": "model.p.a", "resource_type": 7}}}`,
			"node model.p.a: resource_type is 7, not a string"},
		{"nodes null", meta + `"nodes": null}`, `"nodes" is null, not an object`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := newProject(t, "name: bad\ndbt:\n  - project_dir: p\n")
			os.MkdirAll(filepath.Join(dir, "p", "target"), 0o755)
			os.WriteFile(filepath.Join(dir, "p", "dbt_project.yml"), []byte("name: p\n"), 0o644)
			os.WriteFile(filepath.Join(dir, "p", "target", "manifest.json"), []byte(tc.manifest), 0o644)
			_, errOut, code := elt(t, dir, "validate")
			if code != 2 {
				t.Fatalf("exit %d, want 2: %s", code, errOut)
			}
			for _, want := range []string{tc.want, "p/target/manifest.json", "re-run dbt parse"} {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr lacks %q:\n%s", want, errOut)
				}
			}
		})
	}
}

// TestValidateCountsLeftOutTests: tests that cannot become checks are
// counted by `elt validate`, with the reason, instead of vanishing.
func TestValidateCountsLeftOutTests(t *testing.T) {
	manifest, _ := filepath.Abs("../../integrations/dbt/testdata/recorded/manifest_v12.json")
	proj, _ := filepath.Abs("../../integrations/dbt/testdata/real_project")
	dir := newProject(t, "name: v\ndbt:\n  - project_dir: "+proj+"\n    manifest: "+manifest+"\n")
	out, errOut, code := elt(t, dir, "validate")
	if code != 0 {
		t.Fatalf("validate: %d %s", code, errOut)
	}
	for _, want := range []string{
		"dbt:elt_real: 3 dbt tests are not imported as checks:",
		"1 on sources (set source_tests: true in the dbt entry to import them): test.elt_real.source_not_null_raw_events_id.",
		"1 on ephemeral models (never built, so never checked): test.elt_real.not_null_eph_id.",
		"1 with no parent model, seed, snapshot or source: test.elt_real.no_parent",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
	dir = newProject(t, "name: v\ndbt:\n  - project_dir: "+proj+"\n    manifest: "+manifest+"\n    source_tests: true\n")
	out, _, _ = elt(t, dir, "validate")
	if !strings.Contains(out, "2 dbt tests are not imported") || strings.Contains(out, "on sources") {
		t.Errorf("with source_tests: true the source test is imported:\n%s", out)
	}
}

// recordedProject is an elt project over testdata/real_project of the dbt
// integration, with the manifest the real dbt wrote for it.
func recordedProject(t *testing.T, extra string) string {
	t.Helper()
	manifest, _ := filepath.Abs("../../integrations/dbt/testdata/recorded/manifest_v12.json")
	proj, _ := filepath.Abs("../../integrations/dbt/testdata/real_project")
	return newProject(t, "name: v\ndbt:\n  - project_dir: "+proj+"\n    manifest: "+manifest+"\n"+extra)
}

// TestDBTSelectionMethods: dbt's node selection methods mean what they
// mean in dbt on dbt assets.
func TestDBTSelectionMethods(t *testing.T) {
	dir := recordedProject(t, "resources:\n  warehouse: {type: duckdb, path: w.duckdb}\nassets:\n  - key: report\n    deps: [items]\n    sql: select 1\n")
	views := "after_bad after_checked bad_model checked helper_days items_env stg_items"
	for _, tc := range []struct{ sel, want string }{
		{"path:models/items.sql", "items"},
		// As in dbt, a source matches the path of the YAML file defining it.
		{"path:models", "after_bad after_checked bad_model checked items items_env raw/events stg_items"},
		{"path:models/sources.yml", "raw/events"},
		{"path:seeds", "raw_items"},
		{"resource_type:seed", "raw_items"},
		{"resource_type:source", "raw/events"},
		{"resource_type:test", "checked items"},
		{"config.materialized:table", "items"},
		{"config.materialized:view", views},
		{"config.tags:mart", "items"},
		{"config.materialized:table+", "items report"},
		{"source:raw", "raw/events"},
		{"source:raw.events", "raw/events"},
		{"fqn:elt_real.items", "items"},
		{"fqn:elt_helpers", "helper_days"},
		{"test_type:singular", "items"},
		{"test_type:generic", "checked items"},
		{"test_name:not_null", "checked items"},
		{"test_name:accepted_values", "items"},
		{"package:elt_helpers", "helper_days"},
		{"exposure:dashboard", "checked items"},
		{"+exposure:dashboard", "checked items raw_items stg_items"},
		{"package:elt_real,config.materialized:view", "after_bad after_checked bad_model checked items_env stg_items"},
	} {
		out, errOut, code := elt(t, dir, "assets", "list", "-s", tc.sel, "-o", "json")
		if code != 0 {
			t.Errorf("%s: exit %d: %s", tc.sel, code, errOut)
			continue
		}
		var got []assetJSON
		mustJSON(t, out, &got)
		var keys []string
		for _, a := range got {
			keys = append(keys, a.Key.String())
		}
		slices.Sort(keys)
		if strings.Join(keys, " ") != tc.want {
			t.Errorf("%s selects %v, want %s", tc.sel, keys, tc.want)
		}
	}
	for sel, want := range map[string]string{
		"resource_type:table":   "resource_type:table is not a dbt resource type",
		"config:materialized":   "config.<key>",
		"exposure:nope":         "no dbt exposure has that name; exposures: dashboard",
		"test_type:integration": "use generic, singular or unit",
	} {
		_, errOut, code := elt(t, dir, "assets", "list", "-s", sel)
		if code != 2 || !strings.Contains(errOut, want) {
			t.Errorf("%s: exit %d, want 2 and %q:\n%s", sel, code, want, errOut)
		}
	}
	// Without dbt: a clear error.
	plain := newProject(t, "name: plain\nresources:\n  warehouse: {type: duckdb, path: w.duckdb}\nassets:\n  - key: a\n    sql: select 1\n")
	_, errOut, code := elt(t, plain, "assets", "list", "-s", "path:models")
	if code != 2 || !strings.Contains(errOut, "path: is a dbt selection method, and no asset of this project comes from dbt") {
		t.Errorf("path: without dbt: exit %d %s", code, errOut)
	}
}

// TestDBTSelectorFlag: --selector NAME evaluates the dbt project's
// selectors.yml, in each of its definition forms.
func TestDBTSelectorFlag(t *testing.T) {
	dir := recordedProject(t, "")
	for name, want := range map[string]string{
		"marts":                 "items stg_items",
		"helpers":               "helper_days",
		"checked_and_children":  "after_checked checked",
		"own_views_that_work":   "after_checked checked items_env stg_items",
		"via_selector":          "helper_days",
		"items_without_parents": "items stg_items",
	} {
		out, errOut, code := elt(t, dir, "assets", "list", "--selector", name, "-o", "json")
		if code != 0 {
			t.Errorf("--selector %s: exit %d: %s", name, code, errOut)
			continue
		}
		var got []assetJSON
		mustJSON(t, out, &got)
		var keys []string
		for _, a := range got {
			keys = append(keys, a.Key.String())
		}
		slices.Sort(keys)
		if strings.Join(keys, " ") != want {
			t.Errorf("--selector %s selects %v, want %s", name, keys, want)
		}
	}
	out, _, code := elt(t, dir, "assets", "list", "--selector", "marts", "--exclude", "stg_items", "-o", "json")
	var got []assetJSON
	mustJSON(t, out, &got)
	if code != 0 || len(got) != 1 || got[0].Key.String() != "items" {
		t.Errorf("--selector with --exclude: %d %v", code, got)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--selector", "nope"}, `has no selector "nope"; it defines: marts, helpers`},
		{[]string{"--selector", "marts", "-s", "items"}, "--selector takes the place of --select"},
	} {
		_, errOut, code := elt(t, dir, append([]string{"assets", "list"}, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, want 2 and %q: %s", tc.args, code, tc.want, errOut)
		}
	}
}

// TestSyncReportsMetadataChanges: tags, group, owners and description
// change what jobs select; `elt sync` reports them.
func TestSyncReportsMetadataChanges(t *testing.T) {
	dir := newProject(t, `
name: sync
assets:
  - {key: a, command: "echo a", tags: [nightly], group: core, owners: [ann@example.com], description: "A"}
  - {key: b, command: "echo b", tags: [nightly]}
`)
	if _, errOut, code := elt(t, dir, "sync"); code != 0 {
		t.Fatalf("first sync: %d %s", code, errOut)
	}
	os.WriteFile(filepath.Join(dir, "elt.yaml"), []byte(`
name: sync
assets:
  - {key: a, command: "echo a", tags: [hourly], group: marts, owners: [bob@example.com], description: "A, now documented"}
  - {key: b, command: "echo b", tags: [nightly]}
`), 0o644)
	out, _, _ := elt(t, dir, "sync", "-o", "json")
	var res struct {
		Changes []struct {
			Key    []string `json:"key"`
			Change string   `json:"change"`
			What   []string `json:"what"`
		} `json:"changes"`
	}
	mustJSON(t, out, &res)
	if len(res.Changes) != 1 || strings.Join(res.Changes[0].Key, "/") != "a" ||
		strings.Join(res.Changes[0].What, ",") != "tags,group,owners,description" {
		t.Errorf("changes: %+v", res.Changes)
	}
}
