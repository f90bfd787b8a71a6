package duckdb

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
)

// sampleSize is how many failing rows a check result shows.
const sampleSize = 5

// checkRunner evaluates CheckConfig checks against the asset's relation.
type checkRunner struct {
	res        map[string]engine.Resource
	projectDir string
	now        func() time.Time
}

// NewCheckRunner returns the engine's CheckRunner for checks whose
// CheckSpec came from CheckConfig.Spec. The checked relation is the
// check's relation: when set, else the asset's "relation" metadata (SQL
// assets, dbt models, Sling streams, dlt resources), else
// Relation(key, ""); the resource is the check's resource:, else the
// asset's "duckdb_resource" metadata, else the default duckdb resource.
func NewCheckRunner(res map[string]engine.Resource, projectDir string) engine.CheckRunner {
	return &checkRunner{res: res, projectDir: projectDir, now: time.Now}
}

// RunCheck implements engine.CheckRunner. A check that ran and found bad
// rows is a result with Passed false; an error means it could not run.
func (r *checkRunner) RunCheck(ctx context.Context, req *engine.CheckRequest) (engine.CheckResult, error) {
	if req.Asset == nil {
		return engine.CheckResult{}, fmt.Errorf("check %s: no asset in the request", req.Check.Name)
	}
	key := req.Asset.Key
	c, err := checkFromSpec(req.Check)
	if err != nil {
		return engine.CheckResult{}, fmt.Errorf("asset %s: %w", key, err)
	}
	if c.Type == CheckFreshness && c.TimestampColumn == "" {
		return r.freshnessByMaterialization(c, req.LastMaterialized), nil
	}
	dir := r.projectDir
	if req.ProjectDir != "" {
		dir = req.ProjectDir
	}
	res := r.res
	if res == nil {
		res = req.Resources
	}
	resName := c.Resource
	if resName == "" {
		resName, _ = req.Asset.Metadata["duckdb_resource"].(string)
	}
	_, rc, err := PickResource(resName, res)
	if err != nil {
		return engine.CheckResult{}, fmt.Errorf("asset %s: check %s: %w", key, req.Check.Name, err)
	}
	db, conn, err := rc.open(ctx, dir)
	if err != nil {
		return engine.CheckResult{}, fmt.Errorf("asset %s: check %s: %w", key, req.Check.Name, err)
	}
	defer db.Close()
	defer conn.Close()
	return r.evaluate(ctx, conn, req.Asset, c, req.Partition)
}

// evaluate runs check c of spec on an open connection. The checked relation
// is the check's relation: when set, else the asset's "relation" metadata,
// else the asset's key; it is qualified with the connection's catalog, so a
// schema named like the file's catalog is not ambiguous.
func (r *checkRunner) evaluate(ctx context.Context, conn dbtx, spec *asset.Spec, c CheckConfig, p *engine.Partition) (engine.CheckResult, error) {
	key := spec.Key
	rel := keyRelation(key)
	var err error
	switch v, _ := spec.Metadata["relation"].(string); {
	case strings.TrimSpace(c.Relation) != "":
		if rel, err = parseRelation(c.Relation); err != nil {
			return engine.CheckResult{}, fmt.Errorf("asset %s: check %s: relation: %w", key, c.Name, err)
		}
	case v != "":
		if rel, err = parseRelation(v); err != nil {
			return engine.CheckResult{}, fmt.Errorf("asset %s: metadata relation: %w", key, err)
		}
	}
	catalog, err := currentCatalog(ctx, conn)
	if err != nil {
		return engine.CheckResult{}, fmt.Errorf("asset %s: check %s: %w", key, c.Name, err)
	}
	rel = rel.in(catalog)
	e := &checkEval{
		s:   session{db: conn, key: key},
		c:   c,
		rel: rel,
		env: &renderEnv{
			this:      rel,
			ref:       func(k asset.Key) string { return keyRelation(k).in(catalog).String() },
			partition: p,
			env:       os.LookupEnv,
		},
		now: r.now,
	}
	res, err := e.run(ctx)
	if err != nil {
		return engine.CheckResult{}, err
	}
	res.Severity = c.severity()
	return res, nil
}

