package schedule

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestFileSensorsShareFolderScan: file sensors watching one folder with
// different globs each see only their files, from one listing per tick.
func TestFileSensorsShareFolderScan(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, name := range []string{"a.csv", "b.json", "sub/c.csv", "sub/d.json"} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// No glob is "*": the top folder only.
	globs := map[string]string{"csv": "*.csv", "deep_json": "**/*.json", "all": ""}
	want := map[string][]string{"csv": {"a.csv"}, "deep_json": {"b.json", "sub/d.json"}, "all": {"a.csv", "b.json"}}
	d := &Daemon{Store: newMemStore(), Launch: (&recordingLauncher{}).launch}
	for _, name := range []string{"csv", "deep_json", "all"} {
		s, err := NewSensor(name, SensorConfig{Type: SensorFile, Path: dir, Glob: globs[name], Job: "load", Interval: time.Minute}, SensorEnv{})
		if err != nil {
			t.Fatal(err)
		}
		d.Sensors = append(d.Sensors, s)
	}
	rep, err := d.Tick(ctx, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	d.Wait()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, l := range rep.Launched {
		var rels []string
		for _, f := range l.Request.Files {
			rel, _ := filepath.Rel(dir, f)
			rels = append(rels, filepath.ToSlash(rel))
		}
		got[l.Request.Tags[TagSensor]] = rels
	}
	for name, w := range want {
		if !slices.Equal(got[name], w) {
			t.Errorf("sensor %s: files %v, want %v", name, got[name], w)
		}
	}
}

// TestFileScansListAndStatOnce: a second scan of a folder in the same tick
// reuses the listing and the stat results.
func TestFileScansListAndStatOnce(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.csv")
	os.WriteFile(p, []byte("x"), 0o644)
	scans := newFileScans()
	first, err := scans.scan(dir)
	if err != nil || len(first) != 1 {
		t.Fatalf("scan: %v %v", first, err)
	}
	st1, ok, err := first[0].stat()
	if !ok || err != nil {
		t.Fatalf("stat: %v %v", ok, err)
	}
	os.WriteFile(p, []byte("longer"), 0o644)
	os.WriteFile(filepath.Join(dir, "b.csv"), []byte("y"), 0o644)
	again, _ := scans.scan(dir)
	st2, _, _ := again[0].stat()
	if len(again) != 1 || again[0] != first[0] || st2 != st1 {
		t.Fatalf("second scan in one tick listed or stated again: %d files, %v vs %v", len(again), st2, st1)
	}
	// A new tick sees the changes.
	fresh, _ := newFileScans().scan(dir)
	st3, _, _ := fresh[0].stat()
	if len(fresh) != 2 || st3[1] != 6 {
		t.Fatalf("new tick: %d files, size %d", len(fresh), st3[1])
	}
	// A missing folder is no files, not an error.
	if none, err := scans.scan(filepath.Join(dir, "missing")); err != nil || len(none) != 0 {
		t.Fatalf("missing folder: %v %v", none, err)
	}
}
