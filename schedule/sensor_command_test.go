package schedule

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// readmeCommandSensorExample returns the example output of a command
// sensor documented in README.md: the jsonl block after its marker.
func readmeCommandSensorExample(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- command-sensor-example:")
	if !ok {
		t.Fatal("README.md has no command sensor output example (<!-- command-sensor-example: … -->)")
	}
	_, rest, ok = strings.Cut(rest, "```jsonl\n")
	if !ok {
		t.Fatal("README.md: no ```jsonl block after the command sensor example marker")
	}
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("README.md: unclosed command sensor example block")
	}
	return block
}

// TestReadmeCommandSensorExample runs a command sensor printing the README's
// example and checks it means what the README says.
func TestReadmeCommandSensorExample(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "out.jsonl"), []byte(readmeCommandSensorExample(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := NewSensor("drops", SensorConfig{Type: SensorCommand, Command: Command{Shell: "cat out.jsonl"}, Job: "load_files"}, SensorEnv{ProjectDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	reqs, cur, err := s.Evaluate(context.Background(), time.Now(), "2024-04-30T06:00:00Z")
	if err != nil {
		t.Fatal(err)
	}
	if cur != "2024-05-02T06:00:00Z" {
		t.Errorf("cursor = %q, want 2024-05-02T06:00:00Z", cur)
	}
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3: %+v", len(reqs), reqs)
	}
	add, own, sel := reqs[0], reqs[1], reqs[2]
	if !add.AddOnly || !slices.Equal(add.AddPartitions["files"], []string{"2024-05-01.csv", "2024-05-02.csv"}) {
		t.Errorf("first line: %+v, want an add-only request adding two keys to files", add)
	}
	if own.AddOnly || own.Job != "load_files" || own.PartitionKey != "2024-05-01.csv" || own.Reason != "new file 2024-05-01.csv" {
		t.Errorf("second line: %+v, want job load_files for 2024-05-01.csv", own)
	}
	wantTags := map[string]string{"source": "sftp", TagSensor: "drops"}
	if sel.Job != "" || !slices.Equal(sel.Selection, []string{"raw/orders+"}) || !slices.Equal(sel.Exclude, []string{"raw/orders_archive"}) ||
		sel.PartitionKey != "2024-05-02.csv" || !maps.Equal(sel.Tags, wantTags) || sel.Reason != "command output:4" {
		t.Errorf("third line: %+v, want raw/orders+ minus raw/orders_archive for 2024-05-02.csv, tags %v, reason command output:4", sel, wantTags)
	}
}

// TestCommandSensorRejectsRunKey pins what the README says: run keys are
// not supported yet, and an unknown field fails the evaluation.
func TestCommandSensorRejectsRunKey(t *testing.T) {
	_, _, err := ParseCommandOutput("command output", []byte(`{"select": "a", "run_key": "k1"}`))
	if err == nil || !strings.Contains(err.Error(), "command output:1") || !strings.Contains(err.Error(), "run_key") {
		t.Errorf("run_key: err = %v, want an unknown-field error at command output:1", err)
	}
}
