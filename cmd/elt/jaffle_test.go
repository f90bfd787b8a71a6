package main

import (
	"database/sql"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2" // reads the example's warehouse

	"github.com/eltproject/elt/internal/testenv"
	"github.com/eltproject/elt/lineage/lineagetest"
)

// copyJaffle copies examples/jaffle into a temp folder, without what a run
// leaves behind (the warehouse, the run store, dbt's target/).
func copyJaffle(t *testing.T) string {
	t.Helper()
	src := filepath.Join(testenv.RepoRoot(), "examples", "jaffle")
	dst := filepath.Join(t.TempDir(), "jaffle")
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		switch {
		case rel == ".elt", rel == filepath.Join("transform", "target"), rel == filepath.Join("transform", "logs"):
			return filepath.SkipDir
		case filepath.Dir(rel) == "data" && d.IsDir():
			return filepath.SkipDir // a previous run's dlt folder, exports
		case filepath.Dir(rel) == "data" && d.Name() != ".gitkeep":
			return nil // a previous run's warehouse
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// queryInt runs one query returning one integer on the example's warehouse,
// opened read-only and closed again (the next elt run needs the lock).
func queryInt(t *testing.T, dir, q string) int64 {
	t.Helper()
	db, err := sql.Open("duckdb", filepath.Join(dir, "data", "jaffle.duckdb")+"?access_mode=READ_ONLY")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int64
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func wantLines(t *testing.T, out string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(out, l) {
			t.Errorf("output lacks %q", l)
		}
	}
}

// TestJaffleExample runs examples/jaffle through elt with the real dbt,
// Sling and dlt (`make tools`), in a copy of the example, and checks what
// the tools really wrote.
func TestJaffleExample(t *testing.T) {
	testenv.Slow(t, "runs the real dbt, Sling and dlt")
	for _, tool := range []string{"dbt", "sling", "python", "duckdb"} {
		testenv.Tool(t, tool)
	}
	// The copy is outside the repository, so elt finds the tools on PATH.
	t.Setenv("PATH", testenv.PathWithVenv())
	t.Setenv("JAFFLE_MIN_ORDER_AMOUNT", "")
	dir := copyJaffle(t)

	out, errOut, code := elt(t, dir, "validate")
	if code != 0 {
		t.Fatalf("validate: exit %d\n%s%s", code, out, errOut)
	}
	wantLines(t, out, filepath.Join(testenv.VenvBin(), "dbt")+" (PATH)", filepath.Join(testenv.VenvBin(), "sling")+" (PATH)",
		filepath.Join(testenv.VenvBin(), "python")+" (PATH)")

	// The whole project, sending OpenLineage events to a local receiver.
	ol := lineagetest.NewReceiver(t)
	t.Setenv("OPENLINEAGE_URL", ol.URL)
	out, errOut, code = elt(t, dir, "run")
	if code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, out, errOut)
	}
	checkJaffleLineage(t, dir, ol.Take())
	wantLines(t, out,
		"materialized raw/customers (rows=20)", "materialized raw/orders (rows=32)", "materialized raw/payments (rows=39)",
		"materialized events/events (rows=80)",
		"materialized marts/fct_orders", "materialized snapshots/orders_snapshot", "materialized ref_data/payment_methods",
		"materialized dim_customers_v1", "materialized dim_customers_v2",
		"check marts/fct_orders:assert_orders_paid passed",
		// elt's own checks, in its embedded DuckDB, on the table dbt-duckdb wrote.
		"check marts/fct_orders:row_count passed", "check marts/fct_orders:expression_amount_gift_card_amount passed",
		"materialized exports/orders", "16 succeeded")
	for q, want := range map[string]int64{
		"SELECT count(*) FROM raw.customers":                      20,
		"SELECT count(*) FROM raw.orders":                         32,
		"SELECT count(*) FROM raw.payments":                       39,
		"SELECT count(*) FROM events.events":                      80,
		"SELECT count(*) FROM events._dlt_loads WHERE status = 0": 1,
		"SELECT count(*) FROM marts.fct_orders":                   32,
		"SELECT count(*) FROM snapshots.orders_snapshot":          32,
		// elt wrote analytics.order_targets; the dbt model selects from it.
		"SELECT count(*) FROM analytics.order_targets":                         7,
		"SELECT count(*) FROM marts.order_performance":                         7,
		"SELECT count(*) FROM marts.order_performance WHERE target_orders = 4": 7,
	} {
		if got := queryInt(t, dir, q); got != want {
			t.Errorf("%s = %d, want %d", q, got, want)
		}
	}
	export := filepath.Join(dir, "data", "exports", "orders.csv")
	if b, err := os.ReadFile(export); err != nil || strings.Count(string(b), "\n") != 33 {
		t.Fatalf("export: %v, %d lines; want a header and 32 orders", err, strings.Count(string(b), "\n"))
	}

	// The error-severity singular test fails: the export downstream is
	// blocked, everything else succeeds.
	if err := os.Remove(export); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JAFFLE_MIN_ORDER_AMOUNT", "50")
	out, errOut, code = elt(t, dir, "run")
	if code != 1 {
		t.Fatalf("run with a failing test: exit %d, want 1\n%s%s", code, out, errOut)
	}
	wantLines(t, out, "check marts/fct_orders:assert_orders_paid FAILED (blocking)",
		"blocked_by_check exports/orders", "blocked_by_check marts/order_performance")
	checkJaffleFailedLineage(t, ol.Take())
	t.Setenv("OPENLINEAGE_URL", "")
	if _, err := os.Stat(export); !os.IsNotExist(err) {
		t.Errorf("the export ran although the blocking test failed (%v)", err)
	}
	m := regexp.MustCompile(`run (\S+) failed`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no failed run id in:\n%s", out)
	}

	// Fixed: --from-failure runs what failed or was blocked, not the rest.
	t.Setenv("JAFFLE_MIN_ORDER_AMOUNT", "")
	out, errOut, code = elt(t, dir, "run", "--from-failure", m[1])
	if code != 0 {
		t.Fatalf("--from-failure: exit %d\n%s%s", code, out, errOut)
	}
	wantLines(t, out, "check marts/fct_orders:assert_orders_paid passed", "materialized exports/orders")
	for _, notAgain := range []string{"raw/customers", "events/events", "staging/stg_customers"} {
		if strings.Contains(out, "materialized "+notAgain) {
			t.Errorf("--from-failure ran %s again:\n%s", notAgain, out)
		}
	}
	if _, err := os.Stat(export); err != nil {
		t.Errorf("export after --from-failure: %v", err)
	}

	// One day through Sling's --range and dlt's interval. dlt loads only the
	// day's events. Sling reads the CSV through its DuckDB source, whose
	// sql: gets the window as {incremental_where_cond}: it loads that day's
	// 4 orders, merged on the primary key, so no order is loaded twice.
	out, errOut, code = elt(t, dir, "run", "--job", "loads", "--partition", "2024-01-03")
	if code != 0 {
		t.Fatalf("partition run: exit %d\n%s%s", code, out, errOut)
	}
	wantLines(t, out, "--mode backfill --range 2024-01-03 00:00:00,2024-01-03 23:59:59.999999",
		"materialized raw/orders (rows=4)", "materialized events/events (rows=10)", "2 succeeded")
	for q, want := range map[string]int64{
		"SELECT count(*) FROM raw.orders":           32,
		"SELECT count(DISTINCT id) FROM raw.orders": 32,
		"SELECT count(*) FROM raw.orders WHERE id = 32 AND updated_at = TIMESTAMP '2024-01-04 00:00:00'": 1, // the boundary row
		"SELECT count(*) FROM events.events":                      80,
		"SELECT count(*) FROM events._dlt_loads WHERE status = 0": 2,
	} {
		if got := queryInt(t, dir, q); got != want {
			t.Errorf("after the day's run: %s = %d, want %d", q, got, want)
		}
	}

	// The midnight boundary: order 32 is stamped 2024-01-04 00:00:00, the
	// first instant of the next day. With the orders from 2024-01-03 on
	// removed, the window of 2024-01-03 loads its 4 orders and not order 32;
	// the window of 2024-01-04 loads its 7, order 32 among them, once.
	execSQL(t, dir, "DELETE FROM raw.orders WHERE updated_at >= TIMESTAMP '2024-01-03 00:00:00'")
	for _, day := range []struct {
		key, rows string
		total     int64
		boundary  int64
	}{{"2024-01-03", "rows=4", 11, 0}, {"2024-01-04", "rows=7", 18, 1}} {
		out, errOut, code = elt(t, dir, "run", "--job", "loads", "--partition", day.key)
		if code != 0 {
			t.Fatalf("partition run %s: exit %d\n%s%s", day.key, code, out, errOut)
		}
		wantLines(t, out, "materialized raw/orders ("+day.rows+")")
		for q, want := range map[string]int64{
			"SELECT count(*) FROM raw.orders":                                                    day.total,
			"SELECT count(DISTINCT id) FROM raw.orders":                                          day.total,
			"SELECT count(*) FROM raw.orders WHERE updated_at < TIMESTAMP '2024-01-03 00:00:00'": 7,
			"SELECT count(*) FROM raw.orders WHERE id = 32":                                      day.boundary,
			"SELECT count(*) FROM events.events":                                                 80,
		} {
			if got := queryInt(t, dir, q); got != want {
				t.Errorf("after the run of %s: %s = %d, want %d", day.key, q, got, want)
			}
		}
	}
}

