package dbt

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/internal/testenv"
)

func TestParseLogLine(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		wantErr bool
		check   func(t *testing.T, l logLine)
	}{{
		name:    "plain text",
		line:    "Traceback (most recent call last):",
		wantErr: true,
	}, {
		name:    "JSON without info name",
		line:    `{"data": {}}`,
		wantErr: true,
	}, {
		name:    "broken JSON",
		line:    `{"data": {"node_info": `,
		wantErr: true,
	}, {
		name: "debug event keeps its message",
		line: `{"data": {"conn_name": "master", "sql": "select 1"}, "info": {"level": "debug", "msg": "On master: select 1", "name": "SQLQuery"}}`,
		check: func(t *testing.T, l logLine) {
			if l.Name != "SQLQuery" || l.Level != "debug" || l.Msg != "On master: select 1" || l.Node != nil || l.Result != nil {
				t.Errorf("%+v", l)
			}
		},
	}, {
		name: "LogModelResult success: data.status is the adapter message",
		line: `{"data": {"execution_time": 0.8, "node_info": {"node_status": "success", "resource_type": "model", "unique_id": "model.p.a", "node_relation": {"relation_name": "\"db\".\"s\".\"a\""}}, "status": "CREATE VIEW"}, "info": {"level": "info", "msg": "4 of 20 OK created sql view model s.a", "name": "LogModelResult"}}`,
		check: func(t *testing.T, l logLine) {
			r := l.Result
			if r == nil || r.Status != "success" || r.Summary != "CREATE VIEW" || r.ExecutionTime != 0.8 || r.Relation != `"db"."s"."a"` {
				t.Errorf("%+v", r)
			}
		},
	}, {
		name: "LogSeedResult: result_message",
		line: `{"data": {"node_info": {"node_status": "success", "resource_type": "seed", "unique_id": "seed.p.s"}, "result_message": "INSERT 100", "status": "success"}, "info": {"level": "info", "msg": "ok", "name": "LogSeedResult"}}`,
		check: func(t *testing.T, l logLine) {
			if r := l.Result; r == nil || r.Status != "success" || r.Summary != "INSERT 100" {
				t.Errorf("%+v", r)
			}
		},
	}, {
		name: "NodeFinished with run_result",
		line: `{"data": {"node_info": {"node_status": "fail", "resource_type": "test", "unique_id": "test.p.t.1"}, "run_result": {"adapter_response": {"rows_affected": 1.0}, "execution_time": 0.29, "message": "Got 78 results", "num_failures": 78, "status": "fail"}}, "info": {"level": "debug", "msg": "Finished running node", "name": "NodeFinished"}}`,
		check: func(t *testing.T, l logLine) {
			r := l.Result
			if r == nil || r.Status != "fail" || r.Message != "Got 78 results" || r.Failures == nil || *r.Failures != 78 || r.AdapterResponse["rows_affected"] != 1.0 {
				t.Errorf("%+v", r)
			}
		},
	}, {
		name: "NodeFinished with null message and odd types",
		line: `{"data": {"node_info": {"node_status": "skipped", "resource_type": "model", "unique_id": "model.p.b"}, "run_result": {"message": null, "status": 3, "execution_time": "x", "num_failures": null}}, "info": {"level": "debug", "msg": "", "name": "NodeFinished"}}`,
		check: func(t *testing.T, l logLine) {
			r := l.Result
			if r == nil || r.Status != "skipped" || r.Message != "" || r.Failures != nil || r.ExecutionTime != 0 {
				t.Errorf("%+v", r)
			}
		},
	}, {
		name: "node_info of the wrong type leaves a plain log line",
		line: `{"data": {"node_info": "oops"}, "info": {"level": "info", "msg": "hi", "name": "NodeStart"}}`,
		check: func(t *testing.T, l logLine) {
			if l.Node != nil || l.Msg != "hi" {
				t.Errorf("%+v", l)
			}
		},
	}, {
		name: "MainEncounteredError",
		line: `{"data": {"exc": "Runtime Error\n  Could not find profile"}, "info": {"level": "error", "msg": "Encountered an error:\nRuntime Error", "name": "MainEncounteredError"}}`,
		check: func(t *testing.T, l logLine) {
			if l.Exc != "Runtime Error\n  Could not find profile" {
				t.Errorf("%+v", l)
			}
		},
	}, {
		name: "CommandCompleted",
		line: `{"data": {"command": "dbt build", "success": false}, "info": {"level": "debug", "msg": "done", "name": "CommandCompleted"}}`,
		check: func(t *testing.T, l logLine) {
			if l.Success == nil || *l.Success {
				t.Errorf("%+v", l)
			}
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := parseLogLine([]byte(tc.line))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.check != nil {
				tc.check(t, l)
			}
		})
	}
}

