package dlt

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/internal/testenv"
	mdlt "github.com/eltproject/elt/manifest/dlt"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fixturesDir returns the shared dlt fixtures (a skip outside CI, a
// failure in CI, when they are absent).
func fixturesDir(t *testing.T) string {
	t.Helper()
	return testenv.Fixtures(t, "dlt")
}

func fixturePipeline(t *testing.T, name, file string) *mdlt.Pipeline {
	t.Helper()
	s, err := mdlt.ReadSchema(filepath.Join(fixturesDir(t), "schemas", file))
	if err != nil {
		t.Fatal(err)
	}
	s.Path = "schemas/" + file // keep golden files free of machine paths
	return &mdlt.Pipeline{Name: name, Dir: "/pipelines/" + name, Schemas: []*mdlt.Schema{s}}
}

func checkGolden(t *testing.T, name string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("%s differs from the translation (run go test -update after checking the change):\n%s", path, b)
	}
}

func TestTranslateGolden(t *testing.T) {
	tests := []struct {
		golden, pipeline, file, keys string
	}{
		{"ethereum.resource.golden.json", "eth", "ethereum.schema.yaml", KeysByResource},
		{"ethereum.table.golden.json", "eth", "ethereum.schema.yaml", KeysByTable},
		{"github_issues.resource.golden.json", "github_issues", "github_issues.schema.json", KeysByResource},
		{"github_issues.table.golden.json", "github_issues", "github_issues.schema.json", KeysByTable},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			p := fixturePipeline(t, tt.pipeline, tt.file)
			res, err := Translate(p, Options{Keys: tt.keys, Step: "dlt:" + tt.pipeline, Destination: "duckdb"})
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tt.golden, res)
		})
	}
}

func keysOfResult(r *Result) []string {
	var out []string
	for _, a := range r.Assets {
		out = append(out, a.Spec.Key.String())
	}
	return out
}

func TestTranslateEthereumRootWithDoubleUnderscore(t *testing.T) {
	p := fixturePipeline(t, "eth", "ethereum.schema.yaml")
	res, err := Translate(p, Options{Keys: KeysByTable})
	if err != nil {
		t.Fatal(err)
	}
	// blocks__transactions has its own resource: a root table and an asset,
	// not a nested table of blocks.
	want := []string{"eth_dataset/blocks", "eth_dataset/blocks__transactions", "eth_dataset/blocks__transactions__logs"}
	if got := keysOfResult(res); !reflect.DeepEqual(got, want) {
		t.Errorf("keys %v, want %v", got, want)
	}
	if got := res.Assets[1].Tables; !reflect.DeepEqual(got, []string{"blocks__transactions", "blocks__transactions__access_list", "blocks__transactions__access_list__storage_keys"}) {
		t.Errorf("blocks__transactions covers %v", got)
	}
	if got := res.Assets[0].Tables; !reflect.DeepEqual(got, []string{"blocks", "blocks__uncles"}) {
		t.Errorf("blocks covers %v", got)
	}
}

