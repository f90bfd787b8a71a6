package lineage_test

import (
	"bytes"
	"encoding/json"
	"github.com/eltproject/elt/lineage/lineagetest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/lineage"
)

// observe feeds synthetic engine events through an Observer writing to a
// console transport and returns the validated events.
func observe(t *testing.T, o lineage.Options, evs []engine.Event) []map[string]any {
	t.Helper()
	v := lineagetest.Load(t)
	var buf bytes.Buffer
	tr, _ := lineage.NewTransport(lineage.TransportConfig{Type: "console"}, "", &buf)
	o.Emitter = lineage.NewEmitter(tr, lineage.EmitterOptions{})
	ob := lineage.NewObserver(o)
	for _, ev := range evs {
		ob.Observe(ev)
	}
	ob.Close(5 * time.Second)
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		v.Validate(t, line)
		var m map[string]any
		_ = json.Unmarshal(line, &m)
		out = append(out, m)
	}
	return out
}

func summary(evs []map[string]any) []string {
	var s []string
	for _, e := range evs {
		s = append(s, e["eventType"].(string)+" "+e["job"].(map[string]any)["name"].(string))
	}
	return s
}

func TestObserverRetryCancelPartition(t *testing.T) {
	k := asset.MustKey("orders")
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	part := &engine.Partition{Key: "2024-01-01", Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)}
	o := lineage.Options{Namespace: "ns", Job: "nightly", RunID: "r1", Trigger: "schedule:nightly", Partition: part,
		Steps:  map[string][]asset.Key{"orders": {k}},
		Assets: map[asset.Key]*lineage.Asset{k: {Key: k, Dataset: lineage.DatasetID{Namespace: "duckdb:///w.duckdb", Name: "w.main.orders"}, Owners: []string{"team:data"}}}}
	evs := observe(t, o, []engine.Event{
		{Type: engine.RunStarted, Time: now},
		{Type: engine.StepStarted, Time: now, StepID: "orders", Attempt: 1},
		{Type: engine.StepStarted, Time: now, StepID: "orders", Attempt: 2},
		{Type: engine.RunCanceled, Time: now, Message: "interrupted"},
	})
	got := strings.Join(summary(evs), ", ")
	want := "START nightly, START orders, RUNNING orders, ABORT orders, ABORT nightly"
	if got != want {
		t.Fatalf("events %s, want %s", got, want)
	}
	nt := evs[0]["run"].(map[string]any)["facets"].(map[string]any)["nominalTime"].(map[string]any)
	if nt["nominalStartTime"] != "2024-01-01T00:00:00Z" || nt["nominalEndTime"] != "2024-01-02T00:00:00Z" {
		t.Errorf("nominalTime %v", nt)
	}
	params, _ := json.Marshal(evs[0]["run"].(map[string]any)["facets"].(map[string]any)["executionParameters"])
	if !strings.Contains(string(params), `"elt.partition"`) || !strings.Contains(string(params), "2024-01-01") {
		t.Errorf("executionParameters %s lack the partition", params)
	}
	own, _ := json.Marshal(evs[1]["job"].(map[string]any)["facets"].(map[string]any)["ownership"])
	if !strings.Contains(string(own), "team:data") {
		t.Errorf("ownership %s", own)
	}
}