// execSQL runs a statement on the example's warehouse, between elt runs.
func execSQL(t *testing.T, dir, q string) {
	t.Helper()
	db, err := sql.Open("duckdb", filepath.Join(dir, "data", "jaffle.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// TestValidateRefusesPartitionedSlingFileStream: Sling ignores --range for
// file streams, so a partitioned one is refused when the project loads,
// with the replication file's line, not only when a window runs.
func TestValidateRefusesPartitionedSlingFileStream(t *testing.T) {
	dir := newProject(t, `name: p
resources:
  warehouse: {type: duckdb, path: data/w.duckdb}
partitions:
  daily: {type: daily, start: 2024-01-01}
sling:
  - replication: replication.yaml
    connections: {WAREHOUSE: warehouse}
`)
	rep := "source: LOCAL\ntarget: WAREHOUSE\nstreams:\n  file://sources/orders.csv:\n    object: raw.orders\n    mode: incremental\n    primary_key: [id]\n    update_key: updated_at\n    meta:\n      elt: {partitions: daily}\n"
	if err := os.WriteFile(filepath.Join(dir, "replication.yaml"), []byte(rep), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := elt(t, dir, "validate")
	want := filepath.Join(dir, "replication.yaml") + ":4: stream file://sources/orders.csv cannot load the time windows of partitions daily: Sling ignores --range for file streams"
	if code != 2 || !strings.Contains(errOut, want) {
		t.Fatalf("validate: exit %d, want 2 and %q\n%s%s", code, want, out, errOut)
	}
}
