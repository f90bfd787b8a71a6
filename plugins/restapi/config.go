package restapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/eltproject/elt/asset"
)

// Config is the restapi plugin's configuration: an asset's
// `plugin: {name: restapi, config: {...}}` in elt.yaml.
type Config struct {
	// Asset overrides the asset key; default: the destination table.
	Asset string `json:"asset,omitempty"`
	// BaseURL and Path make the first request's URL. Path and Params
	// values may use {start}, {end}, {cursor} and {partition}.
	BaseURL string            `json:"base_url"`
	Path    string            `json:"path,omitempty"`
	Params  map[string]string `json:"params,omitempty"`
	Auth    *Auth             `json:"auth,omitempty"`
	// Records is the gjson path of the array of records in a response
	// body; empty means the body is the array.
	Records string `json:"records,omitempty"`
	// Fields maps column name → gjson path within a record; empty means
	// every top-level key of the first page's records.
	Fields map[string]string `json:"fields,omitempty"`
	// Columns declares column types (BIGINT, DOUBLE, BOOLEAN, VARCHAR,
	// TIMESTAMP); undeclared columns are inferred from the first page.
	Columns    map[string]string `json:"columns,omitempty"`
	Pagination Pagination        `json:"pagination,omitzero"`
	Window     *Window           `json:"window,omitempty"`
	// RequestTimeout bounds one request (default 30s), Deadline the whole
	// step (default none: the engine's step timeout applies).
	RequestTimeout Duration `json:"request_timeout,omitzero"`
	Deadline       Duration `json:"deadline,omitzero"`
	// MaxRetries of one request on 429, 5xx and network errors (default 5);
	// RetryBackoff is the first delay, doubled each retry (default 500ms).
	MaxRetries   *int     `json:"max_retries,omitempty"`
	RetryBackoff Duration `json:"retry_backoff,omitzero"`
	// RateLimit is the most requests per second (0: unlimited).
	RateLimit   float64     `json:"rate_limit,omitempty"`
	Destination Destination `json:"destination"`
}

// Auth names the http resource holding the credentials: `token` (bearer),
// `username`/`password` (basic) or `header`/`value`.
type Auth struct {
	Resource string `json:"resource"`
}

// Pagination says how to get the next page.
type Pagination struct {
	// Type is cursor, next_link, link_header, page, offset or "" (one page).
	Type string `json:"type,omitempty"`
	// CursorPath is the gjson path of the next cursor in the body;
	// CursorParam the query parameter that sends it back.
	CursorPath  string `json:"cursor_path,omitempty"`
	CursorParam string `json:"cursor_param,omitempty"`
	// NextPath is the gjson path of the next page's URL in the body.
	NextPath string `json:"next_path,omitempty"`
	// PageParam, StartPage (page) and OffsetParam (offset) number pages;
	// PageSize with SizeParam sets the page size, and a shorter page ends
	// the walk.
	PageParam   string `json:"page_param,omitempty"`
	StartPage   *int   `json:"start_page,omitempty"`
	OffsetParam string `json:"offset_param,omitempty"`
	SizeParam   string `json:"size_param,omitempty"`
	PageSize    int    `json:"page_size,omitempty"`
	// MaxPages stops a runaway walk (default 100000).
	MaxPages int `json:"max_pages,omitempty"`
}

// Window bounds the extraction in time.
type Window struct {
	// Interval is hourly, daily, weekly, monthly or a duration ("15m").
	Interval string `json:"interval"`
	// Lag is subtracted from now before truncating to the interval, so an
	// interval still being written to is never read.
	Lag Duration `json:"lag,omitzero"`
	// Start is the first window's start when there is no stored cursor
	// (RFC 3339 or YYYY-MM-DD).
	Start string `json:"start,omitempty"`
	// TimeColumn holds each record's time; a window's re-run deletes the
	// rows in its range. Without it rows carry _elt_window_start.
	TimeColumn string `json:"time_column,omitempty"`
	// Format of {start}/{end} and of the time column's values: rfc3339
	// (default), unix, unix_ms, date, or a Go layout.
	Format string `json:"format,omitempty"`
}