// TestRecordedStreamsParse checks every line of every recorded stream is
// read as JSON, and that each NodeFinished line yields a result.
func TestRecordedStreamsParse(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(testenv.Fixtures(t, "dbt"), "recorded", "*.jsonl"))
	// And the real dbt 1.11's stream, recorded by testdata/record.sh.
	files = append(files, "testdata/recorded/build.jsonl")
	if len(files) == 0 {
		t.Fatal("no recorded dbt streams")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		finished, results := 0, 0
		for i, line := range bytes.Split(b, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			l, err := parseLogLine(line)
			if err != nil {
				t.Fatalf("%s:%d: %v", filepath.Base(f), i+1, err)
			}
			if l.Name == "NodeFinished" {
				finished++
				if l.Result != nil && l.Result.Status != "" {
					results++
				}
			}
		}
		if finished == 0 || finished != results {
			t.Errorf("%s: %d NodeFinished lines, %d results", filepath.Base(f), finished, results)
		}
	}
}

func TestParseRunResults(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(testenv.Fixtures(t, "dbt"), "recorded", "run_results_*.json"))
	more, _ := filepath.Glob(filepath.Join(testenv.Fixtures(t, "dbt"), "dbt_core_results_v*", "run_results.json"))
	files = append(files, more...)
	if len(files) == 0 {
		t.Fatal("no recorded run_results")
	}
	for _, f := range files {
		rs, err := readRunResults(f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if len(rs) == 0 {
			t.Errorf("%s: no results", f)
		}
		for _, r := range rs {
			if r.Status == "" || !strings.Contains(r.UniqueID, ".") || r.ResourceType == "" {
				t.Errorf("%s: %+v", f, r)
			}
		}
	}
	if _, err := parseRunResults([]byte(`{"results": 3}`)); err == nil {
		t.Errorf("a malformed run_results.json must be an error")
	}
	rs, err := readRunResults(filepath.Join(t.TempDir(), "run_results.json"))
	if err != nil || rs != nil {
		t.Errorf("a missing run_results.json means no results: %v %v", rs, err)
	}
}

func TestSummary(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"\n\n  one\n two", "one"},
		{"Database Error in model orders (models/orders.sql)\n  syntax error at or near \"final\"\n  LINE 43", `Database Error in model orders (models/orders.sql): syntax error at or near "final"`},
		{"Got 78 results, configured to fail if != 0", "Got 78 results, configured to fail if != 0"},
	}
	for _, tc := range tests {
		if got := summary(tc.in); got != tc.want {
			t.Errorf("summary(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzParseLogLine(f *testing.F) {
	for _, s := range []string{
		`{"data": {"node_info": {"unique_id": "model.p.a", "node_status": "success"}, "run_result": {"status": "success", "num_failures": 1e300}}, "info": {"name": "NodeFinished", "level": "debug"}}`,
		`{"data": {"node_info": {"unique_id": "test.p.t"}, "status": "warn", "num_failures": -3}, "info": {"name": "LogTestResult"}}`,
		`{"info": {"name": "MainEncounteredError", "level": "error", "msg": "x"}, "data": {"exc": 7}}`,
		"plain text",
		`{"data": null, "info": {"name": "X"}}`,
	} {
		f.Add([]byte(s))
	}
	if b, err := os.ReadFile("testdata/recorded/build.jsonl"); err == nil {
		for l := range bytes.SplitSeq(b, []byte("\n")) {
			f.Add(l)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := parseLogLine(b)
		if err != nil {
			return
		}
		if l.Name == "" {
			t.Fatal("a parsed line always has a name")
		}
		if l.Result != nil && (l.Node == nil || l.Result.UniqueID != l.Node.UniqueID) {
			t.Fatalf("result without its node: %+v", l)
		}
		// The tracker must take any parsed line without panicking.
		tr := newTracker(&plan{assets: map[string]*target{}, checks: map[string]*target{}}, func(e engine.Event) {}, nil, nil)
		tr.line(string(b))
	})
}

func FuzzParseRunResults(f *testing.F) {
	f.Add([]byte(`{"results": [{"unique_id": "model.p.a", "status": "error", "message": null, "failures": 2, "adapter_response": {"rows_affected": 3}}]}`))
	f.Add([]byte(`{"results": [{"unique_id": "", "status": 1}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := parseRunResults(b)
		if err != nil {
			return
		}
		for _, r := range rs {
			if r.UniqueID == "" {
				t.Fatal("results without a unique_id must be dropped")
			}
		}
	})
}

func BenchmarkParseLogLine(b *testing.B) {
	data, err := os.ReadFile(recorded(b, "openlineage_pg_build_test_fail.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.Split(data, []byte("\n"))
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		for _, l := range lines {
			_, _ = parseLogLine(l)
		}
	}
}

func BenchmarkTrackBuildStream(b *testing.B) {
	data, err := os.ReadFile(recorded(b, "openlineage_pg_build_test_fail.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	p := &plan{assets: map[string]*target{}, checks: map[string]*target{}}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		tr := newTracker(p, func(engine.Event) {}, nil, nil)
		for _, l := range lines {
			tr.line(l)
		}
	}
}
