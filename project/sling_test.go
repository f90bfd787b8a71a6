package project

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/eltproject/elt/asset"
)

// Partitioned streams read through a DuckDB source (Sling ignores --range
// on file streams, so elt refuses a window on them).
const slingFile = `source: FILES
target: WAREHOUSE
defaults:
  mode: incremental
  primary_key: [id]
  update_key: updated_at
streams:
  customers:
    sql: "select * from read_csv('data/customers.csv') where {incremental_where_cond}"
    object: raw.customers
  orders:
    sql: "select * from read_csv('data/orders.csv') where {incremental_where_cond}"
    object: raw.orders
    meta: {elt: {partitions: monthly}}
`

// A sling: entry carries asset settings for all its streams and per
// stream, and typed checks on its assets read the Sling object (or the
// check's relation:).
func TestSlingEntrySettingsAndCheckRelation(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "sling/r.yaml", slingFile)
	path := write(t, dir, FileName, `
name: demo
resources:
  WAREHOUSE: {type: duckdb, path: wh.duckdb}
  FILES: {type: duckdb, path: files.duckdb}
partitions:
  daily: {type: daily, start: 2024-01-01}
  monthly: {type: monthly, start: 2024-01-01}
sling:
  - replication: sling/r.yaml
    group: raw
    tags: [sling]
    owners: [data@example.com]
    partitions: daily
    pool: files
    retries: 2
    timeout: 10m
    streams:
      customers: {tags: [pii], owners: [crm@example.com], group: crm}
pools: {files: 1}
checks:
  - {asset: target/raw/customers, type: not_null, column: id}
  - {asset: target/raw/orders, type: unique, column: id, relation: staging.orders_dedup}
`)
	p, err := Load(context.Background(), path, Options{Getenv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	cust, ok1 := p.Graph.Spec(asset.MustKey("target", "raw", "customers"))
	orders, ok2 := p.Graph.Spec(asset.MustKey("target", "raw", "orders"))
	if !ok1 || !ok2 {
		t.Fatalf("assets: %v", p.Graph.Keys())
	}
	if cust.Partitions != "daily" || cust.Group != "crm" || !slices.Equal(cust.Tags, []string{"pii", "sling"}) || !slices.Equal(cust.Owners, []string{"crm@example.com"}) {
		t.Errorf("customers: partitions %q group %q tags %v owners %v", cust.Partitions, cust.Group, cust.Tags, cust.Owners)
	}
	if orders.Partitions != "monthly" || orders.Group != "raw" || !slices.Equal(orders.Tags, []string{"sling"}) || !slices.Equal(orders.Owners, []string{"data@example.com"}) {
		t.Errorf("orders: partitions %q (meta wins) group %q tags %v owners %v", orders.Partitions, orders.Group, orders.Tags, orders.Owners)
	}
	if rel := cust.Metadata["relation"]; rel != "raw.customers" {
		t.Errorf("customers relation metadata %v, want raw.customers", rel)
	}
	f := p.Families[cust.Step]
	if f == nil || f.Retry.MaxRetries != 2 || f.Timeout.Minutes() != 10 || !slices.Contains(f.Pools, "files") || !slices.Contains(f.Pools, "duckdb:"+filepath.Join(dir, "wh.duckdb")) {
		t.Errorf("step settings not applied: %+v", f)
	}
	cs, ok := orders.Check("unique_id")
	if !ok {
		t.Fatalf("checks on orders: %v", orders.Checks)
	}
	if cfg := cs.Metadata["config"]; !strings.Contains(fmt.Sprint(cfg), "staging.orders_dedup") {
		t.Errorf("relation: not kept in the check config: %v", cfg)
	}
}

func TestSlingEntryUnknownStream(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "sling/r.yaml", slingFile)
	path := write(t, dir, FileName, `
name: demo
resources:
  WAREHOUSE: {type: duckdb, path: wh.duckdb}
sling:
  - replication: sling/r.yaml
    streams:
      file:///data/custmers.csv: {tags: [pii]}
`)
	_, err := Load(context.Background(), path, Options{Getenv: func(string) (string, bool) { return "", false }})
	if err == nil || !strings.Contains(err.Error(), "file:///data/custmers.csv is not a stream of the file") {
		t.Fatalf("err = %v", err)
	}
	// Reported at the stream's key inside streams: (line 8 of the file,
	// which starts with an empty line), and the kind is not repeated.
	msg := err.Error()
	if !strings.Contains(msg, "elt.yaml:8: sling sling/r.yaml: streams: file:///data/custmers.csv") {
		t.Errorf("not at the stream's line: %q", msg)
	}
	if strings.Contains(msg, "sling: sling") {
		t.Errorf("repeated prefix: %q", msg)
	}
}
