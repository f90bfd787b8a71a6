package duckdb

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"testing"
)

// TableColumns reads columns in their order with DuckDB's types, keeps
// tables of the same name in different schemas apart, and leaves out
// what does not exist.
func TestTableColumns(t *testing.T) {
	dir := t.TempDir()
	rc := ResourceConfig{Path: "w.duckdb"}
	ctx := context.Background()
	missing, err := rc.TableColumns(ctx, dir, []TableRef{{"main", "t"}})
	if err != nil || len(missing) != 0 {
		t.Fatalf("missing file: %v, %v; want nothing and no error", missing, err)
	}
	db, err := sql.Open("duckdb", filepath.Join(dir, "w.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"CREATE SCHEMA raw", "CREATE TABLE raw.orders (id BIGINT, amount DECIMAL(10,2), placed TIMESTAMP)",
		"CREATE TABLE main.orders (x VARCHAR)", "CREATE VIEW raw.v AS SELECT id, CAST(placed AS DATE) AS d FROM raw.orders",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	got, err := rc.TableColumns(ctx, dir, []TableRef{{"raw", "orders"}, {"raw", "v"}, {"raw", "nope"}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[TableRef][]CatalogColumn{
		{"raw", "orders"}: {{"id", "BIGINT"}, {"amount", "DECIMAL(10,2)"}, {"placed", "TIMESTAMP"}},
		{"raw", "v"}:      {{"id", "BIGINT"}, {"d", "DATE"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	// The file was opened read-only and closed: a writer can open it.
	db, err = sql.Open("duckdb", filepath.Join(dir, "w.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("INSERT INTO main.orders VALUES ('a')"); err != nil {
		t.Fatalf("write after the catalog read: %v", err)
	}
}
