package duckdb

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "github.com/duckdb/duckdb-go/v2" // registers the "duckdb" database/sql driver
	"github.com/eltproject/elt/engine"
)

// ResourceType is the engine.Resource type this package serves.
const ResourceType = "duckdb"

// DefaultLockTimeout is how long opening a database file waits for another
// process that holds DuckDB's file lock.
const DefaultLockTimeout = 60 * time.Second

// ResourceConfig is a DuckDB database file, from a resource of type duckdb:
//
//	resources:
//	  warehouse: {type: duckdb, path: data/warehouse.duckdb, threads: 2, memory_limit: 2GB}
type ResourceConfig struct {
	// Path of the database file (config key path); relative paths resolve
	// against the project folder (see AbsPath).
	Path string
	// Threads DuckDB may use (threads); 0 leaves DuckDB's default.
	Threads int
	// MemoryLimit such as "2GB" (memory_limit); empty leaves the default.
	MemoryLimit string
	// ReadOnly opens the file read-only (read_only: true); materializing
	// into it is refused, checks still run.
	ReadOnly bool
	// LockTimeout is how long to wait for another process's file lock
	// (lock_timeout, a Go duration); DefaultLockTimeout when zero.
	LockTimeout time.Duration
}

// ResourceFromEngine reads a duckdb resource's config. ":memory:" is
// refused: every step opens the database, works and closes it again, so an
// in-memory database would be empty for the next step.
func ResourceFromEngine(r engine.Resource) (ResourceConfig, error) {
	if r.Type != ResourceType {
		return ResourceConfig{}, fmt.Errorf("resource %s: type is %q, not %q", r.Name, r.Type, ResourceType)
	}
	known := map[string]bool{"type": true, "path": true, "threads": true, "memory_limit": true, "read_only": true, "lock_timeout": true}
	var unknown []string
	for k := range r.Config {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return ResourceConfig{}, fmt.Errorf("resource %s: unknown key(s) %s (duckdb resources take path, threads, memory_limit, read_only, lock_timeout)", r.Name, strings.Join(unknown, ", "))
	}
	c := ResourceConfig{Path: strings.TrimSpace(r.Config["path"]), MemoryLimit: strings.TrimSpace(r.Config["memory_limit"])}
	switch {
	case c.Path == "":
		return ResourceConfig{}, fmt.Errorf("resource %s: path is required (for example path: data/warehouse.duckdb)", r.Name)
	case c.Path == ":memory:" || strings.HasPrefix(c.Path, ":memory:"):
		return ResourceConfig{}, fmt.Errorf("resource %s: path %q: every step opens and closes the database, so an in-memory database would be empty in the next step; use a file path", r.Name, c.Path)
	case strings.ContainsAny(c.Path, "?%"):
		return ResourceConfig{}, fmt.Errorf("resource %s: path %q: the characters ? and %% are not supported in a DuckDB path", r.Name, c.Path)
	}
	if s := strings.TrimSpace(r.Config["threads"]); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return ResourceConfig{}, fmt.Errorf("resource %s: threads %q must be a positive integer", r.Name, s)
		}
		c.Threads = n
	}
	if c.MemoryLimit != "" && !validMemoryLimit(c.MemoryLimit) {
		return ResourceConfig{}, fmt.Errorf("resource %s: memory_limit %q must look like 512MB, 2GB or 80%%", r.Name, c.MemoryLimit)
	}
	if s := strings.TrimSpace(r.Config["read_only"]); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return ResourceConfig{}, fmt.Errorf("resource %s: read_only %q must be true or false", r.Name, s)
		}
		c.ReadOnly = b
	}
	if s := strings.TrimSpace(r.Config["lock_timeout"]); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return ResourceConfig{}, fmt.Errorf("resource %s: lock_timeout %q must be a duration like 30s", r.Name, s)
		}
		c.LockTimeout = d
	}
	return c, nil
}

func validMemoryLimit(s string) bool {
	num := strings.TrimRight(s, "KMGTiBb% ")
	unit := strings.TrimSpace(s[len(num):])
	if _, err := strconv.ParseFloat(num, 64); err != nil {
		return false
	}
	switch strings.ToUpper(unit) {
	case "", "B", "KB", "MB", "GB", "TB", "KIB", "MIB", "GIB", "TIB", "%":
		return true
	}
	return false
}

