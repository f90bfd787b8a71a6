package dlt

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/eltproject/elt/internal/testenv"
)

// findFixtures walks up from the package folder to the shared dlt
// fixtures; "" when they are absent.
func findFixtures() string {
	dir, _ := testenv.LookFixtures("dlt")
	return dir
}

// fixturesDir returns the shared dlt fixtures or skips the test.
func fixturesDir(t testing.TB) string {
	t.Helper()
	return testenv.Fixtures(t, "dlt")
}

func TestReadSchemaFixturesAllLoad(t *testing.T) {
	dir := fixturesDir(t)
	files, _ := filepath.Glob(filepath.Join(dir, "schemas", "*"))
	if len(files) < 5 {
		t.Fatalf("found %d fixture schemas, want at least 5", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			s, err := ReadSchema(f)
			if err != nil {
				t.Fatal(err)
			}
			if s.Name == "" || s.EngineVersion < MinSchemaEngine || len(s.DataTables()) == 0 {
				t.Fatalf("schema %q engine %d with %d data tables", s.Name, s.EngineVersion, len(s.DataTables()))
			}
			for _, tb := range s.DataTables() {
				if (tb.Parent == "") == (tb.Resource == "") {
					t.Errorf("table %s: parent %q resource %q: exactly one must be set", tb.Name, tb.Parent, tb.Resource)
				}
				if tb.IsNested() {
					if _, ok := s.Table(tb.Parent); !ok {
						t.Errorf("table %s: parent %s not in schema", tb.Name, tb.Parent)
					}
				}
			}
		})
	}
}

type tableSummary struct {
	Resource, Parent, Disposition string
	Seen                          bool
}

func summarize(s *Schema) map[string]tableSummary {
	out := map[string]tableSummary{}
	for _, t := range s.DataTables() {
		out[t.Name] = tableSummary{t.Resource, t.Parent, t.WriteDisposition, t.SeenData}
	}
	return out
}

