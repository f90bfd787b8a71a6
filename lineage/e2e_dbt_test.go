package lineage_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eltproject/elt/internal/testenv"
	"github.com/eltproject/elt/lineage/lineagetest"
	"github.com/eltproject/elt/project"
)

// TestRealDBTLineage runs the real dbt (DuckDB adapter) on a small
// project of its own (testdata/dbt_project) through elt and checks the model's events:
// DuckDB dataset names from the dbt relation, the compiled SQL and its
// column lineage.
func TestRealDBTLineage(t *testing.T) {
	testenv.Slow(t, "runs the real dbt")
	dbt := testenv.Tool(t, "dbt")
	v := lineagetest.Load(t)
	r := newReceiver(t)
	dir := t.TempDir()
	shop := filepath.Join(dir, "shop")
	if err := os.CopyFS(shop, os.DirFS(filepath.Join("testdata", "dbt_project"))); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", testenv.PathWithVenv())
	parse := exec.Command(dbt, "parse", "--project-dir", shop, "--profiles-dir", shop)
	parse.Dir = shop
	if out, err := parse.CombinedOutput(); err != nil {
		t.Fatalf("dbt parse: %v\n%s", err, out)
	}
	y := "name: shopproj\nresources:\n  warehouse: {type: duckdb, path: shop/shop.duckdb}\ndbt:\n  - project_dir: shop\n" +
		"openlineage:\n  transport: {type: http, url: " + r.srv.URL + "}\n"
	if err := os.WriteFile(filepath.Join(dir, "elt.yaml"), []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := project.Load(context.Background(), filepath.Join(dir, "elt.yaml"), project.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if status := runQuickstart(t, p); status != "succeeded" {
		t.Fatalf("dbt run %s", status)
	}
	evs := decodeAll(t, v, r.events)
	var found bool
	for _, e := range evs {
		if e.EventType != "COMPLETE" || e.Job.Name == "shopproj" {
			continue
		}
		var sql struct{ Query string }
		_ = json.Unmarshal(e.Job.Facets["sql"], &sql)
		for _, o := range e.Outputs {
			if o.Name != "shop.main.items" {
				continue
			}
			found = true
			if want := "duckdb://" + filepath.ToSlash(filepath.Join(dir, "shop", "shop.duckdb")); o.Namespace != want {
				t.Errorf("items namespace %s, want %s", o.Namespace, want)
			}
			if !strings.Contains(sql.Query, `"shop"."main"."stg_items"`) {
				t.Errorf("sql facet %q is not dbt's compiled SQL", sql.Query)
			}
			cl := string(o.Facets["columnLineage"])
			if !strings.Contains(cl, `"loaded_from":{"inputFields":[{"namespace":"`+o.Namespace+`","name":"shop.main.stg_items","field":"loaded_from","transformations":[{"type":"DIRECT","subtype":"IDENTITY"}]}]}`) {
				t.Errorf("items columnLineage %s", cl)
			}
		}
	}
	if !found {
		t.Fatalf("no COMPLETE event with shop.main.items among %d events", len(evs))
	}
}
