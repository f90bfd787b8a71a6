//go:build unix

package restapi

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/plugins/sdk"
)

const (
	benchRecords  = 1_000_000
	benchPageSize = 10_000
)

// benchPages renders n records as pages of a cursor-paginated API, and the
// same records as newline-delimited JSON for DuckDB's own reader.
func benchPages(b *testing.B, n int) (pages [][]byte, ndjson []byte) {
	b.Helper()
	var all bytes.Buffer
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for from := 0; from < n; from += benchPageSize {
		to := min(from+benchPageSize, n)
		var p bytes.Buffer
		p.WriteString(`{"data":[`)
		for i := from; i < to; i++ {
			rec, err := json.Marshal(map[string]any{
				"id": i, "name": "customer-" + strconv.Itoa(i%5000), "amount": float64(i%10000) / 100,
				"active": i%3 == 0, "at": t0.Add(time.Duration(i) * time.Second).Format(time.RFC3339),
			})
			if err != nil {
				b.Fatal(err)
			}
			if i > from {
				p.WriteByte(',')
			}
			p.Write(rec)
			all.Write(rec)
			all.WriteByte('\n')
		}
		next := "null"
		if to < n {
			next = strconv.Quote(strconv.Itoa(len(pages) + 1))
		}
		fmt.Fprintf(&p, `],"next":%s}`, next)
		pages = append(pages, p.Bytes())
	}
	return pages, all.Bytes()
}

// cpuTime is the process's user+system CPU time so far (all threads,
// DuckDB's included).
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLoad compares the plugin (HTTP pages → page files → DuckDB's
// read_json with the table's columns, in the window's transaction) with
// DuckDB's read_json_auto of the same records from a local file, the
// ceiling. Each iteration runs both, back to back, so that a
// busy machine slows both alike; it reports rows per wall-clock second
// and per CPU second (the HTTP server's CPU counts against the plugin).
func BenchmarkLoad(b *testing.B) {
	n := benchRecords
	if testing.Short() {
		n = 100_000
	}
	pages, ndjson := benchPages(b, n)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
		if i < 0 || i >= len(pages) {
			http.Error(w, "bad cursor", 400)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(pages[i])
	}))
	defer srv.Close()
	dir := b.TempDir()
	file := filepath.Join(dir, "records.json")
	if err := os.WriteFile(file, ndjson, 0o644); err != nil {
		b.Fatal(err)
	}
	cfg, _ := json.Marshal(map[string]any{
		"base_url": srv.URL, "records": "data",
		"pagination":  map[string]any{"type": "cursor", "cursor_path": "next", "cursor_param": "cursor"},
		"destination": map[string]any{"resource": "wh", "table": "raw/bench"},
	})
	p := New()
	var wallAPI, cpuAPI, wallCeil, cpuCeil time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w0, c0 := time.Now(), cpuTime(b)
		req := &sdk.Request{
			Assets:    []asset.Key{asset.MustKey("raw", "bench")},
			Resources: map[string]sdk.Resource{"wh": {Type: "duckdb", Config: map[string]string{"path": filepath.Join(dir, fmt.Sprintf("api%d.duckdb", i))}}},
			Config:    sdk.Config(cfg),
		}
		var rows any
		if err := p.Materialize(context.Background(), req, func(ev engine.Event) {
			if ev.Type == engine.AssetMaterialized {
				rows = ev.Metadata["rows"]
			}
		}); err != nil {
			b.Fatal(err)
		}
		if rows != n {
			b.Fatalf("rows = %v, want %d", rows, n)
		}
		w1, c1 := time.Now(), cpuTime(b)

		db, err := sql.Open("duckdb", filepath.Join(dir, fmt.Sprintf("ceil%d.duckdb", i)))
		if err != nil {
			b.Fatal(err)
		}
		var got int64
		_, err = db.Exec(`CREATE TABLE bench AS SELECT * FROM read_json_auto(?)`, file)
		if err == nil {
			err = db.QueryRow(`SELECT count(*) FROM bench`).Scan(&got)
		}
		db.Close()
		if err != nil || got != int64(n) {
			b.Fatalf("read_json_auto: %v rows, %v", got, err)
		}
		wallAPI += w1.Sub(w0)
		cpuAPI += c1 - c0
		wallCeil += time.Since(w1)
		cpuCeil += cpuTime(b) - c1
	}
	rows := float64(n) * float64(b.N)
	b.ReportMetric(rows/wallAPI.Seconds(), "restapi-rows/s")
	b.ReportMetric(rows/wallCeil.Seconds(), "read_json_auto-rows/s")
	b.ReportMetric(wallCeil.Seconds()/wallAPI.Seconds(), "ratio-wall")
	b.ReportMetric(rows/cpuAPI.Seconds(), "restapi-rows/cpu-s")
	b.ReportMetric(rows/cpuCeil.Seconds(), "read_json_auto-rows/cpu-s")
	b.ReportMetric(cpuCeil.Seconds()/cpuAPI.Seconds(), "ratio-cpu")
}

// BenchmarkAppenderOnly appends already-converted rows (the benchmark's
// five columns) in one transaction: the bound the Appender puts on the
// plugin's row-by-row path (nested fields, other time formats), without
// HTTP or JSON.
func BenchmarkAppenderOnly(b *testing.B) {
	n := benchRecords
	if testing.Short() {
		n = 100_000
	}
	dir := b.TempDir()
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		db, err := sql.Open("duckdb", filepath.Join(dir, fmt.Sprintf("app%d.duckdb", i)))
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		conn, err := db.Conn(ctx)
		if err != nil {
			b.Fatal(err)
		}
		t := &table{schema: "main", name: "bench", cols: []column{
			{name: "active", typ: typeBoolean}, {name: "amount", typ: typeDouble}, {name: "at", typ: typeTimestamp},
			{name: "id", typ: typeBigint}, {name: "name", typ: typeVarchar}}}
		if _, err := conn.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
			b.Fatal(err)
		}
		if err := t.create(ctx, conn); err != nil {
			b.Fatal(err)
		}
		app, err := newAppender(conn, t)
		if err != nil {
			b.Fatal(err)
		}
		for r := 0; r < n; r++ {
			if err := app.AppendRow(r%3 == 0, float64(r%10000)/100, t0.Add(time.Duration(r)*time.Second), int64(r), "customer-"+strconv.Itoa(r%5000)); err != nil {
				b.Fatal(err)
			}
		}
		if err := app.Close(); err != nil {
			b.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
			b.Fatal(err)
		}
		conn.Close()
		db.Close()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