func TestSchemaTablesFromFixtures(t *testing.T) {
	dir := fixturesDir(t)
	tests := []struct {
		file      string
		name      string
		engine    int
		want      map[string]tableSummary
		resources []string
	}{
		{
			file: "ethereum.schema.yaml", name: "ethereum", engine: 11,
			want: map[string]tableSummary{
				"blocks":                                          {"blocks", "", "append", true},
				"blocks__transactions":                            {"blocks__transactions", "", "append", true},
				"blocks__transactions__logs":                      {"blocks__transactions__logs", "", "append", true},
				"blocks__transactions__logs__topics":              {"", "blocks__transactions__logs", "append", true},
				"blocks__transactions__access_list":               {"", "blocks__transactions", "append", true},
				"blocks__transactions__access_list__storage_keys": {"", "blocks__transactions__access_list", "append", true},
				"blocks__uncles":                                  {"", "blocks", "append", true},
			},
			resources: []string{"blocks", "blocks__transactions", "blocks__transactions__logs"},
		},
		{
			file: "github_issues.schema.json", name: "event", engine: 11,
			want: map[string]tableSummary{
				"issues":            {"issues", "", "append", true},
				"issues__labels":    {"", "issues", "append", true},
				"issues__assignees": {"", "issues", "append", true},
			},
			resources: []string{"issues"},
		},
		{
			// Engine 4: no resource (the table's own name is used) and no
			// seen-data (inferred from a _dlt_id column, as dlt migrates).
			file: "google_spreadsheet_v4.schema.json", name: "google_spreadsheet", engine: 4,
			want: map[string]tableSummary{
				"_2022_05":       {"_2022_05", "", "replace", true},
				"model_metadata": {"model_metadata", "", "replace", true},
			},
			resources: []string{"_2022_05", "model_metadata"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			s, err := ReadSchema(filepath.Join(dir, "schemas", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if s.Name != tt.name || s.EngineVersion != tt.engine {
				t.Errorf("name %q engine %d, want %q %d", s.Name, s.EngineVersion, tt.name, tt.engine)
			}
			if got := summarize(s); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("tables\n got %v\nwant %v", got, tt.want)
			}
			if got := s.Resources(); !reflect.DeepEqual(got, tt.resources) {
				t.Errorf("resources %v, want %v", got, tt.resources)
			}
		})
	}
}

func TestSchemaColumnsKeepFileOrder(t *testing.T) {
	s, err := ReadSchema(filepath.Join(fixturesDir(t), "schemas", "ethereum.schema.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, _ := s.Table("blocks")
	var names []string
	for _, c := range blocks.Columns[:4] {
		names = append(names, c.Name)
	}
	if want := []string{"_dlt_load_id", "_dlt_id", "number", "parent_hash"}; !reflect.DeepEqual(names, want) {
		t.Errorf("first columns %v, want %v", names, want)
	}
	number := blocks.Columns[2]
	if number.DataType != "bigint" || number.Nullable || !reflect.DeepEqual(number.Hints, []string{"primary_key"}) {
		t.Errorf("number column = %+v", number)
	}
	if got := len(s.Nested("blocks__transactions")); got != 2 {
		t.Errorf("nested under blocks__transactions: %d, want 2 (access_list, storage_keys)", got)
	}
}

func TestParseSchemaErrors(t *testing.T) {
	tests := []struct {
		name, file, body, want string
	}{
		{"not json", "x.schema.json", "{\n\"name\": }", "x.schema.json: not a dlt schema: line 2"},
		{"array", "x.schema.json", "[]", "an object with name"},
		{"no name", "x.schema.json", `{"engine_version": 11}`, `has no "name"`},
		{"engine too new", "x.schema.yaml", "name: a\nengine_version: 12\ntables: {}\n", "x.schema.yaml:2: schema \"a\" has engine_version 12"},
		{"engine too old", "x.schema.json", `{"name":"a","engine_version":2,"tables":{}}`, "engine_version 2"},
		{"tables list", "x.schema.yaml", "name: a\nengine_version: 11\ntables:\n- a\n", "x.schema.yaml:4: \"tables\" is a array"},
		{"table not object", "x.schema.yaml", "name: a\nengine_version: 11\ntables:\n  t: 3\n", "x.schema.yaml:4: table \"t\" is not an object"},
		{"column not object", "x.schema.json", "{\"name\":\"a\",\"engine_version\":11,\"tables\":{\"t\":{\"columns\":{\n\"c\": 1}}}}", "x.schema.json:2: table \"t\": column \"c\" is not an object"},
		{"trailing", "x.schema.json", `{"name":"a","engine_version":11} {}`, "after top-level value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSchema(tt.file, []byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestReadPipeline(t *testing.T) {
	p, err := ReadPipeline(filepath.Join("testdata", "pipelines", "github_pipeline"), "github_pipeline")
	if err != nil {
		t.Fatal(err)
	}
	if !p.HasRun() || p.State == nil || len(p.Schemas) != 1 {
		t.Fatalf("pipeline = %+v", p)
	}
	s := p.Schemas[0]
	if got := s.Resources(); !reflect.DeepEqual(got, []string{"issues", "pull_requests"}) {
		t.Errorf("resources %v", got)
	}
	if pr, _ := s.Table("pull_requests"); pr.SeenData {
		t.Error("pull_requests has no x-normalizer.seen-data in an engine 11 schema, yet SeenData is set")
	}

	empty, err := ReadPipeline(filepath.Join(t.TempDir(), "never_ran"), "never_ran")
	if err != nil || empty.HasRun() {
		t.Fatalf("missing folder: %+v, %v", empty, err)
	}
}

func TestDefaultPipelinesDir(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		euid     int
		home     string
		expected string
	}{
		{"DLT_DATA_DIR wins", map[string]string{"DLT_DATA_DIR": "/data/dlt"}, 0, "/home/u", "/data/dlt/pipelines"},
		{"root", nil, 0, "/root", "/var/dlt/pipelines"},
		{"user", nil, 1000, "/home/u", "/home/u/.dlt/pipelines"},
		{"no home", nil, 1000, "", "/tmp/dlt/pipelines"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := defaultPipelinesDir(func(k string) string { return tt.env[k] }, tt.euid, tt.home, "/tmp")
			if got != tt.expected {
				t.Errorf("got %s, want %s", got, tt.expected)
			}
		})
	}
}

func BenchmarkParseSchemaJSON(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(fixturesDir(b), "schemas", "github_issues.schema.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseSchema("issues.schema.json", data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseSchemaYAML(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(fixturesDir(b), "schemas", "ethereum.schema.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseSchema("ethereum.schema.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseSchemaRecursiveAnchor(t *testing.T) {
	// An anchor whose value aliases itself would expand forever.
	body := "name: a\nengine_version: 11\ntables: &t\n  x: [*t, *t]\n  y: [*t, *t]\n"
	_, err := ParseSchema("r.schema.yaml", []byte(body))
	if err == nil || !strings.Contains(err.Error(), "alias of itself") {
		t.Fatalf("error %v, want a recursive alias error", err)
	}
}

func TestReadSchemasExportFolder(t *testing.T) {
	schemas, err := ReadSchemas(filepath.Join("testdata", "export"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range schemas {
		got = append(got, s.Name+"@"+s.VersionHash)
	}
	// JSON (what dlt stores) wins over a YAML export of the same schema.
	if want := []string{"chess@", "github@current"}; !reflect.DeepEqual(got, want) {
		t.Errorf("schemas %v, want %v", got, want)
	}
	if missing, err := ReadSchemas(filepath.Join("testdata", "no_such_folder")); err != nil || len(missing) != 0 {
		t.Errorf("missing folder: %v, %v", missing, err)
	}
}
