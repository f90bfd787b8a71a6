package plugins

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/internal/testenv"
	"github.com/eltproject/elt/plugins/sdk"
	"github.com/eltproject/elt/process"
)

// TestMain lets the test binary stand in for plugin processes:
//   - "plugin serve NAME" is what the elt binary runs for a built-in plugin,
//     so PluginRef{Builtin: NAME} works with os.Executable() = this binary;
//   - "test-plugin MODE" serves testPlugin, a test double whose behaviour
//     (ok, error, panic, hang, leak) is chosen by MODE.
func TestMain(m *testing.M) {
	process.Main()
	if os.Getenv(envFakeElt) != "" {
		fakeElt()
	}
	if len(os.Args) == 4 && os.Args[1] == "plugin" && os.Args[2] == "serve" {
		if err := Serve(os.Args[3]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	if len(os.Args) == 3 && os.Args[1] == "test-plugin" {
		sdk.Serve(testPlugin{mode: os.Args[2]})
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testPlugin is a test double of an external plugin.
type testPlugin struct{ mode string }

func (p testPlugin) Describe(_ context.Context, cfg sdk.Config) ([]asset.Spec, error) {
	var c struct {
		Assets []string `json:"assets"`
	}
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	var out []asset.Spec
	for _, a := range c.Assets {
		out = append(out, asset.Spec{Key: asset.MustKey(strings.Split(a, "/")...), Group: "g",
			Checks: []asset.CheckSpec{{Name: "positive", Blocking: true}}})
	}
	return out, nil
}

func (p testPlugin) Materialize(ctx context.Context, req *sdk.Request, emit engine.Emitter) error {
	switch p.mode {
	case "error":
		return errors.New("the source said no")
	case "panic":
		fmt.Fprintln(os.Stderr, "about to fail")
		panic("boom")
	case "leak":
		// go-plugin forwards os.Stderr over its stdio stream, which a crash
		// cuts short; the raw fd 2 (where the runtime's crash report goes)
		// is read to the end.
		fmt.Fprintln(os.NewFile(2, "stderr"), "token is", req.Resources["api"].Config["token"])
		panic("leaking")
	case "hang":
		if f := os.Getenv(envPidFile); f != "" {
			_ = os.WriteFile(f, []byte(fmt.Sprint(os.Getpid())), 0o644)
		}
		select {} // ignores ctx on purpose: the host must kill it
	}
	var names []string
	for n := range req.Resources {
		names = append(names, n)
	}
	slices.Sort(names)
	fmt.Println("hello on stdout")
	for _, k := range req.Assets {
		emit(engine.LogLine("working on " + k.String()))
		emit(engine.Materialized(k, map[string]any{"partition": req.Partition.Key, "resources": strings.Join(names, ","), "config": string(req.Config)}))
		emit(engine.Checked(k, "positive", engine.CheckResult{Passed: true, Severity: "error"}))
	}
	return ctx.Err()
}

func (p testPlugin) Check(_ context.Context, req *sdk.CheckRequest) (engine.CheckResult, error) {
	return engine.CheckResult{Passed: req.Check == "positive", Severity: "warn", Message: req.Asset.String()}, nil
}

func testRef(mode string) PluginRef {
	return PluginRef{Name: "test-" + mode, Cmd: []string{os.Args[0], "test-plugin", mode}}
}

// lockedBuffer is a step log written by several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type collector struct {
	mu     sync.Mutex
	events []engine.Event
}

func (c *collector) emit(ev engine.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, ev)
}

func (c *collector) types() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, ev := range c.events {
		out = append(out, string(ev.Type)+":"+ev.Asset.String())
	}
	return out
}

func request(t *testing.T, keys ...asset.Key) *engine.Request {
	return &engine.Request{RunID: "r1", StepID: "s1", Attempt: 1, Assets: keys, StepDir: t.TempDir(), Log: &lockedBuffer{}}
}

func TestRunnerForwardsEvents(t *testing.T) {
	resources := map[string]engine.Resource{
		"api":   {Name: "api", Type: "http", Config: map[string]string{"token": "t0k"}, Secret: []string{"token"}},
		"other": {Name: "other", Type: "http", Config: map[string]string{"token": "not-for-this-plugin"}, Secret: []string{"token"}},
	}
	cfg := map[string]any{"auth": map[string]any{"resource": "api"}, "n": 1}
	r := NewRunner(testRef("ok"), cfg, resources)
	req := request(t, asset.MustKey("a"), asset.MustKey("b", "c"))
	req.Partition = &engine.Partition{Key: "2024-03-09"}
	var c collector
	if err := r.Run(context.Background(), req, c.emit); err != nil {
		t.Fatal(err)
	}
	want := []string{"log:", "asset_materialized:a", "check_evaluated:a", "log:", "asset_materialized:b/c", "check_evaluated:b/c"}
	if got := c.types(); !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	md := c.events[1].Metadata
	if md["partition"] != "2024-03-09" || md["resources"] != "api" || md["config"] != `{"auth":{"resource":"api"},"n":1}` {
		t.Errorf("the plugin got %v; want the partition, only the named resource and the config", md)
	}
	if !strings.Contains(req.Log.(*lockedBuffer).String(), "hello on stdout") {
		t.Errorf("the plugin's stdout did not reach the step log: %q", req.Log.(*lockedBuffer).String())
	}
}

func TestFailures(t *testing.T) {
	tests := []struct {
		mode    string
		timeout time.Duration
		want    []string
		notWant []string
	}{
		{"error", 0, []string{"plugin test-error: the source said no"}, []string{"crashed"}},
		{"panic", 0, []string{"plugin test-panic crashed while materializing", "panic: boom", "goroutine"}, nil},
		{"leak", 0, []string{"crashed", "token is ****"}, []string{"t0k3n-secret"}},
		{"hang", 500 * time.Millisecond, []string{"plugin test-hang stopped while materializing", "context deadline exceeded"}, nil},
	}
	resources := map[string]engine.Resource{"api": {Type: "http", Config: map[string]string{"token": "t0k3n-secret"}, Secret: []string{"token"}}}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			r := NewRunner(testRef(tt.mode), map[string]any{"auth": map[string]any{"resource": "api"}}, resources)
			start := time.Now()
			err := r.Run(ctx, request(t, asset.MustKey("a")), func(engine.Event) {})
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(err.Error(), w) {
					t.Errorf("error contains %q:\n%v", w, err)
				}
			}
			if el := time.Since(start); el > 10*time.Second {
				t.Errorf("took %s: a failed plugin must not hang the run", el)
			}
		})
	}
}

