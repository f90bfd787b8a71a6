package dlt

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadStateLegacyEngine1Fixture(t *testing.T) {
	st, err := ReadState(filepath.Join(fixturesDir(t), "state", "state.v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := &State{
		EngineVersion: 1, StateVersion: 2, PipelineName: "debug_pipeline", DatasetName: "debug_pipeline_data",
		DefaultSchemaName: "example_source", SchemaNames: []string{"example_source"},
		DestinationType: "dlt.destinations.postgres", DestinationName: "postgres",
	}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("got  %+v\nwant %+v", st, want)
	}
	if st.Destination() != "postgres" {
		t.Errorf("Destination() = %q", st.Destination())
	}
}

func TestReadStateEngine4(t *testing.T) {
	st, err := ReadState(filepath.Join("testdata", "pipelines", "github_pipeline", "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if st.EngineVersion != 4 || st.DestinationType != "dlt.destinations.duckdb" || st.DestinationName != "duckdb" || st.DatasetName != "github_data" {
		t.Errorf("state = %+v", st)
	}
	want := []Incremental{
		{Source: "github", Resource: "issues", CursorPath: "updated_at", InitialValue: "1970-01-01T00:00:00Z", LastValue: "2024-05-01T23:59:58Z", UniqueHashes: 1},
		// dlt's typed-JSON datetime marker (U+F027) is removed.
		{Source: "github", Resource: "pull_requests", CursorPath: "updated_at", InitialValue: "2024-01-01T00:00:00+00:00", LastValue: "2024-05-01T12:00:00+00:00"},
	}
	if !reflect.DeepEqual(st.Incrementals, want) {
		t.Errorf("incrementals\n got %+v\nwant %+v", st.Incrementals, want)
	}
	if got := st.ResourceIncrementals("github", "repo_events"); len(got) != 0 {
		t.Errorf("repo_events keeps an etag, not a cursor; got %+v", got)
	}
}

func TestParseStateErrors(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"syntax", "{\n\"a\": ,}", "s.json: not a dlt pipeline state: line 2"},
		{"engine", `{"_state_engine_version": 9}`, "_state_engine_version 9"},
		{"array", `[]`, "not a dlt pipeline state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseState("s.json", []byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestParseLoadInfoEvent(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "load_info_event.json"))
	if err != nil {
		t.Fatal(err)
	}
	li, err := ParseLoadInfoEvent(b)
	if err != nil {
		t.Fatal(err)
	}
	if li.PipelineName != "github_pipeline" || li.DatasetName != "github_data" || li.DestinationName != "duckdb" ||
		!reflect.DeepEqual(li.LoadIDs, []string{"1714557601.3061225"}) {
		t.Errorf("load info = %+v", li)
	}
	if len(li.Packages) != 1 || li.Packages[0].State != "loaded" || len(li.Packages[0].Jobs) != 2 {
		t.Fatalf("packages = %+v", li.Packages)
	}
	failed := li.Packages[0].FailedJobs()
	if !li.HasFailedJobs() || len(failed) != 1 || failed[0].TableName != "issues__labels" || failed[0].FailedMessage != "a random fail occurred" {
		t.Errorf("failed jobs = %+v", failed)
	}
	if !reflect.DeepEqual(li.RowCounts, map[string]int64{"issues": 12, "issues__labels": 30}) {
		t.Errorf("row counts = %v", li.RowCounts)
	}
}

func TestParseLoadInfoEventErrors(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"wrong type", `{"type":"log"}`, `want "dlt_load_info"`},
		{"no load_info", `{"type":"dlt_load_info"}`, `no "load_info"`},
		{"bad counts", `{"type":"dlt_load_info","load_info":{},"row_counts":{"a":"x"}}`, `row_counts["a"]`},
		{"object where string", `{"type":"dlt_load_info","load_info":{"dataset_name":{}}}`, "not dlt load info"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseLoadInfoEvent([]byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}