// runStepChecks evaluates, on the step's own connection to resource
// resName, the DuckDB checks of the asset the step just materialized (md
// is its metadata) and emits their results, as the engine would after the
// step: no reopening of the file, whose close would checkpoint and whose
// reopen would start cold. Checks on another resource are left to the
// engine, which runs those a step did not report.
func (r *checkRunner) runStepChecks(ctx context.Context, conn dbtx, resName string, spec *asset.Spec, md map[string]any, p *engine.Partition, emit engine.Emitter) {
	if spec == nil {
		return
	}
	done := &asset.Spec{Key: spec.Key, Metadata: md}
	for _, cs := range spec.Checks {
		if cs.Runner != CheckRunnerName || ctx.Err() != nil {
			continue
		}
		c, err := checkFromSpec(cs)
		if err != nil {
			continue // the engine reports it
		}
		if c.Resource != "" && c.Resource != resName {
			continue
		}
		var res engine.CheckResult
		if c.Type == CheckFreshness && c.TimestampColumn == "" {
			res = r.freshnessByMaterialization(c, r.now())
		} else if res, err = r.evaluate(ctx, conn, done, c, p); err != nil {
			if ctx.Err() != nil {
				return // canceled: a check not run is not a failed check
			}
			res = engine.CheckResult{Passed: false, Severity: cs.Severity, Message: "check could not run: " + err.Error()}
		}
		if res.Severity == "" {
			res.Severity = cs.Severity
		}
		emit(engine.Checked(spec.Key, cs.Name, res))
	}
}

func (r *checkRunner) freshnessByMaterialization(c CheckConfig, last time.Time) engine.CheckResult {
	maxAge, _ := ParseMaxAge(c.MaxAge)
	res := engine.CheckResult{Severity: c.severity(), Metadata: map[string]any{"max_age": c.MaxAge}}
	if last.IsZero() {
		res.Message = "the asset has never been materialized"
		return res
	}
	age := r.now().Sub(last)
	res.Metadata["last_materialized"] = last.UTC().Format(time.RFC3339)
	res.Metadata["age"] = age.Round(time.Second).String()
	res.Passed = age <= maxAge
	if res.Passed {
		res.Message = fmt.Sprintf("last materialized %s ago (max %s)", age.Round(time.Second), c.MaxAge)
	} else {
		res.Message = fmt.Sprintf("last materialized %s ago, older than %s", age.Round(time.Second), c.MaxAge)
	}
	return res
}

// checkEval evaluates one check on an open connection.
type checkEval struct {
	s   session
	c   CheckConfig
	rel relation
	env *renderEnv
	now func() time.Time
}

// where renders the check's filter, "TRUE" without one.
func (e *checkEval) where(args []any) (string, []any, error) {
	if strings.TrimSpace(e.c.Where) == "" {
		return "TRUE", args, nil
	}
	w, args, err := renderFragment(e.c.Where, e.env, args)
	if err != nil {
		return "", nil, fmt.Errorf("asset %s: check where: %w", e.s.key, err)
	}
	return w, args, nil
}

func quoteCols(cols []string) []string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = quoteIdent(c)
	}
	return q
}

