package sling

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestWriteWithStateHook(t *testing.T) {
	tests := []struct {
		name, in string
		wantEnd  int // hooks in hooks.end after the change
		err      string
	}{
		{"no hooks", "source: a\ntarget: b\nstreams:\n  s.t:\n", 1, ""},
		{"null hooks", "source: a\nhooks:\nstreams:\n  s.t:\n", 1, ""},
		{"start only", "source: a\nhooks:\n  start:\n    - type: log\n      message: hi\nstreams:\n  s.t:\n", 1, ""},
		{"existing end", "source: a\nhooks:\n  end:\n    - type: log\n      message: bye\nstreams:\n  s.t:\n", 2, ""},
		{"bad end", "source: a\nhooks:\n  end: {type: log}\n", 0, "hooks.end must be a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "copy.yaml")
			err := writeWithStateHook([]byte(tt.in), out, "/run/state.json")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(out)
			var doc struct {
				Hooks struct {
					End []map[string]string `yaml:"end"`
				} `yaml:"hooks"`
				Streams map[string]any `yaml:"streams"`
			}
			if err := yaml.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			if len(doc.Hooks.End) != tt.wantEnd {
				t.Fatalf("hooks.end has %d hooks, want %d:\n%s", len(doc.Hooks.End), tt.wantEnd, b)
			}
			h := doc.Hooks.End[0]
			if h["type"] != "write" || h["to"] != "local//run/state.json" || h["content"] != "{runtime_state}" {
				t.Errorf("first end hook = %v", h)
			}
			if _, ok := doc.Streams["s.t"]; !ok {
				t.Errorf("streams lost in the copy:\n%s", b)
			}
		})
	}
}

func BenchmarkParseLogLine(b *testing.B) {
	lines := []string{
		`2024-03-12 09:55:01 INF [8 / 24] running stream "main"."date_dim"`,
		`2024-03-12 09:55:01 DBG using source options: {"empty_as_null":true}`,
		`1:02AM INF inserted 1,234 rows into "public"."users" in 2 secs [617 r/s]`,
		"8:43PM INF execution succeeded",
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, l := range lines {
			ParseLogLine(l)
		}
	}
}

func BenchmarkParseRuntimeState(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "runtime_state.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRuntimeState(data); err != nil {
			b.Fatal(err)
		}
	}
}
