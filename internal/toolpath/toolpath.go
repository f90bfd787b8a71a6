// Package toolpath decides which dbt, sling, python (for dlt) and duckdb program elt
// starts, so that every runner and `elt validate` agree.
//
// The order is:
//
//  1. executable: in elt.yaml, when given (a path resolves against the folder of elt.yaml,
//     a bare name is looked up on PATH);
//  2. .venv/bin/<name> in the folder of elt.yaml or in a folder above it, up to and
//     including the repository root (the nearest folder holding .git); outside a
//     repository only the project's own folder is tried. This is where `make tools`
//     installs the pinned tools, so `elt -C examples/jaffle run` finds the repository's
//     .venv without activating it;
//  3. PATH.
//
// When none has it, the bare name is returned and starting it fails with the runner's
// "install … or set executable:" message.
package toolpath

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Where a Tool was found, as `elt validate` prints it.
const (
	FromConfig  = "executable: in elt.yaml"
	FromVenv    = ".venv"
	FromPath    = "PATH"
	FromNowhere = "not found"
)

// Tool is the program elt will start for one tool name.
type Tool struct {
	Name   string // dbt, sling, python, duckdb
	Path   string // what is started; the bare name when not found
	Source string // FromConfig, FromVenv, FromPath or FromNowhere
}

// Found reports whether the program exists.
func (t Tool) Found() bool { return t.Source != FromNowhere }

// Known are the tool names whose lookup tries .venv/bin before PATH.
var Known = []string{"dbt", "sling", "python", "python3", "duckdb"}

func known(name string) bool {
	for _, k := range Known {
		if k == name {
			return true
		}
	}
	return false
}

// Find returns the program to start for name. configured is executable: from elt.yaml
// ("" when absent); projectDir is the folder of elt.yaml.
func Find(projectDir, configured, name string) Tool {
	if configured != "" {
		if strings.ContainsRune(configured, filepath.Separator) || strings.Contains(configured, "/") {
			p := configured
			if !filepath.IsAbs(p) {
				p = filepath.Join(absDir(projectDir), p)
			}
			src := FromConfig
			if !isExecutable(p) {
				src = FromNowhere
			}
			return Tool{Name: name, Path: p, Source: src}
		}
		name = configured
		if !known(configured) {
			if p, err := exec.LookPath(configured); err == nil {
				return Tool{Name: name, Path: p, Source: FromPath}
			}
			return Tool{Name: name, Path: configured, Source: FromNowhere}
		}
	}
	for _, d := range venvDirs(projectDir) {
		p := filepath.Join(d, ".venv", "bin", name)
		if isExecutable(p) {
			return Tool{Name: name, Path: p, Source: FromVenv}
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return Tool{Name: name, Path: p, Source: FromPath}
	}
	return Tool{Name: name, Path: name, Source: FromNowhere}
}

// Argv returns argv with its program replaced by the .venv's when it is one of the Known
// tools given as a bare name and a .venv has it (python pipelines/x.py →
// /repo/.venv/bin/python …). Otherwise argv is returned unchanged, so the step's own PATH
// decides.
func Argv(projectDir string, argv []string) []string {
	if len(argv) == 0 || !known(argv[0]) {
		return argv
	}
	t := Find(projectDir, "", argv[0])
	if t.Source != FromVenv {
		return argv
	}
	return append([]string{t.Path}, argv[1:]...)
}

// Shell is Argv for a shell command line: a leading bare tool name that a .venv has is
// replaced by the program's quoted path.
func Shell(projectDir, line string) string {
	trimmed := strings.TrimLeft(line, " \t")
	first, rest, _ := strings.Cut(trimmed, " ")
	if !known(first) {
		return line
	}
	t := Find(projectDir, "", first)
	if t.Source != FromVenv {
		return line
	}
	return "'" + strings.ReplaceAll(t.Path, "'", `'\''`) + "' " + rest
}

// Program is the first word of a command (argv[0] or a shell line's first word), for
// reporting which tool a command starts.
func Program(argv []string, shell string) string {
	if len(argv) > 0 {
		return argv[0]
	}
	first, _, _ := strings.Cut(strings.TrimLeft(shell, " \t"), " ")
	return first
}

// venvDirs lists projectDir and its parents up to the repository root.
func venvDirs(projectDir string) []string {
	start := absDir(projectDir)
	var dirs []string
	for d := start; ; d = filepath.Dir(d) {
		dirs = append(dirs, d)
		if _, err := os.Stat(filepath.Join(d, ".git")); err == nil {
			return dirs
		}
		if filepath.Dir(d) == d {
			return []string{start} // not in a repository: the project's own folder only
		}
	}
}

func absDir(dir string) string {
	if a, err := filepath.Abs(dir); err == nil {
		return a
	}
	return dir
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// VenvBin returns the .venv/bin that Find would use for projectDir (the nearest one between
// the project folder and the repository root), or "" when there is none.
func VenvBin(projectDir string) string {
	for _, d := range venvDirs(projectDir) {
		p := filepath.Join(d, ".venv", "bin")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
	}
	return ""
}

// Env returns env with VenvBin(projectDir) at the front of PATH, as an activated virtual
// environment would have it, so that a command step's `duckdb` or `python` is the one
// `elt validate` reports. env is returned unchanged when there is no .venv.
func Env(projectDir string, env []string) []string {
	bin := VenvBin(projectDir)
	if bin == "" {
		return env
	}
	out := make([]string, 0, len(env)+1)
	found := false
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			found = true
			kv = "PATH=" + bin + string(os.PathListSeparator) + v
		}
		out = append(out, kv)
	}
	if !found {
		out = append(out, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	}
	return out
}
