package dlt

import (
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // zones in tests do not depend on the machine

	"github.com/eltproject/elt/engine"
	tdlt "github.com/eltproject/elt/translator/dlt"
)

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func TestRunnerEnv(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		part    *engine.Partition
		perPart bool
		base    []string
		want    map[string]string // "" means must be absent
	}{
		{
			name: "unpartitioned",
			want: map[string]string{EnvIntervalStart: "", "ELT_PARTITION_KEY": "", EnvPipelineName: "gh", "PIPELINE_NAME": "", EnvDuckDBCredentials: "/w.duckdb"},
		},
		{
			name: "berlin day",
			part: &engine.Partition{Key: "2024-05-01", Start: time.Date(2024, 5, 1, 0, 0, 0, 0, berlin), End: time.Date(2024, 5, 2, 0, 0, 0, 0, berlin)},
			want: map[string]string{EnvIntervalStart: "2024-04-30T22:00:00Z", EnvIntervalEnd: "2024-05-01T22:00:00Z", EnvIntervalTimezone: "Europe/Berlin",
				"ELT_PARTITION_KEY": "2024-05-01", "ELT_PARTITION_START": "2024-05-01T00:00:00+02:00"},
		},
		{
			name: "fixed offset has no zone name to pass",
			part: &engine.Partition{Key: "k", Start: time.Date(2024, 5, 1, 0, 0, 0, 0, time.FixedZone("X", 3600)), End: time.Date(2024, 5, 2, 0, 0, 0, 0, time.FixedZone("X", 3600))},
			want: map[string]string{EnvIntervalStart: "2024-04-30T23:00:00Z", EnvIntervalTimezone: ""},
		},
		{
			name:    "pipeline per partition, static key",
			part:    &engine.Partition{Key: "eu west"},
			perPart: true,
			want:    map[string]string{EnvPipelineName: "gh_eu_west", "PIPELINE_NAME": "gh_eu_west", EnvIntervalStart: ""},
		},
		{
			name: "credentials already set are kept",
			base: []string{EnvDuckDBCredentials + "=/mine.duckdb"},
			want: map[string]string{EnvDuckDBCredentials: "/mine.duckdb"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &runner{cfg: Config{Pipeline: "gh", PipelinePerPartition: tt.perPart, Keys: tdlt.KeysByTable, Env: map[string]string{"A": "1"}},
				pipelinesDir: "/p", dataset: "ds", dest: destination{kind: "duckdb", duckdbPath: "/w.duckdb"}}
			sel := []tdlt.Asset{{Resource: "issues", Tables: []string{"issues", "issues__labels"}}, {Resource: "issues", Tables: []string{"issues_archive"}}}
			base := append([]string{"PATH=/bin"}, tt.base...)
			got := envMap(r.env(&engine.Request{Env: base, Partition: tt.part}, r.pipelineName(tt.part), sel, "/s/events.jsonl"))
			for k, v := range tt.want {
				if gv, ok := got[k]; v == "" && ok {
					t.Errorf("%s=%s is set, want it absent", k, gv)
				} else if v != "" && gv != v {
					t.Errorf("%s=%q, want %q", k, gv, v)
				}
			}
			if got[EnvResources] != "issues" || got[EnvTables] != "issues,issues_archive" || got["A"] != "1" || got["PATH"] != "/bin" ||
				got["ELT_EVENTS_FILE"] != "/s/events.jsonl" || got[EnvDataset] != "ds" || got[EnvPipelinesDir] != "/p" {
				t.Errorf("env %v", got)
			}
		})
	}
}
