package dbt

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestPrepare(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		dirs     []string
		wantSubs []string
	}{
		{"no packages", nil, nil, []string{"parse"}},
		{"empty packages.yml", map[string]string{"packages.yml": "packages: []\n"}, nil, []string{"parse"}},
		{"packages missing", map[string]string{"packages.yml": "packages:\n  - package: dbt-labs/dbt_utils\n    version: 1.1.1\n"}, nil, []string{"deps", "parse"}},
		{"dependencies.yml", map[string]string{"dependencies.yml": "packages:\n  - package: dbt-labs/dbt_utils\n"}, nil, []string{"deps", "parse"}},
		{"packages installed", map[string]string{"packages.yml": "packages:\n  - git: https://example.invalid/x.git\n"}, []string{"dbt_packages"}, []string{"parse"}},
		{"custom install path", map[string]string{
			"packages.yml":    "packages:\n  - local: ../shared\n",
			"dbt_project.yml": "name: shop\npackages-install-path: vendor\n",
		}, []string{"dbt_packages"}, []string{"deps", "parse"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			proj := project(t)
			for name, content := range tc.files {
				write(t, filepath.Join(proj, name), content)
			}
			for _, d := range tc.dirs {
				os.MkdirAll(filepath.Join(proj, d), 0o755)
			}
			f := newFake(t, map[string]fakeScript{"parse": {Manifest: true}, "deps": {}})
			var out bytes.Buffer
			err := Prepare(context.Background(), Config{ProjectDir: proj, Executable: f.exe, Target: "dev", Vars: map[string]any{"region": "eu"}}, "/", &out)
			if err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			var subs []string
			for _, c := range f.calls(t) {
				subs = append(subs, c.Argv[0])
				if c.Env["DBT_TARGET_PATH"] != filepath.Join(proj, "target") || c.Env["DBT_PROJECT_DIR"] != proj {
					t.Errorf("env: target %q project %q", c.Env["DBT_TARGET_PATH"], c.Env["DBT_PROJECT_DIR"])
				}
			}
			if !slices.Equal(subs, tc.wantSubs) {
				t.Errorf("ran %v, want %v", subs, tc.wantSubs)
			}
			parse := f.calls(t)[len(subs)-1].Argv
			if !slices.Equal(parse, []string{"parse", "--target", "dev", "--vars", `{"region":"eu"}`}) {
				t.Errorf("parse argv = %q", parse)
			}
		})
	}
}

func TestPrepareFailures(t *testing.T) {
	proj := project(t)
	f := newFake(t, map[string]fakeScript{"parse": {Lines: []string{"Parsing Error: bad yaml"}, Exit: 2}})
	err := Prepare(context.Background(), Config{ProjectDir: proj, Executable: f.exe}, "/", nil)
	if err == nil || !strings.Contains(err.Error(), "dbt parse") || !strings.Contains(err.Error(), "bad yaml") {
		t.Errorf("err = %v", err)
	}
	// parse succeeds but writes no manifest where elt reads it
	f = newFake(t, map[string]fakeScript{"parse": {}})
	err = Prepare(context.Background(), Config{ProjectDir: proj, Executable: f.exe, Manifest: "elsewhere/m.json"}, proj, nil)
	if err == nil || !strings.Contains(err.Error(), "did not write") {
		t.Errorf("err = %v", err)
	}
	if err := Prepare(context.Background(), Config{}, "/", nil); err == nil {
		t.Errorf("an invalid config must fail")
	}
	empty := t.TempDir()
	write(t, filepath.Join(empty, "packages.yml"), "packages: [{package: a/b}]\n")
	err = Prepare(context.Background(), Config{ProjectDir: empty, Executable: f.exe}, "/", nil)
	if err == nil || !strings.Contains(err.Error(), "dbt_project.yml") {
		t.Errorf("a folder without dbt_project.yml: %v", err)
	}
}
