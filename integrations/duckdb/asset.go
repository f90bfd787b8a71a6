package duckdb

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
)

// Materializations of a SQL asset.
const (
	MaterializeTable       = "table"       // CREATE OR REPLACE TABLE … AS <select>
	MaterializeView        = "view"        // CREATE OR REPLACE VIEW … AS <select>
	MaterializeIncremental = "incremental" // per partition: delete the window, insert, in one transaction
	MaterializeScript      = "script"      // run the statements as written, then describe the relation
)

// readerFor returns DuckDB's reader function for an import format.
func readerFor(format string) (string, bool) {
	switch format {
	case "csv", "json", "parquet":
		return "read_" + format, true
	}
	return "", false
}

// AssetConfig is the duckdb part of one asset in elt.yaml: a SQL model, or
// a file import.
//
//	assets:
//	  daily_shares:
//	    sql: models/daily_shares.sql     # or inline SQL
//	    materialize: incremental         # table (default) | view | incremental | script
//	    partition_column: date
//	  shares:
//	    import: {path: data/shares.csv, format: csv, options: {header: true}}
type AssetConfig struct {
	// SQL is inline SQL, or the path of a .sql file relative to the project.
	SQL string `yaml:"sql,omitempty" json:"sql,omitempty"`
	// Materialize is table (default), view, incremental or script.
	Materialize string `yaml:"materialize,omitempty" json:"materialize,omitempty"`
	// PartitionColumn is the column an incremental asset's partition window
	// applies to.
	PartitionColumn string `yaml:"partition_column,omitempty" json:"partition_column,omitempty"`
	// Import loads a file into the asset's table instead of running SQL.
	Import *ImportConfig `yaml:"import,omitempty" json:"import,omitempty"`
	// Resource names the duckdb resource; default: the only one, or the one
	// named warehouse.
	Resource string `yaml:"resource,omitempty" json:"resource,omitempty"`
	// Relation overrides the table name derived from the asset key
	// (orders → main.orders, raw/orders → raw.orders).
	Relation string `yaml:"relation,omitempty" json:"relation,omitempty"`
}

// ImportConfig loads a file with DuckDB's csv, json or parquet reader.
type ImportConfig struct {
	// Path of the file (or glob), relative to the project.
	Path string `yaml:"path" json:"path"`
	// Format is csv, json or parquet; default from Path's extension.
	Format string `yaml:"format,omitempty" json:"format,omitempty"`
	// Options are the reader's named parameters (header, delim, dateformat,
	// columns, …); values are bound, never pasted.
	Options map[string]any `yaml:"options,omitempty" json:"options,omitempty"`
}

var optionName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// isSQLFile reports whether s names a .sql file rather than being SQL.
func isSQLFile(s string) bool {
	s = strings.TrimSpace(s)
	return strings.HasSuffix(strings.ToLower(s), ".sql") && !strings.ContainsAny(s, " \t\n;")
}

// materialize returns the materialization with its default.
func (c AssetConfig) materialize() string {
	if c.Import != nil {
		return MaterializeTable
	}
	if c.Materialize == "" {
		return MaterializeTable
	}
	return c.Materialize
}

// format returns the import format, from the extension when not set.
func (ic ImportConfig) format() string {
	if ic.Format != "" {
		return strings.ToLower(ic.Format)
	}
	p := strings.ToLower(strings.TrimSuffix(strings.TrimSuffix(ic.Path, ".gz"), ".zst"))
	switch {
	case strings.HasSuffix(p, ".csv"), strings.HasSuffix(p, ".tsv"), strings.HasSuffix(p, ".txt"):
		return "csv"
	case strings.HasSuffix(p, ".json"), strings.HasSuffix(p, ".jsonl"), strings.HasSuffix(p, ".ndjson"):
		return "json"
	case strings.HasSuffix(p, ".parquet"):
		return "parquet"
	}
	return ""
}

