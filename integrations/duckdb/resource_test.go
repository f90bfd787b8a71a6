package duckdb

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eltproject/elt/engine"
)

func TestResourceFromEngine(t *testing.T) {
	tests := []struct {
		name    string
		cfg     map[string]string
		want    ResourceConfig
		wantErr string
	}{
		{"full", map[string]string{"path": "data/w.duckdb", "threads": "2", "memory_limit": "2GB", "read_only": "true", "lock_timeout": "5s"},
			ResourceConfig{Path: "data/w.duckdb", Threads: 2, MemoryLimit: "2GB", ReadOnly: true, LockTimeout: 5 * time.Second}, ""},
		{"path only", map[string]string{"path": "w.duckdb"}, ResourceConfig{Path: "w.duckdb"}, ""},
		{"percent memory", map[string]string{"path": "w.duckdb", "memory_limit": "80%"}, ResourceConfig{Path: "w.duckdb", MemoryLimit: "80%"}, ""},
		{"no path", map[string]string{}, ResourceConfig{}, "path is required"},
		{"memory", map[string]string{"path": ":memory:"}, ResourceConfig{}, "in-memory database would be empty"},
		{"query in path", map[string]string{"path": "a?b"}, ResourceConfig{}, "not supported"},
		{"bad threads", map[string]string{"path": "w", "threads": "0"}, ResourceConfig{}, "threads"},
		{"bad memory", map[string]string{"path": "w", "memory_limit": "lots"}, ResourceConfig{}, "memory_limit"},
		{"bad read_only", map[string]string{"path": "w", "read_only": "maybe"}, ResourceConfig{}, "read_only"},
		{"unknown key", map[string]string{"path": "w", "thread": "2"}, ResourceConfig{}, "unknown key(s) thread"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResourceFromEngine(engine.Resource{Name: "warehouse", Type: "duckdb", Config: tt.cfg})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "warehouse") {
					t.Fatalf("error = %v, want %q naming the resource", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := ResourceFromEngine(engine.Resource{Name: "pg", Type: "postgres"}); err == nil {
		t.Error("a postgres resource was accepted")
	}
}

func TestPickResource(t *testing.T) {
	duck := func(p string) engine.Resource {
		return engine.Resource{Type: "duckdb", Config: map[string]string{"path": p}}
	}
	api := engine.Resource{Type: "http"}
	tests := []struct {
		name     string
		res      map[string]engine.Resource
		ask      string
		want     string
		wantPath string
		wantErr  string
	}{
		{"only one", map[string]engine.Resource{"db": duck("a.duckdb"), "api": api}, "", "db", "a.duckdb", ""},
		{"warehouse wins", map[string]engine.Resource{"warehouse": duck("w.duckdb"), "other": duck("o.duckdb")}, "", "warehouse", "w.duckdb", ""},
		{"named", map[string]engine.Resource{"warehouse": duck("w.duckdb"), "other": duck("o.duckdb")}, "other", "other", "o.duckdb", ""},
		{"ambiguous", map[string]engine.Resource{"a": duck("a"), "b": duck("b")}, "", "", "", "several duckdb resources (a, b)"},
		{"none", map[string]engine.Resource{"api": api}, "", "", "", "no duckdb resource"},
		{"missing", map[string]engine.Resource{"a": duck("a")}, "b", "", "", `resource "b" is not defined`},
		{"wrong type", map[string]engine.Resource{"api": api}, "api", "", "", `type is "http"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, rc, err := PickResource(tt.ask, tt.res)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || name != tt.want || rc.Path != tt.wantPath {
				t.Fatalf("got %q %q %v, want %q %q", name, rc.Path, err, tt.want, tt.wantPath)
			}
		})
	}
}

func TestPathsPoolAndEnv(t *testing.T) {
	rc := ResourceConfig{Path: "data/warehouse.duckdb"}
	abs := rc.AbsPath("/proj")
	if abs != "/proj/data/warehouse.duckdb" {
		t.Errorf("AbsPath = %s", abs)
	}
	if got := (ResourceConfig{Path: "/x/w.duckdb"}).AbsPath("/proj"); got != "/x/w.duckdb" {
		t.Errorf("absolute AbsPath = %s", got)
	}
	if got := PoolName("/proj/data/../data/warehouse.duckdb"); got != "duckdb:/proj/data/warehouse.duckdb" {
		t.Errorf("PoolName = %s", got)
	}
	env := rc.Env("my-warehouse", "/proj")
	if len(env) != 1 || env[0] != "ELT_RESOURCE_MY_WAREHOUSE_PATH=/proj/data/warehouse.duckdb" {
		t.Errorf("Env = %v", env)
	}
	dsn := ResourceConfig{Path: "w.duckdb", Threads: 2, MemoryLimit: "2GB", ReadOnly: true}.dsn("/proj")
	for _, part := range []string{"/proj/w.duckdb?", "threads=2", "memory_limit=2GB", "access_mode=READ_ONLY", "file_search_path=" + strings.ReplaceAll(filepath.Clean("/proj"), "/", "%2F")} {
		if !strings.Contains(dsn, part) {
			t.Errorf("dsn %s lacks %s", dsn, part)
		}
	}
}
