package sling

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseRuntimeStateAndCollect(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "runtime_state.json"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := ParseRuntimeState(b)
	if err != nil {
		t.Fatal(err)
	}
	if st.Execution.Status["error"] != 1 || st.Execution.TotalRows != 13 {
		t.Errorf("execution = %+v", st.Execution)
	}
	plan := []planned{{stream: "public.accounts"}, {stream: `public."Transactions"`}, {stream: "public.missing"}, {stream: "mysql.testing_*"}, {stream: "public.never_ran"}}
	res := collect(plan, st, newLogProgress(streamNames(plan)), false)
	tests := []struct {
		stream string
		status outcomeStatus
		rows   int64
		err    string
	}{
		{"public.accounts", outcomeOK, 10, ""},
		{`public."Transactions"`, outcomeOK, 3, ""},
		{"public.missing", outcomeFailed, 0, `relation "public.missing" does not exist`},
		{"mysql.testing_*", outcomeOK, 9, ""},
		{"public.never_ran", outcomeFailed, 0, ""},
	}
	for _, tt := range tests {
		o := res[tt.stream]
		if o.status != tt.status || o.rows != tt.rows || o.err != tt.err {
			t.Errorf("%s: %+v, want status %d rows %d err %q", tt.stream, o, tt.status, tt.rows, tt.err)
		}
	}
	if md := res["mysql.testing_*"].metadata(); len(md["tables"].([]string)) != 2 {
		t.Errorf("wildcard tables = %v", md)
	}
	if md := res["public.accounts"].metadata(); md["table"] != `"main"."public_accounts"` || md["bytes"] != int64(1024) {
		t.Errorf("accounts metadata = %v", md)
	}
}

func TestWildcardDoesNotTakeExplicitStreams(t *testing.T) {
	st := &RuntimeState{Runs: map[string]*RunState{
		"mysql_testing_1": {Stream: &StreamState{Name: "mysql.testing_1"}, TotalRows: 4, Status: "success"},
		"mysql_testing_2": {Stream: &StreamState{Name: "mysql.testing_2"}, TotalRows: 5, Status: "error"},
	}}
	plan := []planned{{stream: "mysql.testing_*"}, {stream: "mysql.testing_2"}}
	res := collect(plan, st, newLogProgress(streamNames(plan)), false)
	if o := res["mysql.testing_*"]; o.status != outcomeOK || o.rows != 4 {
		t.Errorf("wildcard = %+v; the explicit stream's failure is not its own", o)
	}
	if o := res["mysql.testing_2"]; o.status != outcomeFailed {
		t.Errorf("explicit = %+v", o)
	}
	lp := newLogProgress(streamNames(plan))
	lp.feed("INF [2 / 2] running stream mysql.testing_2")
	if lp.current != "mysql.testing_2" {
		t.Errorf("log attributed the explicit stream to %q", lp.current)
	}
}

func TestParseRuntimeStateForms(t *testing.T) {
	for _, in := range []string{
		`{"runs": {"a": {"status": "success"}}}`,
		`'{"runs": {"a": {"status": "success"}}}'`,
		`"{\"runs\": {\"a\": {\"status\": \"success\"}}}"`,
	} {
		st, err := ParseRuntimeState([]byte(in))
		if err != nil || st.Runs["a"] == nil || st.Runs["a"].Status != "success" {
			t.Errorf("ParseRuntimeState(%s) = %+v, %v", in, st, err)
		}
	}
	for _, bad := range []string{"", "   ", "{", "[1,2]"} {
		if _, err := ParseRuntimeState([]byte(bad)); err == nil {
			t.Errorf("ParseRuntimeState(%q) should fail", bad)
		}
	}
}

func FuzzParseRuntimeState(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "runtime_state.json")); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"runs": {"x": {"stream": null, "total_rows": "12", "status": 3}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseRuntimeState(b)
		if err != nil {
			return
		}
		plan := []planned{{stream: "public.x"}, {stream: "s.*"}}
		res := collect(plan, st, newLogProgress(streamNames(plan)), true)
		if len(res) != 2 {
			t.Fatalf("collect lost streams: %v", res)
		}
		for _, o := range res {
			if o.status == outcomeUnknown {
				t.Fatal("collect left a stream undecided")
			}
			_ = o.metadata()
		}
	})
}
