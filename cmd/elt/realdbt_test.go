package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eltproject/elt/internal/testenv"
)

// TestRealDBTEndToEnd drives the real dbt through the elt command line on
// the dbt integration's test project: `elt sync --prepare` (real dbt deps
// of a local package and dbt parse), `elt run` with a failing model and a
// failing test, a fix and `elt run --from-failure`, and `--selector`.
func TestRealDBTEndToEnd(t *testing.T) {
	testenv.Slow(t, "runs the real dbt")
	dbt := testenv.Tool(t, "dbt")
	// dbt would try to send usage events over the network; tests stay off it.
	t.Setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
	dir := t.TempDir()
	proj := filepath.Join(dir, "transform")
	if err := os.CopyFS(proj, os.DirFS("../../integrations/dbt/testdata/real_project")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "elt.yaml"), []byte("name: e2e\ndbt:\n  - project_dir: transform\n    executable: "+dbt+"\n    threads: 2\n"), 0o644)

	out, errOut, code := elt(t, dir, "sync", "--prepare")
	if code != 0 {
		t.Fatalf("sync --prepare: exit %d\n%s\n%s", code, out, errOut)
	}
	all := out + errOut
	for _, want := range []string{"dbt deps", "dbt parse", "first sync"} {
		if !strings.Contains(all, want) {
			t.Errorf("sync --prepare output lacks %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "\x1b[") {
		t.Errorf("dbt's colours reached elt's output:\n%q", all)
	}

	evs, code := runEvents(t, dir)
	if code != 1 {
		t.Fatalf("run: exit %d, want 1", code)
	}
	st := assetStatus(evs)
	for key, want := range map[string]string{
		"raw_items": "materialized", "items": "materialized", "helper_days": "materialized",
		"bad_model": "failed", "after_bad": "skipped", "checked": "materialized", "after_checked": "skipped",
	} {
		if st[key] != want {
			t.Errorf("%s: %q, want %q (all %v)", key, st[key], want, st)
		}
	}
	if n := countRows(t, filepath.Join(proj, "warehouse.duckdb"), "items"); n != 5 {
		t.Errorf("items has %d rows, want 5", n)
	}

	// Fix the model; --from-failure runs only what failed or was skipped.
	os.WriteFile(filepath.Join(proj, "models", "bad_model.sql"), []byte("select 1 as id\n"), 0o644)
	evs2, _ := runEvents(t, dir, "--from-failure", lastRunID(evs))
	st2 := assetStatus(evs2)
	if st2["bad_model"] != "materialized" || st2["after_bad"] != "materialized" {
		t.Errorf("from-failure: %v", st2)
	}
	for _, k := range []string{"raw_items", "stg_items", "items", "helper_days"} {
		if _, ran := st2[k]; ran {
			t.Errorf("from-failure ran %s again: %v", k, st2)
		}
	}
	if n := countRows(t, filepath.Join(proj, "warehouse.duckdb"), "after_bad"); n != 1 {
		t.Errorf("after_bad has %d rows, want 1", n)
	}

	evs3, code := runEvents(t, dir, "--selector", "helpers")
	if st3 := assetStatus(evs3); code != 0 || len(st3) != 1 || st3["helper_days"] != "materialized" {
		t.Errorf("--selector helpers: exit %d, %v", code, st3)
	}
}

func countRows(t *testing.T, path, table string) int {
	t.Helper()
	db, err := sql.Open("duckdb", path+"?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("select count(*) from main." + table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}