// AbsPath returns the database file's absolute path, resolving a relative
// Path against projectDir.
func (c ResourceConfig) AbsPath(projectDir string) string {
	p := c.Path
	if !filepath.IsAbs(p) {
		p = filepath.Join(projectDir, p)
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return filepath.Clean(p)
}

// Env returns ELT_RESOURCE_<NAME>_PATH=<absolute path> for the steps of
// other tools (scripts, dlt, Sling) that want the same file.
func (c ResourceConfig) Env(name, projectDir string) []string {
	return []string{"ELT_RESOURCE_" + envName(name) + "_PATH=" + c.AbsPath(projectDir)}
}

func envName(name string) string {
	b := []byte(strings.ToUpper(name))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// PoolName returns the engine pool that serializes every step writing to or
// checking the DuckDB file at absPath: "duckdb:<abs path>". DuckDB admits
// one writing process per file, so the engine gives these pools a limit of
// 1. Pass ResourceConfig.AbsPath.
func PoolName(absPath string) string { return "duckdb:" + filepath.Clean(absPath) }

// PickResource returns the duckdb resource an asset or check uses: the one
// named, else the only duckdb resource, else the one named "warehouse".
func PickResource(name string, res map[string]engine.Resource) (string, ResourceConfig, error) {
	if name != "" {
		r, ok := res[name]
		if !ok {
			return "", ResourceConfig{}, fmt.Errorf("resource %q is not defined under resources:", name)
		}
		if r.Name == "" {
			r.Name = name
		}
		c, err := ResourceFromEngine(r)
		return name, c, err
	}
	var names []string
	for n, r := range res {
		if r.Type == ResourceType {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	switch {
	case len(names) == 1:
		return PickResource(names[0], res)
	case len(names) == 0:
		return "", ResourceConfig{}, fmt.Errorf("no duckdb resource; add resources: {warehouse: {type: duckdb, path: data/warehouse.duckdb}}")
	}
	if r, ok := res["warehouse"]; ok && r.Type == ResourceType {
		return PickResource("warehouse", res)
	}
	return "", ResourceConfig{}, fmt.Errorf("several duckdb resources (%s) and none named warehouse; set resource:", strings.Join(names, ", "))
}

// dsn builds the driver's data source name. Every open of one file in this
// process must use the same settings: the driver shares one database
// instance per file and refuses a second configuration.
func (c ResourceConfig) dsn(projectDir string) string {
	q := url.Values{}
	if c.Threads > 0 {
		q.Set("threads", strconv.Itoa(c.Threads))
	}
	if c.MemoryLimit != "" {
		q.Set("memory_limit", c.MemoryLimit)
	}
	if c.ReadOnly {
		q.Set("access_mode", "READ_ONLY")
	}
	// Relative file names in SQL (COPY t FROM 'data/x.csv') resolve from
	// the project folder, whatever elt's working directory is.
	if projectDir != "" {
		if abs, err := filepath.Abs(projectDir); err == nil {
			q.Set("file_search_path", abs)
		}
	}
	if len(q) == 0 {
		return c.AbsPath(projectDir)
	}
	return c.AbsPath(projectDir) + "?" + q.Encode()
}

// open opens the database and one connection on it, waiting (until
// LockTimeout or ctx ends) while another process holds the file lock. The
// caller closes both.
func (c ResourceConfig) open(ctx context.Context, projectDir string) (*sql.DB, *sql.Conn, error) {
	wait := c.LockTimeout
	if wait == 0 {
		wait = DefaultLockTimeout
	}
	// A new file's folder may not exist yet (data/ in a fresh clone).
	if path := c.AbsPath(projectDir); !c.ReadOnly && !strings.HasPrefix(c.Path, ":memory:") {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, nil, fmt.Errorf("open duckdb %s: %w", path, err)
		}
	}
	deadline := time.Now().Add(wait)
	delay := 50 * time.Millisecond
	for {
		db, conn, err := c.openOnce(ctx, projectDir)
		if err == nil {
			return db, conn, nil
		}
		if !isLockError(err) || time.Now().Add(delay).After(deadline) {
			return nil, nil, fmt.Errorf("open duckdb %s: %w", c.AbsPath(projectDir), err)
		}
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("open duckdb %s: %w (waiting for the file lock: %v)", c.AbsPath(projectDir), ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(delay*2, 2*time.Second)
	}
}

func (c ResourceConfig) openOnce(ctx context.Context, projectDir string) (*sql.DB, *sql.Conn, error) {
	db, err := sql.Open("duckdb", c.dsn(projectDir))
	if err != nil {
		return nil, nil, err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, conn, nil
}

func isLockError(err error) bool {
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "could not set lock") || strings.Contains(s, "conflicting lock")
}
