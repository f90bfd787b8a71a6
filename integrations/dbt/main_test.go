package dbt

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fakeEnv makes the test binary act as a test double for dbt.
const (
	fakeEnv       = "ELT_TEST_FAKE_DBT"
	fakeConfigEnv = "ELT_TEST_FAKE_DBT_CONFIG"
)

func TestMain(m *testing.M) {
	if os.Getenv(fakeEnv) == "1" {
		os.Exit(fakeDBT())
	}
	code := m.Run()
	if realRoot != "" {
		os.RemoveAll(realRoot)
	}
	os.Exit(code)
}

// fakeScript says what the dbt test double does for one subcommand.
type fakeScript struct {
	Replay     string   `json:"replay"`      // JSON log lines to print
	ReplayMax  int      `json:"replay_max"`  // print only the first N lines (a crash)
	Lines      []string `json:"lines"`       // printed after Replay
	RunResults string   `json:"run_results"` // copied to $DBT_TARGET_PATH/run_results.json
	Manifest   bool     `json:"manifest"`    // write $DBT_TARGET_PATH/manifest.json
	Sleep      string   `json:"sleep"`       // wait before exiting (cancellation tests)
	Exit       int      `json:"exit"`
}

type fakeConfig struct {
	Record  string                `json:"record"`
	Scripts map[string]fakeScript `json:"scripts"` // by subcommand; "" for any
}

// fakeCall is what the dbt test double saw.
type fakeCall struct {
	Argv         []string          `json:"argv"`
	Env          map[string]string `json:"env"`
	Dir          string            `json:"dir"`
	PartialParse bool              `json:"partial_parse"` // found in DBT_TARGET_PATH
	Selectors    string            `json:"selectors"`     // DBT_PROJECT_DIR/selectors.yml
}

// fakeDBT is the dbt test double: it records its argv and environment,
// replays a recorded JSON log, writes run_results.json into
// DBT_TARGET_PATH and exits with the configured code.
func fakeDBT() int {
	var cfg fakeConfig
	b, err := os.ReadFile(os.Getenv(fakeConfigEnv))
	if err == nil {
		err = json.Unmarshal(b, &cfg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake dbt:", err)
		return 99
	}
	call := fakeCall{Argv: os.Args[1:], Env: map[string]string{}}
	call.Dir, _ = os.Getwd()
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		call.Env[k] = v
	}
	target := os.Getenv("DBT_TARGET_PATH")
	if _, err := os.Stat(filepath.Join(target, "partial_parse.msgpack")); err == nil {
		call.PartialParse = true
	}
	if s, err := os.ReadFile(filepath.Join(os.Getenv("DBT_PROJECT_DIR"), "selectors.yml")); err == nil {
		call.Selectors = string(s)
	}
	line, _ := json.Marshal(call)
	f, err := os.OpenFile(cfg.Record, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake dbt:", err)
		return 99
	}
	f.Write(append(line, '\n'))
	f.Close()

	sub := ""
	if len(os.Args) > 1 {
		sub = os.Args[1]
	}
	sc, ok := cfg.Scripts[sub]
	if !ok {
		sc = cfg.Scripts[""]
	}
	if sc.Replay != "" {
		rf, err := os.Open(sc.Replay)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fake dbt:", err)
			return 99
		}
		s := bufio.NewScanner(rf)
		s.Buffer(nil, 16<<20)
		for n := 0; s.Scan(); n++ {
			if sc.ReplayMax > 0 && n >= sc.ReplayMax {
				break
			}
			os.Stdout.Write(append(s.Bytes(), '\n'))
		}
		rf.Close()
	}
	for _, l := range sc.Lines {
		fmt.Println(l)
	}
	if sc.RunResults != "" {
		rr, err := os.ReadFile(sc.RunResults)
		if err == nil {
			err = os.WriteFile(filepath.Join(target, "run_results.json"), rr, 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "fake dbt:", err)
			return 99
		}
	}
	if sc.Manifest {
		os.MkdirAll(target, 0o755)
		os.WriteFile(filepath.Join(target, "manifest.json"), []byte(`{"nodes":{}}`), 0o644)
	}
	if sc.Sleep != "" {
		d, _ := time.ParseDuration(sc.Sleep)
		time.Sleep(d)
	}
	return sc.Exit
}

// fake is a dbt test double installed in a temp folder.
type fake struct {
	exe    string
	record string
}

