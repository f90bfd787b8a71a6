package dlt

import (
	"os"
	"path/filepath"
	"testing"
)

func addSeedFiles(f *testing.F, pattern string, wrap func([]byte) []any) {
	files, _ := filepath.Glob(pattern)
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(wrap(b)...)
		}
	}
}

// FuzzParseSchema checks that no input makes the schema reader panic or
// return a schema that breaks its own invariants.
func FuzzParseSchema(f *testing.F) {
	f.Add([]byte(`{"name":"a","engine_version":11,"tables":{"t":{"parent":"t","columns":{"c":{"nullable":false}}}}}`), false)
	f.Add([]byte("name: a\nengine_version: 4\ntables:\n  x: &a {columns: {c: {}}}\n  y: *a\n"), true)
	addSeedFiles(f, filepath.Join("testdata", "pipelines", "*", "schemas", "*"), func(b []byte) []any { return []any{b, false} })
	if dir := findFixtures(); dir != "" {
		addSeedFiles(f, filepath.Join(dir, "schemas", "*.yaml"), func(b []byte) []any { return []any{b, true} })
		addSeedFiles(f, filepath.Join(dir, "schemas", "*.json"), func(b []byte) []any { return []any{b, false} })
	}
	f.Fuzz(func(t *testing.T, data []byte, yamlFormat bool) {
		name := "f.schema.json"
		if yamlFormat {
			name = "f.schema.yaml"
		}
		s, err := ParseSchema(name, data)
		if err != nil {
			return
		}
		for _, tb := range s.DataTables() {
			if tb.Parent == "" && tb.Resource == "" {
				t.Fatalf("root table %q has no resource", tb.Name)
			}
			_ = s.Root(tb)
			_ = s.Nested(tb.Name)
		}
		_ = s.Resources()
	})
}

// FuzzParseState checks the state reader never panics.
func FuzzParseState(f *testing.F) {
	f.Add([]byte(`{"_state_engine_version":1,"destination":"x"}`))
	f.Add([]byte(`{"_state_engine_version":4,"sources":{"s":{"resources":{"r":{"incremental":{"c":{"last_value":"\uf027x"}}}}}}}`))
	addSeedFiles(f, filepath.Join("testdata", "pipelines", "*", "state.json"), func(b []byte) []any { return []any{b} })
	if dir := findFixtures(); dir != "" {
		addSeedFiles(f, filepath.Join(dir, "state", "*.json"), func(b []byte) []any { return []any{b} })
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ParseState("state.json", data)
		if err == nil {
			_ = st.Destination()
		}
	})
}

// FuzzParseLoadInfoEvent checks the load-info reader never panics.
func FuzzParseLoadInfoEvent(f *testing.F) {
	f.Add([]byte(`{"type":"dlt_load_info","load_info":{"loads_ids":["1"],"load_packages":[{"jobs":[{"state":"failed_jobs"}]}]}}`))
	addSeedFiles(f, filepath.Join("testdata", "load_info_event.json"), func(b []byte) []any { return []any{b} })
	f.Fuzz(func(t *testing.T, data []byte) {
		li, err := ParseLoadInfoEvent(data)
		if err == nil {
			_ = li.HasFailedJobs()
		}
	})
}