// Validate reports problems found without reading files.
func (c *AssetConfig) Validate() error {
	var errs []error
	hasSQL := strings.TrimSpace(c.SQL) != ""
	switch {
	case hasSQL && c.Import != nil:
		errs = append(errs, errors.New("set either sql: or import:, not both"))
	case !hasSQL && c.Import == nil:
		errs = append(errs, errors.New("set sql: (inline SQL or a .sql file) or import: {path: …}"))
	}
	switch c.Materialize {
	case "", MaterializeTable, MaterializeView, MaterializeIncremental, MaterializeScript:
	default:
		errs = append(errs, fmt.Errorf("materialize %q: use table, view, incremental or script", c.Materialize))
	}
	if c.Import != nil && c.Materialize != "" && c.Materialize != MaterializeTable {
		errs = append(errs, fmt.Errorf("materialize %q: an import always loads a table", c.Materialize))
	}
	if c.Materialize == MaterializeIncremental && strings.TrimSpace(c.PartitionColumn) == "" {
		errs = append(errs, errors.New("materialize: incremental needs partition_column: (the column the partition window applies to)"))
	}
	if c.PartitionColumn != "" && c.Materialize != MaterializeIncremental {
		errs = append(errs, errors.New("partition_column is only used with materialize: incremental"))
	}
	if c.Relation != "" {
		if _, err := parseRelation(c.Relation); err != nil {
			errs = append(errs, err)
		}
	}
	if hasSQL && !isSQLFile(c.SQL) {
		if _, err := parseSQL(c.SQL); err != nil {
			errs = append(errs, fmt.Errorf("sql: %w", err))
		}
	}
	if ic := c.Import; ic != nil {
		if strings.TrimSpace(ic.Path) == "" {
			errs = append(errs, errors.New("import: path is required"))
		}
		if _, ok := readerFor(ic.format()); !ok {
			errs = append(errs, fmt.Errorf("import: format %q: use csv, json or parquet", ic.format()))
		}
		for _, k := range sortedKeys(ic.Options) {
			if !optionName.MatchString(k) {
				errs = append(errs, fmt.Errorf("import: option %q is not a reader parameter name", k))
			} else if err := checkOptionValue(ic.Options[k]); err != nil {
				errs = append(errs, fmt.Errorf("import: option %s: %w", k, err))
			}
		}
	}
	return errors.Join(errs...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// LoadSQL returns the asset's SQL text, reading the .sql file when SQL
// names one, and the file's path ("" for inline SQL).
func (c AssetConfig) LoadSQL(projectDir string) (text, file string, err error) {
	if !isSQLFile(c.SQL) {
		return c.SQL, "", nil
	}
	file = strings.TrimSpace(c.SQL)
	p := file
	if !filepath.IsAbs(p) {
		p = filepath.Join(projectDir, p)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", file, fmt.Errorf("read sql file: %w", err)
	}
	return string(b), file, nil
}

// AssetInfo is what the loader needs to build an asset's Spec and Family.
type AssetInfo struct {
	// Deps are the assets referenced with {{ ref("a/b") }}.
	Deps []asset.Key
	// Metadata for Spec.Metadata: relation (quoted), materialize,
	// duckdb_resource, and sql_file or import_path.
	Metadata map[string]any
	// CodeVersion changes when the SQL or the import settings change.
	CodeVersion string
	// Resource is the duckdb resource's name.
	Resource string
	// Pool is PoolName of the resource's file: put it in Family.Pools.
	Pool string
	// Kinds for Spec.Kinds.
	Kinds []string
}

// Info reads the asset's SQL (file or inline) and returns its deps,
// metadata, code version and pool. Errors carry the asset key and, for SQL
// problems, the file and line.
func (c AssetConfig) Info(key asset.Key, projectDir string, res map[string]engine.Resource) (AssetInfo, error) {
	if err := c.Validate(); err != nil {
		return AssetInfo{}, fmt.Errorf("asset %s: %w", key, err)
	}
	resName, rc, err := PickResource(c.Resource, res)
	if err != nil {
		return AssetInfo{}, fmt.Errorf("asset %s: %w", key, err)
	}
	info := AssetInfo{
		Resource: resName,
		Pool:     PoolName(rc.AbsPath(projectDir)),
		Kinds:    []string{"duckdb"},
		Metadata: map[string]any{
			"relation":        Relation(key, c.Relation),
			"materialize":     c.materialize(),
			"duckdb_resource": resName,
		},
	}
	h := sha256.New()
	if c.Import != nil {
		info.Metadata["import_path"] = c.Import.Path
		info.Kinds = append(info.Kinds, c.Import.format())
		b, _ := json.Marshal(c.Import)
		h.Write(b)
	} else {
		text, file, err := c.LoadSQL(projectDir)
		if err != nil {
			return AssetInfo{}, fmt.Errorf("asset %s: %w", key, err)
		}
		where := "sql"
		if file != "" {
			info.Metadata["sql_file"] = file
			where = file
		}
		deps, err := RefDeps(text)
		if err != nil {
			return AssetInfo{}, fmt.Errorf("asset %s: %s: %w", key, where, err)
		}
		info.Deps = deps
		info.Kinds = append(info.Kinds, "sql")
		h.Write([]byte(text))
	}
	fmt.Fprintf(h, "\x00%s\x00%s\x00%s", c.materialize(), c.PartitionColumn, c.Relation)
	info.CodeVersion = hex.EncodeToString(h.Sum(nil))[:16]
	return info, nil
}