// newFake writes a `dbt` wrapper script that runs this test binary as the
// dbt test double with the given scripts.
func newFake(t *testing.T, scripts map[string]fakeScript) *fake {
	t.Helper()
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f := &fake{exe: filepath.Join(dir, "dbt"), record: filepath.Join(dir, "calls.jsonl")}
	cfg, _ := json.Marshal(fakeConfig{Record: f.record, Scripts: scripts})
	cfgPath := filepath.Join(dir, "fake.json")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf("#!/bin/sh\n%s=1 %s=%q exec %q \"$@\"\n", fakeEnv, fakeConfigEnv, cfgPath, self)
	if err := os.WriteFile(f.exe, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fake) calls(t *testing.T) []fakeCall {
	t.Helper()
	b, err := os.ReadFile(f.record)
	if err != nil {
		t.Fatalf("the dbt test double was not run: %v", err)
	}
	var out []fakeCall
	for l := range bytes.SplitSeq(bytes.TrimSpace(b), []byte("\n")) {
		var c fakeCall
		if err := json.Unmarshal(l, &c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// recorded returns a file of fixtures/dbt/recorded; testenv stops the
// test when the fixtures are absent (a failure in CI).
func recorded(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(testenv.Fixtures(t, "dbt", "recorded"), name)
	if _, err := os.Stat(p); err != nil {
		testenv.Missing(t, p, "the public fixtures are read from ../shared/fixtures")
	}
	return p
}

// events collects emitted events.
type events struct {
	mu  sync.Mutex
	evs []engine.Event
}

func (e *events) emit(ev engine.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evs = append(e.evs, ev)
}

func (e *events) of(typ engine.EventType) []engine.Event {
	var out []engine.Event
	for _, ev := range e.evs {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// byAsset returns the asset event (not check) for key, failing when there
// is not exactly one.
func (e *events) byAsset(t *testing.T, key string) engine.Event {
	t.Helper()
	var found []engine.Event
	for _, ev := range e.evs {
		if ev.Check == "" && ev.Type != engine.Log && ev.Asset.String() == key {
			found = append(found, ev)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one event for asset %s, got %d: %+v", key, len(found), found)
	}
	return found[0]
}

func (e *events) byCheck(t *testing.T, key, check string) engine.Event {
	t.Helper()
	var found []engine.Event
	for _, ev := range e.evs {
		if ev.Type == engine.CheckEvaluated && ev.Asset.String() == key && ev.Check == check {
			found = append(found, ev)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one check event %s of %s, got %d", check, key, len(found))
	}
	return found[0]
}

// golden compares the events with testdata/golden/<name>.json.
func (e *events) golden(t *testing.T, name string) {
	t.Helper()
	got, err := json.MarshalIndent(e.evs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("events differ from %s (go test -update rewrites it):\n%s", path, got)
	}
}

// model returns the spec of a dbt node with its metadata, as the dbt
// translator writes it.
func model(uid string, fqn ...string) asset.Spec {
	parts := strings.Split(uid, ".")
	rtype := parts[0]
	return asset.Spec{
		Key:  asset.MustKey(parts[len(parts)-1]),
		Step: "dbt:test",
		Metadata: map[string]any{
			MetaUniqueID:     uid,
			MetaFQN:          fqn,
			MetaResourceType: rtype,
		},
	}
}

// withTests adds dbt tests as checks; a name ending in "!warn" has warn
// severity.
func withTests(s asset.Spec, uids ...string) asset.Spec {
	for _, uid := range uids {
		sev := "error"
		if u, ok := strings.CutSuffix(uid, "!warn"); ok {
			uid, sev = u, "warn"
		}
		name := strings.Split(uid, ".")[2]
		s.Checks = append(s.Checks, asset.CheckSpec{
			Name: name, Severity: sev, Blocking: sev == "error",
			Metadata: map[string]any{MetaUniqueID: uid},
		})
	}
	return s
}

// request is a step request for specs; the project folder gets a
// dbt_project.yml, a profiles.yml and a target/partial_parse.msgpack.
func request(t *testing.T, specs []asset.Spec) (*engine.Request, *bytes.Buffer) {
	t.Helper()
	var log bytes.Buffer
	req := &engine.Request{
		RunID: "run1", StepID: "dbt:test", Attempt: 1,
		Specs:   map[asset.Key]*asset.Spec{},
		StepDir: t.TempDir(),
		Env:     append(os.Environ(), "ELT_RESOURCE_WAREHOUSE_PASSWORD=hunter2secret"),
		Log:     &log,
		Resources: map[string]engine.Resource{"warehouse": {
			Name: "warehouse", Type: "postgres",
			Config: map[string]string{"password": "hunter2secret"}, Secret: []string{"password"},
		}},
	}
	for i := range specs {
		req.Assets = append(req.Assets, specs[i].Key)
		req.Specs[specs[i].Key] = &specs[i]
	}
	return req, &log
}

// project writes a minimal dbt project folder.
func project(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "dbt_project.yml"), "name: jaffle_shop\nprofile: jaffle_shop\n")
	write(t, filepath.Join(dir, "profiles.yml"), "jaffle_shop:\n  target: dev\n")
	write(t, filepath.Join(dir, "target", "partial_parse.msgpack"), "msgpack")
	return dir
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
