package duckdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
)

// StatementError is a failed SQL statement of an asset or check. The
// statement is shown as sent, with $n placeholders: bound values (which may
// be secrets from env) never appear in it.
type StatementError struct {
	Asset     asset.Key
	Statement string
	Err       error
}

// maxStatementShown is how much of a failing statement an error shows.
const maxStatementShown = 300

// Error reads "asset raw/orders: <duckdb error>\n  in statement: <sql>".
func (e *StatementError) Error() string {
	msg := strings.TrimRight(e.Err.Error(), " \n")
	return fmt.Sprintf("asset %s: %s\n  in statement: %s", e.Asset, msg, clip(strings.TrimSpace(e.Statement), maxStatementShown))
}

// Unwrap returns the driver's error.
func (e *StatementError) Unwrap() error { return e.Err }

// clip shortens s to at most n bytes on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// dbtx is what both a connection and a transaction offer.
type dbtx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// session runs one asset's statements, wrapping errors with the asset key
// and logging each statement.
type session struct {
	db  dbtx
	key asset.Key
	log io.Writer
}

func (s session) exec(ctx context.Context, query string, args ...any) (int64, error) {
	if s.log != nil {
		fmt.Fprintf(s.log, "duckdb %s: %s\n", s.key, clip(oneLine(query), 200))
	}
	res, err := s.db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, &StatementError{Asset: s.key, Statement: query, Err: err}
	}
	n, _ := res.RowsAffected()
	return n, nil
}

func (s session) queryInt(ctx context.Context, query string, args ...any) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		return 0, &StatementError{Asset: s.key, Statement: query, Err: err}
	}
	return n, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// runner materializes SQL and import assets.
type runner struct {
	res        map[string]engine.Resource
	assets     map[asset.Key]AssetConfig
	projectDir string
	checks     *checkRunner
}

// NewRunner returns the Runner of duckdb assets: it materializes each of
// req.Assets with its AssetConfig (its own statement sequence, in order)
// and reports rows, columns, duration, relation and materialization as
// metadata. Each step opens the database, works and closes it; put the
// steps in the pool PoolName(file) so writers to one file take turns.
// The DuckDB checks of an asset (those in req.Specs) run right after it,
// on the step's connection, and are reported as the step's own.
func NewRunner(res map[string]engine.Resource, assets map[asset.Key]AssetConfig, projectDir string) engine.Runner {
	return &runner{res: res, assets: assets, projectDir: projectDir, checks: &checkRunner{res: res, projectDir: projectDir, now: time.Now}}
}

// Run implements engine.Runner. It stops at the first failing asset; the
// assets after it count as failed.
func (r *runner) Run(ctx context.Context, req *engine.Request, emit engine.Emitter) error {
	dir := r.projectDir
	if req.ProjectDir != "" {
		dir = req.ProjectDir
	}
	res := r.res
	if res == nil {
		res = req.Resources
	}
	type opened struct {
		db      *sql.DB
		conn    *sql.Conn
		rc      ResourceConfig
		catalog string
	}
	conns := map[string]opened{}
	defer func() {
		for _, o := range conns {
			o.conn.Close()
			o.db.Close()
		}
	}()
	for _, key := range req.Assets {
		cfg, ok := r.assets[key]
		fail := func(err error) error {
			emit(engine.Event{Type: engine.AssetFailed, Asset: key, Status: engine.StatusFailed, Message: err.Error()})
			return err
		}
		if !ok {
			return fail(fmt.Errorf("asset %s: no duckdb sql: or import: configured for it", key))
		}
		name, rc, err := PickResource(cfg.Resource, res)
		if err != nil {
			return fail(fmt.Errorf("asset %s: %w", key, err))
		}
		if rc.ReadOnly {
			return fail(fmt.Errorf("asset %s: resource %s is read_only; materializing needs write access", key, name))
		}
		o, ok := conns[name]
		if !ok {
			db, conn, err := rc.open(ctx, dir)
			if err != nil {
				return fail(fmt.Errorf("asset %s: %w", key, err))
			}
			catalog, err := currentCatalog(ctx, conn)
			if err != nil {
				conn.Close()
				db.Close()
				return fail(fmt.Errorf("asset %s: %w", key, err))
			}
			o = opened{db, conn, rc, catalog}
			conns[name] = o
		}
		md, err := r.materialize(ctx, o.conn, o.catalog, key, cfg, req, dir)
		if err != nil {
			return fail(err)
		}
		md["duckdb_resource"] = name
		emit(engine.Materialized(key, md))
		r.checks.runStepChecks(ctx, o.conn, name, req.Specs[key], md, req.Partition, emit)
	}
	return nil
}

