package dbt

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestStaleManifest(t *testing.T) {
	dir := t.TempDir()
	write := func(rel string, at time.Time) {
		p := filepath.Join(dir, "shop", rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	old, parsed, edited := time.Unix(1e9, 0), time.Unix(1e9+100, 0), time.Unix(1e9+200, 0)
	write("dbt_project.yml", old)
	write("models/a.sql", old)
	write("target/manifest.json", parsed)
	write("target/run/models/a.sql", edited)     // dbt's own output: ignored
	write("dbt_packages/p/models/b.sql", edited) // installed packages: ignored
	write("logs/dbt.log", edited)
	cfg := Config{ProjectDir: "shop"}
	if got := StaleManifest(cfg, dir); got != "" {
		t.Fatalf("current manifest reported stale because of %s", got)
	}
	write("models/a.sql", edited)
	if got := StaleManifest(cfg, dir); got != filepath.Join("models", "a.sql") {
		t.Fatalf("StaleManifest = %q, want models/a.sql", got)
	}
	if got := StaleManifest(Config{ProjectDir: "missing"}, dir); got != "" {
		t.Fatalf("no manifest: %q", got)
	}
}
