package sling

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
//   - Sling starts every session with `INSTALL json; LOAD json;`. The duckdb
//     CLI has json built in, but INSTALL still downloads it and fails
//     without network. A HOME of the step's own holds a .duckdbrc that points
//     DuckDB's extension_directory at a folder where json is marked
//     installed, so INSTALL does nothing and LOAD finds the built-in one.
//     SLING_HOME_DIR keeps Sling's own settings in the real ~/.sling.
//
// It returns env unchanged when no duckdb is found.
func duckdbEnv(ctx context.Context, env []string, projectDir, stepDir string) ([]string, error) {
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
		return env, nil
	}
	out, err := exec.CommandContext(ctx, tool.Path, "-noheader", "-list", "-c",
		"select library_version, platform from pragma_version(), pragma_platform()").Output()
	if err != nil {
		return nil, fmt.Errorf("sling: ask %s for its version: %w", tool.Path, err)
	}
	version, platform, ok := strings.Cut(strings.TrimSpace(string(out)), "|")
	if !ok {
		return nil, fmt.Errorf("sling: unexpected answer from %s: %q", tool.Path, out)
	}
	home, err := filepath.Abs(filepath.Join(stepDir, "duckdb-home"))
	if err != nil {
		return nil, err
	}
	extDir := filepath.Join(home, "extensions")
	marked := filepath.Join(extDir, version, platform)
	if err := os.MkdirAll(marked, 0o755); err != nil {
		return nil, fmt.Errorf("sling: %w", err)
	}
	if err := os.WriteFile(filepath.Join(marked, "json.duckdb_extension"), nil, 0o644); err != nil {
		return nil, fmt.Errorf("sling: %w", err)
	}
	rc := "SET extension_directory='" + strings.ReplaceAll(extDir, "'", "''") + "';\n"
	if err := os.WriteFile(filepath.Join(home, ".duckdbrc"), []byte(rc), 0o644); err != nil {
		return nil, fmt.Errorf("sling: %w", err)
	}
	extra := []string{"DUCKDB_PATH=" + tool.Path, "HOME=" + home}
	if get("SLING_HOME_DIR") == "" {
		if h := get("HOME"); h != "" {
			extra = append(extra, "SLING_HOME_DIR="+filepath.Join(h, ".sling"))
		}
	}
	return command.MergeEnv(env, extra...), nil
}

// usesDuckDB reports whether a connection elt hands to Sling is a DuckDB one
// (HOME is only replaced then: other connectors read ~/.aws, ~/.ssh …).
func usesDuckDB(connEnv []string) bool {
	for _, kv := range connEnv {
		_, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(v, "duckdb://") || strings.Contains(v, `"type":"duckdb"`) {
			return true
		}
	}
	return false
}
