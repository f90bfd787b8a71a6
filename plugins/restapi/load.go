package restapi

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/tidwall/gjson"
)

// windowColumn marks each row with its window when there is no time
// column, so a window's re-run can delete exactly its rows.
const windowColumn = "_elt_window_start"

// cursorTable holds the cursor of unpartitioned windowed assets in the
// destination database itself, written in the load's transaction: the
// plugin process cannot reach elt's run store, and keeping both in one
// transaction means the cursor only moves once the rows are committed.
const cursorTable = "_elt_cursors"

// column is one destination column and where its value comes from.
type column struct {
	name string
	typ  string // one of the type* constants
	path string // gjson path in a record; "" for the window column
	// format reads TIMESTAMP values: the window's format for its time
	// column, RFC 3339 for the others.
	format string
}

// table is the destination and its columns for one window's load.
type table struct {
	schema, name string
	cols         []column
	timeCol      int            // index of the time column, -1 without
	winCol       int            // index of the window column, -1 without
	byKey        map[string]int // top-level key → column, for simple paths
	complexCols  []int
}

func (t *table) relation() string { return quoteIdent(t.schema) + "." + quoteIdent(t.name) }

// simplePath reports whether a gjson path is a plain top-level key.
func simplePath(p string) bool {
	return p != "" && !strings.ContainsAny(p, `.*?#|@\!{}[]`)
}

// existingColumns reads the table's columns; nil when it does not exist.
func existingColumns(ctx context.Context, conn *sql.Conn, schema, name string) ([]column, error) {
	rows, err := conn.QueryContext(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position`, schema, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []column
	for rows.Next() {
		var c column
		var dt string
		if err := rows.Scan(&c.name, &dt); err != nil {
			return nil, err
		}
		t, ok := tableType(dt)
		if !ok {
			return nil, fmt.Errorf("column %s of %s.%s has type %s, which the restapi loader does not write (BIGINT, DOUBLE, BOOLEAN, VARCHAR, TIMESTAMP); drop the table or change the column", c.name, schema, name, dt)
		}
		c.typ = t
		cols = append(cols, c)
	}
	return cols, rows.Err()
}

func tableType(dt string) (string, bool) {
	switch strings.ToUpper(dt) {
	case "BIGINT":
		return typeBigint, true
	case "DOUBLE":
		return typeDouble, true
	case "BOOLEAN":
		return typeBoolean, true
	case "VARCHAR":
		return typeVarchar, true
	case "TIMESTAMP", "TIMESTAMP WITH TIME ZONE":
		return typeTimestamp, true
	}
	return "", false
}

// planColumns decides the columns: the existing table's, else declared
// fields and types, else inferred from the first page.
func planColumns(cfg *Config, existing []column, first []gjson.Result, withWindowCol bool) []column {
	pathOf := func(name string) string {
		if p, ok := cfg.Fields[name]; ok {
			return p
		}
		return gjsonEscape(name)
	}
	if existing != nil {
		cols := make([]column, len(existing))
		for i, c := range existing {
			c.path = ""
			if c.name != windowColumn {
				c.path = pathOf(c.name)
			}
			cols[i] = c
		}
		return cols
	}
	var names []string
	if len(cfg.Fields) > 0 {
		names = sortedKeys(cfg.Fields)
	} else {
		seen := map[string]bool{}
		for _, r := range first {
			r.ForEach(func(k, _ gjson.Result) bool {
				if !seen[k.Str] {
					seen[k.Str] = true
					names = append(names, k.Str)
				}
				return true
			})
		}
		for _, n := range sortedKeys(cfg.Columns) { // declared but absent from page one
			if !seen[n] {
				names = append(names, n)
			}
		}
	}
	cols := make([]column, 0, len(names)+1)
	for _, n := range names {
		c := column{name: n, path: pathOf(n)}
		switch {
		case cfg.Window != nil && cfg.Window.TimeColumn == n:
			c.typ = typeTimestamp
		case cfg.Columns[n] != "":
			c.typ, _ = normalizeType(cfg.Columns[n])
		default:
			c.typ = inferType(first, c.path)
		}
		cols = append(cols, c)
	}
	if withWindowCol {
		cols = append(cols, column{name: windowColumn, typ: typeTimestamp})
	}
	return cols
}

// gjsonEscape escapes a key so gjson reads it literally.
func gjsonEscape(k string) string {
	var b strings.Builder
	for _, r := range k {
		if strings.ContainsRune(`.*?#|@\!{}[]`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// inferType picks a column type from the values at path in recs: BIGINT
// when every number is integral, DOUBLE for other numbers, BOOLEAN,
// TIMESTAMP when every string is an RFC 3339 time (as DuckDB's JSON reader
// does), VARCHAR for other strings, objects, arrays, mixed values and
// all-null columns.
func inferType(recs []gjson.Result, path string) string {
	var sawInt, sawFloat, sawBool, sawTime, sawOther bool
	for _, r := range recs {
		v := r.Get(path)
		switch v.Type {
		case gjson.Null:
		case gjson.Number:
			if strings.ContainsAny(v.Raw, ".eE") {
				sawFloat = true
			} else {
				sawInt = true
			}
		case gjson.True, gjson.False:
			sawBool = true
		case gjson.String:
			if _, err := time.Parse(time.RFC3339Nano, v.Str); err == nil {
				sawTime = true
			} else {
				sawOther = true
			}
		default:
			sawOther = true
		}
	}
	switch {
	case sawTime && !sawOther && !sawInt && !sawFloat && !sawBool:
		return typeTimestamp
	case sawOther, sawTime, sawBool && (sawInt || sawFloat):
		return typeVarchar
	case sawFloat:
		return typeDouble
	case sawInt:
		return typeBigint
	case sawBool:
		return typeBoolean
	}
	return typeVarchar
}

func (t *table) index(cfg *Config) {
	t.timeCol, t.winCol = -1, -1
	t.byKey = map[string]int{}
	t.complexCols = nil
	for i := range t.cols {
		c := &t.cols[i]
		c.format = "rfc3339"
		switch {
		case c.name == windowColumn:
			t.winCol = i
			continue
		case cfg.Window != nil && c.name == cfg.Window.TimeColumn:
			t.timeCol = i
			c.format = cfg.Window.Format
		}
		if c.path == "" {
			continue
		}
		if simplePath(c.path) {
			t.byKey[c.path] = i
		} else {
			t.complexCols = append(t.complexCols, i)
		}
	}
}

func (t *table) create(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+quoteIdent(t.schema)); err != nil {
		return err
	}
	defs := make([]string, len(t.cols))
	for i, c := range t.cols {
		defs[i] = quoteIdent(c.name) + " " + c.typ
	}
	_, err := conn.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+t.relation()+" ("+strings.Join(defs, ", ")+")")
	return err
}

