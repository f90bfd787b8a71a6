package dbt

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestRunResultsFixtures(t *testing.T) {
	dir := fixturesDir(t)
	tests := []struct {
		file     string
		version  int
		statuses map[string]int
		check    func(t *testing.T, rr *RunResults)
	}{
		{file: "recorded/run_results_v2_run_error_skipped.json", version: 2, statuses: map[string]int{"success": 2, "error": 1, "skipped": 1}},
		{file: "recorded/run_results_v4_build_model_error.json", version: 4, statuses: map[string]int{"success": 8, "pass": 20, "error": 1}},
		{file: "recorded/run_results_v4_run_model_errors.json", version: 4, statuses: map[string]int{"error": 2}},
		{file: "recorded/run_results_v5_build_test_error_skipped.json", version: 5, statuses: map[string]int{"error": 2, "skipped": 2}},
		{file: "recorded/run_results_v6_run_error_skipped.json", version: 6, statuses: map[string]int{"error": 2, "skipped": 4}},
		{file: "recorded/run_results_v6_test_warn.json", version: 6, statuses: map[string]int{"pass": 22, "warn": 1},
			check: func(t *testing.T, rr *RunResults) {
				for _, r := range rr.Results {
					if r.Status == "warn" {
						if r.Failures == nil || *r.Failures != 5 || !strings.Contains(r.Message, "Got 5 results") {
							t.Errorf("warn result: failures %v, message %q", r.Failures, r.Message)
						}
					}
				}
			}},
		{file: "datacoves_balboa_v12/run_results.json", version: 6, statuses: map[string]int{"success": 50}},
		{file: "dbt_core_results_v4/run_results.json", version: 4, statuses: map[string]int{"success": 2}},
		{file: "dbt_core_results_v5/run_results.json", version: 5, statuses: map[string]int{"success": 2},
			check: func(t *testing.T, rr *RunResults) {
				r := rr.Results[0]
				if !strings.HasSuffix(r.RelationName, `."my_model"`) || r.UniqueID != "model.test.my_model" {
					t.Errorf("relation %q, id %q", r.RelationName, r.UniqueID)
				}
				if n, ok := r.RowsAffected(); !ok || n != -1 {
					t.Errorf("rows affected = %d, %v", n, ok)
				}
			}},
		{file: "dbt_core_results_v6/run_results.json", version: 6, statuses: map[string]int{"success": 2},
			check: func(t *testing.T, rr *RunResults) {
				r := rr.Results[0]
				if len(r.Timing) != 2 || r.Timing[0].Name != "compile" || r.Timing[1].CompletedAt != "2024-09-24T15:24:36.231442Z" {
					t.Errorf("timing = %+v", r.Timing)
				}
				if r.Failures != nil || r.ThreadID == "" || r.ExecutionTime <= 0 || r.Message != "CREATE VIEW" {
					t.Errorf("result = %+v", r)
				}
				if rr.InvocationID != "ca07d2ca-054f-4ea1-be63-4acccfe4a6a7" || rr.ElapsedTime <= 0 || rr.Args["which"] != "run" {
					t.Errorf("header: %q %v %v", rr.InvocationID, rr.ElapsedTime, rr.Args["which"])
				}
			}},
		{file: "jaffle_shop_classic_v9/run_results.json", version: 4, statuses: map[string]int{"success": 28}},
		{file: "jaffle_shop_classic_v9_test_run/run_results.json", version: 4, statuses: map[string]int{"pass": 8}},
		{file: "jaffle_shop_fork_v10/run_results.json", version: 4, statuses: map[string]int{"success": 2}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			rr, err := ReadRunResults(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if rr.SchemaVersion != tc.version {
				t.Errorf("version = %d, want %d", rr.SchemaVersion, tc.version)
			}
			got := map[string]int{}
			for _, r := range rr.Results {
				got[r.Status]++
				if r.UniqueID == "" {
					t.Error("result without unique_id")
				}
			}
			if len(got) != len(tc.statuses) {
				t.Errorf("statuses = %v, want %v", got, tc.statuses)
			}
			for s, n := range tc.statuses {
				if got[s] != n {
					t.Errorf("statuses = %v, want %v", got, tc.statuses)
					break
				}
			}
			if tc.check != nil {
				tc.check(t, rr)
			}
		})
	}
}

func TestRunResultsErrors(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"empty", ``, "not valid JSON"},
		{"yaml", "version: 2\nmodels: []\n", "not valid JSON"},
		{"array", `[]`, "expected a JSON object"},
		{"manifest", `{"metadata":{"dbt_schema_version":"https://schemas.getdbt.com/dbt/manifest/v12.json"}}`, `expected ".../run-results/vN.json"`},
		{"too new", `{"metadata":{"dbt_schema_version":"https://schemas.getdbt.com/dbt/run-results/v9.json"},"results":[]}`, "v9 is not supported"},
		{"results not a list", `{"metadata":{"dbt_schema_version":"https://schemas.getdbt.com/dbt/run-results/v6.json"},"results":{}}`, "must be a list"},
		{"no unique_id", `{"metadata":{"dbt_schema_version":"https://schemas.getdbt.com/dbt/run-results/v6.json"},"results":[{"status":"success"}]}`, "results[0]: result has no unique_id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRunResults([]byte(tc.data), "target/run_results.json")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "target/run_results.json: ") {
				t.Errorf("err = %v, want it to name the file and say %q", err, tc.want)
			}
		})
	}
}