// materialize runs one asset and returns its metadata.
func (r *runner) materialize(ctx context.Context, conn *sql.Conn, catalog string, key asset.Key, cfg AssetConfig, req *engine.Request, dir string) (map[string]any, error) {
	start := time.Now()
	rel, err := resolveRelation(key, cfg.Relation)
	if err != nil {
		return nil, fmt.Errorf("asset %s: %w", key, err)
	}
	rel = rel.in(catalog)
	s := session{db: conn, key: key, log: req.Log}
	md := map[string]any{"relation": rel.String(), "materialize": cfg.materialize()}
	if err := ensureSchema(ctx, s, rel); err != nil {
		return nil, err
	}
	if cfg.Import != nil {
		q, args, err := importStatement(rel, *cfg.Import, dir)
		if err != nil {
			return nil, fmt.Errorf("asset %s: %w", key, err)
		}
		if _, err := s.exec(ctx, q, args...); err != nil {
			return nil, err
		}
		md["import_path"] = cfg.Import.Path
	} else if err := r.runSQL(ctx, conn, s, rel, catalog, cfg, req, dir, md); err != nil {
		return nil, err
	}
	if err := describe(ctx, s, rel, md); err != nil {
		return nil, err
	}
	md["duration_ms"] = time.Since(start).Milliseconds()
	return md, nil
}

func (r *runner) runSQL(ctx context.Context, conn *sql.Conn, s session, rel relation, catalog string, cfg AssetConfig, req *engine.Request, dir string, md map[string]any) error {
	text, file, err := cfg.LoadSQL(dir)
	if err != nil {
		return fmt.Errorf("asset %s: %w", s.key, err)
	}
	where := "sql"
	if file != "" {
		where = file
	}
	stmts, err := parseSQL(text)
	if err != nil {
		return fmt.Errorf("asset %s: %s: %w", s.key, where, err)
	}
	if len(stmts) == 0 {
		return fmt.Errorf("asset %s: %s has no statement", s.key, where)
	}
	env := req.Env
	if env == nil {
		env = os.Environ()
	}
	renv := &renderEnv{this: rel, ref: r.refRelation(req, catalog), partition: req.Partition, env: lookupEnv(env)}
	mat := cfg.materialize()
	if mat != MaterializeScript && len(stmts) != 1 {
		return fmt.Errorf("asset %s: %s: materialize: %s takes one SELECT, found %d statements (use materialize: script to run several)", s.key, where, mat, len(stmts))
	}
	render := func(st statement) (string, []any, error) {
		q, args, err := st.render(renv, nil)
		if err != nil {
			return "", nil, fmt.Errorf("asset %s: %s: %w", s.key, where, err)
		}
		return q, args, nil
	}
	switch mat {
	case MaterializeScript:
		for _, st := range stmts {
			q, args, err := render(st)
			if err != nil {
				return err
			}
			if _, err := s.exec(ctx, q, args...); err != nil {
				return err
			}
		}
		if ok, err := relationExists(ctx, s, rel); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("asset %s: the script did not create %s (name it with {{ this }}, or set relation: to the table it writes)", s.key, rel)
		}
		return nil
	case MaterializeView:
		if stmts[0].hasValues() {
			return fmt.Errorf("asset %s: %s: a view cannot keep bound values ({{ partition_* }}, {{ env }}); use materialize: table", s.key, where)
		}
		q, _, err := render(stmts[0])
		if err != nil {
			return err
		}
		_, err = s.exec(ctx, "CREATE OR REPLACE VIEW "+rel.String()+" AS\n"+q+"\n")
		return err
	}
	q, args, err := render(stmts[0])
	if err != nil {
		return err
	}
	if mat == MaterializeIncremental && req.Partition != nil {
		return incremental(ctx, conn, s, rel, cfg.PartitionColumn, req.Partition, q, args, md)
	}
	if mat == MaterializeIncremental {
		md["full_refresh"] = true
	}
	_, err = s.exec(ctx, "CREATE OR REPLACE TABLE "+rel.String()+" AS\n"+q+"\n", args...)
	return err
}

