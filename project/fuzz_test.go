package project

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzLoad feeds arbitrary elt.yaml text to Load: it must never panic, and
// every refusal must be a project.Error (exit 2) whose problems carry a
// message.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		good,
		"name: p\nassets: {a: 1}\n",
		// SQL assets, not commands: bodies naming a command are not fuzzed.
		"name: p\nresources: {w: {type: duckdb, path: w.duckdb}}\nconcurrency: -3\nassets:\n  - {key: a, sql: \"select 1\", pool: x}\n",
		"name: p\nresources: {w: {type: duckdb, path: w.duckdb}}\nassets:\n  - {key: a, sql: \"select 1\"}\nsensors:\n  s: {type: file, path: \"x/*\", select: a, interval: soon}\n",
		"name: p\nresources: [a]\n",
		"name: p\npools: {a: 0}\n",
		"",
		"- 1\n",
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	path := filepath.Join(dir, FileName)
	f.Fuzz(func(t *testing.T, body string) {
		if strings.Contains(body, "command") || strings.Contains(body, "dbt") || strings.Contains(body, "sling") ||
			strings.Contains(body, "dlt") || strings.Contains(body, "plugin") || strings.Contains(body, "import") {
			// Loading these runs tools or reads other files; keep to
			// the parser and validation of elt.yaml itself.
			if !strings.HasPrefix(body, good[:20]) {
				return
			}
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := Load(context.Background(), path, Options{Getenv: func(string) (string, bool) { return "", false }})
			done <- err
		}()
		var err error
		select {
		case err = <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("Load hangs on %q", body)
		}
		if err == nil {
			return
		}
		var pe *Error
		if !errors.As(err, &pe) {
			t.Fatalf("refusal is not a project.Error (exit 2): %T %v", err, err)
		}
		for _, p := range pe.Problems {
			if strings.TrimSpace(p.Msg) == "" {
				t.Fatalf("problem without a message: %+v", p)
			}
		}
	})
}
