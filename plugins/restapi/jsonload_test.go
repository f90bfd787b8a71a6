package restapi

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/plugins/sdk"
)

// loadBoth loads recs through DuckDB's JSON reader and through the
// Appender and returns each table's rows as text, and each run's metadata.
func loadBoth(t *testing.T, recs []map[string]any, over map[string]any, part *sdk.Partition) (reader, appender []string, mdR, mdA map[string]any) {
	t.Helper()
	run := func(rowAppender bool) ([]string, map[string]any) {
		api := &fakeAPI{recs: recs, style: "cursor", pageSize: 3}
		h := newHarness(t, api)
		cfg := h.cfg(map[string]any{"pagination": map[string]any{"type": "cursor", "cursor_path": "meta.next_cursor", "cursor_param": "cursor"}})
		for k, v := range over {
			cfg[k] = v
		}
		b, _ := json.Marshal(cfg)
		p := &Plugin{Now: func() time.Time { return h.now }, HTTP: h.srv.Client(), rowAppender: rowAppender}
		var md map[string]any
		err := p.Materialize(context.Background(), &sdk.Request{Assets: []asset.Key{asset.MustKey("raw", "items")}, Partition: part, Resources: h.res, Config: sdk.Config(b)}, func(ev engine.Event) {
			if ev.Metadata != nil && ev.Metadata["rows"] != nil {
				md = ev.Metadata
			}
		})
		if err != nil {
			t.Fatalf("appender=%v: %v", rowAppender, err)
		}
		return tableText(t, h.db), md
	}
	reader, mdR = run(false)
	appender, mdA = run(true)
	return
}

// tableText renders raw.items, ordered, one line per row with its types.
func tableText(t *testing.T, path string) []string {
	t.Helper()
	db, err := sql.Open("duckdb", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var cols []string
	rs, err := db.Query(`SELECT column_name || ' ' || data_type FROM information_schema.columns WHERE table_schema = 'raw' AND table_name = 'items' ORDER BY ordinal_position`)
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var c string
		_ = rs.Scan(&c)
		cols = append(cols, c)
	}
	rs.Close()
	out := []string{strings.Join(cols, ", ")}
	rs, err = db.Query(`SELECT CAST(COLUMNS(*) AS VARCHAR) FROM raw.items ORDER BY ALL`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	n := len(cols)
	for rs.Next() {
		vals := make([]sql.NullString, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for i, v := range vals {
			if i > 0 {
				b.WriteString(" | ")
			}
			if v.Valid {
				b.WriteString(v.String)
			} else {
				b.WriteString("NULL")
			}
		}
		out = append(out, b.String())
	}
	return out
}

// TestReaderMatchesAppender: the JSON reader path writes the same table
// and counts as the Appender for the records and settings an API sends.
func TestReaderMatchesAppender(t *testing.T) {
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	mixed := []map[string]any{
		{"id": 1, "name": "a", "amount": 1.25, "active": true, "at": "2024-03-09T00:00:00Z", "extra": 1},
		{"id": 2, "name": nil, "amount": 3, "active": false, "at": "2024-03-09T02:00:00+02:00"},
		{"id": 3, "amount": -0.5, "at": "2024-03-09T10:11:12.123456Z"},
		{"id": 4, "name": "d'quote", "amount": nil, "active": nil, "at": nil},
		{"id": raw("5.0"), "name": "five", "amount": raw("1e2"), "active": true, "at": "2024-03-09 10:00:00"},
		{"id": 6, "name": "ünï", "amount": 0, "active": false, "at": "2024-03-09"},
		{"id": 7, "name": "later keys", "amount": 7, "active": true, "at": "2024-03-09T23:59:59.999999Z", "new": "ignored"},
	}
	declared := []map[string]any{
		{"id": "12", "n": " 7 ", "x": "1.5", "ok": "true", "s": "text", "when": "2024-03-09T01:00:00Z"},
		{"id": 13, "n": true, "x": 2, "ok": false, "s": raw(`"q"`), "when": "2024-03-09T01:00:00-01:00"},
		{"id": 14, "n": false, "x": "-3e1", "ok": "false", "s": nil, "when": nil},
	}
	day := &sdk.Partition{Key: "2024-03-09", Start: time.Date(2024, 3, 9, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 3, 10, 0, 0, 0, 0, time.UTC)}
	tests := []struct {
		name string
		recs []map[string]any
		over map[string]any
		part *sdk.Partition
	}{
		{"inferred columns", mixed, nil, nil},
		{"declared fields and types", declared, map[string]any{
			"fields":  map[string]any{"id": "id", "n": "n", "x": "x", "ok": "ok", "s": "s", "when": "when"},
			"columns": map[string]any{"id": "BIGINT", "n": "BIGINT", "x": "DOUBLE", "ok": "BOOLEAN", "s": "VARCHAR", "when": "TIMESTAMP"},
		}, nil},
		{"renamed fields", mixed, map[string]any{"fields": map[string]any{"key": "id", "label": "name", "ts": "at"}}, nil},
		{"window with a time column skips outside rows", append(mixed, map[string]any{"id": 8, "at": "2024-03-10T00:00:00Z"}, map[string]any{"id": 9, "at": "2024-03-08T23:00:00Z"}),
			map[string]any{"window": map[string]any{"interval": "daily", "time_column": "at"}}, day},
		{"window without a time column", mixed, map[string]any{"window": map[string]any{"interval": "daily"}}, day},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reader, appender, mdR, mdA := loadBoth(t, tt.recs, tt.over, tt.part)
			if strings.Join(reader, "\n") != strings.Join(appender, "\n") {
				t.Errorf("tables differ\nreader:\n  %s\nappender:\n  %s", strings.Join(reader, "\n  "), strings.Join(appender, "\n  "))
			}
			for _, k := range []string{"rows", "rows_skipped", "pages"} {
				if fmt.Sprint(mdR[k]) != fmt.Sprint(mdA[k]) {
					t.Errorf("%s: reader %v, appender %v", k, mdR[k], mdA[k])
				}
			}
			if len(reader) < 2 {
				t.Errorf("no rows loaded: %v", reader)
			}
		})
	}
}

