package sling

import (
	"strings"

	"github.com/eltproject/elt/integrations/command"
	"github.com/eltproject/elt/internal/toolpath"
)

// duckdbEnv prepares Sling's DuckDB connector, which drives the duckdb
// command-line program, to work offline:
//
//   - DUCKDB_PATH names the duckdb that toolpath finds (the project's or
//     repository's .venv/bin first), unless the environment already sets it;
//     without it Sling downloads a duckdb.
//   - DUCKDB_USE_INSTALLED_EXTENSIONS=true: Sling starts every session with
//     `INSTALL json; LOAD json;`, and INSTALL downloads the extension even
//     though the duckdb CLI has json built in; with this Sling only LOADs it.
//
// (The third piece, copy_method csv_files instead of Sling's default HTTP
// transfer, which needs DuckDB's httpfs extension, is in connectionEnv.)
// It returns env unchanged when no duckdb is found.
func duckdbEnv(env []string, projectDir string) []string {
	get := func(name string) string {
		for i := len(env) - 1; i >= 0; i-- {
			if v, ok := strings.CutPrefix(env[i], name+"="); ok {
				return v
			}
		}
		return ""
	}
	tool := toolpath.Find(projectDir, get("DUCKDB_PATH"), "duckdb")
	if !tool.Found() {
		return env
	}
	extra := []string{"DUCKDB_PATH=" + tool.Path}
	if get("DUCKDB_USE_INSTALLED_EXTENSIONS") == "" {
		extra = append(extra, "DUCKDB_USE_INSTALLED_EXTENSIONS=true")
	}
	return command.MergeEnv(env, extra...)
}

// usesDuckDB reports whether a connection elt hands to Sling is a DuckDB one
// (only then is the duckdb program needed).
func usesDuckDB(connEnv []string) bool {
	for _, kv := range connEnv {
		_, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(v, "duckdb://") || strings.Contains(v, `"type":"duckdb"`) {
			return true
		}
	}
	return false
}