func TestObserverStepFailure(t *testing.T) {
	k := asset.MustKey("orders")
	now := time.Now()
	o := lineage.Options{Namespace: "ns", Job: "proj", RunID: "r2",
		Steps:  map[string][]asset.Key{"orders": {k}},
		Assets: map[asset.Key]*lineage.Asset{k: {Key: k, Dataset: lineage.DatasetID{Namespace: "ns", Name: "orders"}}}}
	evs := observe(t, o, []engine.Event{
		{Type: engine.RunStarted, Time: now},
		{Type: engine.StepStarted, Time: now, StepID: "orders", Attempt: 1},
		{Type: engine.StepFailed, Time: now, StepID: "orders", Status: engine.StatusFailed, Message: "exit status 3"},
		{Type: engine.StepSkipped, Time: now, StepID: "later", Status: engine.StatusSkipped},
		{Type: engine.RunFailed, Time: now, Status: engine.StatusFailed},
	})
	got := strings.Join(summary(evs), ", ")
	if got != "START proj, START orders, FAIL orders, FAIL proj" {
		t.Fatalf("events %s", got)
	}
	for _, i := range []int{2, 3} {
		em := evs[i]["run"].(map[string]any)["facets"].(map[string]any)["errorMessage"].(map[string]any)
		if !strings.Contains(em["message"].(string), "exit status 3") {
			t.Errorf("event %d errorMessage %v", i, em)
		}
	}
	if _, ok := evs[0]["run"].(map[string]any)["facets"].(map[string]any)["nominalTime"]; ok {
		t.Error("a manual, unpartitioned run has a nominalTime")
	}
}

// TestObserverCompiledSQL: a dbt model's compiled SQL, written during the
// step, becomes the sql facet and its column lineage.
func TestObserverCompiledSQL(t *testing.T) {
	dir := t.TempDir()
	compiled := filepath.Join(dir, "orders.sql")
	ns := "duckdb:///shop.duckdb"
	items, orders := asset.MustKey("stg_items"), asset.MustKey("orders")
	o := lineage.Options{Namespace: "ns", Job: "shop", RunID: "r3",
		Steps: map[string][]asset.Key{"dbt": {orders}},
		Deps:  func(asset.Key) []asset.Key { return []asset.Key{items} },
		Assets: map[asset.Key]*lineage.Asset{
			items:  {Key: items, Dataset: lineage.DatasetID{Namespace: ns, Name: "shop.main.stg_items"}, Columns: []lineage.Column{{Name: "order_id"}, {Name: "price"}}},
			orders: {Key: orders, Dataset: lineage.DatasetID{Namespace: ns, Name: "shop.main.orders"}, CompiledFile: func(string, int) string { return compiled }},
		},
		Table: func(_ asset.Key, tr lineage.TableRef) lineage.DatasetID {
			return lineage.DatasetID{Namespace: ns, Name: "shop." + tr.Schema + "." + tr.Name}
		},
	}
	now := time.Now()
	var evs []map[string]any
	func() {
		// The compiled file appears while the step runs.
		if err := os.WriteFile(compiled, []byte(`select order_id, sum(price) as total from "shop"."main"."stg_items" group by order_id`), 0o644); err != nil {
			t.Fatal(err)
		}
		evs = observe(t, o, []engine.Event{
			{Type: engine.RunStarted, Time: now},
			{Type: engine.StepStarted, Time: now, StepID: "dbt"},
			{Type: engine.AssetMaterialized, Time: now, StepID: "dbt", Asset: orders, Metadata: map[string]any{"columns": []any{map[string]any{"name": "order_id", "type": "INTEGER"}, map[string]any{"name": "total", "type": "DOUBLE"}}}},
			{Type: engine.StepSucceeded, Time: now, StepID: "dbt"},
			{Type: engine.RunSucceeded, Time: now},
		})
	}()
	done := evs[2]
	sql := done["job"].(map[string]any)["facets"].(map[string]any)["sql"].(map[string]any)
	if !strings.Contains(sql["query"].(string), "sum(price)") || sql["dialect"] != "duckdb" {
		t.Errorf("sql facet %v", sql)
	}
	out := done["outputs"].([]any)[0].(map[string]any)
	cl, _ := json.Marshal(out["facets"].(map[string]any)["columnLineage"])
	if !strings.Contains(string(cl), `"total":{"inputFields":[{"field":"price","name":"shop.main.stg_items"`) || !strings.Contains(string(cl), "AGGREGATION") {
		t.Errorf("columnLineage %s", cl)
	}
}
