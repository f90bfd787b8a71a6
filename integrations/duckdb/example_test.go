package duckdb

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
)

// TestQuickstartModels runs the SQL of examples/quickstart against a
// warehouse in a temp dir, the way its elt.yaml wires them.
func TestQuickstartModels(t *testing.T) {
	dir, err := filepath.Abs("../../examples/quickstart")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "models", "raw_data.sql")); err != nil {
		t.Fatalf("examples/quickstart is part of the repository: %v", err)
	}
	p := &testProject{t: t, dir: dir, res: map[string]engine.Resource{
		"warehouse": {Name: "warehouse", Type: "duckdb", Config: map[string]string{"path": filepath.Join(t.TempDir(), "warehouse.duckdb"), "threads": "2"}},
	}}
	raw, daily, summary := asset.MustKey("raw_data"), asset.MustKey("daily_shares"), asset.MustKey("share_summary")
	assets := map[asset.Key]AssetConfig{
		raw:     {SQL: "models/raw_data.sql", Materialize: "script"},
		daily:   {SQL: "models/daily_shares.sql", Materialize: "incremental", PartitionColumn: "date"},
		summary: {SQL: "models/share_summary.sql"},
	}
	for key, cfg := range assets {
		info, err := cfg.Info(key, dir, p.res)
		if err != nil {
			t.Fatal(err)
		}
		if key == daily && (len(info.Deps) != 1 || info.Deps[0] != raw) {
			t.Errorf("daily_shares deps = %v", info.Deps)
		}
	}
	// elt.yaml hands the file to raw_data.sql through the files resource.
	evs, err := p.run(assets, nil, []string{"ELT_RESOURCE_FILES_SHARES_CSV=data/shares.csv"}, raw)
	if err != nil {
		t.Fatal(err)
	}
	var md map[string]any
	for _, e := range evs {
		if e.Type == engine.AssetMaterialized && e.Asset == raw {
			md = e.Metadata
		}
	}
	if md["rows"] != int64(60) {
		t.Fatalf("raw_data rows = %v", md["rows"])
	}
	for _, c := range []CheckConfig{
		{Type: CheckNotNull, Column: "share_price", Blocking: true},
		{Type: CheckExpression, Expression: "share_price > 0", Blocking: true},
		{Type: CheckRowCount, Min: i64(1)},
	} {
		if res := runCheck(t, p, raw, md, c); !res.Passed {
			t.Errorf("check %s on raw_data: %s", c.Type, res.Message)
		}
	}
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for d := start; d.Before(time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)); d = d.AddDate(0, 0, 1) {
		p.mustRun(assets, &engine.Partition{Key: d.Format(time.DateOnly), Start: d, End: d.AddDate(0, 0, 1)}, daily)
	}
	again := p.mustRun(assets, &engine.Partition{Key: "2024-01-15", Start: start.AddDate(0, 0, 14), End: start.AddDate(0, 0, 15)}, daily)[daily]
	if again["rows"] != int64(60) || again["rows_deleted"] != int64(1) {
		t.Errorf("daily_shares after re-run: %v", again)
	}
	if res := runCheck(t, p, daily, again, CheckConfig{Type: CheckUnique, Column: "date"}); !res.Passed {
		t.Errorf("unique date: %s", res.Message)
	}
	md = p.mustRun(assets, nil, summary)[summary]
	if md["rows"] != int64(2) {
		t.Errorf("share_summary rows = %v", md["rows"])
	}
	if got := p.query(`SELECT month, days FROM "main"."share_summary" ORDER BY month`); len(got) != 2 || got[0][1] != "31" || got[1][1] != "29" {
		t.Errorf("summary = %v", got)
	}
}
