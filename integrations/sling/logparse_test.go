package sling

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eltproject/elt/internal/testenv"
)

func sharedLogs(t testing.TB) string {
	t.Helper()
	return testenv.Fixtures(t, "sling", "logs")
}

func TestParseLogLine(t *testing.T) {
	tests := []struct {
		line string
		want LogEvent
	}{
		{`2024-03-12 09:55:01 INF [8 / 24] running stream "main"."date_dim"`, LogEvent{Kind: "start", Stream: `"main"."date_dim"`, Index: 8, Total: 24}},
		{"8:43PM INF execution succeeded", LogEvent{Kind: "succeeded"}},
		{"2024-03-12 09:55:01 INF execution failed", LogEvent{Kind: "failed"}},
		{`1:02AM INF inserted 1,234 rows into "public"."users" in 2 secs [617 r/s]`, LogEvent{Kind: "rows", Rows: 1234, Table: `"public"."users"`}},
		{"8:43PM INF wrote 653434 rows [42,131 r/s]", LogEvent{Kind: "rows", Rows: 653434}},
		{"2024-03-12 09:55:01 DBG type is db-db", LogEvent{}},
	}
	for _, tt := range tests {
		if got := ParseLogLine(tt.line); got != tt.want {
			t.Errorf("ParseLogLine(%q) = %+v, want %+v", tt.line, got, tt.want)
		}
	}
}

func feedFile(t *testing.T, path string, lp *logProgress) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, l := range strings.Split(string(b), "\n") {
		if m := lp.feed(l); m != "" {
			msgs = append(msgs, m)
		}
	}
	return msgs
}

func TestRealLogSingleStream(t *testing.T) {
	dir := sharedLogs(t)
	lp := newLogProgress([]string{"mysql.orders"})
	feedFile(t, filepath.Join(dir, "sling-cli_issue94_single_stream_text_log_EXCERPT.log"), lp)
	o, ok := lp.result("mysql.orders")
	if !ok || o.status != outcomeOK || o.rows != 653434 {
		t.Errorf("single stream outcome = %+v, %v", o, ok)
	}
}

func TestRealLogReplication(t *testing.T) {
	dir := sharedLogs(t)
	lp := newLogProgress([]string{"main.date_dim", "main.household_demographics", "main.store"})
	msgs := feedFile(t, filepath.Join(dir, "sling-cli_issue222_replication_text_log_EXCERPT.log"), lp)
	o, ok := lp.result("main.date_dim")
	if !ok || o.status != outcomeFailed {
		t.Errorf("date_dim = %+v, %v; want failed", o, ok)
	}
	// household_demographics started but the excerpt ends before a result.
	if _, ok := lp.result("main.household_demographics"); ok {
		t.Error("household_demographics has no result in the log")
	}
	if _, ok := lp.result("main.store"); ok {
		t.Error("store never ran")
	}
	want := []string{`sling: [8/24] running stream "main"."date_dim"`, `sling: stream "main"."date_dim" failed`, `sling: [9/24] running stream "main"."household_demographics"`}
	if strings.Join(msgs, "\n") != strings.Join(want, "\n") {
		t.Errorf("progress messages:\n%s\nwant:\n%s", strings.Join(msgs, "\n"), strings.Join(want, "\n"))
	}
}

func FuzzParseLogLine(f *testing.F) {
	f.Add(`2024-03-12 09:55:01 INF [8 / 24] running stream "main"."date_dim"`)
	f.Add("8:43PM INF wrote 653434 rows [42,131 r/s]")
	f.Add("INF inserted 99999999999999999999 rows into x")
	f.Fuzz(func(t *testing.T, line string) {
		ev := ParseLogLine(line)
		if ev.Rows < 0 {
			t.Fatalf("negative rows from %q", line)
		}
		lp := newLogProgress([]string{"a.b", "c.*"})
		lp.feed(line)
	})
}
