package project

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDeferUnset(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	yaml := "name: x\nresources:\n  api: {type: http, token: '${TOKEN}', url: '${URL:-http://localhost}'}\nassets:\n  - {key: a, command: 'true'}\n"
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	getenv := func(string) (string, bool) { return "", false }
	if _, err := Load(context.Background(), path, Options{Getenv: getenv}); err == nil || !strings.Contains(err.Error(), "elt.yaml:3") || !strings.Contains(err.Error(), "TOKEN is not set") {
		t.Fatalf("strict load: err = %v, want TOKEN is not set at elt.yaml:3", err)
	}
	p, err := Load(context.Background(), path, Options{Getenv: getenv, DeferUnset: true})
	if err != nil {
		t.Fatalf("deferred load: %v", err)
	}
	if len(p.Unresolved) != 1 || p.Unresolved[0].Line != 3 || !strings.Contains(p.Unresolved[0].Msg, "TOKEN is not set") {
		t.Errorf("Unresolved = %+v, want TOKEN at line 3", p.Unresolved)
	}
	cfg := p.Resources["api"].Config
	if cfg["token"] != "${TOKEN}" || cfg["url"] != "http://localhost" {
		t.Errorf("api config = %v, want token left as written and url from its default", cfg)
	}
}