// refRelation resolves {{ ref("a/b") }}: a configured duckdb asset's
// relation, else the relation metadata of a spec in the request, else the
// relation derived from the key; qualified with catalog where needed.
func (r *runner) refRelation(req *engine.Request, catalog string) func(asset.Key) string {
	return func(k asset.Key) string {
		if c, ok := r.assets[k]; ok {
			if rel, err := resolveRelation(k, c.Relation); err == nil {
				return rel.in(catalog).String()
			}
			return Relation(k, c.Relation)
		}
		if sp := req.Specs[k]; sp != nil {
			if v, ok := sp.Metadata["relation"].(string); ok && v != "" {
				if rel, err := parseRelation(v); err == nil {
					return rel.in(catalog).String()
				}
			}
		}
		return keyRelation(k).in(catalog).String()
	}
}

// stageTable is the temporary table holding a partition's new rows.
const stageTable = "elt_incremental_stage"

// incremental replaces one partition's rows in one transaction: stage the
// new rows, refuse rows outside the partition (they would survive a re-run
// of this partition and be duplicated), delete the partition's rows,
// insert. Re-running a partition therefore gives the same table.
func incremental(ctx context.Context, conn *sql.Conn, s session, rel relation, column string, p *engine.Partition, query string, args []any, md map[string]any) (err error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("asset %s: begin transaction: %w", s.key, err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	ts := session{db: tx, key: s.key, log: s.log}
	stage := relation{Catalog: "temp", Schema: "main", Name: stageTable}.String()
	if _, err := ts.exec(ctx, "CREATE OR REPLACE TEMP TABLE "+quoteIdent(stageTable)+" AS\n"+query+"\n", args...); err != nil {
		return err
	}
	cond, condArgs := partitionCondition(quoteIdent(column), p)
	outside, err := ts.queryInt(ctx, "SELECT count(*) FROM "+stage+" WHERE ("+cond+") IS NOT TRUE", condArgs...)
	if err != nil {
		return err
	}
	if outside > 0 {
		return fmt.Errorf("asset %s: %d new rows have %s outside partition %s; filter the query with WHERE %s >= {{ partition_start }} AND %s < {{ partition_end }}", s.key, outside, quoteIdent(column), p.Key, quoteIdent(column), quoteIdent(column))
	}
	exists, err := relationExists(ctx, ts, rel)
	if err != nil {
		return err
	}
	var deleted, inserted int64
	if exists {
		if deleted, err = ts.exec(ctx, "DELETE FROM "+rel.String()+" WHERE "+cond, condArgs...); err != nil {
			return err
		}
		if inserted, err = ts.exec(ctx, "INSERT INTO "+rel.String()+" BY NAME SELECT * FROM "+stage); err != nil {
			return err
		}
	} else {
		if _, err = ts.exec(ctx, "CREATE TABLE "+rel.String()+" AS SELECT * FROM "+stage); err != nil {
			return err
		}
		if inserted, err = ts.queryInt(ctx, "SELECT count(*) FROM "+stage); err != nil {
			return err
		}
	}
	if _, err = ts.exec(ctx, "DROP TABLE "+stage); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("asset %s: commit: %w", s.key, err)
	}
	md["rows_deleted"] = deleted
	md["rows_inserted"] = inserted
	md["partition_column"] = column
	return nil
}

// partitionCondition is the predicate selecting a partition's rows: the
// window [start, end) for time partitions, else the key (or keys).
func partitionCondition(col string, p *engine.Partition) (string, []any) {
	if p.HasWindow() {
		return col + " >= CAST($1 AS TIMESTAMP) AND " + col + " < CAST($2 AS TIMESTAMP)", []any{wallClock(p.Start), wallClock(p.End)}
	}
	keys := p.Keys
	if len(keys) == 0 {
		keys = []string{p.Key}
	}
	ph := make([]string, len(keys))
	args := make([]any, len(keys))
	for i, k := range keys {
		ph[i] = fmt.Sprintf("$%d", i+1)
		args[i] = k
	}
	return "CAST(" + col + " AS VARCHAR) IN (" + strings.Join(ph, ", ") + ")", args
}

// ensureSchema creates the relation's schema unless it is main.
func ensureSchema(ctx context.Context, s session, rel relation) error {
	if strings.EqualFold(rel.Schema, "main") {
		return nil
	}
	_, err := s.exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+rel.schemaRef())
	return err
}