// TestReaderDifferences pins where DuckDB's JSON reader converts values
// differently from the Appender path (as read_json does; README says so).
func TestReaderDifferences(t *testing.T) {
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	recs := []map[string]any{
		{"id": 1, "s": "x"}, {"id": 2, "s": "y"}, {"id": 3, "s": "z"},
		{"id": raw("1.5"), "s": raw("1.50")}, {"id": 5, "s": raw(`{"a": [1, 2]}`)},
	}
	api := &fakeAPI{recs: recs, style: "cursor", pageSize: 3}
	h := newHarness(t, api)
	cfg := h.cfg(map[string]any{"pagination": map[string]any{"type": "cursor", "cursor_path": "meta.next_cursor", "cursor_param": "cursor"}})
	if err := h.run(context.Background(), cfg, nil); err != nil {
		t.Fatal(err)
	}
	reader := tableText(t, h.db)
	// 1.5 is rounded into the BIGINT column; JSON that is not a string is
	// written compactly into VARCHAR.
	want := []string{"id BIGINT, s VARCHAR", "1 | x", "2 | 1.5", "2 | y", "3 | z", `5 | {"a":[1,2]}`}
	if strings.Join(reader, "\n") != strings.Join(want, "\n") {
		t.Errorf("reader table:\n  %s\nwant:\n  %s", strings.Join(reader, "\n  "), strings.Join(want, "\n  "))
	}
	h2 := newHarness(t, &fakeAPI{recs: recs, style: "cursor", pageSize: 3})
	b, _ := json.Marshal(h2.cfg(map[string]any{"pagination": map[string]any{"type": "cursor", "cursor_path": "meta.next_cursor", "cursor_param": "cursor"}}))
	p := &Plugin{Now: func() time.Time { return h2.now }, HTTP: h2.srv.Client(), rowAppender: true}
	err := p.Materialize(context.Background(), &sdk.Request{Assets: []asset.Key{asset.MustKey("raw", "items")}, Resources: h2.res, Config: sdk.Config(b)}, func(engine.Event) {})
	if err == nil || !strings.Contains(err.Error(), "page 2, record 1: field id: cannot store 1.5 as BIGINT") {
		t.Errorf("appender: err = %v, want the record named", err)
	}
}

// TestReaderErrorNamesTheRecord: a value DuckDB refuses is reported with
// its page and record, found by converting the batch in Go.
func TestReaderErrorNamesTheRecord(t *testing.T) {
	recs := []map[string]any{{"id": 1}, {"id": 2}, {"id": 3}, {"id": 4}, {"id": "four"}}
	api := &fakeAPI{recs: recs, style: "cursor", pageSize: 3}
	h := newHarness(t, api)
	cfg := h.cfg(map[string]any{"pagination": map[string]any{"type": "cursor", "cursor_path": "meta.next_cursor", "cursor_param": "cursor"}})
	err := h.run(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), `page 2, record 2: field id: cannot store "four" as BIGINT`) {
		t.Errorf("err = %v", err)
	}
	if h.tableExists() {
		t.Error("the failed window's table survived the rollback")
	}
}
