package duckdb

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
)

// fixedNow is the fake clock of freshness checks.
var fixedNow = time.Date(2024, 1, 10, 12, 0, 0, 0, time.UTC)

// runCheck evaluates c on the asset key whose materialization reported md.
func runCheck(t *testing.T, p *testProject, key asset.Key, md map[string]any, c CheckConfig) engine.CheckResult {
	t.Helper()
	res, err := runCheckErr(p, key, md, c, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func runCheckErr(p *testProject, key asset.Key, md map[string]any, c CheckConfig, last time.Time) (engine.CheckResult, error) {
	if err := c.Validate(); err != nil {
		return engine.CheckResult{}, err
	}
	r := &checkRunner{res: p.res, projectDir: p.dir, now: func() time.Time { return fixedNow }}
	spec := &asset.Spec{Key: key, Metadata: md}
	return r.RunCheck(context.Background(), &engine.CheckRequest{RunID: "r1", Asset: spec, Check: c.Spec(), ProjectDir: p.dir, LastMaterialized: last})
}

func TestChecks(t *testing.T) {
	p := newTestProject(t)
	key := asset.MustKey("raw", "shares")
	assets := map[asset.Key]AssetConfig{key: {Materialize: "script", SQL: `
		CREATE TABLE {{ this }} (id INT, date DATE, share_price DOUBLE, status VARCHAR, loaded_at TIMESTAMP);
		INSERT INTO {{ this }} VALUES
			(1, DATE '2024-01-01', 10.0, 'open',   TIMESTAMP '2024-01-09 12:00:00'),
			(2, DATE '2024-01-02', NULL, 'closed', TIMESTAMP '2024-01-09 13:00:00'),
			(2, DATE '2024-01-03', -1.0, 'weird',  TIMESTAMP '2024-01-09 14:00:00'),
			(3, DATE '2024-01-04', 12.0, NULL,     TIMESTAMP '2024-01-10 06:00:00'),
			(NULL, DATE '2024-01-05', 13.0, 'open', NULL);`}}
	md := p.mustRun(assets, nil, key)[key]

	tests := []struct {
		name        string
		c           CheckConfig
		passed      bool
		failingRows int64
		sample      int
		message     string
	}{
		{"not_null passes", CheckConfig{Type: "not_null", Column: "date"}, true, 0, 0, "no NULL date"},
		{"not_null fails", CheckConfig{Type: "not_null", Column: "share_price"}, false, 1, 1, "1 rows have NULL share_price"},
		{"not_null with where passes", CheckConfig{Type: "not_null", Column: "share_price", Where: "id <> 2 -- the known bad row"}, true, 0, 0, ""},
		{"unique passes", CheckConfig{Type: "unique", Columns: []string{"id", "date"}}, true, 0, 0, "id, date is unique"},
		{"unique fails", CheckConfig{Type: "unique", Column: "id"}, false, 2, 1, "1 values of id occur more than once (2 rows)"},
		{"accepted_values passes", CheckConfig{Type: "accepted_values", Column: "status", Values: []any{"open", "closed", "weird"}}, true, 0, 0, ""},
		{"accepted_values fails", CheckConfig{Type: "accepted_values", Column: "status", Values: []any{"open", "closed"}}, false, 1, 1, "1 rows have status outside [open closed]"},
		{"accepted_values numbers", CheckConfig{Type: "accepted_values", Column: "id", Values: []any{1, 2}}, false, 1, 1, ""},
		{"row_count passes", CheckConfig{Type: "row_count", Min: i64(1), Max: i64(5)}, true, 0, 0, "5 rows"},
		{"row_count below min", CheckConfig{Type: "row_count", Min: i64(6)}, false, 0, 0, "5 rows, fewer than min 6"},
		{"row_count above max", CheckConfig{Type: "row_count", Max: i64(2), Where: "id IS NOT NULL"}, false, 0, 0, "4 rows, more than max 2"},
		{"freshness column passes", CheckConfig{Type: "freshness", TimestampColumn: "loaded_at", MaxAge: "12h"}, true, 0, 0, "latest loaded_at is 6h0m0s old"},
		{"freshness column fails", CheckConfig{Type: "freshness", TimestampColumn: "loaded_at", MaxAge: "1h"}, false, 0, 0, "older than 1h"},
		{"freshness date column days", CheckConfig{Type: "freshness", TimestampColumn: "date", MaxAge: "2d"}, false, 0, 0, "latest date is 132h0m0s old, older than 2d"},
		{"freshness no rows", CheckConfig{Type: "freshness", TimestampColumn: "loaded_at", MaxAge: "1d", Where: "false"}, false, 0, 0, "no rows with a loaded_at"},
		{"expression passes", CheckConfig{Type: "expression", Expression: "date >= DATE '2024-01-01' -- all of them"}, true, 0, 0, ""},
		{"expression fails, NULL fails too", CheckConfig{Type: "expression", Expression: "share_price > 0"}, false, 2, 2, "2 rows fail share_price > 0"},
		{"expression uses this", CheckConfig{Type: "expression", Expression: "id IN (SELECT id FROM {{ this }} WHERE status = 'open') OR id IS NULL"}, false, 3, 3, ""},
		{"sql passes", CheckConfig{Name: "positive", Type: "sql", SQL: "SELECT * FROM {{ this }} WHERE share_price < -5"}, true, 0, 0, "no rows"},
		{"sql fails", CheckConfig{Name: "negative", Type: "sql", SQL: "SELECT id, share_price FROM {{ ref(\"raw/shares\") }} WHERE share_price < 0 -- trailing comment"}, false, 1, 1, "returned 1 rows"},
		{"warn severity", CheckConfig{Type: "not_null", Column: "id", Severity: "warn"}, false, 1, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCheck(t, p, key, md, tt.c)
			if res.Passed != tt.passed {
				t.Fatalf("passed = %v, want %v: %+v", res.Passed, tt.passed, res)
			}
			if n, ok := res.Metadata["failing_rows"]; ok && n != tt.failingRows {
				t.Errorf("failing_rows = %v, want %d", n, tt.failingRows)
			}
			sample, _ := res.Metadata["sample"].([]map[string]any)
			if len(sample) != tt.sample {
				t.Errorf("sample = %v, want %d rows", sample, tt.sample)
			}
			if !strings.Contains(res.Message, tt.message) {
				t.Errorf("message %q lacks %q", res.Message, tt.message)
			}
			wantSev := "error"
			if tt.c.Severity == "warn" {
				wantSev = "warn"
			}
			if res.Severity != wantSev {
				t.Errorf("severity = %q", res.Severity)
			}
			if q, _ := res.Metadata["query"].(string); tt.c.Type != "freshness" && !strings.Contains(q, "SELECT") {
				t.Errorf("query metadata = %q", q)
			}
		})
	}

	t.Run("sample rows are maps of JSON values", func(t *testing.T) {
		res := runCheck(t, p, key, md, CheckConfig{Type: "not_null", Column: "share_price"})
		row := res.Metadata["sample"].([]map[string]any)[0]
		if row["id"] != int32(2) || row["date"] != "2024-01-02" || row["share_price"] != nil || row["loaded_at"] != "2024-01-09T13:00:00Z" {
			t.Errorf("sample row = %#v", row)
		}
	})

	t.Run("sample is capped at five rows", func(t *testing.T) {
		res := runCheck(t, p, key, md, CheckConfig{Name: "all", Type: "sql", SQL: "SELECT * FROM range(100)"})
		if res.Metadata["failing_rows"] != int64(100) || len(res.Metadata["sample"].([]map[string]any)) != 5 {
			t.Errorf("metadata = %v", res.Metadata)
		}
	})

	t.Run("sql error names the asset and the query", func(t *testing.T) {
		_, err := runCheckErr(p, key, md, CheckConfig{Type: "not_null", Column: "no_such_column"}, time.Time{})
		if err == nil || !strings.Contains(err.Error(), "asset raw/shares: ") || !strings.Contains(err.Error(), "no_such_column") || !strings.Contains(err.Error(), "in statement: SELECT count(*)") {
			t.Errorf("error = %v", err)
		}
	})

	t.Run("relation from metadata of another tool's asset", func(t *testing.T) {
		other := asset.MustKey("dbt", "shares_model")
		res := runCheck(t, p, other, map[string]any{"relation": "raw.shares"}, CheckConfig{Type: "row_count", Min: i64(5)})
		if !res.Passed {
			t.Errorf("%+v", res)
		}
	})
}

func TestFreshnessByLastMaterialization(t *testing.T) {
	p := newTestProject(t)
	key := asset.MustKey("x")
	c := CheckConfig{Type: "freshness", MaxAge: "1d"}
	tests := []struct {
		last   time.Time
		passed bool
		msg    string
	}{
		{fixedNow.Add(-2 * time.Hour), true, "last materialized 2h0m0s ago"},
		{fixedNow.Add(-50 * time.Hour), false, "older than 1d"},
		{time.Time{}, false, "never been materialized"},
	}
	for _, tt := range tests {
		// No database is opened: the resource map may even be empty.
		res, err := runCheckErr(&testProject{dir: p.dir}, key, nil, c, tt.last)
		if err != nil {
			t.Fatal(err)
		}
		if res.Passed != tt.passed || !strings.Contains(res.Message, tt.msg) {
			t.Errorf("last %v: %+v", tt.last, res)
		}
	}
}

func TestCheckNeedsConfig(t *testing.T) {
	r := NewCheckRunner(nil, t.TempDir())
	_, err := r.RunCheck(context.Background(), &engine.CheckRequest{Asset: &asset.Spec{Key: asset.MustKey("a")}, Check: asset.CheckSpec{Name: "c", Runner: "duckdb"}})
	if err == nil || !strings.Contains(err.Error(), "asset a: check c: no duckdb check config") {
		t.Errorf("error = %v", err)
	}
}

// A check on an asset that another tool loaded (a Sling stream, a dlt
// resource) reads the table in its "relation" metadata, and a check's own
// relation: overrides both that and the asset key.
func TestCheckRelation(t *testing.T) {
	p := newTestProject(t)
	loader := asset.MustKey("loader")
	assets := map[asset.Key]AssetConfig{loader: {Materialize: "script", SQL: `
		CREATE SCHEMA raw; CREATE SCHEMA shop_data;
		CREATE TABLE raw.customers (id INT); INSERT INTO raw.customers VALUES (1), (2), (3);
		CREATE TABLE shop_data.orders (id INT); INSERT INTO shop_data.orders VALUES (1), (1);
		CREATE TABLE {{ this }} AS SELECT 1 AS done;`}}
	p.mustRun(assets, nil, loader)
	count := CheckConfig{Type: "row_count", Min: i64(3), Max: i64(3)}
	stream := asset.MustKey("warehouse", "raw", "customers") // a Sling key: target/schema/table
	if res := runCheck(t, p, stream, map[string]any{"relation": "raw.customers"}, count); !res.Passed {
		t.Errorf("check on the Sling object: %+v", res)
	}
	if _, err := runCheckErr(p, stream, nil, count, time.Time{}); err == nil {
		t.Errorf("without relation metadata the key's table (warehouse_raw.customers) should not exist")
	}
	override := CheckConfig{Type: "unique", Column: "id", Relation: `"shop_data"."orders"`}
	res := runCheck(t, p, asset.MustKey("dlt_shop_orders"), map[string]any{"relation": "raw.customers"}, override)
	if res.Passed || !strings.Contains(res.Message, "more than once") {
		t.Errorf("relation: override not used: %+v", res)
	}
	if err := (&CheckConfig{Type: "row_count", Min: i64(1), Relation: "a.b.c.d"}).Validate(); err == nil {
		t.Errorf("a relation of four parts should not validate")
	}
}

// TestStepRunsChecksOnItsConnection: the runner evaluates the DuckDB checks
// of the assets it materializes (from req.Specs) on its own connection and
// reports them; a check on another resource is left to the engine.
func TestStepRunsChecksOnItsConnection(t *testing.T) {
	p := newTestProject(t)
	p.res["other"] = engine.Resource{Name: "other", Type: "duckdb", Config: map[string]string{"path": "data/other.duckdb"}}
	key := asset.MustKey("raw", "t")
	assets := map[asset.Key]AssetConfig{key: {SQL: "SELECT * FROM (VALUES (1, 'a'), (2, NULL), (2, 'c')) v(id, name)", Resource: "warehouse"}}
	spec := &asset.Spec{Key: key}
	for _, c := range []CheckConfig{
		{Type: CheckNotNull, Column: "id"},
		{Type: CheckUnique, Column: "id"},
		{Type: CheckNotNull, Column: "name", Severity: "warn"},
		{Type: CheckNotNull, Column: "nope", Name: "bad_column"},
		{Type: CheckRowCount, Min: ptr(int64(1)), Resource: "other"},
	} {
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		spec.Checks = append(spec.Checks, c.Spec())
	}
	spec.Checks = append(spec.Checks, asset.CheckSpec{Name: "reported_by_script"})
	req := &engine.Request{RunID: "r1", StepID: "s1", Attempt: 1, Assets: []asset.Key{key}, Specs: map[asset.Key]*asset.Spec{key: spec}, ProjectDir: p.dir, Resources: p.res}
	got := map[string]engine.Event{}
	var order []engine.EventType
	err := NewRunner(p.res, assets, p.dir).Run(context.Background(), req, func(e engine.Event) {
		order = append(order, e.Type)
		if e.Type == engine.CheckEvaluated {
			got[e.Check] = e
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(order) == 0 || order[0] != engine.AssetMaterialized {
		t.Fatalf("events %v: the materialization must come first", order)
	}
	want := map[string]struct {
		passed   bool
		severity string
		msg      string
	}{
		"not_null_id":   {true, "error", "no NULL id"},
		"unique_id":     {false, "error", "1 values of id occur more than once (2 rows)"},
		"not_null_name": {false, "warn", "1 rows have NULL name"},
		"bad_column":    {false, "error", "check could not run: "},
	}
	if len(got) != len(want) {
		t.Errorf("checks reported: %v, want %d", got, len(want))
	}
	for name, w := range want {
		e, ok := got[name]
		if !ok {
			t.Errorf("check %s not reported", name)
			continue
		}
		if *e.Passed != w.passed || e.Severity != w.severity || !strings.HasPrefix(e.Message, w.msg) {
			t.Errorf("check %s = passed %v, %s, %q; want %v, %s, %q", name, *e.Passed, e.Severity, e.Message, w.passed, w.severity, w.msg)
		}
	}
}

func ptr[T any](v T) *T { return &v }