func TestTranslateGithubNested(t *testing.T) {
	p := fixturePipeline(t, "github_issues", "github_issues.schema.json")
	res, err := Translate(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := keysOfResult(res); !reflect.DeepEqual(got, []string{"dlt_event_issues"}) {
		t.Fatalf("keys %v", got)
	}
	a := res.Assets[0]
	if !reflect.DeepEqual(a.Tables, []string{"issues", "issues__labels", "issues__assignees"}) {
		t.Errorf("tables %v", a.Tables)
	}
	if !reflect.DeepEqual(a.Spec.Deps, []asset.Key{asset.MustKey("event_issues")}) {
		t.Errorf("deps %v", a.Spec.Deps)
	}
	if len(res.External) != 1 || res.External[0].Key != asset.MustKey("event_issues") || !res.External[0].External {
		t.Errorf("external %+v", res.External)
	}
}

func githubPipeline() *mdlt.Pipeline {
	s, err := mdlt.ParseSchema("github.schema.json", []byte(`{"name":"github","engine_version":11,"tables":{
		"_dlt_loads":{"resource":"_dlt_loads","columns":{}},
		"issues":{"resource":"issues","write_disposition":"merge","columns":{"id":{"data_type":"bigint","nullable":false,"primary_key":true}}},
		"issues__labels":{"parent":"issues","columns":{}},
		"pull_requests":{"resource":"pull_requests","write_disposition":"append","columns":{}},
		"pull_requests_archive":{"resource":"pull_requests","write_disposition":"append","columns":{}}}}`))
	if err != nil {
		panic(err)
	}
	return &mdlt.Pipeline{
		Name: "github_pipeline",
		State: &mdlt.State{DatasetName: "gh", DestinationType: "dlt.destinations.duckdb", DefaultSchemaName: "github",
			Incrementals: []mdlt.Incremental{{Source: "github", Resource: "issues", CursorPath: "updated_at", InitialValue: "2024-01-01", LastValue: "2024-05-01"}}},
		Schemas: []*mdlt.Schema{s},
	}
}

func TestTranslateOptions(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		keys     []string
		deps     map[string][]string
		external []string
	}{
		{
			name:     "resource keys",
			opts:     Options{},
			keys:     []string{"dlt_github_issues", "dlt_github_pull_requests"},
			deps:     map[string][]string{"dlt_github_issues": {"github_issues"}},
			external: []string{"github_issues", "github_pull_requests"},
		},
		{
			name:     "table keys with prefix, several root tables per resource",
			opts:     Options{Keys: KeysByTable, KeyPrefix: []string{"warehouse"}},
			keys:     []string{"warehouse/gh/issues", "warehouse/gh/pull_requests", "warehouse/gh/pull_requests_archive"},
			deps:     map[string][]string{"warehouse/gh/pull_requests_archive": {"github_pull_requests"}},
			external: []string{"github_issues", "github_pull_requests"},
		},
		{
			name: "overrides",
			opts: Options{
				AssetKeys: map[string]asset.Key{"issues": asset.MustKey("raw", "gh_issues")},
				Deps:      map[string][]asset.Key{"issues": {asset.MustKey("api", "github")}},
				Dataset:   "other",
			},
			keys:     []string{"raw/gh_issues", "dlt_github_pull_requests"},
			deps:     map[string][]string{"raw/gh_issues": {"api/github"}},
			external: []string{"github_pull_requests"},
		},
		{
			name:     "resources not yet in the schema",
			opts:     Options{Resources: []string{"issues", "commits"}},
			keys:     []string{"dlt_github_issues", "dlt_github_pull_requests", "dlt_github_commits"},
			deps:     map[string][]string{"dlt_github_commits": {"github_commits"}},
			external: []string{"github_issues", "github_pull_requests", "github_commits"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Translate(githubPipeline(), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := keysOfResult(res); !reflect.DeepEqual(got, tt.keys) {
				t.Errorf("keys %v, want %v", got, tt.keys)
			}
			for _, a := range res.Assets {
				want, ok := tt.deps[a.Spec.Key.String()]
				if !ok {
					continue
				}
				var got []string
				for _, d := range a.Spec.Deps {
					got = append(got, d.String())
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s deps %v, want %v", a.Spec.Key, got, want)
				}
			}
			var ext []string
			for _, e := range res.External {
				ext = append(ext, e.Key.String())
			}
			if !reflect.DeepEqual(ext, tt.external) {
				t.Errorf("external %v, want %v", ext, tt.external)
			}
		})
	}
}

func TestTranslateMetadata(t *testing.T) {
	res, err := Translate(githubPipeline(), Options{Step: "dlt:github_pipeline", Group: "github", Partitions: "daily"})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Assets[0].Spec
	if s.Step != "dlt:github_pipeline" || s.Group != "github" || s.Partitions != "daily" || !reflect.DeepEqual(s.Kinds, []string{"dlt", "duckdb"}) {
		t.Errorf("spec %+v", s)
	}
	inc, ok := s.Metadata["incremental"].([]map[string]any)
	if !ok || len(inc) != 1 || inc[0]["cursor_path"] != "updated_at" || inc[0]["last_value"] != "2024-05-01" {
		t.Errorf("incremental metadata %#v", s.Metadata["incremental"])
	}
	if s.Metadata["dataset"] != "gh" || s.Metadata["write_disposition"] != "merge" || !reflect.DeepEqual(s.Metadata["tables"], []string{"issues", "issues__labels"}) {
		t.Errorf("metadata %v", s.Metadata)
	}
	if _, ok := res.Assets[1].Spec.Metadata["incremental"]; ok {
		t.Error("pull_requests has no cursor in the state, yet has incremental metadata")
	}
}

func TestTranslateErrors(t *testing.T) {
	tests := []struct {
		name string
		p    *mdlt.Pipeline
		opts Options
		want string
	}{
		{"bad style", githubPipeline(), Options{Keys: "model"}, `keys is "model"`},
		{"unknown override", githubPipeline(), Options{AssetKeys: map[string]asset.Key{"isues": asset.MustKey("x")}}, `override for "isues", which is not a resource of the pipeline (known: issues, pull_requests)`},
		{"table override in resource style", githubPipeline(), Options{Deps: map[string][]asset.Key{"pull_requests_archive": nil}}, "pull_requests_archive"},
		{"never ran", &mdlt.Pipeline{Name: "new", Dir: "/p/new"}, Options{}, "run the pipeline once"},
		{"duplicate key", githubPipeline(), Options{AssetKeys: map[string]asset.Key{"issues": asset.MustKey("dlt_github_pull_requests")}}, "asset key dlt_github_pull_requests is given to both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Translate(tt.p, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestTranslateResourcesOnly(t *testing.T) {
	p := &mdlt.Pipeline{Name: "chess_pipeline"}
	res, err := Translate(p, Options{Resources: []string{"players_games"}, Keys: KeysByTable})
	if err != nil {
		t.Fatal(err)
	}
	a := res.Assets[0]
	if a.Spec.Key != asset.MustKey("chess_pipeline_dataset", "players_games") || a.Source != "chess" || !reflect.DeepEqual(a.Tables, []string{"players_games"}) {
		t.Errorf("asset %+v", a)
	}
}

func BenchmarkTranslateEthereum(b *testing.B) {
	dir := testenv.Fixtures(b, "dlt")
	s, err := mdlt.ReadSchema(filepath.Join(dir, "schemas", "ethereum.schema.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	p := &mdlt.Pipeline{Name: "eth", Schemas: []*mdlt.Schema{s}}
	for b.Loop() {
		if _, err := Translate(p, Options{Keys: KeysByTable}); err != nil {
			b.Fatal(err)
		}
	}
}