// deleteWindow removes the rows a window's load replaces.
func (t *table) deleteWindow(ctx context.Context, conn *sql.Conn, w span) (int64, error) {
	var res sql.Result
	var err error
	switch {
	case w.isZero():
		res, err = conn.ExecContext(ctx, "DELETE FROM "+t.relation())
	case t.timeCol >= 0:
		c := quoteIdent(t.cols[t.timeCol].name)
		res, err = conn.ExecContext(ctx, "DELETE FROM "+t.relation()+" WHERE "+c+" >= ? AND "+c+" < ?", w.Start.UTC(), w.End.UTC())
	case t.winCol >= 0:
		c := quoteIdent(windowColumn)
		res, err = conn.ExecContext(ctx, "DELETE FROM "+t.relation()+" WHERE "+c+" >= ? AND "+c+" < ?", w.Start.UTC(), w.End.UTC())
	default:
		return 0, fmt.Errorf("table %s has neither the window's time_column nor %s, so a window cannot be replaced; set window.time_column or drop the table", t.relation(), windowColumn)
	}
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// rowBuilder converts records into appender rows.
type rowBuilder struct {
	t *table
	w span
}

// build fills row (one value per column, all nil) from rec; keep is false
// for a record outside the window (or without a time) when the table has a
// time column.
func (b *rowBuilder) build(rec gjson.Result, row []driver.Value) (keep bool, err error) {
	t := b.t
	var convErr error
	if len(t.byKey) > 0 {
		rec.ForEach(func(k, v gjson.Result) bool {
			i, ok := t.byKey[k.Str]
			if !ok {
				return true
			}
			row[i], convErr = convert(v, t.cols[i].typ, t.cols[i].format)
			if convErr != nil {
				convErr = fmt.Errorf("field %s: %w", t.cols[i].name, convErr)
				return false
			}
			return true
		})
		if convErr != nil {
			return false, convErr
		}
	}
	for _, i := range t.complexCols {
		v, err := convert(rec.Get(t.cols[i].path), t.cols[i].typ, t.cols[i].format)
		if err != nil {
			return false, fmt.Errorf("field %s (%s): %w", t.cols[i].name, t.cols[i].path, err)
		}
		row[i] = v
	}
	if t.winCol >= 0 {
		row[t.winCol] = b.w.Start.UTC()
	}
	if t.timeCol >= 0 && !b.w.isZero() {
		ts, ok := row[t.timeCol].(time.Time)
		if !ok || ts.Before(b.w.Start) || !ts.Before(b.w.End) {
			return false, nil
		}
	}
	return true, nil
}

// convert turns a JSON value into the Go value the appender wants for typ.
func convert(v gjson.Result, typ, format string) (driver.Value, error) {
	if v.Type == gjson.Null { // also missing
		return nil, nil
	}
	switch typ {
	case typeVarchar:
		if v.Type == gjson.String {
			return v.Str, nil
		}
		return v.Raw, nil
	case typeBigint:
		switch v.Type {
		case gjson.Number:
			if n, err := strconv.ParseInt(v.Raw, 10, 64); err == nil {
				return n, nil
			}
			if v.Num == float64(int64(v.Num)) {
				return int64(v.Num), nil
			}
		case gjson.String:
			if n, err := strconv.ParseInt(strings.TrimSpace(v.Str), 10, 64); err == nil {
				return n, nil
			}
		case gjson.True:
			return int64(1), nil
		case gjson.False:
			return int64(0), nil
		}
	case typeDouble:
		switch v.Type {
		case gjson.Number:
			return v.Num, nil
		case gjson.String:
			if f, err := strconv.ParseFloat(strings.TrimSpace(v.Str), 64); err == nil {
				return f, nil
			}
		}
	case typeBoolean:
		switch v.Type {
		case gjson.True, gjson.False:
			return v.Bool(), nil
		case gjson.String:
			if b, err := strconv.ParseBool(v.Str); err == nil {
				return b, nil
			}
		}
	case typeTimestamp:
		return parseRecordTime(v, format)
	}
	return nil, fmt.Errorf("cannot store %s as %s", clip(v.Raw), typ)
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// parseRecordTime reads a record's time in the window's format.
func parseRecordTime(v gjson.Result, format string) (time.Time, error) {
	if v.Type == gjson.Number {
		if format == "unix_ms" {
			return time.UnixMilli(int64(v.Num)).UTC(), nil
		}
		sec := int64(v.Num)
		return time.Unix(sec, int64((v.Num-float64(sec))*1e9)).UTC(), nil
	}
	if v.Type != gjson.String {
		return time.Time{}, fmt.Errorf("time %s is neither a string nor a number", clip(v.Raw))
	}
	s := v.Str
	switch format {
	case "", "rfc3339":
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05Z07:00", time.DateTime, time.DateOnly} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC(), nil
			}
		}
		return time.Time{}, fmt.Errorf("time %q is not RFC 3339", s)
	case "unix", "unix_ms":
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("time %q is not a number (window.format %s)", s, format)
		}
		return parseRecordTime(gjson.Result{Type: gjson.Number, Num: f}, format)
	case "date":
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("time %q is not a date (YYYY-MM-DD)", s)
		}
		return t, nil
	}
	t, err := time.Parse(format, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q does not match window.format %q", s, format)
	}
	return t.UTC(), nil
}

