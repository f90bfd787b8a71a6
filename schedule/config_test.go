package schedule

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/eltproject/elt/asset"
)

// projectSections is how the project loader holds the three sections.
type projectSections struct {
	Partitions map[string]PartitionsConfig `yaml:"partitions"`
	Schedules  map[string]ScheduleConfig   `yaml:"schedules"`
	Sensors    map[string]SensorConfig     `yaml:"sensors"`
}

// TestConfigGolden decodes testdata/elt.yaml strictly, builds every
// definition, schedule and sensor, and prints a summary with the next
// ticks of each schedule.
func TestConfigGolden(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "elt.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var p projectSections
	if err := dec.Decode(&p); err != nil {
		t.Fatal(err)
	}
	ms := newMemStore()
	now := time.Date(2024, 3, 30, 23, 30, 0, 0, time.UTC)
	var b strings.Builder
	defs := map[string]Definition{}
	for _, name := range sortedKeys(p.Partitions) {
		cfg := p.Partitions[name]
		if errs := cfg.Validate(); errs != nil {
			t.Fatalf("partitions %s: %v", name, errs)
		}
		d, err := NewDefinition(name, cfg, ms)
		if err != nil {
			t.Fatal(err)
		}
		defs[name] = d
		keys, _ := d.Keys(context.Background(), now)
		last := "-"
		if len(keys) > 0 {
			last = keys[len(keys)-1]
		}
		fmt.Fprintf(&b, "partitions %-8s %-8s %5d keys, newest %s\n", name, d.Kind(), len(keys), last)
	}
	// The loader finds each schedule's partitions from its job; here by name.
	jobDefs := map[string]string{"orders_daily": "daily", "regions_eu": "regions"}
	for _, name := range sortedKeys(p.Schedules) {
		cfg := p.Schedules[name]
		if errs := cfg.Validate(); errs != nil {
			t.Fatalf("schedule %s: %v", name, errs)
		}
		s, err := NewSchedule(name, cfg, defs[jobDefs[name]])
		if err != nil {
			t.Fatal(err)
		}
		policy, window := s.Catchup()
		fmt.Fprintf(&b, "schedule %s (%s; catchup %s %s):\n", name, s.Describe(), policy, window)
		for _, tk := range s.Preview(now, 3) {
			req, _ := s.Request(tk)
			fmt.Fprintf(&b, "  %s partition=%q\n", tk.Format(time.RFC3339), req.PartitionKey)
		}
	}
	env := SensorEnv{ProjectDir: t.TempDir(), Materializations: func(context.Context) (map[asset.Key]time.Time, error) { return nil, nil }}
	for _, name := range sortedKeys(p.Sensors) {
		cfg := p.Sensors[name]
		if errs := cfg.Validate(); errs != nil {
			t.Fatalf("sensor %s: %v", name, errs)
		}
		s, err := NewSensor(name, cfg, env)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "sensor %s: %s every %s argv=%q shell=%q\n", name, cfg.Type, s.Interval(), cfg.Command.Argv, cfg.Command.Shell)
	}
	golden := filepath.Join("testdata", "config.golden")
	if *update {
		os.WriteFile(golden, []byte(b.String()), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if b.String() != string(want) {
		t.Errorf("summary:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestConfigUnknownField(t *testing.T) {
	dec := yaml.NewDecoder(strings.NewReader("schedules:\n  x:\n    cron: '@daily'\n    jobb: a\n"))
	dec.KnownFields(true)
	var p projectSections
	if err := dec.Decode(&p); err == nil || !strings.Contains(err.Error(), "jobb") {
		t.Fatalf("error = %v, want it to name the unknown field", err)
	}
	var c struct{ Command Command }
	if err := yaml.Unmarshal([]byte("command: {a: 1}"), &c); err == nil {
		t.Error("a map as command: no error")
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
