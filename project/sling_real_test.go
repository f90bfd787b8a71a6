package project

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"testing"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/internal/testenv"
)

// The real Sling through elt: a partitioned stream loads one day into the
// warehouse, and typed checks on its asset read the table Sling loaded
// (and the one a check's relation: names).
func TestRealSlingThroughElt(t *testing.T) {
	sling := testenv.Tool(t, "sling")
	dir := t.TempDir()
	db, err := sql.Open("duckdb", filepath.Join(dir, "src.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`create table main.customers as select * from (values
			(1, 'ana', timestamp '2024-01-01 10:00:00'),
			(2, 'bo',  timestamp '2024-01-02 00:00:00'),
			(3, 'cy',  timestamp '2024-01-01 23:59:59.999999')) t(id, name, updated_at)`,
		`create schema staging`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	write(t, dir, "sling/r.yaml", `source: SOURCE_DB
target: WAREHOUSE
streams:
  main.customers:
    object: raw.customers
    mode: incremental
    primary_key: [id]
    update_key: updated_at
`)
	path := write(t, dir, FileName, `
name: demo
resources:
  WAREHOUSE: {type: duckdb, path: wh.duckdb}
  SOURCE_DB: {type: duckdb, path: src.duckdb}
partitions:
  daily: {type: daily, start: 2024-01-01}
sling:
  - replication: sling/r.yaml
    executable: `+sling+`
    partitions: daily
    retries: 1         # Sling 1.4.11 sometimes misreads the duckdb CLI under load
    timeout: 2m
checks:
  - {asset: target/raw/customers, type: row_count, min: 2, max: 2}
  - {asset: target/raw/customers, name: ids_unique, type: unique, column: id}
  - {asset: target/raw/customers, name: other_table, type: row_count, min: 1, relation: raw.customers_missing}
`)
	p, err := Load(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := p.OpenStore(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var mu sync.Mutex
	checks := map[string]engine.Event{}
	res, err := p.Run(context.Background(), st, RunOptions{Partition: "2024-01-01", Observe: func(e engine.Event) {
		if e.Type == engine.CheckEvaluated {
			mu.Lock()
			checks[e.Check] = e
			mu.Unlock()
		}
	}})
	if err != nil && res == nil {
		t.Fatal(err)
	}
	if res.Assets[asset.MustKey("target", "raw", "customers")] != engine.StatusSucceeded {
		t.Fatalf("run: %+v (%v)", res, err)
	}
	for _, name := range []string{"row_count", "ids_unique"} {
		if e, ok := checks[name]; !ok || e.Passed == nil || !*e.Passed {
			t.Errorf("check %s on the Sling-loaded raw.customers: %+v (all: %v)", name, e, checks)
		}
	}
	if e, ok := checks["other_table"]; ok && e.Passed != nil && *e.Passed {
		t.Errorf("the relation: override was not used: %+v", e)
	}
}
