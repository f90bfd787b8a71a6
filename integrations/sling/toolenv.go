package sling

import (
	"github.com/eltproject/elt/internal/toolpath"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Sling's DuckDB connector does not link DuckDB: it drives a `duckdb`
// command-line program, which it downloads into its home folder unless
// DUCKDB_PATH names one. With a local CLI two more things would still reach
// the network, both seen with Sling 1.4.11 and the DuckDB 1.5.6 CLI:
//
//   - Sling starts every DuckDB session with `INSTALL json; LOAD json;`.
//     DuckDB's INSTALL downloads the extension even when it is statically
//     linked into the CLI (as json is), and fails offline. With
//     DUCKDB_USE_INSTALLED_EXTENSIONS=true Sling sends only `LOAD json;`,
//     which is a no-op for a linked extension.
//   - Sling's default way of loading rows (copy_method csv_http) serves them
//     on a loopback HTTP port and has DuckDB read_csv that URL, which makes
//     DuckDB auto-install httpfs (a download). copy_method csv_files writes
//     temporary CSV files that DuckDB reads from disk instead.
//
// toolEnv and duckdbConn set these up when a connection is a DuckDB one.

// toolEnv returns the NAME=value settings elt adds to Sling's environment,
// leaving alone any the user set: SLING_HOME_DIR and SLING_TEMP_DIR under
// the attempt's folder (so Sling writes nothing to ~/.sling or /tmp),
// telemetry off, and, when duck is
// true (a connection is a DuckDB file), the duckdb CLI and the extension
// setting above. base is the step's environment.
func toolEnv(base []string, projectDir, stepDir, exe string, duck bool) []string {
	set := map[string]bool{}
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		set[name] = true
	}
	var out []string
	add := func(name, val string) {
		if !set[name] && val != "" {
			out = append(out, name+"="+val)
		}
	}
	if stepDir != "" {
		if abs, err := filepath.Abs(stepDir); err == nil {
			add("SLING_HOME_DIR", filepath.Join(abs, "sling_home"))
			add("SLING_TEMP_DIR", filepath.Join(abs, "sling_tmp"))
		}
	}
	add("SLING_DISABLE_TELEMETRY", "true")
	if duck {
		if cli := duckdbCLI(base, projectDir, exe); cli != "" {
			add("DUCKDB_PATH", cli)
			add("DUCKDB_USE_INSTALLED_EXTENSIONS", "true")
		}
	}
	return out
}

// duckdbCLI finds the duckdb program Sling should drive: .venv/bin/duckdb of
// the project or a folder above it in its repository (where `make tools`
// puts it; the same lookup as every tool, package toolpath), the duckdb beside the
// sling program, or duckdb on the step's PATH. "" when there is none; Sling
// then downloads its own.
func duckdbCLI(base []string, projectDir, exe string) string {
	var cands []string
	if projectDir != "" {
		if t := toolpath.Find(projectDir, "", "duckdb"); t.Source == toolpath.FromVenv {
			cands = append(cands, t.Path)
		}
	}
	if strings.Contains(exe, string(filepath.Separator)) {
		cands = append(cands, filepath.Join(filepath.Dir(exe), "duckdb"))
	}
	for _, c := range cands {
		if isExecutable(c) {
			if abs, err := filepath.Abs(c); err == nil {
				return abs
			}
		}
	}
	for _, kv := range base {
		if p, ok := strings.CutPrefix(kv, "PATH="); ok {
			for _, dir := range filepath.SplitList(p) {
				if dir == "" {
					continue
				}
				if c := filepath.Join(dir, "duckdb"); isExecutable(c) {
					return c
				}
			}
			return ""
		}
	}
	if p, err := exec.LookPath("duckdb"); err == nil {
		return p
	}
	return ""
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// duckdbURL adds copy_method=csv_files to a duckdb:// connection URL that
// sets no copy_method (see the note at the top of this file).
func duckdbURL(u string) string {
	if !strings.HasPrefix(u, "duckdb://") {
		return u
	}
	pu, err := url.Parse(u)
	if err != nil || pu.Query().Has("copy_method") {
		return u
	}
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + "copy_method=csv_files"
}