// Destination is the DuckDB table loaded.
type Destination struct {
	// Resource is a duckdb resource; its `path` config is the database.
	Resource string `json:"resource"`
	// Table is "schema/table" or "table" (schema main).
	Table string `json:"table"`
}

// Duration is a time.Duration written as "30s" or as seconds.
type Duration time.Duration

// UnmarshalJSON accepts "1m30s" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: %w (use 30s, 5m, 2h)", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("duration %s: want \"30s\" or a number of seconds", b)
	}
	*d = Duration(f * float64(time.Second))
	return nil
}

// MarshalJSON writes the duration as text.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Defaults applied by Validate.
const (
	defaultRequestTimeout = 30 * time.Second
	defaultMaxRetries     = 5
	defaultRetryBackoff   = 500 * time.Millisecond
	defaultMaxPages       = 100000
)

// column types the loader knows.
const (
	typeBigint    = "BIGINT"
	typeDouble    = "DOUBLE"
	typeBoolean   = "BOOLEAN"
	typeVarchar   = "VARCHAR"
	typeTimestamp = "TIMESTAMP"
)

// normalizeType maps a declared type to one the loader appends.
func normalizeType(t string) (string, bool) {
	switch strings.ToUpper(strings.TrimSpace(t)) {
	case "BIGINT", "INT", "INTEGER", "INT64", "LONG":
		return typeBigint, true
	case "DOUBLE", "FLOAT", "REAL", "NUMBER", "NUMERIC", "FLOAT64":
		return typeDouble, true
	case "BOOLEAN", "BOOL":
		return typeBoolean, true
	case "VARCHAR", "TEXT", "STRING", "JSON":
		return typeVarchar, true
	case "TIMESTAMP", "DATETIME", "TIMESTAMPTZ":
		return typeTimestamp, true
	}
	return "", false
}

// ownParam is a query parameter that pagination writes, and the
// pagination key that names it.
type ownParam struct{ name, key string }

// ownParams lists the query parameters the pagination style sets itself.
func (p *Pagination) ownParams() []ownParam {
	var out []ownParam
	switch p.Type {
	case "cursor":
		out = append(out, ownParam{p.CursorParam, "cursor_param"})
	case "page":
		out = append(out, ownParam{p.PageParam, "page_param"})
		if p.SizeParam != "" && p.PageSize > 0 {
			out = append(out, ownParam{p.SizeParam, "size_param"})
		}
	case "offset":
		out = append(out, ownParam{p.OffsetParam, "offset_param"}, ownParam{p.SizeParam, "size_param"})
	}
	return slices.DeleteFunc(out, func(o ownParam) bool { return o.name == "" })
}

