package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/internal/testenv"
)

// TestWriteJSONMatchesEncoder: the streamed list is byte for byte what
// json.Encoder with a two-space indent writes.
func TestWriteJSONMatchesEncoder(t *testing.T) {
	type row struct {
		Key  string            `json:"key"`
		Tags []string          `json:"tags"`
		Meta map[string]any    `json:"meta,omitempty"`
		Sub  map[string]string `json:"sub"`
	}
	for name, v := range map[string]any{
		"structs":   []row{{Key: "a/b", Tags: []string{"x"}, Meta: map[string]any{"n": 1, "l": []any{1, "<&>"}}}, {Key: "c"}},
		"one":       []row{{Key: "only"}},
		"empty":     []row{},
		"nil":       []row(nil),
		"bytes":     []byte("abc"),
		"strings":   []string{"a", "b<script>", ""},
		"maps":      []map[string]any{{"a": 1}, {}, nil},
		"nested":    [][]int{{1, 2}, {}, nil},
		"pointers":  []*row{{Key: "p"}, nil},
		"object":    map[string]any{"a": []int{1}},
		"scalar":    42,
		"interface": []any{1, "two", []any{3}, map[string]any{}},
	} {
		t.Run(name, func(t *testing.T) {
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetIndent("", "  ")
			if err := enc.Encode(v); err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := writeJSON(&got, v); err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Fatalf("got\n%s\nwant\n%s", got.String(), want.String())
			}
		})
	}
}

// TestBufferedStdoutSameBytes: a command writing to a file (buffered)
// prints exactly what it prints to an in-memory writer.
func TestBufferedStdoutSameBytes(t *testing.T) {
	dir := newProject(t, small)
	for _, args := range [][]string{
		{"assets", "list"},
		{"assets", "list", "-o", "json"},
		{"assets", "graph", "--format", "dot"},
		{"plan"},
		{"version"},
		{"--help"},
	} {
		want, _, code := elt(t, dir, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		f, err := os.Create(filepath.Join(t.TempDir(), "out"))
		if err != nil {
			t.Fatal(err)
		}
		code = Main(append([]string{"-C", dir}, args...), strings.NewReader(""), f, io.Discard)
		f.Close()
		got, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		if code != 0 || string(got) != want {
			t.Fatalf("%v: exit %d, file got\n%s\nwant\n%s", args, code, got, want)
		}
	}
}

// flushRecorder records what had been flushed at each Flush.
type flushRecorder struct {
	pending, flushed bytes.Buffer
	flushes          int
}

func (f *flushRecorder) Write(p []byte) (int, error) { return f.pending.Write(p) }
func (f *flushRecorder) Flush() error {
	f.flushes++
	f.flushed.Write(f.pending.Bytes())
	f.pending.Reset()
	return nil
}

// TestRunViewFlushesEachEvent: with buffered stdout, every event a run
// view shows reaches the terminal when it happens.
func TestRunViewFlushesEachEvent(t *testing.T) {
	for _, mode := range []string{"plain", "json", "live"} {
		t.Run(mode, func(t *testing.T) {
			w := &flushRecorder{}
			v := newRunView(w, mode, false)
			now := time.Now()
			for _, ev := range []engine.Event{
				{Type: engine.RunStarted, RunID: "r", Time: now, Metadata: map[string]any{"steps": 1, "assets": 1}},
				{Type: engine.StepStarted, StepID: "s", Time: now},
				{Type: engine.StepSucceeded, StepID: "s", Time: now},
			} {
				v.observe(ev)
				if w.pending.Len() != 0 {
					t.Fatalf("after %s, %q not flushed", ev.Type, w.pending.String())
				}
			}
			v.close()
			if w.pending.Len() != 0 || w.flushed.Len() == 0 {
				t.Fatalf("after close: pending %q, flushed %q", w.pending.String(), w.flushed.String())
			}
		})
	}
}

// BenchmarkPrintJSON50k writes `assets list -o json --metadata` of 50,000
// assets with dbt-sized metadata: the whole indented document at once
// (json.Encoder) against element by element (writeJSON). B/op is the
// difference that matters: the document never exists whole.
func BenchmarkPrintJSON50k(b *testing.B) {
	rows := make([]assetJSON, 50000)
	for i := range rows {
		md := map[string]any{}
		for j := range 20 {
			md[fmt.Sprintf("field_%d", j)] = strings.Repeat("x", 40)
		}
		md["fqn"] = []any{"pkg", "models", fmt.Sprintf("model_%d", i)}
		rows[i] = assetJSON{Key: asset.MustKey("pkg", fmt.Sprintf("model_%d", i)), Deps: []asset.Key{}, Kinds: []string{"dbt", "duckdb"},
			Owners: []string{}, Tags: []string{"nightly"}, Checks: []checkJSON{{Name: "not_null_id", Blocking: true}}, Metadata: md}
	}
	b.Run("encoder", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			enc := json.NewEncoder(io.Discard)
			enc.SetIndent("", "  ")
			if err := enc.Encode(rows); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("streamed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := writeJSON(io.Discard, rows); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkStartup starts elt (this test binary acting as elt) for
// `version`, `--help` and `assets list` on the quickstart, against `go
// version`, the issue's yardstick. "ratio" is elt's time over go's; the
// CPU metrics (user + system of the children) are steadier on a shared
// machine. `make build-static` gives a binary with a cheaper start.
func BenchmarkStartup(b *testing.B) {
	goBin := testenv.Tool(b, "go")
	quickstart, err := filepath.Abs("../../examples/quickstart")
	if err != nil {
		b.Fatal(err)
	}
	measure := func(b *testing.B, name string, args []string, env []string) (wall, cpu time.Duration) {
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), env...)
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		wall = time.Since(start)
		return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	for _, args := range [][]string{{"version"}, {"--help"}, {"-C", quickstart, "assets", "list"}} {
		b.Run(args[len(args)-1], func(b *testing.B) {
			var eltWall, eltCPU, goWall, goCPU time.Duration
			for b.Loop() {
				w, c := measure(b, os.Args[0], args, []string{"ELT_TEST_AS_ELT=1", "NO_COLOR=1"})
				eltWall, eltCPU = eltWall+w, eltCPU+c
				w, c = measure(b, goBin, []string{"version"}, nil)
				goWall, goCPU = goWall+w, goCPU+c
			}
			n := float64(b.N)
			b.ReportMetric(eltWall.Seconds()*1000/n, "elt-ms")
			b.ReportMetric(goWall.Seconds()*1000/n, "go-version-ms")
			b.ReportMetric(eltWall.Seconds()/goWall.Seconds(), "ratio")
			b.ReportMetric(eltCPU.Seconds()/goCPU.Seconds(), "cpu-ratio")
		})
	}
}
