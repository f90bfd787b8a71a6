package duckdb

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
)

// A new DuckDB file whose folder does not exist yet (data/ in a fresh clone)
// is created with its folder.
func TestNewFileInMissingFolder(t *testing.T) {
	p := newTestProject(t)
	p.res["warehouse"] = engine.Resource{Name: "warehouse", Type: "duckdb", Config: map[string]string{"path": "new/deeper/warehouse.duckdb"}}
	key := asset.MustKey("one")
	p.mustRun(map[asset.Key]AssetConfig{key: {SQL: "SELECT 1 AS x"}}, nil, key)
	if _, err := os.Stat(filepath.Join(p.dir, "new", "deeper", "warehouse.duckdb")); err != nil {
		t.Fatalf("the file was not created: %v", err)
	}
}

// An asset key whose first part is the DuckDB file's name (raw/orders in
// raw.duckdb) names a schema that is also the catalog's name: unqualified,
// DuckDB calls "raw"."orders" ambiguous. Materializing, ref() and checks all
// work, through the catalog-qualified relation.
func TestKeyNamedLikeTheCatalog(t *testing.T) {
	p := newTestProject(t)
	p.res["warehouse"] = engine.Resource{Name: "warehouse", Type: "duckdb", Config: map[string]string{"path": "data/raw.duckdb"}}
	orders, daily := asset.MustKey("raw", "orders"), asset.MustKey("raw", "daily")
	assets := map[asset.Key]AssetConfig{
		orders: {SQL: "SELECT * FROM (VALUES (1, DATE '2024-01-01'), (2, DATE '2024-01-01'), (3, DATE '2024-01-02')) t(id, day)"},
		daily:  {SQL: `SELECT day, count(*) AS n FROM {{ ref("raw/orders") }} GROUP BY day`},
	}
	md := p.mustRun(assets, nil, orders, daily)
	if got, want := md[orders]["relation"], `"raw"."raw"."orders"`; got != want {
		t.Errorf("relation = %v, want %v", got, want)
	}
	if got := md[daily]["rows"]; got != int64(2) {
		t.Errorf("raw/daily rows = %v, want 2", got)
	}
	// Re-running replaces the tables (CREATE OR REPLACE on the qualified name).
	p.mustRun(assets, nil, orders, daily)

	// Checks read the same table, by key or by the relation in metadata.
	four := int64(4)
	for _, m := range []map[string]any{nil, md[orders]} {
		res := runCheck(t, p, orders, m, CheckConfig{Type: CheckUnique, Column: "id"})
		if !res.Passed {
			t.Errorf("unique(id) with metadata %v: %+v", m, res)
		}
		res = runCheck(t, p, orders, m, CheckConfig{Type: CheckRowCount, Min: &four})
		if res.Passed {
			t.Errorf("row_count min 4 on 3 rows passed: %+v", res)
		}
	}
}