// Validate checks c and fills defaults. Errors name the config key.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.BaseURL == "" {
		add("base_url is required")
	} else if u, err := url.Parse(c.BaseURL); err != nil || u.Scheme == "" || u.Host == "" {
		add("base_url %q is not an absolute http(s) URL", c.BaseURL)
	}
	if c.Destination.Resource == "" {
		add("destination.resource is required (a duckdb resource)")
	}
	if _, _, err := splitTable(c.Destination.Table); err != nil {
		add("destination.table: %v", err)
	}
	if c.Asset != "" {
		if _, err := asset.ParseKey(c.Asset); err != nil {
			add("asset: %v", err)
		}
	}
	if c.Auth != nil && c.Auth.Resource == "" {
		add("auth.resource is required when auth is set")
	}
	for _, name := range sortedKeys(c.Columns) {
		if _, ok := normalizeType(c.Columns[name]); !ok {
			add("columns.%s: unknown type %q (use BIGINT, DOUBLE, BOOLEAN, VARCHAR or TIMESTAMP)", name, c.Columns[name])
		}
	}
	p := &c.Pagination
	switch p.Type {
	case "", "none":
	case "cursor":
		if p.CursorPath == "" || p.CursorParam == "" {
			add("pagination type cursor needs cursor_path and cursor_param")
		}
	case "next_link":
		if p.NextPath == "" {
			add("pagination type next_link needs next_path")
		}
	case "link_header":
	case "page":
		if p.PageParam == "" {
			p.PageParam = "page"
		}
	case "offset":
		if p.OffsetParam == "" {
			p.OffsetParam = "offset"
		}
		if p.SizeParam == "" {
			p.SizeParam = "limit"
		}
		if p.PageSize <= 0 {
			p.PageSize = 100
		}
	default:
		add("pagination.type %q: use cursor, next_link, link_header, page or offset", p.Type)
	}
	if p.PageSize < 0 {
		add("pagination.page_size must be positive")
	}
	for _, o := range p.ownParams() {
		if _, ok := c.Params[o.name]; ok {
			add("params.%s: pagination.%s sets this parameter on every page; remove it from params ({cursor} in params is the stored window cursor, a time, not a page cursor)", o.name, o.key)
		}
	}
	if p.MaxPages <= 0 {
		p.MaxPages = defaultMaxPages
	}
	if w := c.Window; w != nil {
		if _, err := parseInterval(w.Interval); err != nil {
			add("window.interval: %v", err)
		}
		if w.Start != "" {
			if _, err := parseStart(w.Start); err != nil {
				add("window.start: %v", err)
			}
		}
		if w.Lag < 0 {
			add("window.lag must not be negative")
		}
		if w.Format == "" {
			w.Format = "rfc3339"
		}
		if w.TimeColumn != "" {
			if t, ok := c.Columns[w.TimeColumn]; ok {
				if nt, _ := normalizeType(t); nt != typeTimestamp {
					add("columns.%s: the window's time_column is stored as TIMESTAMP, not %s", w.TimeColumn, t)
				}
			}
		}
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = Duration(defaultRequestTimeout)
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = Duration(defaultRetryBackoff)
	}
	if c.MaxRetries == nil {
		n := defaultMaxRetries
		c.MaxRetries = &n
	} else if *c.MaxRetries < 0 {
		add("max_retries must not be negative")
	}
	if c.RateLimit < 0 {
		add("rate_limit must not be negative")
	}
	if c.RequestTimeout < 0 || c.Deadline < 0 {
		add("request_timeout and deadline must not be negative")
	}
	return errors.Join(errs...)
}

// AssetKey is the asset the configuration materializes.
func (c *Config) AssetKey() (asset.Key, error) {
	if c.Asset != "" {
		return asset.ParseKey(c.Asset)
	}
	return asset.ParseKey(c.Destination.Table)
}

// splitTable splits "schema/table" (or "table") into its parts.
func splitTable(t string) (schema, table string, err error) {
	if t == "" {
		return "", "", errors.New("is required (schema/table or table)")
	}
	parts := strings.Split(t, "/")
	switch {
	case len(parts) == 1 && parts[0] != "":
		return "main", parts[0], nil
	case len(parts) == 2 && parts[0] != "" && parts[1] != "":
		return parts[0], parts[1], nil
	}
	return "", "", fmt.Errorf("%q: use schema/table or table", t)
}

// quoteIdent quotes a DuckDB identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// formatTime renders t for a request parameter in the window's format.
func formatTime(t time.Time, format string) string {
	t = t.UTC()
	switch format {
	case "", "rfc3339":
		return t.Format(time.RFC3339)
	case "unix":
		return strconv.FormatInt(t.Unix(), 10)
	case "unix_ms":
		return strconv.FormatInt(t.UnixMilli(), 10)
	case "date":
		return t.Format(time.DateOnly)
	}
	return t.Format(format)
}
