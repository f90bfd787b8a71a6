package restapi

import (
	"context"
	"database/sql/driver"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sync/errgroup"
)

// Loading through DuckDB's JSON reader. Each page's records array (a slice
// of the response body, never parsed field by field in Go) is written to
// a file in a temporary folder, and batches of files are inserted with
// read_json and the table's columns declared, inside the window's
// transaction. Converting JSON values is then DuckDB's work, done the way
// read_json does it; the row-by-row Appender stays for columns that
// read_json cannot express (nested gjson paths, times in another format
// than RFC 3339).

// readerBatchBytes is how many bytes of pages wait before one INSERT reads
// them together (DuckDB reads the files of one INSERT in parallel).
const readerBatchBytes = 32 << 20

// jsonReadable reports whether every column of t can come from DuckDB's
// JSON reader: a top-level key, or the window column, and times in RFC
// 3339.
func jsonReadable(t *table) bool {
	for i, c := range t.cols {
		if i == t.winCol {
			continue
		}
		if !simplePath(c.path) || c.typ == typeTimestamp && c.format != "rfc3339" {
			return false
		}
	}
	return true
}

// readerBatch is a set of page files inserted by one statement.
type readerBatch struct {
	files   []string
	pages   []page
	records int
}

// readPages writes the pages to files and inserts them in batches. An
// inserting goroutine runs each batch while the next one is written.
func (j *windowJob) readPages(ctx context.Context, t *table, first page, pages <-chan page, st *windowStats) error {
	dir, err := os.MkdirTemp("", "elt-restapi-")
	if err != nil {
		return fmt.Errorf("a folder for the pages: %w", err)
	}
	defer os.RemoveAll(dir)
	// DuckDB reads times with an offset as instants; TIMESTAMP columns
	// hold them in UTC, as the Appender path writes them.
	_, _ = j.conn.ExecContext(ctx, "SET TimeZone = 'UTC'")
	query := readerInsert(t, j.w)

	batches := make(chan readerBatch, 1)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		for b := range batches {
			if err := j.insertBatch(gctx, t, query, b, st); err != nil {
				return err
			}
			for _, f := range b.files { // a long window never holds more than two batches on disk
				_ = os.Remove(f)
			}
		}
		return nil
	})
	var b readerBatch
	size := 0
	flush := func() error {
		if len(b.files) == 0 {
			return nil
		}
		select {
		case batches <- b:
		case <-gctx.Done():
			return context.Cause(gctx)
		}
		b, size = readerBatch{}, 0
		return nil
	}
	countAll := t.timeCol >= 0 && !j.w.isZero() // to report the skipped records
	write := func(pg page) error {
		st.pages++
		if pg.empty() {
			return nil
		}
		name := filepath.Join(dir, fmt.Sprintf("page-%07d.json", pg.number))
		// The array is a string into the body; write it without a copy.
		if err := os.WriteFile(name, unsafe.Slice(unsafe.StringData(pg.array), len(pg.array)), 0o600); err != nil {
			return fmt.Errorf("page %d: %w", pg.number, err)
		}
		b.files = append(b.files, name)
		b.pages = append(b.pages, pg)
		if countAll {
			b.records += len(pg.recs())
		}
		size += len(pg.array)
		if size >= readerBatchBytes {
			return flush()
		}
		return nil
	}
	err = write(first)
	for pg := range pages {
		if err != nil {
			break // drain: the fetcher stops on the cancelled context
		}
		err = write(pg)
	}
	if err == nil {
		err = flush()
	}
	close(batches)
	if ierr := g.Wait(); ierr != nil {
		return ierr
	}
	return err
}

// readerInsert returns the INSERT of one batch of files. Paths are the
// loader's own temporary files.
func readerInsert(t *table, w span) func(files []string) string {
	var names, exprs, cols []string
	seen := map[string]bool{}
	var timeExpr string
	for i, c := range t.cols {
		names = append(names, quoteIdent(c.name))
		if i == t.winCol {
			exprs = append(exprs, "TIMESTAMP '"+w.Start.UTC().Format("2006-01-02 15:04:05.999999")+"'")
			continue
		}
		typ := c.typ
		if typ == typeTimestamp {
			typ = "TIMESTAMPTZ"
		}
		if !seen[c.path] {
			seen[c.path] = true
			cols = append(cols, sqlString(c.path)+": "+sqlString(typ))
		}
		e := quoteIdent(c.path)
		if c.typ == typeTimestamp {
			// The instant in UTC; cheaper than a cast through the time
			// zone, with the same result.
			e = "make_timestamp(epoch_us(" + e + "))"
		}
		exprs = append(exprs, e)
		if i == t.timeCol {
			timeExpr = e
		}
	}
	head := "INSERT INTO " + t.relation() + " (" + strings.Join(names, ", ") + ")\nSELECT " + strings.Join(exprs, ", ") + "\nFROM read_json(["
	tail := "], format = 'array', columns = {" + strings.Join(cols, ", ") + "})"
	if timeExpr != "" && !w.isZero() {
		// Records outside the window (or without a time) are skipped, as
		// the window's re-run deletes by this column.
		ts := func(x time.Time) string { return "TIMESTAMP '" + x.UTC().Format("2006-01-02 15:04:05.999999") + "'" }
		tail += "\nWHERE " + timeExpr + " >= " + ts(w.Start) + " AND " + timeExpr + " < " + ts(w.End)
	}
	return func(files []string) string {
		quoted := make([]string, len(files))
		for i, f := range files {
			quoted[i] = sqlString(f)
		}
		return head + strings.Join(quoted, ", ") + tail
	}
}

// sqlString is a SQL string literal.
func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// insertBatch runs one batch. When DuckDB refuses a value, the batch's
// pages are converted in Go to name the record, as the Appender path
// does; DuckDB's own message is the answer when Go finds nothing wrong.
func (j *windowJob) insertBatch(ctx context.Context, t *table, query func([]string) string, b readerBatch, st *windowStats) error {
	res, err := j.conn.ExecContext(ctx, query(b.files))
	if err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return j.explain(t, b, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	st.rows += int(n)
	if b.records > 0 {
		st.skipped += b.records - int(n)
	}
	return nil
}

// explain finds the record whose value DuckDB could not load.
func (j *windowJob) explain(t *table, b readerBatch, err error) error {
	msg := err.Error()
	pages := b.pages
	for i, f := range b.files {
		if strings.Contains(msg, f) {
			pages = b.pages[i : i+1]
			msg = strings.ReplaceAll(msg, f, fmt.Sprintf("page %d", b.pages[i].number))
		}
	}
	rb := &rowBuilder{t: t, w: j.w}
	row := make([]driver.Value, len(t.cols))
	for _, pg := range pages {
		for i, rec := range pg.recs() {
			clear(row)
			if _, err := rb.build(rec, row); err != nil {
				return fmt.Errorf("page %d, record %d: %w", pg.number, i+1, err)
			}
		}
	}
	return fmt.Errorf("loading into %s: %s", t.relation(), msg)
}
