package duckdb

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/eltproject/elt/asset"
)

// CheckRunnerName is the CheckSpec.Runner of checks evaluated here.
const CheckRunnerName = "duckdb"

// Check types.
const (
	CheckNotNull        = "not_null"
	CheckUnique         = "unique"
	CheckAcceptedValues = "accepted_values"
	CheckRowCount       = "row_count"
	CheckFreshness      = "freshness"
	CheckExpression     = "expression"
	CheckSQL            = "sql"
)

// CheckConfig is one entry of an asset's checks: in elt.yaml, for any
// asset whose data is in a DuckDB resource (a SQL asset, a dbt model, a
// Sling or dlt table):
//
//	checks:
//	  - {type: not_null, column: share_price, blocking: true}
//	  - {type: unique, columns: [date, ticker]}
//	  - {type: accepted_values, column: status, values: [open, closed]}
//	  - {type: row_count, min: 1}
//	  - {type: freshness, timestamp_column: loaded_at, max_age: 2d}
//	  - {type: expression, expression: share_price > 0, severity: warn}
//	  - {type: sql, name: no_orphans, sql: "SELECT … WHERE …"}
type CheckConfig struct {
	// Name of the check; default derived from type and columns
	// (not_null_share_price).
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Type is not_null, unique, accepted_values, row_count, freshness,
	// expression or sql.
	Type string `yaml:"type" json:"type"`
	// Column or Columns the check applies to.
	Column  string   `yaml:"column,omitempty" json:"column,omitempty"`
	Columns []string `yaml:"columns,omitempty" json:"columns,omitempty"`
	// Values accepted by accepted_values.
	Values []any `yaml:"values,omitempty" json:"values,omitempty"`
	// Min and Max bound row_count.
	Min *int64 `yaml:"min,omitempty" json:"min,omitempty"`
	Max *int64 `yaml:"max,omitempty" json:"max,omitempty"`
	// MaxAge for freshness: a Go duration or days, such as 24h, 2d, 1d12h.
	MaxAge string `yaml:"max_age,omitempty" json:"max_age,omitempty"`
	// TimestampColumn for freshness; without it the last materialization
	// time is used.
	TimestampColumn string `yaml:"timestamp_column,omitempty" json:"timestamp_column,omitempty"`
	// Expression is a boolean SQL predicate every row must satisfy (a NULL
	// result fails the row).
	Expression string `yaml:"expression,omitempty" json:"expression,omitempty"`
	// SQL is a query whose returned rows are failures.
	SQL string `yaml:"sql,omitempty" json:"sql,omitempty"`
	// Blocking: a failure stops everything downstream (severity error only).
	Blocking bool `yaml:"blocking,omitempty" json:"blocking,omitempty"`
	// Severity is error (default) or warn.
	Severity    string `yaml:"severity,omitempty" json:"severity,omitempty"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// Resource names the duckdb resource holding the asset's data; default:
	// the asset's own (duckdb_resource metadata), else the default one.
	Resource string `yaml:"resource,omitempty" json:"resource,omitempty"`
	// Where filters the rows checked (a SQL predicate).
	Where string `yaml:"where,omitempty" json:"where,omitempty"`
	// Relation names the table or view checked (name, schema.name or
	// catalog.schema.name; parts may be double-quoted). Default: the
	// asset's "relation" metadata (the table a SQL asset, dbt model, Sling
	// stream or dlt resource loaded), else the relation of the asset key.
	Relation string `yaml:"relation,omitempty" json:"relation,omitempty"`
}

// columns returns Column and Columns together.
func (c CheckConfig) columns() []string {
	var cols []string
	if c.Column != "" {
		cols = append(cols, c.Column)
	}
	return append(cols, c.Columns...)
}

func (c CheckConfig) severity() string {
	if c.Severity == "" {
		return "error"
	}
	return c.Severity
}

// defaultName derives a check name from its type and columns.
func (c CheckConfig) defaultName() string {
	switch c.Type {
	case CheckRowCount:
		return "row_count"
	case CheckFreshness:
		if c.TimestampColumn != "" {
			return "freshness_" + nameSafe(c.TimestampColumn)
		}
		return "freshness"
	case CheckExpression:
		return clipName("expression_" + nameSafe(c.Expression))
	case CheckSQL:
		sum := sha256.Sum256([]byte(c.SQL))
		return "sql_" + hex.EncodeToString(sum[:4])
	}
	parts := make([]string, 0, 2)
	for _, col := range c.columns() {
		parts = append(parts, nameSafe(col))
	}
	return clipName(c.Type + "_" + strings.Join(parts, "_"))
}

func clipName(s string) string {
	if len(s) > 60 {
		s = strings.TrimRight(s[:60], "_")
	}
	return s
}

// nameSafe keeps letters and digits, turning runs of anything else into _.
func nameSafe(s string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			under = false
		} else if !under && b.Len() > 0 {
			b.WriteByte('_')
			under = true
		}
	}
	return strings.TrimRight(b.String(), "_")
}

// Validate reports problems found without a database, and fills in the
// default name and severity.
func (c *CheckConfig) Validate() error {
	var errs []error
	if strings.TrimSpace(c.Relation) != "" {
		if _, err := parseRelation(c.Relation); err != nil {
			name := c.Name
			if name == "" {
				name = c.defaultName()
			}
			errs = append(errs, fmt.Errorf("check %s: %w", name, err))
		}
	}
	cols := c.columns()
	needCols := func(n string) {
		if len(cols) == 0 {
			errs = append(errs, fmt.Errorf("check %s needs column: (or columns:)", n))
		}
	}
	switch c.Type {
	case CheckNotNull, CheckUnique:
		needCols(c.Type)
	case CheckAcceptedValues:
		if len(cols) != 1 {
			errs = append(errs, errors.New("check accepted_values needs exactly one column:"))
		}
		if len(c.Values) == 0 {
			errs = append(errs, errors.New("check accepted_values needs values: [a, b]"))
		}
		for _, v := range c.Values {
			if !isScalar(v) {
				errs = append(errs, fmt.Errorf("check accepted_values: value %v must be a string, number or boolean", v))
			}
		}
	case CheckRowCount:
		if c.Min == nil && c.Max == nil {
			errs = append(errs, errors.New("check row_count needs min: or max:"))
		}
		if c.Min != nil && c.Max != nil && *c.Min > *c.Max {
			errs = append(errs, fmt.Errorf("check row_count: min %d is above max %d", *c.Min, *c.Max))
		}
	case CheckFreshness:
		if c.MaxAge == "" {
			errs = append(errs, errors.New("check freshness needs max_age: (such as 24h or 2d)"))
		} else if _, err := ParseMaxAge(c.MaxAge); err != nil {
			errs = append(errs, err)
		}
	case CheckExpression:
		if strings.TrimSpace(c.Expression) == "" {
			errs = append(errs, errors.New("check expression needs expression: (a predicate such as amount >= 0)"))
		}
	case CheckSQL:
		if strings.TrimSpace(c.SQL) == "" {
			errs = append(errs, errors.New("check sql needs sql: (a query returning the failing rows)"))
		}
	case "":
		errs = append(errs, errors.New("check needs type: (not_null, unique, accepted_values, row_count, freshness, expression or sql)"))
	default:
		errs = append(errs, fmt.Errorf("check type %q: use not_null, unique, accepted_values, row_count, freshness, expression or sql", c.Type))
	}
	switch c.Severity {
	case "", "error", "warn":
	default:
		errs = append(errs, fmt.Errorf("check severity %q: use error or warn", c.Severity))
	}
	if c.Blocking && c.Severity == "warn" {
		errs = append(errs, errors.New("check: blocking needs severity error (a warning never blocks)"))
	}
	for _, s := range []string{c.Expression, c.SQL, c.Where} {
		if s == "" {
			continue
		}
		if _, err := parseSQL(s); err != nil {
			errs = append(errs, fmt.Errorf("check: %w", err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if c.Name == "" {
		c.Name = c.defaultName()
	}
	if c.Severity == "" {
		c.Severity = "error"
	}
	return nil
}

// Spec returns the check's asset.CheckSpec, evaluated after the asset's
// materialization by the runner named "duckdb". Metadata carries the
// config (under "config") so NewCheckRunner can rebuild it, even after a
// JSON round trip.
func (c CheckConfig) Spec() asset.CheckSpec {
	name := c.Name
	if name == "" {
		name = c.defaultName()
	}
	var cfg map[string]any
	b, _ := json.Marshal(c)
	_ = json.Unmarshal(b, &cfg)
	desc := c.Description
	if desc == "" {
		desc = c.describe()
	}
	return asset.CheckSpec{
		Name:        name,
		Blocking:    c.Blocking && c.severity() == "error",
		Description: desc,
		Severity:    c.severity(),
		Runner:      CheckRunnerName,
		Metadata:    map[string]any{"type": c.Type, "config": cfg},
	}
}

// describe says in words what the check asserts.
func (c CheckConfig) describe() string {
	cols := strings.Join(c.columns(), ", ")
	switch c.Type {
	case CheckNotNull:
		return cols + " is never NULL"
	case CheckUnique:
		return cols + " is unique"
	case CheckAcceptedValues:
		return fmt.Sprintf("%s is one of %v", cols, c.Values)
	case CheckRowCount:
		return "row count within bounds"
	case CheckFreshness:
		return "data is no older than " + c.MaxAge
	case CheckExpression:
		return "every row satisfies " + c.Expression
	case CheckSQL:
		return "the check query returns no rows"
	}
	return ""
}

// checkFromSpec rebuilds a CheckConfig from CheckSpec.Metadata["config"].
func checkFromSpec(cs asset.CheckSpec) (CheckConfig, error) {
	var c CheckConfig
	raw, ok := cs.Metadata["config"]
	if !ok {
		return c, fmt.Errorf("check %s: no duckdb check config in its metadata (build it with CheckConfig.Spec)", cs.Name)
	}
	if cc, ok := raw.(CheckConfig); ok {
		c = cc
	} else {
		b, err := json.Marshal(raw)
		if err != nil {
			return c, fmt.Errorf("check %s: config: %w", cs.Name, err)
		}
		if err := json.Unmarshal(b, &c); err != nil {
			return c, fmt.Errorf("check %s: config: %w", cs.Name, err)
		}
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("check %s: %w", cs.Name, err)
	}
	return c, nil
}

// ParseMaxAge parses a freshness age: a Go duration (90m, 24h) optionally
// led by whole days (2d, 1d12h).
func ParseMaxAge(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	var days time.Duration
	if i := strings.IndexByte(t, 'd'); i > 0 {
		n, err := strconv.ParseUint(t[:i], 10, 16)
		if err != nil {
			return 0, fmt.Errorf("max_age %q: use a duration like 24h, 2d or 1d12h", s)
		}
		days = time.Duration(n) * 24 * time.Hour
		t = t[i+1:]
	}
	var rest time.Duration
	if t != "" {
		d, err := time.ParseDuration(t)
		if err != nil {
			return 0, fmt.Errorf("max_age %q: use a duration like 24h, 2d or 1d12h", s)
		}
		rest = d
	}
	total := days + rest
	if total <= 0 {
		return 0, fmt.Errorf("max_age %q must be positive", s)
	}
	return total, nil
}
