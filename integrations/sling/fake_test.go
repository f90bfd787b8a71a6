package sling

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	manifest "github.com/eltproject/elt/manifest/sling"
)

// The stand-in sling executable (a test double) is this test binary run
// with ELT_TEST_FAKE_SLING=1. It records its argv and environment, prints
// log lines in Sling's real text format (or replays a real log from the
// fixtures), writes the runtime state where the injected end hook asks,
// and exits as the scenario says:
//
//	ok         every stream succeeds
//	one_fails  the second stream fails (exit 1)
//	timeout    the first stream succeeds, then it hangs
//	no_state   like one_fails, but no runtime state (an old Sling)
//	replay     prints the log file named by ELT_TEST_FAKE_SLING_LOG, exit 0
const (
	fakeEnv      = "ELT_TEST_FAKE_SLING"
	fakeScenario = "ELT_TEST_FAKE_SLING_SCENARIO"
	fakeRecord   = "ELT_TEST_FAKE_SLING_RECORD"
	fakeLog      = "ELT_TEST_FAKE_SLING_LOG"
)

func TestMain(m *testing.M) {
	if os.Getenv(fakeEnv) == "1" {
		os.Exit(fakeSling(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeRecordFile is what the double writes for tests to inspect.
type fakeRecordFile struct {
	Argv []string          `json:"argv"`
	Env  map[string]string `json:"env"`
	Dir  string            `json:"dir"`
}

func fakeSling(args []string) int {
	rec := fakeRecordFile{Argv: args, Env: map[string]string{}}
	rec.Dir, _ = os.Getwd()
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "MY_") || strings.HasPrefix(k, "ELT_PARTITION") {
			rec.Env[k] = v
		}
	}
	if p := os.Getenv(fakeRecord); p != "" {
		b, _ := json.Marshal(rec)
		_ = os.WriteFile(p, b, 0o644)
	}
	if len(args) >= 2 && args[0] == "conns" && args[1] == "discover" {
		// The layout of Sling 1.4.11's output: schema and name apart.
		fmt.Println("+---+----------+--------+-----------+-------+")
		fmt.Println("| # | DATABASE | SCHEMA | NAME      | TYPE  |")
		fmt.Println("+---+----------+--------+-----------+-------+")
		for i, n := range []string{"testing_1", "testing_2", "testing_3", "other"} {
			fmt.Printf("| %d | app      | mysql  | %-9s | table |\n", i+1, n)
		}
		fmt.Println("+---+----------+--------+-----------+-------+")
		return 0
	}
	var file, streamsArg string
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "-r":
			file = args[i+1]
		case "--streams":
			streamsArg = args[i+1]
		}
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		fmt.Println("fatal:", err)
		return 2
	}
	scenario := os.Getenv(fakeScenario)
	if scenario == "replay" {
		b, err := os.ReadFile(os.Getenv(fakeLog))
		if err != nil {
			fmt.Println("fatal:", err)
			return 2
		}
		os.Stdout.Write(b)
		return 0
	}
	rep, err := manifest.Parse(file, raw, os.LookupEnv)
	if err != nil {
		fmt.Println("fatal:", err)
		return 2
	}
	var streams []string
	if streamsArg != "" {
		streams = strings.Split(streamsArg, ",")
	} else {
		for _, s := range rep.Streams {
			if s.Enabled() {
				streams = append(streams, s.Name)
			}
		}
	}
	ts := "2024-03-12 09:55:01"
	fmt.Printf("%s INF Sling Replication [%d streams] | %s -> %s\n", ts, len(streams), rep.Source, rep.Target)
	// A careless tool echoes its connection string; elt must hide it.
	fmt.Printf("%s DBG using source url %s\n", ts, os.Getenv(rep.Source))
	// …and the password it decoded from the URL's percent-encoding.
	if u, err := url.Parse(os.Getenv(rep.Source)); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			fmt.Printf("%s DBG connecting with password %s (as %s)\n", ts, pw, url.PathEscape(pw))
		}
	}
	runs := map[string]any{}
	code := 0
	for i, s := range streams {
		fmt.Printf("\n%s INF [%d / %d] running stream %s\n", ts, i+1, len(streams), s)
		st, _ := rep.Stream(s)
		obj := strings.ToLower(strings.ReplaceAll(s, `"`, ""))
		if st != nil && st.Own.Object != "" {
			obj = st.Own.Object
		}
		fail := (scenario == "one_fails" || scenario == "no_state") && i == 1
		status, errMsg := "success", any(nil)
		rows := 100 * (i + 1)
		if fail {
			fmt.Printf("%s ERR relation %q does not exist\n", ts, s)
			fmt.Printf("%s INF execution failed\n", ts)
			status, errMsg, rows, code = "error", fmt.Sprintf("relation %q does not exist", s), 0, 1
		} else {
			fmt.Printf("%s INF inserted %d rows into %s in 1 secs [%d r/s]\n", ts, rows, obj, rows)
			fmt.Printf("%s INF execution succeeded\n", ts)
		}
		runs[cleanID(s)] = map[string]any{
			"id":          cleanID(s),
			"stream":      map[string]any{"name": strings.ToLower(s)},
			"object":      map[string]any{"full_name": obj},
			"total_bytes": rows * 10, "total_rows": rows, "status": status,
			"duration": 1, "error": errMsg, "config": map[string]any{},
		}
		if scenario == "timeout" {
			time.Sleep(30 * time.Second)
		}
	}
	if scenario != "no_state" {
		if to := stateHookTarget(raw); to != "" {
			state := map[string]any{
				"execution": map[string]any{"status": map[string]any{"count": len(streams)}},
				"runs":      runs,
			}
			b, _ := json.Marshal(state)
			_ = os.WriteFile(to, b, 0o644)
		}
	}
	return code
}

// stateHookTarget finds the path of elt's write hook in hooks.end.
func stateHookTarget(raw []byte) string {
	var doc struct {
		Hooks struct {
			End []map[string]any `yaml:"end"`
		} `yaml:"hooks"`
	}
	if yaml.Unmarshal(raw, &doc) != nil {
		return ""
	}
	for _, h := range doc.Hooks.End {
		if h["type"] == "write" && h["content"] == "{runtime_state}" {
			return strings.TrimPrefix(fmt.Sprint(h["to"]), "local/")
		}
	}
	return ""
}

// fakeSlingDir writes a `sling` wrapper that runs this test binary as the
// double and returns its path.
func fakeSlingExe(t *testing.T, scenario string) (exe, record string) {
	t.Helper()
	dir := t.TempDir()
	record = filepath.Join(dir, "record.json")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf("#!/bin/sh\nexport %s=1 %s=%q %s=%q\nexec %q \"$@\"\n", fakeEnv, fakeScenario, scenario, fakeRecord, record, self)
	exe = filepath.Join(dir, "sling")
	if err := os.WriteFile(exe, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return exe, record
}

func readRecord(t *testing.T, path string) fakeRecordFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the stand-in sling did not run: %v", err)
	}
	var r fakeRecordFile
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}
