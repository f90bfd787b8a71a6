package dlt

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/integrations/duckdb"
	"github.com/eltproject/elt/internal/testenv"
)

// fixtures returns the shared dlt fixtures folder, or "" when absent.
func fixtures() string {
	dir, _ := testenv.LookFixtures("dlt")
	return dir
}

func TestConfigYAML(t *testing.T) {
	src := `
- pipeline: github_pipeline
  command: python pipelines/github.py
  timeout: 10m
  asset_keys: {issues: raw/issues}
  deps: {issues: [api/github]}
- pipeline: chess
  command: [python, "pipelines/chess.py", --full]
  pipeline_per_partition: true
  resources: [players, games]
`
	var cfgs []Config
	if err := yaml.Unmarshal([]byte(src), &cfgs); err != nil {
		t.Fatal(err)
	}
	if cfgs[0].Command.Shell != "python pipelines/github.py" || cfgs[0].Timeout != 10*time.Minute || cfgs[0].AssetKeys["issues"] != "raw/issues" {
		t.Errorf("first entry %+v", cfgs[0])
	}
	if !reflect.DeepEqual(cfgs[1].Command.Argv, []string{"python", "pipelines/chess.py", "--full"}) || !cfgs[1].PipelinePerPartition {
		t.Errorf("second entry %+v", cfgs[1])
	}
	var bad Config
	if err := yaml.Unmarshal([]byte("command: {a: b}"), &bad); err == nil || !strings.Contains(err.Error(), "string or a list") {
		t.Errorf("mapping command: %v", err)
	}
}

func TestValidate(t *testing.T) {
	ok := Config{Pipeline: "p", Command: Command{Shell: "python p.py"}}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"valid", func(*Config) {}, ""},
		{"no pipeline", func(c *Config) { c.Pipeline = "" }, "pipeline (the dlt pipeline name) is required"},
		{"path pipeline", func(c *Config) { c.Pipeline = "a/b" }, "plain name"},
		{"no command", func(c *Config) { c.Command = Command{} }, "command is required"},
		{"bad keys", func(c *Config) { c.Keys = "model" }, `keys is "model"`},
		{"bad asset key", func(c *Config) { c.AssetKeys = map[string]string{"r": "a//b"} }, "asset_keys[r]"},
		{"bad dep", func(c *Config) { c.Deps = map[string][]string{"r": {"/x"}} }, "deps[r]"},
		{"bad prefix", func(c *Config) { c.KeyPrefix = "a/" }, "key_prefix"},
		{"bad env", func(c *Config) { c.Env = map[string]string{"A=B": "x"} }, "not a variable name"},
		{"negative retries", func(c *Config) { c.Retries = -1 }, "retries"},
		{"bad resource", func(c *Config) { c.Resources = []string{"a,b"} }, "not a resource name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mutate(&c)
			errs := c.Validate()
			if tt.want == "" {
				if len(errs) > 0 {
					t.Fatalf("unexpected errors %v", errs)
				}
				return
			}
			if len(errs) != 1 || !strings.Contains(errs[0].Error(), tt.want) {
				t.Fatalf("errors %v, want one containing %q", errs, tt.want)
			}
		})
	}
}

