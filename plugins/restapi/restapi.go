// Package restapi is elt's built-in REST API extraction plugin. It reads a
// JSON API window by window (a partition's window, or for unpartitioned
// assets from the stored cursor up to the last complete interval before
// now - lag), follows its pagination, and loads the records into a DuckDB
// table through the Appender: each window in one transaction that first
// deletes the window's rows, so re-running a window replaces it. Requests
// are bounded (per-request timeout, a step deadline, a rate limit) and
// retried on 429, 5xx and network errors, honouring Retry-After.
//
// The cursor of an unpartitioned asset lives in the destination database
// (table main._elt_cursors: asset, cursor, updated_at) and is written in
// the window's transaction, so it advances only when the rows are
// committed. The plugin runs in its own process and cannot reach elt's
// run store.
package restapi

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/plugins/sdk"
	"golang.org/x/sync/errgroup"

	"github.com/duckdb/duckdb-go/v2"
)

// Plugin implements sdk.Plugin. The zero value is not ready; use New.
type Plugin struct {
	// Now is the clock (windows end at Now - lag).
	Now func() time.Time
	// HTTP is the client used for requests; timeouts come from contexts.
	HTTP *http.Client

	// rowAppender loads every page row by row through the Appender, the
	// path for columns DuckDB's JSON reader cannot express (tests compare
	// the two paths).
	rowAppender bool
}

// New returns the plugin with the real clock and a pooled HTTP client.
func New() *Plugin {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 4
	return &Plugin{Now: time.Now, HTTP: &http.Client{Transport: tr}}
}

func decodeConfig(raw sdk.Config) (*Config, error) {
	var cfg Config
	if err := raw.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("restapi: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("restapi config: %w", err)
	}
	return &cfg, nil
}

// Describe returns the one asset the configuration loads.
func (p *Plugin) Describe(_ context.Context, raw sdk.Config) ([]asset.Spec, error) {
	cfg, err := decodeConfig(raw)
	if err != nil {
		return nil, err
	}
	key, err := cfg.AssetKey()
	if err != nil {
		return nil, fmt.Errorf("restapi config: %w", err)
	}
	schema, table, _ := splitTable(cfg.Destination.Table)
	md := map[string]any{
		"table":    schema + "." + table,
		"base_url": cfg.BaseURL,
	}
	if cfg.Window != nil {
		md["window_interval"] = cfg.Window.Interval
	}
	return []asset.Spec{{
		Key:         key,
		Kinds:       []string{"restapi", "duckdb"},
		Description: "Extracted from " + cfg.BaseURL + cfg.Path + " into " + schema + "." + table,
		Metadata:    md,
	}}, nil
}