func (e *checkEval) run(ctx context.Context) (engine.CheckResult, error) {
	c := e.c
	cols := quoteCols(c.columns())
	colNames := strings.Join(c.columns(), ", ")
	where, args, err := e.where(nil)
	if err != nil {
		return engine.CheckResult{}, err
	}
	from := e.rel.String()
	rowsWhere := func(pred string) string {
		return "SELECT * FROM " + from + "\nWHERE (" + where + ")\n  AND (" + pred + ")"
	}
	switch c.Type {
	case CheckNotNull:
		preds := make([]string, len(cols))
		for i, col := range cols {
			preds[i] = col + " IS NULL"
		}
		return e.failingRows(ctx, rowsWhere(strings.Join(preds, " OR ")), args,
			func(n int64) string { return fmt.Sprintf("%d rows have NULL %s", n, colNames) },
			"no NULL "+colNames)
	case CheckAcceptedValues:
		ph := make([]string, len(c.Values))
		for i, v := range c.Values {
			args = append(args, v)
			ph[i] = fmt.Sprintf("$%d", len(args))
		}
		pred := cols[0] + " IS NOT NULL AND " + cols[0] + " NOT IN (" + strings.Join(ph, ", ") + ")"
		return e.failingRows(ctx, rowsWhere(pred), args,
			func(n int64) string { return fmt.Sprintf("%d rows have %s outside %v", n, colNames, c.Values) },
			fmt.Sprintf("every %s is in %v", colNames, c.Values))
	case CheckExpression:
		expr, args, err := renderFragment(c.Expression, e.env, args)
		if err != nil {
			return engine.CheckResult{}, fmt.Errorf("asset %s: check expression: %w", e.s.key, err)
		}
		return e.failingRows(ctx, rowsWhere("("+expr+") IS NOT TRUE"), args,
			func(n int64) string { return fmt.Sprintf("%d rows fail %s", n, c.Expression) },
			"every row satisfies "+c.Expression)
	case CheckSQL:
		q, args, err := renderFragment(c.SQL, e.env, nil)
		if err != nil {
			return engine.CheckResult{}, fmt.Errorf("asset %s: check sql: %w", e.s.key, err)
		}
		return e.failingRows(ctx, q, args,
			func(n int64) string { return fmt.Sprintf("the check query returned %d rows", n) },
			"the check query returned no rows")
	case CheckUnique:
		return e.unique(ctx, cols, colNames, where, args)
	case CheckRowCount:
		return e.rowCount(ctx, where, args)
	case CheckFreshness:
		return e.freshness(ctx, where, args)
	}
	return engine.CheckResult{}, fmt.Errorf("asset %s: check type %q is not supported", e.s.key, c.Type)
}

// failingRows counts the rows of query (each a failure) and samples them.
func (e *checkEval) failingRows(ctx context.Context, query string, args []any, failed func(int64) string, passed string) (engine.CheckResult, error) {
	n, err := e.s.queryInt(ctx, "SELECT count(*) FROM (\n"+query+"\n)", args...)
	if err != nil {
		return engine.CheckResult{}, err
	}
	res := engine.CheckResult{Passed: n == 0, Metadata: map[string]any{"failing_rows": n, "query": query}}
	if n == 0 {
		res.Message = passed
		return res, nil
	}
	res.Message = failed(n)
	sample, err := e.sample(ctx, "SELECT * FROM (\n"+query+"\n) LIMIT "+fmt.Sprint(sampleSize), args)
	if err != nil {
		return engine.CheckResult{}, err
	}
	res.Metadata["sample"] = sample
	return res, nil
}

func (e *checkEval) unique(ctx context.Context, cols []string, colNames, where string, args []any) (engine.CheckResult, error) {
	list := strings.Join(cols, ", ")
	notNull := make([]string, len(cols))
	for i, c := range cols {
		notNull[i] = c + " IS NOT NULL"
	}
	// Rows with a NULL key never collide, as in a SQL UNIQUE constraint.
	q := "SELECT " + list + ", count(*) AS \"elt_rows\" FROM " + e.rel.String() +
		"\nWHERE (" + where + ") AND " + strings.Join(notNull, " AND ") +
		"\nGROUP BY " + list + "\nHAVING count(*) > 1"
	var groups, rows int64
	err := e.s.db.QueryRowContext(ctx, "SELECT count(*), coalesce(sum(\"elt_rows\"), 0) FROM (\n"+q+"\n)", args...).Scan(&groups, &rows)
	if err != nil {
		return engine.CheckResult{}, &StatementError{Asset: e.s.key, Statement: q, Err: err}
	}
	res := engine.CheckResult{Passed: groups == 0, Metadata: map[string]any{"failing_rows": rows, "duplicate_values": groups, "query": q}}
	if groups == 0 {
		res.Message = colNames + " is unique"
		return res, nil
	}
	res.Message = fmt.Sprintf("%d values of %s occur more than once (%d rows)", groups, colNames, rows)
	sample, err := e.sample(ctx, q+"\nORDER BY \"elt_rows\" DESC LIMIT "+fmt.Sprint(sampleSize), args)
	if err != nil {
		return engine.CheckResult{}, err
	}
	res.Metadata["sample"] = sample
	return res, nil
}