func TestDescribeAndCheck(t *testing.T) {
	specs, err := Describe(context.Background(), testRef("ok"), map[string]any{"assets": []any{"raw/x", "y"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 2 || specs[0].Key != asset.MustKey("raw", "x") || specs[0].Group != "g" || !specs[1].Checks[0].Blocking {
		t.Errorf("specs = %+v", specs)
	}
	if _, err := Describe(context.Background(), testRef("ok"), map[string]any{"asets": 1}); err == nil || !strings.Contains(err.Error(), "asets") {
		t.Errorf("a config error must come back from the plugin: %v", err)
	}
	cr := NewCheckRunner(testRef("ok"), nil, nil)
	res, err := cr.RunCheck(context.Background(), &engine.CheckRequest{Asset: &specs[0], Check: specs[0].Checks[0]})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Passed || res.Severity != "warn" || res.Message != "raw/x" {
		t.Errorf("check result = %+v", res)
	}
}

func TestStartFailures(t *testing.T) {
	tests := []struct {
		name string
		ref  PluginRef
		want string
	}{
		{"missing binary", PluginRef{Path: filepath.Join(t.TempDir(), "nope")}, "plugin nope"},
		{"not a plugin", PluginRef{Name: "sh", Cmd: []string{"/bin/sh", "-c", "echo oops >&2; exit 3"}}, "oops"},
		{"nothing set", PluginRef{Name: "empty"}, "neither path nor builtin"},
		{"unknown builtin", PluginRef{Builtin: "nope"}, `no built-in plugin "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Describe(context.Background(), tt.ref, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestBuiltinRestapi(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"items": [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]}`)
	}))
	defer api.Close()
	db := filepath.Join(t.TempDir(), "wh.duckdb")
	resources := map[string]engine.Resource{
		"warehouse": {Type: "duckdb", Config: map[string]string{"path": db}},
		"api":       {Type: "http", Config: map[string]string{"token": "tok"}, Secret: []string{"token"}},
	}
	cfg := map[string]any{
		"base_url": api.URL, "records": "items",
		"auth":        map[string]any{"resource": "api"},
		"destination": map[string]any{"resource": "warehouse", "table": "raw/things"},
	}
	ref := PluginRef{Builtin: "restapi"}
	specs, err := Describe(context.Background(), ref, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 1 || specs[0].Key != asset.MustKey("raw", "things") {
		t.Fatalf("specs = %+v", specs)
	}
	var c collector
	if err := NewRunner(ref, cfg, resources).Run(context.Background(), request(t, specs[0].Key), c.emit); err != nil {
		t.Fatal(err)
	}
	var rows any
	for _, ev := range c.events {
		if ev.Type == engine.AssetMaterialized {
			rows = ev.Metadata["rows"]
		}
	}
	if rows != float64(2) { // JSON numbers arrive as float64
		t.Errorf("rows = %v (events %v)", rows, c.types())
	}
}

func TestExamplePlugin(t *testing.T) {
	testenv.Slow(t, "builds the example plugin")
	goBin := testenv.Tool(t, "go")
	bin := filepath.Join(t.TempDir(), "plugin-hello")
	build := exec.Command(goBin, "build", "-o", bin, "../examples/plugin-hello")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ref := PluginRef{Name: "hello", Path: bin}
	cfg := map[string]any{"greeting": "Hi", "assets": []any{"greetings/en"}}
	specs, err := Describe(context.Background(), ref, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 1 || specs[0].Key.String() != "greetings/en" || len(specs[0].Checks) != 1 {
		t.Fatalf("specs = %+v", specs)
	}
	req := request(t, specs[0].Key)
	req.Partition = &engine.Partition{Key: "p1"}
	var c collector
	if err := NewRunner(ref, cfg, nil).Run(context.Background(), req, c.emit); err != nil {
		t.Fatal(err)
	}
	if got, want := c.types(), []string{"log:", "asset_materialized:greetings/en", "check_evaluated:greetings/en"}; !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	b, err := os.ReadFile(filepath.Join(req.StepDir, "greetings_en.txt"))
	if err != nil || string(b) != "Hi, en (p1)\n" {
		t.Errorf("file = %q, %v", b, err)
	}
}

func TestServeUnknownBuiltin(t *testing.T) {
	if err := Serve("nope"); err == nil || !strings.Contains(err.Error(), "restapi") {
		t.Errorf("err = %v; want the list of built-in plugins", err)
	}
	if !IsBuiltin("restapi") || IsBuiltin("nope") {
		t.Error("IsBuiltin is wrong")
	}
}

func TestTail(t *testing.T) {
	var lines []string
	for i := range 50 {
		lines = append(lines, fmt.Sprintf("line %d", i))
	}
	tests := []struct {
		name, in string
		want     []string
		notWant  []string
	}{
		{"last lines", strings.Join(lines, "\n") + "\n", []string{"line 49", "line 30"}, []string{"line 29\n"}},
		{"panic first", "noise\npanic: boom\n\ngoroutine 1 [running]:\n" + strings.Join(lines, "\n"), []string{"noise", "panic: boom", "goroutine 1", "line 0"}, []string{"line 40"}},
		{"secret", "token=hunter22\n", []string{"token=****"}, []string{"hunter22"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log bytes.Buffer
			tw := newTailWriter(&log, []string{"hunter22"})
			_, _ = tw.Write([]byte(tt.in))
			got := tw.String()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("tail %q lacks %q", got, w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(got+"\n", w) {
					t.Errorf("tail %q contains %q", got, w)
				}
			}
			if log.String() != tt.in {
				t.Error("the step log did not get the output verbatim")
			}
		})
	}
}

// BenchmarkPluginRoundTrip measures one plugin process's life: start,
// handshake, one Describe call, stop (what every step attempt pays).
func BenchmarkPluginRoundTrip(b *testing.B) {
	cfg := map[string]any{"assets": []any{"a"}}
	for i := 0; i < b.N; i++ {
		if _, err := Describe(context.Background(), testRef("ok"), cfg); err != nil {
			b.Fatal(err)
		}
	}
}
