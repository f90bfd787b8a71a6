package dlt

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	_ "github.com/duckdb/duckdb-go/v2" // DuckDB driver, to confirm loads
)

// tableRef is a table whose new rows are counted, with its parents up to
// the root table (empty for a root table).
type tableRef struct {
	name  string
	chain []string
}

// loadCheck is what the destination says about a run's load packages.
type loadCheck struct {
	loadIDs []string
	// completed holds the load ids with a status 0 row in _dlt_loads.
	completed map[string]bool
	// rows counts each table's rows that belong to loadIDs.
	rows map[string]int64
}

// checkDuckDB opens the DuckDB destination read-only after the pipeline
// exited and checks loadIDs in <dataset>._dlt_loads. With discover (no load
// info from the script) the run's load ids are found instead: ids in
// _dlt_loads of the given schemas, or in the tables' _dlt_load_id, not
// older than since. Load ids are dlt's epoch-seconds timestamps.
func checkDuckDB(ctx context.Context, path, dataset string, loadIDs []string, discover bool, since time.Time, schemas []string, tables []tableRef) (*loadCheck, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("DuckDB file %s: %w (does the script load there? elt sets %s to this path unless it is already set)", path, err, EnvDuckDBCredentials)
	}
	db, err := sql.Open("duckdb", path+"?access_mode=read_only")
	if err != nil {
		return nil, fmt.Errorf("open DuckDB %s: %w", path, err)
	}
	defer db.Close()
	cols, err := tableColumns(ctx, db, dataset)
	if err != nil {
		return nil, fmt.Errorf("read tables of dataset %s in %s: %w", dataset, path, err)
	}
	c := &loadCheck{loadIDs: slices.Clone(loadIDs), completed: map[string]bool{}, rows: map[string]int64{}}
	_, hasLoads := cols["_dlt_loads"]
	ds := quoteIdent(dataset)
	if discover {
		after := float64(since.UnixNano())/1e9 - 1
		found := map[string]bool{}
		if hasLoads {
			q := "SELECT load_id FROM " + ds + "._dlt_loads WHERE TRY_CAST(load_id AS DOUBLE) >= ?"
			args := []any{after}
			if len(schemas) > 0 {
				q += " AND schema_name IN (" + placeholders(len(schemas)) + ")"
				for _, s := range schemas {
					args = append(args, s)
				}
			}
			if err := collect(ctx, db, found, q, args...); err != nil {
				return nil, err
			}
		}
		for _, t := range tables {
			if len(t.chain) > 0 || !cols[t.name]["_dlt_load_id"] {
				continue
			}
			q := "SELECT DISTINCT _dlt_load_id FROM " + ds + "." + quoteIdent(t.name) + " WHERE TRY_CAST(_dlt_load_id AS DOUBLE) >= ?"
			if err := collect(ctx, db, found, q, after); err != nil {
				return nil, err
			}
		}
		for id := range found {
			if !slices.Contains(c.loadIDs, id) {
				c.loadIDs = append(c.loadIDs, id)
			}
		}
		slices.Sort(c.loadIDs)
	}
	if len(c.loadIDs) == 0 {
		return c, nil
	}
	if hasLoads {
		q := "SELECT load_id FROM " + ds + "._dlt_loads WHERE status = 0 AND load_id IN (" + placeholders(len(c.loadIDs)) + ")"
		if err := collect(ctx, db, c.completed, q, anys(c.loadIDs)...); err != nil {
			return nil, err
		}
	}
	for _, t := range tables {
		n, err := countRows(ctx, db, dataset, t, cols, c.loadIDs)
		if err != nil {
			return nil, fmt.Errorf("count rows of %s.%s: %w", dataset, t.name, err)
		}
		if n >= 0 {
			c.rows[t.name] = n
		}
	}
	return c, nil
}

// countRows counts t's rows of the given loads: directly through
// _dlt_load_id on root tables, through the root (_dlt_root_id) or the chain
// of parents (_dlt_parent_id → _dlt_id) on nested ones, which dlt does not
// give a _dlt_load_id. It returns -1 when the table cannot be tied to a
// load, and 0 when the table does not exist (nothing was loaded to it).
func countRows(ctx context.Context, db *sql.DB, dataset string, t tableRef, cols map[string]map[string]bool, loadIDs []string) (int64, error) {
	tc, ok := cols[t.name]
	if !ok {
		return 0, nil
	}
	ds := quoteIdent(dataset)
	in := "(" + placeholders(len(loadIDs)) + ")"
	var q string
	switch {
	case tc["_dlt_load_id"]:
		q = "SELECT count(*) FROM " + ds + "." + quoteIdent(t.name) + " WHERE _dlt_load_id IN " + in
	case len(t.chain) == 0:
		return -1, nil
	default:
		root := t.chain[len(t.chain)-1]
		if !cols[root]["_dlt_load_id"] || !cols[root]["_dlt_id"] {
			return -1, nil
		}
		if tc["_dlt_root_id"] {
			q = "SELECT count(*) FROM " + ds + "." + quoteIdent(t.name) + " WHERE _dlt_root_id IN (SELECT _dlt_id FROM " +
				ds + "." + quoteIdent(root) + " WHERE _dlt_load_id IN " + in + ")"
			break
		}
		// Walk up the parents: x0 is the table, xN the root.
		names := append([]string{t.name}, t.chain...)
		var b strings.Builder
		fmt.Fprintf(&b, "SELECT count(*) FROM %s.%s x0", ds, quoteIdent(names[0]))
		for i := 1; i < len(names); i++ {
			if !cols[names[i-1]]["_dlt_parent_id"] || !cols[names[i]]["_dlt_id"] {
				return -1, nil
			}
			fmt.Fprintf(&b, " JOIN %s.%s x%d ON x%d._dlt_parent_id = x%d._dlt_id", ds, quoteIdent(names[i]), i, i-1, i)
		}
		fmt.Fprintf(&b, " WHERE x%d._dlt_load_id IN %s", len(names)-1, in)
		q = b.String()
	}
	var n int64
	if err := db.QueryRowContext(ctx, q, anys(loadIDs)...).Scan(&n); err != nil {
		return 0, err
	}
	return n, nil
}

// tableColumns returns the dataset's tables and their columns.
func tableColumns(ctx context.Context, db *sql.DB, dataset string) (map[string]map[string]bool, error) {
	rows, err := db.QueryContext(ctx, "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = ?", dataset)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]map[string]bool{}
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			return nil, err
		}
		if out[t] == nil {
			out[t] = map[string]bool{}
		}
		out[t][c] = true
	}
	return out, rows.Err()
}

func collect(ctx context.Context, db *sql.DB, into map[string]bool, q string, args ...any) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id sql.NullString
		if err := rows.Scan(&id); err != nil {
			return err
		}
		if id.Valid {
			into[id.String] = true
		}
	}
	return rows.Err()
}

func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

func anys(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
