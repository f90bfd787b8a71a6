package duckdb

import (
	"context"
	"fmt"
	"os"
	"strings"
)

// TableRef names a table of a DuckDB file by schema and name.
type TableRef struct{ Schema, Name string }

// CatalogColumn is one column as DuckDB's catalog describes it.
type CatalogColumn struct{ Name, Type string }

// TableColumns reads the columns of tables, in their order, from the
// file's catalog (duckdb_columns()), opening it read-only for this one
// query. The caller holds the file's pool (PoolName) so no writer in this
// process has it open. A missing file or table yields no entry.
func (c ResourceConfig) TableColumns(ctx context.Context, projectDir string, tables []TableRef) (map[TableRef][]CatalogColumn, error) {
	out := map[TableRef][]CatalogColumn{}
	if len(tables) == 0 || strings.HasPrefix(c.Path, ":memory:") {
		return out, nil
	}
	if _, err := os.Stat(c.AbsPath(projectDir)); err != nil {
		return out, nil
	}
	ro := c
	ro.ReadOnly = true
	db, conn, err := ro.openOnce(ctx, projectDir)
	if err != nil {
		return nil, fmt.Errorf("read the catalog of %s: %w", c.AbsPath(projectDir), err)
	}
	defer db.Close()
	defer conn.Close()
	want := map[TableRef]bool{}
	args := make([]any, 0, len(tables))
	marks := make([]string, 0, len(tables))
	for _, t := range tables {
		if !want[t] {
			want[t] = true
			args = append(args, t.Name)
			marks = append(marks, "?")
		}
	}
	rows, err := conn.QueryContext(ctx, `SELECT schema_name, table_name, column_name, data_type FROM duckdb_columns()
		WHERE database_name = current_database() AND table_name IN (`+strings.Join(marks, ",")+`)
		ORDER BY schema_name, table_name, column_index`, args...)
	if err != nil {
		return nil, fmt.Errorf("read the catalog of %s: %w", c.AbsPath(projectDir), err)
	}
	defer rows.Close()
	for rows.Next() {
		var t TableRef
		var col CatalogColumn
		if err := rows.Scan(&t.Schema, &t.Name, &col.Name, &col.Type); err != nil {
			return nil, fmt.Errorf("read the catalog of %s: %w", c.AbsPath(projectDir), err)
		}
		if want[t] {
			out[t] = append(out[t], col)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the catalog of %s: %w", c.AbsPath(projectDir), err)
	}
	return out, nil
}
