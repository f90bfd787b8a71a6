package lineage

import (
	"path/filepath"
	"strings"
)

// DuckDBDataset names a table of a DuckDB file as OpenLineage's naming
// conventions do: namespace duckdb://<absolute file path>, name
// <catalog>.<schema>.<table>, where the catalog of a file is its base name
// without extension (what DuckDB calls the attached database).
func DuckDBDataset(path, schema, table string) DatasetID {
	abs := filepath.ToSlash(path)
	catalog := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	if schema == "" {
		schema = "main"
	}
	return DatasetID{Namespace: "duckdb://" + abs, Name: catalog + "." + schema + "." + table}
}

// PostgresDataset names a PostgreSQL table: postgres://host:port and
// database.schema.table.
func PostgresDataset(host, port, database, schema, table string) DatasetID {
	if port == "" {
		port = "5432"
	}
	if schema == "" {
		schema = "public"
	}
	return DatasetID{Namespace: "postgres://" + host + ":" + port, Name: database + "." + schema + "." + table}
}

// SplitRelation splits a relation such as "main"."orders" or
// jaffle.main.orders into its unquoted parts.
func SplitRelation(s string) []string {
	var parts []string
	var cur strings.Builder
	quoted := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' && quoted && i+1 < len(s) && s[i+1] == '"':
			cur.WriteByte('"')
			i++
		case c == '"':
			quoted = !quoted
		case c == '.' && !quoted:
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(parts, cur.String())
}
