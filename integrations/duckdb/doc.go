// Package duckdb runs SQL assets, file imports and data checks against a
// DuckDB database file (a resource of type duckdb).
//
// # Assets
//
// An asset with sql: (inline, or a .sql file relative to the project) is
// materialized as
//
//   - table (default): CREATE OR REPLACE TABLE <relation> AS <select>
//   - view: CREATE OR REPLACE VIEW <relation> AS <select>
//   - incremental: with a partition, the new rows are staged, rows outside
//     the partition are refused, then the partition's rows (partition_column
//     within [start, end), or equal to the key for non-time partitions) are
//     deleted and the new rows inserted, in one transaction, so re-running
//     a partition is idempotent. Without a partition the table is rebuilt.
//   - script: the statements run as written, in order (so COPY, CREATE
//     TABLE IF NOT EXISTS, INSERT work), then the relation is described.
//
// An asset with import: {path, format, options} loads a csv, json or
// parquet file with DuckDB's reader into a table.
//
// Every materialization reports rows, columns ([{name, type}]), duration_ms,
// relation and materialize as metadata.
//
// The relation comes from the asset key (orders → "main"."orders",
// raw/orders → "raw"."orders", a/b/c → "a_b"."c") unless relation: is set.
// Identifiers elt writes are always quoted.
//
// # Templates
//
// SQL may use {{ ref("a/b") }} (the quoted relation of that asset, which
// also becomes a dependency), {{ this }} (the asset's own relation),
// {{ partition_start }}, {{ partition_end }}, {{ partition_key }} and
// {{ env("NAME") }}. Values are bound as parameters ($1, $2, …), never
// pasted into the SQL text: window bounds as TIMESTAMP (the wall-clock time
// in the partition's zone), the key and env values as VARCHAR. A template
// may also be the whole content of a string literal, as in
// COPY t FROM '{{ env("FILE") }}', where the literal becomes the parameter.
// A view cannot keep bound values, so views may only use ref and this.
// In a run without a partition, {{ partition_start }} and
// {{ partition_end }} are 0001-01-01 and 9999-12-31, so a model filtered on
// its window rebuilds from all the data.
// Relative file names in SQL resolve from the project folder (DuckDB's
// file_search_path).
//
// # Concurrency
//
// DuckDB lets one process write a database file. elt therefore serializes
// through the engine rather than sharing a connection: every SQL or import
// step and every check on a file belongs to the engine pool
// PoolName(abs path) = "duckdb:<abs path>", whose limit is 1. A step opens
// the database, does its work on one connection and closes it, so between
// steps the file is free for other tools (a script reading
// ELT_RESOURCE_<NAME>_PATH). When another process holds the file's lock,
// opening waits and retries until lock_timeout (default 60s). For the same
// reason a resource path of ":memory:" is refused: each step would get an
// empty database.
//
// # Checks
//
// CheckConfig describes a check on any asset whose data lives in DuckDB:
// not_null, unique, accepted_values, row_count, freshness, expression and
// sql. CheckConfig.Spec turns it into an asset.CheckSpec with Runner
// "duckdb"; NewCheckRunner evaluates it after the materialization and
// reports passed or failed, the failing row count and up to five failing
// rows.
package duckdb