// Materialize extracts and loads every window of the request.
func (p *Plugin) Materialize(ctx context.Context, req *sdk.Request, emit engine.Emitter) error {
	started := time.Now()
	cfg, err := decodeConfig(req.Config)
	if err != nil {
		return err
	}
	key, err := cfg.AssetKey()
	if err != nil {
		return fmt.Errorf("restapi config: %w", err)
	}
	if len(req.Assets) > 0 {
		key = req.Assets[0]
	}
	if cfg.Deadline > 0 {
		var cancel context.CancelFunc
		d := time.Duration(cfg.Deadline)
		ctx, cancel = context.WithTimeoutCause(ctx, d, fmt.Errorf("the step's deadline of %s passed", d))
		defer cancel()
	}
	auth, secrets, err := authFunc(cfg.Auth, req.Resources)
	if err != nil {
		return fmt.Errorf("restapi %s: %w", key, err)
	}
	dbPath, err := destinationPath(cfg, req)
	if err != nil {
		return fmt.Errorf("restapi %s: %w", key, err)
	}
	db, err := sql.Open("duckdb", dbPath)
	if err != nil {
		return fmt.Errorf("restapi %s: opening %s: %w", key, dbPath, err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("restapi %s: opening %s: %w", key, dbPath, err)
	}
	defer conn.Close()

	now := p.now()
	cursorMode := cfg.Window != nil && !req.Partition.Engine().HasWindow()
	var windows []span
	cursor := ""
	switch {
	case cursorMode:
		if cursor, err = readCursor(ctx, conn, key.String()); err != nil {
			return fmt.Errorf("restapi %s: reading the cursor: %w", key, err)
		}
		if windows, err = unpartitionedWindows(cfg.Window, cursor, now); err != nil {
			return fmt.Errorf("restapi %s: %w", key, err)
		}
	case req.Partition.Engine().HasWindow():
		if windows, err = partitionWindows(cfg.Window, req.Partition.Start.UTC(), req.Partition.End.UTC()); err != nil {
			return fmt.Errorf("restapi %s: %w", key, err)
		}
	default:
		windows = []span{{}}
	}
	schema, name, _ := splitTable(cfg.Destination.Table)
	partKey := ""
	if req.Partition != nil {
		partKey = req.Partition.Key
	}
	var total windowStats
	limit := newLimiter(cfg.RateLimit) // one budget for the whole step
	for i, w := range windows {
		job := &windowJob{
			cfg: cfg, conn: conn, key: key.String(), w: w, cursorMode: cursorMode, now: now,
			fetch: &fetcher{cfg: cfg, client: p.httpClient(), auth: auth, limit: limit, secrets: secrets,
				vars: map[string]string{"start": "", "end": "", "cursor": cursor, "partition": partKey}},
			table:    &table{schema: schema, name: name},
			appender: p.rowAppender,
		}
		if !w.isZero() {
			format := "rfc3339"
			if cfg.Window != nil {
				format = cfg.Window.Format
			}
			job.fetch.vars["start"] = formatTime(w.Start, format)
			job.fetch.vars["end"] = formatTime(w.End, format)
		}
		what, noun := "window "+w.String(), "window"
		if w.isZero() {
			what, noun = "full refresh", "refresh"
		}
		st, err := job.run(ctx)
		if err != nil {
			done := ""
			if i > 0 {
				done = fmt.Sprintf(" (%d earlier window(s) were committed)", i)
			}
			return fmt.Errorf("restapi %s: %s: %w; nothing of this %s was committed%s", key, what, err, noun, done)
		}
		emit(engine.LogLine(fmt.Sprintf("restapi %s: %s: %d rows from %d pages (%d requests, %d retries, %d rows replaced, %d skipped) in %s",
			key, what, st.rows, st.pages, st.requests, st.retries, st.deleted, st.skipped, st.duration.Round(time.Millisecond))))
		total.add(st)
		if cursorMode {
			cursor = formatTime(w.End, "rfc3339")
		}
	}
	md := map[string]any{
		"rows":        total.rows,
		"pages":       total.pages,
		"requests":    total.requests,
		"retries":     total.retries,
		"windows":     len(windows),
		"duration_ms": time.Since(started).Milliseconds(),
		"table":       schema + "." + name,
	}
	if total.skipped > 0 {
		md["rows_skipped"] = total.skipped
	}
	if n := len(windows); n > 0 && !windows[0].isZero() {
		md["window_start"] = windows[0].Start.UTC().Format(time.RFC3339)
		md["window_end"] = windows[n-1].End.UTC().Format(time.RFC3339)
	}
	if cursorMode {
		md["cursor"] = cursor
	}
	emit(engine.Materialized(key, md))
	return nil
}

func (p *Plugin) now() time.Time {
	if p.Now == nil {
		return time.Now()
	}
	return p.Now()
}

func (p *Plugin) httpClient() *http.Client {
	if p.HTTP == nil {
		return http.DefaultClient
	}
	return p.HTTP
}

// destinationPath is the DuckDB file of the destination resource.
func destinationPath(cfg *Config, req *sdk.Request) (string, error) {
	r, ok := req.Resources[cfg.Destination.Resource]
	if !ok {
		return "", fmt.Errorf("destination.resource %q is not a resource of the project", cfg.Destination.Resource)
	}
	if r.Type != "" && r.Type != "duckdb" {
		return "", fmt.Errorf("destination.resource %q has type %s; it must be a duckdb resource", cfg.Destination.Resource, r.Type)
	}
	path := r.Config["path"]
	if path == "" {
		return "", fmt.Errorf("destination.resource %q has no path", cfg.Destination.Resource)
	}
	if !filepath.IsAbs(path) && req.ProjectDir != "" {
		path = filepath.Join(req.ProjectDir, path)
	}
	return path, nil
}

type windowStats struct {
	rows, pages, requests, retries, skipped int
	deleted                                 int64
	duration                                time.Duration
}

func (s *windowStats) add(o windowStats) {
	s.rows += o.rows
	s.pages += o.pages
	s.requests += o.requests
	s.retries += o.retries
	s.skipped += o.skipped
	s.deleted += o.deleted
	s.duration += o.duration
}

// windowJob loads one window: a fetching goroutine hands pages to the
// loader, which appends them inside one transaction.
type windowJob struct {
	cfg        *Config
	conn       *sql.Conn
	key        string
	w          span
	cursorMode bool
	now        time.Time
	fetch      *fetcher
	table      *table
	// appender forces the row-by-row Appender (tests compare the paths).
	appender bool
}

func (j *windowJob) run(ctx context.Context) (windowStats, error) {
	start := time.Now()
	pages := make(chan page, 2)
	var fetchErr error
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		fetchErr = j.fetch.walk(gctx, func(pg page) error {
			select {
			case pages <- pg:
				return nil
			case <-gctx.Done():
				return context.Cause(gctx)
			}
		})
		close(pages) // after fetchErr is set: the loader reads it once pages is closed
		return fetchErr
	})
	var st windowStats
	g.Go(func() error {
		var err error
		st, err = j.load(gctx, pages, &fetchErr)
		return err
	})
	err := g.Wait()
	st.requests, st.retries = j.fetch.requests, j.fetch.retries
	st.duration = time.Since(start)
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w (after %d pages, %d requests)", context.Cause(ctx), st.pages, j.fetch.requests)
	}
	return st, err
}

