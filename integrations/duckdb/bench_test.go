package duckdb

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
)

const benchRows = 1_000_000

// writeBenchCSV writes n rows of share data.
func writeBenchCSV(b *testing.B, path string, n int) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintln(w, "id,date,share_price,amount,spend,shift,spread")
	day := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		d := day.AddDate(0, 0, i%1500).Format(time.DateOnly)
		fmt.Fprintf(w, "%d,%s,%.2f,%d,%.2f,%.3f,%.3f\n", i, d, 10+float64(i%997)/10, i%500, float64(i%300)/3, float64(i%7-3)/10, float64(i%11)/100)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkImportCSVAndChecks loads a 1,000,000-row CSV into DuckDB and
// runs three checks (not_null, unique, expression) on it.
func BenchmarkImportCSVAndChecks(b *testing.B) {
	dir := b.TempDir()
	writeBenchCSV(b, filepath.Join(dir, "shares.csv"), benchRows)
	res := map[string]engine.Resource{"warehouse": {Name: "warehouse", Type: "duckdb", Config: map[string]string{"path": "warehouse.duckdb"}}}
	key := asset.MustKey("raw", "shares")
	assets := map[asset.Key]AssetConfig{key: {Import: &ImportConfig{Path: "shares.csv"}}}
	runner := NewRunner(res, assets, dir)
	checks := NewCheckRunner(res, dir)
	var specs []asset.CheckSpec
	for _, c := range []CheckConfig{
		{Type: CheckNotNull, Column: "share_price"},
		{Type: CheckUnique, Column: "id"},
		{Type: CheckExpression, Expression: "share_price > 0"},
	} {
		if err := c.Validate(); err != nil {
			b.Fatal(err)
		}
		specs = append(specs, c.Spec())
	}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		var md map[string]any
		err := runner.Run(ctx, &engine.Request{Assets: []asset.Key{key}, ProjectDir: dir}, func(e engine.Event) { md = e.Metadata })
		if err != nil {
			b.Fatal(err)
		}
		if md["rows"] != int64(benchRows) {
			b.Fatalf("rows = %v", md["rows"])
		}
		spec := &asset.Spec{Key: key, Metadata: md}
		for _, cs := range specs {
			r, err := checks.RunCheck(ctx, &engine.CheckRequest{Asset: spec, Check: cs, ProjectDir: dir})
			if err != nil {
				b.Fatal(err)
			}
			if !r.Passed {
				b.Fatalf("check %s failed: %s", cs.Name, r.Message)
			}
		}
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