// newAppender opens DuckDB's appender on conn's connection, so appended
// rows belong to the transaction open on conn.
func newAppender(conn *sql.Conn, t *table) (*duckdb.Appender, error) {
	var app *duckdb.Appender
	err := conn.Raw(func(dc any) error {
		c, ok := dc.(driver.Conn)
		if !ok {
			return errors.New("not a DuckDB connection")
		}
		var err error
		app, err = duckdb.NewAppenderFromConn(c, t.schema, t.name)
		return err
	})
	return app, err
}

// readCursor returns the stored cursor of key ("" when none).
func readCursor(ctx context.Context, conn *sql.Conn, key string) (string, error) {
	if _, err := conn.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS main."+cursorTable+" (asset VARCHAR, cursor VARCHAR, updated_at TIMESTAMP)"); err != nil {
		return "", fmt.Errorf("creating %s: %w", cursorTable, err)
	}
	var c string
	err := conn.QueryRowContext(ctx, "SELECT cursor FROM main."+cursorTable+" WHERE asset = ?", key).Scan(&c)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return c, err
}

// writeCursor stores key's cursor; called inside the load's transaction.
func writeCursor(ctx context.Context, conn *sql.Conn, key, cursor string, now time.Time) error {
	if _, err := conn.ExecContext(ctx, "DELETE FROM main."+cursorTable+" WHERE asset = ?", key); err != nil {
		return err
	}
	_, err := conn.ExecContext(ctx, "INSERT INTO main."+cursorTable+" VALUES (?, ?, ?)", key, cursor, now.UTC())
	return err
}
