package command

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/process"
)

func TestRunExitCodeAndTail(t *testing.T) {
	var out bytes.Buffer
	res, err := process.Run(context.Background(), &process.Proc{Shell: "echo one; echo two >&2; exit 3", Output: &out})
	var ee *process.ExitError
	if !errors.As(err, &ee) || ee.Code != 3 {
		t.Fatalf("err = %v", err)
	}
	if res.ExitCode != 3 || !strings.Contains(strings.Join(res.Tail, "|"), "two") {
		t.Errorf("result %+v", res)
	}
	if !strings.Contains(out.String(), "one") || !strings.Contains(out.String(), "two") {
		t.Errorf("output %q", out.String())
	}
}

func TestRunMissingProgram(t *testing.T) {
	_, err := process.Run(context.Background(), &process.Proc{Argv: []string{"/no/such/program"}})
	if err == nil || !strings.Contains(err.Error(), "/no/such/program") {
		t.Fatalf("err = %v", err)
	}
}

// TestTimeoutKillsWholeTree starts a shell whose children ignore nothing
// and would outlive it; after the timeout no process of the group is left.
func TestTimeoutKillsWholeTree(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pids")
	script := "sleep 600 & echo $! >> " + pidFile + "; sh -c 'sleep 600' & echo $! >> " + pidFile + "; sleep 600"
	ctx, cancel := context.WithTimeoutCause(context.Background(), 300*time.Millisecond, errors.New("asset x timed out after 300ms"))
	defer cancel()
	start := time.Now()
	res, err := process.Run(ctx, &process.Proc{Shell: script, Grace: 500 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err = %v", err)
	}
	if !res.Canceled {
		t.Error("result not marked canceled")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
	b, _ := os.ReadFile(pidFile)
	pids := strings.Fields(string(b))
	if len(pids) != 2 {
		t.Fatalf("pids %q", pids)
	}
	deadline := time.Now().Add(2 * time.Second)
	for _, p := range pids {
		pid, _ := strconv.Atoi(p)
		for processExists(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d survived the timeout", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// processExists reports a live (not zombie) process.
func processExists(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// State is the field after the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestSIGTERMThenSIGKILL(t *testing.T) {
	// A process that ignores SIGTERM is killed after the grace period.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(200 * time.Millisecond); cancel() }()
	start := time.Now()
	_, err := process.Run(ctx, &process.Proc{Shell: "trap '' TERM; sleep 600", Grace: 300 * time.Millisecond})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d < 450*time.Millisecond || d > 5*time.Second {
		t.Errorf("ended after %s; want grace then kill", d)
	}
}

func TestParseEvents(t *testing.T) {
	def := asset.MustKey("raw", "orders")
	in := `{"type":"materialization","metadata":{"rows":10}}
{"type":"check","asset":["raw","orders"],"check":"no_nulls","passed":false,"severity":"warn","message":"3 nulls"}

{"type":"log","message":"hello"}
{"type":"failure","asset":"raw/other","message":"api 500"}
{"type":"dlt_load_info","load_id":"1"}
`
	evs, raws, err := ParseEvents("events.jsonl", []byte(in), def)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 4 || len(raws) != 1 || raws[0].Type != "dlt_load_info" || raws[0].Line != 6 {
		t.Fatalf("evs %+v raws %+v", evs, raws)
	}
	if evs[0].Type != engine.AssetMaterialized || evs[0].Asset != def || evs[0].Metadata["rows"] != float64(10) {
		t.Errorf("materialization %+v", evs[0])
	}
	if evs[1].Type != engine.CheckEvaluated || *evs[1].Passed || evs[1].Severity != "warn" {
		t.Errorf("check %+v", evs[1])
	}
	if evs[3].Type != engine.AssetFailed || evs[3].Asset != asset.MustKey("raw", "other") {
		t.Errorf("failure %+v", evs[3])
	}
	bad := []struct{ in, want string }{
		{"not json", "events.jsonl:1: not a JSON object"},
		{`{"asset":"a"}`, "no \"type\""},
		{`{"type":"check","asset":"a","check":"c"}`, "\"passed\""},
		{`{"type":"check","asset":"a","check":"c","passed":true,"severity":"fatal"}`, "severity"},
		{`{"type":"materialization","asset":"a//b"}`, "bad \"asset\""},
	}
	for _, b := range bad {
		if _, _, err := ParseEvents("events.jsonl", []byte(b.in), def); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: err = %v, want %q", b.in, err, b.want)
		}
	}
	if _, _, err := ParseEvents("e", []byte(`{"type":"materialization"}`), asset.Key{}); err == nil {
		t.Error("materialization without asset in a multi-asset step accepted")
	}
}

func FuzzParseEvents(f *testing.F) {
	f.Add([]byte(`{"type":"materialization","asset":"a/b","metadata":{"rows":1}}`))
	f.Add([]byte(`{"type":"check","check":"x","passed":true}` + "\n" + `{"type":"log","message":"m"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, _, err := ParseEvents("f", b, asset.MustKey("d"))
		if err != nil {
			return
		}
		for _, ev := range evs {
			if ev.Type == "" {
				t.Fatal("event without type")
			}
		}
	})
}

type collect struct {
	mu  sync.Mutex
	evs []engine.Event
}

func (c *collect) emit(ev engine.Event) { c.mu.Lock(); c.evs = append(c.evs, ev); c.mu.Unlock() }

func request(t *testing.T, keys ...string) *engine.Request {
	t.Helper()
	req := &engine.Request{RunID: "r", StepID: "s", Attempt: 1, ProjectDir: t.TempDir(), StepDir: t.TempDir(), Env: os.Environ(), Log: &bytes.Buffer{}}
	for _, k := range keys {
		req.Assets = append(req.Assets, asset.MustKey(strings.Split(k, "/")...))
	}
	return req
}

func TestRunnerEventsFileAndEnv(t *testing.T) {
	req := request(t, "raw/shares")
	req.Partition = &engine.Partition{Key: "2024-01-01", Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)}
	r := &Runner{Step: Step{Command: &Spec{Shell: `echo "$ELT_PARTITION_KEY $ELT_PARTITION_START $GREETING"; echo '{"type":"materialization","metadata":{"rows":3}}' >> "$ELT_EVENTS_FILE"`, Env: []string{"GREETING=hi"}}}}
	var c collect
	if err := r.Run(context.Background(), req, c.emit); err != nil {
		t.Fatal(err)
	}
	out := req.Log.(*bytes.Buffer).String()
	if !strings.Contains(out, "2024-01-01 2024-01-01T00:00:00Z hi") {
		t.Errorf("output %q", out)
	}
	if len(c.evs) != 1 || c.evs[0].Asset != asset.MustKey("raw", "shares") || c.evs[0].Metadata["rows"] != float64(3) {
		t.Errorf("events %+v", c.evs)
	}
}

func TestRunnerOpsGraph(t *testing.T) {
	req := request(t, "report")
	log := filepath.Join(req.StepDir, "order")
	op := func(name string, deps ...string) Op {
		return Op{Name: name, Deps: deps, Command: Spec{Shell: "echo " + name + " >> " + log}}
	}
	ops := []Op{op("extract"), op("clean", "extract"), op("stats", "extract"), op("publish", "clean", "stats")}
	if err := ValidateOps(ops); err != nil {
		t.Fatal(err)
	}
	r := &Runner{Step: Step{Ops: ops}}
	if err := r.Run(context.Background(), req, func(engine.Event) {}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(log)
	lines := strings.Fields(string(b))
	if len(lines) != 4 || lines[0] != "extract" || lines[3] != "publish" {
		t.Fatalf("order %v", lines)
	}
	// A failing op stops its dependents.
	ops[1].Command.Shell = "exit 4"
	os.Remove(log)
	err := (&Runner{Step: Step{Ops: ops}}).Run(context.Background(), req, func(engine.Event) {})
	if err == nil || !strings.Contains(err.Error(), "op clean") {
		t.Fatalf("err = %v", err)
	}
	b, _ = os.ReadFile(log)
	if strings.Contains(string(b), "publish") {
		t.Error("publish ran after clean failed")
	}
}

func TestValidateOps(t *testing.T) {
	cmd := Spec{Shell: "true"}
	tests := []struct {
		ops  []Op
		want string
	}{
		{[]Op{{Name: "a", Command: cmd}, {Name: "a", Command: cmd}}, "twice"},
		{[]Op{{Name: "a", Command: cmd, Deps: []string{"zz"}}}, "unknown op"},
		{[]Op{{Name: "a", Command: cmd, Deps: []string{"b"}}, {Name: "b", Command: cmd, Deps: []string{"a"}}}, "cycle"},
		{[]Op{{Command: cmd}}, "name"},
	}
	for _, tt := range tests {
		if err := ValidateOps(tt.ops); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ValidateOps(%+v) = %v, want %q", tt.ops, err, tt.want)
		}
	}
}

func TestMergeEnv(t *testing.T) {
	got := MergeEnv([]string{"A=1", "B=2"}, "B=3", "C=4")
	if strings.Join(got, ",") != "A=1,B=3,C=4" {
		t.Fatalf("got %v", got)
	}
}

func TestBackgroundChildDoesNotHoldTheStep(t *testing.T) {
	start := time.Now()
	dir := t.TempDir()
	_, err := process.Run(context.Background(), &process.Proc{Shell: "sleep 30 & echo $! > " + filepath.Join(dir, "pid") + "; echo hi"})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("step waited %s for its background child", d)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(3 * time.Second)
	for pid > 0 && processExists(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("background child %d outlived its step", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestArgvExpandedFromStepEnv(t *testing.T) {
	req := request(t, "a")
	req.Partition = &engine.Partition{Key: "2024-01-02"}
	out := filepath.Join(req.StepDir, "..", "argv.txt")
	r := &Runner{Step: Step{Command: &Spec{Argv: []string{"/bin/sh", "-c", `echo "$0 $1" > ` + out, "${ELT_PARTITION_KEY}", "${MISSING:-dflt}$${X}"}}}}
	if err := r.Run(context.Background(), req, func(engine.Event) {}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	if strings.TrimSpace(string(b)) != "2024-01-02 dflt${X}" {
		t.Fatalf("argv expanded to %q", b)
	}
}