// catalogFilter matches information_schema rows of rel ($1 catalog or the
// current database, $2 schema, $3 name); DuckDB matches names without
// regard to case.
const catalogFilter = "table_catalog = coalesce(nullif($1, ''), current_database()) AND lower(table_schema) = lower($2) AND lower(table_name) = lower($3)"

func relationExists(ctx context.Context, s session, rel relation) (bool, error) {
	n, err := s.queryInt(ctx, "SELECT count(*) FROM information_schema.tables WHERE "+catalogFilter, rel.Catalog, rel.Schema, rel.Name)
	return n > 0, err
}

// describe adds rows, columns and data_version of rel to md. The data
// version is an order-independent hash of every row (bit_xor of row
// hashes): equal versions mean a re-run changed nothing.
func describe(ctx context.Context, s session, rel relation, md map[string]any) error {
	var rows int64
	var version uint64
	q := "SELECT count(*), coalesce(bit_xor(hash(t)), 0) FROM " + rel.String() + " AS t"
	if err := s.db.QueryRowContext(ctx, q).Scan(&rows, &version); err != nil {
		return &StatementError{Asset: s.key, Statement: q, Err: err}
	}
	md["rows"] = rows
	md["data_version"] = fmt.Sprintf("%016x", version)
	q = "SELECT column_name, data_type FROM information_schema.columns WHERE " + catalogFilter + " ORDER BY ordinal_position"
	rs, err := s.db.QueryContext(ctx, q, rel.Catalog, rel.Schema, rel.Name)
	if err != nil {
		return &StatementError{Asset: s.key, Statement: q, Err: err}
	}
	defer rs.Close()
	cols := []map[string]any{}
	for rs.Next() {
		var name, typ string
		if err := rs.Scan(&name, &typ); err != nil {
			return &StatementError{Asset: s.key, Statement: q, Err: err}
		}
		cols = append(cols, map[string]any{"name": name, "type": typ})
	}
	if err := rs.Err(); err != nil {
		return &StatementError{Asset: s.key, Statement: q, Err: err}
	}
	md["columns"] = cols
	return nil
}

// importStatement loads a file with DuckDB's reader for its format; the
// path and every option value are bound parameters.
func importStatement(rel relation, ic ImportConfig, dir string) (string, []any, error) {
	reader, ok := readerFor(ic.format())
	if !ok {
		return "", nil, fmt.Errorf("import %s: format %q: use csv, json or parquet", ic.Path, ic.format())
	}
	path := ic.Path
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	args := []any{path}
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE OR REPLACE TABLE %s AS SELECT * FROM %s($1", rel, reader)
	bind := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	for _, k := range sortedKeys(ic.Options) {
		if !optionName.MatchString(k) {
			return "", nil, fmt.Errorf("import %s: option %q is not a reader parameter name", ic.Path, k)
		}
		v := ic.Options[k]
		if err := checkOptionValue(v); err != nil {
			return "", nil, fmt.Errorf("import %s: option %s: %w", ic.Path, k, err)
		}
		fmt.Fprintf(&b, ", %s = ", k)
		switch v := v.(type) {
		case []any:
			parts := make([]string, len(v))
			for i, x := range v {
				parts[i] = bind(x)
			}
			b.WriteString("[" + strings.Join(parts, ", ") + "]")
		case map[string]any:
			parts := make([]string, 0, len(v))
			for _, mk := range sortedKeys(v) {
				parts = append(parts, quoteString(mk)+": "+bind(v[mk]))
			}
			b.WriteString("{" + strings.Join(parts, ", ") + "}")
		default:
			b.WriteString(bind(v))
		}
	}
	b.WriteString(")")
	return b.String(), args, nil
}

// quoteString writes a SQL string literal; used only for struct field
// names of reader options (column names), never for values.
func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// checkOptionValue accepts scalars, lists of scalars and maps of scalars
// (columns: {date: DATE}).
func checkOptionValue(v any) error {
	switch v := v.(type) {
	case []any:
		for _, x := range v {
			if !isScalar(x) {
				return errors.New("list items must be strings, numbers or booleans")
			}
		}
	case map[string]any:
		for _, x := range v {
			if !isScalar(x) {
				return errors.New("map values must be strings, numbers or booleans")
			}
		}
	default:
		if !isScalar(v) {
			return fmt.Errorf("unsupported value of type %T", v)
		}
	}
	return nil
}

func isScalar(v any) bool {
	switch v.(type) {
	case string, bool, int, int64, float64, uint64:
		return true
	}
	return false
}