// load consumes pages inside one transaction: create the table if needed,
// delete the window's rows, append, move the cursor, commit. Any failure
// (including the fetcher's) rolls everything back.
func (j *windowJob) load(ctx context.Context, pages <-chan page, fetchErr *error) (st windowStats, err error) {
	first, ok := <-pages
	if !ok {
		return st, *fetchErr
	}
	// Columns are inferred from the first page with records.
	for first.empty() {
		next, ok := <-pages
		if !ok {
			break
		}
		st.pages++
		first = next
	}
	conn := j.conn
	if _, err := conn.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		return st, err
	}
	committed := false
	defer func() {
		if !committed {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	t := j.table
	existing, err := existingColumns(ctx, conn, t.schema, t.name)
	if err != nil {
		return st, err
	}
	withWinCol := !j.w.isZero() && (j.cfg.Window == nil || j.cfg.Window.TimeColumn == "")
	t.cols = planColumns(j.cfg, existing, first.recs(), withWinCol)
	t.index(j.cfg)
	if existing == nil {
		if len(t.cols) == 0 || (len(t.cols) == 1 && t.winCol == 0) {
			// Nothing to infer the columns from and nothing declared: there
			// is no table to replace rows in either.
			st.pages++ // the fetcher has finished: every page was empty
			if *fetchErr != nil {
				return st, *fetchErr
			}
			return st, j.commit(ctx, &committed)
		}
		if err := t.create(ctx, conn); err != nil {
			return st, fmt.Errorf("creating %s: %w", t.relation(), err)
		}
	}
	if st.deleted, err = t.deleteWindow(ctx, conn, j.w); err != nil {
		return st, fmt.Errorf("deleting the window's rows from %s: %w", t.relation(), err)
	}
	if jsonReadable(t) && !j.appender {
		if err := j.readPages(ctx, t, first, pages, &st); err != nil {
			return st, err
		}
		if *fetchErr != nil {
			return st, *fetchErr
		}
		return st, j.commit(ctx, &committed)
	}
	app, err := newAppender(conn, t)
	if err != nil {
		return st, fmt.Errorf("appender on %s: %w", t.relation(), err)
	}
	appClosed := false
	defer func() {
		if !appClosed {
			_ = app.Close()
		}
	}()
	if err := j.appendPages(ctx, app, t, first, pages, &st); err != nil {
		return st, err
	}
	if *fetchErr != nil {
		return st, *fetchErr
	}
	appClosed = true
	if err := app.Close(); err != nil {
		return st, fmt.Errorf("flushing rows into %s: %w", t.relation(), err)
	}
	return st, j.commit(ctx, &committed)
}

// appendPages converts pages to rows and appends them. Converting and
// appending run in two goroutines (a page at a time between them), since
// each costs about as much as the other.
func (j *windowJob) appendPages(ctx context.Context, app *duckdb.Appender, t *table, first page, pages <-chan page, st *windowStats) error {
	ncol := len(t.cols)
	batches := make(chan []driver.Value, 2)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		for batch := range batches {
			for i := 0; i < len(batch); i += ncol {
				if err := app.AppendRow(batch[i : i+ncol]...); err != nil {
					return fmt.Errorf("appending to %s: %w", t.relation(), err)
				}
			}
		}
		return nil
	})
	b := &rowBuilder{t: t, w: j.w}
	convertPage := func(pg page) error {
		st.pages++
		recs := pg.recs()
		batch := make([]driver.Value, len(recs)*ncol)
		n := 0
		for i, rec := range recs {
			row := batch[n*ncol : (n+1)*ncol]
			keep, err := b.build(rec, row)
			if err != nil {
				return fmt.Errorf("page %d, record %d: %w", pg.number, i+1, err)
			}
			if !keep {
				clear(row)
				st.skipped++
				continue
			}
			n++
		}
		st.rows += n
		select {
		case batches <- batch[:n*ncol]:
			return nil
		case <-gctx.Done():
			return context.Cause(gctx)
		}
	}
	err := convertPage(first)
	for pg := range pages {
		if err != nil {
			break
		}
		err = convertPage(pg)
	}
	close(batches)
	if aerr := g.Wait(); aerr != nil {
		return aerr
	}
	return err
}

func (j *windowJob) commit(ctx context.Context, committed *bool) error {
	if j.cursorMode {
		if err := writeCursor(ctx, j.conn, j.key, formatTime(j.w.End, "rfc3339"), j.now); err != nil {
			return fmt.Errorf("moving the cursor: %w", err)
		}
	}
	if _, err := j.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	*committed = true
	return nil
}
