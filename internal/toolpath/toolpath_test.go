package toolpath

import (
	"os"
	"path/filepath"
	"testing"
)

func touchExe(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestFind(t *testing.T) {
	repo := t.TempDir()
	if err := os.Mkdir(filepath.Join(repo, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	proj := filepath.Join(repo, "examples", "jaffle")
	touchExe(t, filepath.Join(repo, ".venv", "bin", "dbt"))
	touchExe(t, filepath.Join(proj, ".venv", "bin", "sling"))
	touchExe(t, filepath.Join(repo, ".venv", "bin", "sling"))
	touchExe(t, filepath.Join(proj, "bin", "mydbt"))
	pathDir := t.TempDir()
	touchExe(t, filepath.Join(pathDir, "duckdb"))
	touchExe(t, filepath.Join(pathDir, "dbt"))
	t.Setenv("PATH", pathDir)

	// A .venv above the repository root must not be used.
	outside := t.TempDir()
	touchExe(t, filepath.Join(outside, ".venv", "bin", "python"))
	lonely := filepath.Join(outside, "proj")
	if err := os.Mkdir(lonely, 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, dir, configured, tool string
		want                        Tool
	}{
		{"repo venv beats PATH", proj, "", "dbt", Tool{"dbt", filepath.Join(repo, ".venv", "bin", "dbt"), FromVenv}},
		{"nearest venv wins", proj, "", "sling", Tool{"sling", filepath.Join(proj, ".venv", "bin", "sling"), FromVenv}},
		{"PATH when no venv has it", proj, "", "duckdb", Tool{"duckdb", filepath.Join(pathDir, "duckdb"), FromPath}},
		{"executable path relative to project", proj, "bin/mydbt", "dbt", Tool{"dbt", filepath.Join(proj, "bin", "mydbt"), FromConfig}},
		{"executable path that does not exist", proj, "./nope", "dbt", Tool{"dbt", filepath.Join(proj, "nope"), FromNowhere}},
		{"not found", proj, "", "python", Tool{"python", "python", FromNowhere}},
		{"outside a repository only the project folder", lonely, "", "python", Tool{"python", "python", FromNowhere}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Find(tt.dir, tt.configured, tt.tool); got != tt.want {
				t.Errorf("Find(%q, %q, %q) = %+v, want %+v", tt.dir, tt.configured, tt.tool, got, tt.want)
			}
		})
	}

	if got := Argv(proj, []string{"dbt", "run"}); got[0] != filepath.Join(repo, ".venv", "bin", "dbt") || got[1] != "run" {
		t.Errorf("Argv = %q", got)
	}
	if got := Argv(proj, []string{"./x.sh", "dbt"}); got[0] != "./x.sh" {
		t.Errorf("Argv changed a non-tool program: %q", got)
	}
	if got, want := Shell(proj, "dbt run --x"), "'"+filepath.Join(repo, ".venv", "bin", "dbt")+"' run --x"; got != want {
		t.Errorf("Shell = %q, want %q", got, want)
	}
	if got := Shell(proj, "echo dbt"); got != "echo dbt" {
		t.Errorf("Shell changed %q", got)
	}
}

func TestVersion(t *testing.T) {
	venv := filepath.Join(t.TempDir(), ".venv")
	touchExe(t, filepath.Join(venv, "bin", "dbt"))
	if err := os.WriteFile(filepath.Join(venv, "pyvenv.cfg"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"dbt_core-1.11.16.dist-info", "dbt_duckdb-1.11.1.dist-info"} {
		if err := os.MkdirAll(filepath.Join(venv, "lib", "python3.11", "site-packages", d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tool := Tool{Name: "dbt", Path: filepath.Join(venv, "bin", "dbt"), Source: FromVenv}
	if got, want := tool.Version(), "dbt_core 1.11.16, dbt_duckdb 1.11.1"; got != want {
		t.Errorf("Version = %q, want %q", got, want)
	}
	if got := (Tool{Name: "dbt", Path: "/usr/bin/dbt", Source: FromPath}).Version(); got != "" {
		t.Errorf("Version outside a venv = %q", got)
	}
}

func TestEnv(t *testing.T) {
	repo := t.TempDir()
	if err := os.Mkdir(filepath.Join(repo, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	touchExe(t, filepath.Join(repo, ".venv", "bin", "duckdb"))
	proj := filepath.Join(repo, "examples", "x")
	if err := os.MkdirAll(proj, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(repo, ".venv", "bin")
	got := Env(proj, []string{"A=1", "PATH=/usr/bin"})
	if got[1] != "PATH="+bin+":/usr/bin" || got[0] != "A=1" {
		t.Errorf("Env = %q", got)
	}
	none := t.TempDir()
	if got := Env(none, []string{"PATH=/usr/bin"}); got[0] != "PATH=/usr/bin" {
		t.Errorf("Env without a .venv changed PATH: %q", got)
	}
}

// A tool found only on elt's PATH is left to the step's own PATH.
func TestArgvLeavesPathToTheStep(t *testing.T) {
	pathDir := t.TempDir()
	touchExe(t, filepath.Join(pathDir, "python"))
	t.Setenv("PATH", pathDir)
	proj := t.TempDir()
	if got := Argv(proj, []string{"python", "x.py"}); got[0] != "python" {
		t.Errorf("Argv = %q; want the bare name", got)
	}
	if got := Shell(proj, "python x.py"); got != "python x.py" {
		t.Errorf("Shell = %q; want it unchanged", got)
	}
}