func TestLoadFamilyAndSpecs(t *testing.T) {
	h := newHarness(t, "success")
	specs, fams, err := Load(context.Background(), h.cfg, h.projectDir, h.resources)
	if err != nil {
		t.Fatal(err)
	}
	if len(fams) != 1 {
		t.Fatalf("%d families", len(fams))
	}
	f := fams[0]
	filePool := duckdb.PoolName(filepath.Join(h.projectDir, "warehouse.duckdb"))
	if f.Name != "dlt:github_pipeline" || !f.Multi || !f.Subset || f.Kind != "dlt" || !reflect.DeepEqual(f.Pools, []string{"dlt:github_pipeline", filePool}) {
		t.Errorf("family %+v", f)
	}
	var keys []string
	for _, s := range specs {
		keys = append(keys, s.Key.String())
		if !s.External && s.Step != f.Name {
			t.Errorf("%s has step %q, want %q", s.Key, s.Step, f.Name)
		}
	}
	want := []string{"dlt_github_issues", "dlt_github_pull_requests", "github_issues", "github_pull_requests"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}
	if inc, _ := specs[0].Metadata["incremental"].([]map[string]any); len(inc) != 1 || inc[0]["last_value"] != "2024-05-01T23:59:58Z" {
		t.Errorf("incremental cursor metadata %v", specs[0].Metadata["incremental"])
	}
	if _, err := asset.NewGraph(specs, asset.GraphOptions{StrictDeps: true}); err != nil {
		t.Errorf("specs do not make a graph: %v", err)
	}

	h.cfg.PipelinePerPartition = true
	_, fams, err = Load(context.Background(), h.cfg, h.projectDir, h.resources)
	// Per-partition pipelines run side by side, except that one DuckDB
	// file takes one writer at a time.
	if err != nil || !reflect.DeepEqual(fams[0].Pools, []string{filePool}) {
		t.Errorf("per-partition pipelines need only the file's pool: %+v, %v", fams, err)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config, map[string]engine.Resource)
		want   string
	}{
		{"never ran", func(c *Config, _ map[string]engine.Resource) { c.Pipeline = "chess_pipeline" }, "run the pipeline once"},
		{"unknown destination", func(c *Config, _ map[string]engine.Resource) { c.Destination = "lake" }, `destination "lake" is not a resource in elt.yaml (resources: warehouse)`},
		{"duckdb without path", func(_ *Config, r map[string]engine.Resource) {
			r["warehouse"] = engine.Resource{Name: "warehouse", Type: "duckdb"}
		}, "has no path"},
		{"invalid", func(c *Config, _ map[string]engine.Resource) { c.Command = Command{} }, "command is required"},
		{"override of unknown resource", func(c *Config, _ map[string]engine.Resource) { c.AssetKeys = map[string]string{"isues": "x"} }, `override for "isues"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "success")
			tt.mutate(&h.cfg, h.resources)
			_, _, err := Load(context.Background(), h.cfg, h.projectDir, h.resources)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestLoadResourcesBeforeFirstRun(t *testing.T) {
	h := newHarness(t, "success")
	h.cfg.Pipeline = "chess_pipeline"
	h.cfg.Resources = []string{"players_games"}
	specs, _, err := Load(context.Background(), h.cfg, h.projectDir, h.resources)
	if err != nil {
		t.Fatal(err)
	}
	if specs[0].Key != asset.MustKey("dlt_chess_players_games") || specs[0].Deps[0] != asset.MustKey("chess_players_games") {
		t.Errorf("spec %+v", specs[0])
	}
}

func TestLoadExportedSchemas(t *testing.T) {
	h := newHarness(t, "success")
	h.cfg.Pipeline = "chess_pipeline" // never ran: no folder
	h.cfg.ExportSchemaPath = "exported"
	if err := os.MkdirAll(filepath.Join(h.projectDir, "exported"), 0o755); err != nil {
		t.Fatal(err)
	}
	schema := "version: 1\nengine_version: 11\nname: chess\ntables:\n  players_games:\n    resource: players_games\n    columns: {}\n"
	if err := os.WriteFile(filepath.Join(h.projectDir, "exported", "chess.schema.yaml"), []byte(schema), 0o644); err != nil {
		t.Fatal(err)
	}
	specs, _, err := Load(context.Background(), h.cfg, h.projectDir, h.resources)
	if err != nil {
		t.Fatal(err)
	}
	if specs[0].Key != asset.MustKey("dlt_chess_players_games") || specs[0].CodeVersion == "" {
		t.Errorf("spec %+v", specs[0])
	}
}

// TestLoadFixturePipelines puts each real dlt schema from the shared
// fixtures, with the legacy engine 1 state.json, into a pipeline folder and
// loads it as elt.yaml would.
func TestLoadFixturePipelines(t *testing.T) {
	dir := testenv.Fixtures(t, "dlt")
	files, _ := filepath.Glob(filepath.Join(dir, "schemas", "*"))
	state, err := os.ReadFile(filepath.Join(dir, "state", "state.v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		for _, keys := range []string{"resource", "table"} {
			t.Run(filepath.Base(f)+"/"+keys, func(t *testing.T) {
				project := t.TempDir()
				pdir := filepath.Join(project, "pipelines", "debug_pipeline")
				if err := os.MkdirAll(filepath.Join(pdir, "schemas"), 0o755); err != nil {
					t.Fatal(err)
				}
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(pdir, "schemas", filepath.Base(f)), b, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(pdir, "state.json"), state, 0o644); err != nil {
					t.Fatal(err)
				}
				cfg := Config{Pipeline: "debug_pipeline", PipelinesDir: "pipelines", Command: Command{Shell: "python debug.py"}, Keys: keys}
				specs, fams, err := Load(context.Background(), cfg, project, nil)
				if err != nil {
					t.Fatal(err)
				}
				var n int
				for _, s := range specs {
					if !s.External {
						n++
						if keys == "table" && s.Key.Parts()[0] != "debug_pipeline_data" {
							t.Errorf("%s is not in the state's dataset debug_pipeline_data", s.Key)
						}
						if !slices.Contains(s.Kinds, "postgres") {
							t.Errorf("%s kinds %v lack the state's destination", s.Key, s.Kinds)
						}
					}
				}
				if n == 0 || len(fams) != 1 {
					t.Fatalf("%d assets, %d families", n, len(fams))
				}
				if _, err := asset.NewGraph(specs, asset.GraphOptions{StrictDeps: true}); err != nil {
					t.Error(err)
				}
			})
		}
	}
}
