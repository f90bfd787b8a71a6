package duckdb

import (
	"bufio"
	"context"
	"database/sql"
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
// runs not_null and unique checks on it, the way a run does (one step:
// the runner's request carries the asset's spec and its checks), and
// interleaves the same import and check queries run alone on one
// connection. The metric "x_sql_alone" is elt's time over that baseline.
func BenchmarkImportCSVAndChecks(b *testing.B) {
	dir := b.TempDir()
	writeBenchCSV(b, filepath.Join(dir, "shares.csv"), benchRows)
	res := map[string]engine.Resource{"warehouse": {Name: "warehouse", Type: "duckdb", Config: map[string]string{"path": "warehouse.duckdb"}}}
	key := asset.MustKey("raw", "shares")
	assets := map[asset.Key]AssetConfig{key: {Import: &ImportConfig{Path: "shares.csv"}}}
	runner := NewRunner(res, assets, dir)
	checks := NewCheckRunner(res, dir)
	spec := &asset.Spec{Key: key}
	for _, c := range []CheckConfig{
		{Type: CheckNotNull, Column: "share_price"},
		{Type: CheckUnique, Column: "id"},
	} {
		if err := c.Validate(); err != nil {
			b.Fatal(err)
		}
		spec.Checks = append(spec.Checks, c.Spec())
	}
	ctx := context.Background()
	var eltTime, aloneTime time.Duration
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		ran := runStepWithChecks(ctx, b, runner, checks, spec, dir)
		eltTime += time.Since(start)
		if ran != len(spec.Checks) {
			b.Fatalf("%d checks ran, want %d", ran, len(spec.Checks))
		}
		start = time.Now()
		runAlone(ctx, b, filepath.Join(dir, "alone.duckdb"), filepath.Join(dir, "shares.csv"))
		aloneTime += time.Since(start)
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/eltTime.Seconds(), "rows/s")
	b.ReportMetric(eltTime.Seconds()/aloneTime.Seconds(), "x_sql_alone")
}

// runStepWithChecks runs the import step as the engine does: the runner,
// then (for checks the runner did not report) the check runner. It
// returns how many checks passed.
func runStepWithChecks(ctx context.Context, b *testing.B, runner engine.Runner, checks engine.CheckRunner, spec *asset.Spec, dir string) int {
	var md map[string]any
	reported := map[string]bool{}
	passed := 0
	err := runner.Run(ctx, &engine.Request{Assets: []asset.Key{spec.Key}, Specs: map[asset.Key]*asset.Spec{spec.Key: spec}, ProjectDir: dir}, func(e engine.Event) {
		switch e.Type {
		case engine.AssetMaterialized:
			md = e.Metadata
		case engine.CheckEvaluated:
			reported[e.Check] = true
			if e.Passed == nil || !*e.Passed {
				b.Fatalf("check %s: %s", e.Check, e.Message)
			}
			passed++
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	if md["rows"] != int64(benchRows) {
		b.Fatalf("rows = %v", md["rows"])
	}
	done := &asset.Spec{Key: spec.Key, Metadata: md}
	for _, cs := range spec.Checks {
		if reported[cs.Name] {
			continue
		}
		r, err := checks.RunCheck(ctx, &engine.CheckRequest{Asset: done, Check: cs, ProjectDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		if !r.Passed {
			b.Fatalf("check %s failed: %s", cs.Name, r.Message)
		}
		passed++
	}
	return passed
}

// runAlone is the baseline: the statements of the step (the import, the
// runner's description of the table, the two checks' queries) on one
// connection, opened and closed once.
func runAlone(ctx context.Context, b *testing.B, dbPath, csvPath string) {
	db, err := sql.Open("duckdb", dbPath)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "CREATE OR REPLACE TABLE shares AS SELECT * FROM read_csv($1)", csvPath); err != nil {
		b.Fatal(err)
	}
	var n, g int64
	var version uint64
	// What the runner asks of every table it makes (describe).
	if err := conn.QueryRowContext(ctx, "SELECT count(*), coalesce(bit_xor(hash(t)), 0) FROM shares AS t").Scan(&n, &version); err != nil || n != benchRows {
		b.Fatal(n, err)
	}
	rs, err := conn.QueryContext(ctx, "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'shares' ORDER BY ordinal_position")
	if err != nil {
		b.Fatal(err)
	}
	rs.Close()
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM shares WHERE share_price IS NULL").Scan(&n); err != nil || n != 0 {
		b.Fatal(n, err)
	}
	q := "SELECT count(*), coalesce(sum(c), 0) FROM (SELECT id, count(*) AS c FROM shares WHERE id IS NOT NULL GROUP BY id HAVING count(*) > 1)"
	if err := conn.QueryRowContext(ctx, q).Scan(&g, &n); err != nil || g != 0 {
		b.Fatal(g, err)
	}
}