func (e *checkEval) rowCount(ctx context.Context, where string, args []any) (engine.CheckResult, error) {
	q := "SELECT count(*) FROM " + e.rel.String() + " WHERE " + where
	n, err := e.s.queryInt(ctx, q, args...)
	if err != nil {
		return engine.CheckResult{}, err
	}
	res := engine.CheckResult{Passed: true, Metadata: map[string]any{"row_count": n, "failing_rows": int64(0), "query": q}}
	switch {
	case e.c.Min != nil && n < *e.c.Min:
		res.Passed = false
		res.Message = fmt.Sprintf("%d rows, fewer than min %d", n, *e.c.Min)
	case e.c.Max != nil && n > *e.c.Max:
		res.Passed = false
		res.Message = fmt.Sprintf("%d rows, more than max %d", n, *e.c.Max)
	default:
		res.Message = fmt.Sprintf("%d rows", n)
	}
	return res, nil
}

func (e *checkEval) freshness(ctx context.Context, where string, args []any) (engine.CheckResult, error) {
	maxAge, err := ParseMaxAge(e.c.MaxAge)
	if err != nil {
		return engine.CheckResult{}, fmt.Errorf("asset %s: %w", e.s.key, err)
	}
	col := quoteIdent(e.c.TimestampColumn)
	q := "SELECT CAST(max(" + col + ") AS TIMESTAMP) FROM " + e.rel.String() + " WHERE " + where
	var latest sql.NullTime
	if err := e.s.db.QueryRowContext(ctx, q, args...).Scan(&latest); err != nil {
		return engine.CheckResult{}, &StatementError{Asset: e.s.key, Statement: q, Err: err}
	}
	res := engine.CheckResult{Metadata: map[string]any{"max_age": e.c.MaxAge, "query": q}}
	if !latest.Valid {
		res.Message = fmt.Sprintf("no rows with a %s", e.c.TimestampColumn)
		return res, nil
	}
	// DuckDB TIMESTAMP values carry no zone; they are read as UTC.
	age := e.now().Sub(latest.Time)
	res.Metadata["latest"] = latest.Time.UTC().Format(time.RFC3339)
	res.Metadata["age"] = age.Round(time.Second).String()
	res.Passed = age <= maxAge
	if res.Passed {
		res.Message = fmt.Sprintf("latest %s is %s old (max %s)", e.c.TimestampColumn, age.Round(time.Second), e.c.MaxAge)
	} else {
		res.Message = fmt.Sprintf("latest %s is %s old, older than %s", e.c.TimestampColumn, age.Round(time.Second), e.c.MaxAge)
	}
	return res, nil
}

// sample reads up to sampleSize rows as column → value maps with JSON-safe
// values.
func (e *checkEval) sample(ctx context.Context, query string, args []any) ([]map[string]any, error) {
	rs, err := e.s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, &StatementError{Asset: e.s.key, Statement: query, Err: err}
	}
	defer rs.Close()
	cols, err := rs.Columns()
	if err != nil {
		return nil, &StatementError{Asset: e.s.key, Statement: query, Err: err}
	}
	out := []map[string]any{}
	for rs.Next() && len(out) < sampleSize {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			return nil, &StatementError{Asset: e.s.key, Statement: query, Err: err}
		}
		row := make(map[string]any, len(cols))
		for i, c := range cols {
			row[c] = jsonValue(vals[i])
		}
		out = append(out, row)
	}
	if err := rs.Err(); err != nil {
		return nil, &StatementError{Asset: e.s.key, Statement: query, Err: err}
	}
	return out, nil
}

// jsonValue turns a driver value into something JSON shows plainly.
func jsonValue(v any) any {
	switch v := v.(type) {
	case nil, bool, string, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float32, float64, int, uint:
		return v
	case []byte:
		return string(v)
	case time.Time:
		if v.Hour() == 0 && v.Minute() == 0 && v.Second() == 0 && v.Nanosecond() == 0 {
			return v.Format(time.DateOnly)
		}
		return v.UTC().Format(time.RFC3339Nano)
	case fmt.Stringer:
		return v.String()
	}
	return fmt.Sprint(v)
}
