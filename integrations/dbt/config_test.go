package dbt

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings, one per expected error
	}{
		{"minimal", Config{ProjectDir: "dbt"}, nil},
		{"everything", Config{ProjectDir: "dbt", Name: "shop", Command: "seed", Retries: 2, Timeout: time.Hour, Threads: 8,
			ModelKeyPrefix: []string{"analytics"}, Vars: map[string]any{"x": 1}, PartitionVars: PartitionVars{Start: "a", End: "b"}}, nil},
		{"no project", Config{}, []string{"project_dir is required"}},
		{"bad command", Config{ProjectDir: "d", Command: "compile"}, []string{`command "compile" is not one of build, run, seed, snapshot, test`}},
		{"bad name", Config{ProjectDir: "d", Name: "a/b"}, []string{`name "a/b"`}},
		{"bad prefix", Config{ProjectDir: "d", SourceKeyPrefix: []string{"raw/x"}}, []string{"source_key_prefix[0]"}},
		{"empty select", Config{ProjectDir: "d", Select: []string{" "}}, []string{"select[0] is empty"}},
		{"negatives", Config{ProjectDir: "d", Retries: -1, Threads: -2, Timeout: -time.Second}, []string{"retries", "timeout", "threads"}},
		{"same window vars", Config{ProjectDir: "d", PartitionVars: PartitionVars{Start: "d", End: "d"}}, []string{"both \"d\""}},
		{"default end var clash", Config{ProjectDir: "d", PartitionVars: PartitionVars{Start: "max_date"}}, []string{"both \"max_date\""}},
		{"partition_key as window var", Config{ProjectDir: "d", PartitionVars: PartitionVars{Start: "partition_key"}}, []string{"may not use \"partition_key\""}},
		{"vars clash", Config{ProjectDir: "d", Vars: map[string]any{"min_date": "x", "partition_key": 1}}, []string{`vars sets "min_date"`, `vars sets "partition_key"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs := tc.cfg.Validate()
			if len(errs) != len(tc.want) {
				t.Fatalf("got %d errors %v, want %d", len(errs), errs, len(tc.want))
			}
			all := ""
			for _, e := range errs {
				all += e.Error() + "\n"
			}
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("no error mentions %q:\n%s", w, all)
				}
			}
		})
	}
}

func TestConfigYAML(t *testing.T) {
	src := `
name: shop
project_dir: transform
profiles_dir: transform/profiles
target: prod
manifest: build/manifest.json
model_key_prefix: [analytics]
source_key_prefix: [raw]
select: ["tag:nightly"]
exclude: ["path:models/legacy"]
source_tests: true
command: run
executable: ./venv/bin/dbt
vars: {region: eu}
partition_vars: {start: start_date, end: end_date}
retries: 2
timeout: 90m
pool: warehouse
threads: 4
`
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if errs := c.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	if c.Timeout != 90*time.Minute || c.PartitionVars.End != "end_date" || !c.SourceTests || c.Vars["region"] != "eu" || c.Pool != "warehouse" {
		t.Errorf("decoded %+v", c)
	}
	r, err := c.resolved("/proj")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"project_dir":  "/proj/transform",
		"profiles_dir": "/proj/transform/profiles",
		"manifest":     "/proj/build/manifest.json",
		"executable":   "/proj/venv/bin/dbt",
	}
	got := map[string]string{"project_dir": r.ProjectDir, "profiles_dir": r.ProfilesDir, "manifest": r.Manifest, "executable": r.Executable}
	for k, v := range want {
		if got[k] != filepath.FromSlash(v) {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	d, _ := Config{ProjectDir: "dbt"}.resolved("/proj")
	if d.Manifest != "/proj/dbt/target/manifest.json" || d.Command != "build" || d.Executable != "dbt" {
		t.Errorf("defaults: %+v", d)
	}
}
