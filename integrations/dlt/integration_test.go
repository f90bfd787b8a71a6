package dlt

import (
	"bytes"
	"context"
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

// realPython returns the Python that has the real dlt (the repository's
// .venv after `make tools`); a Python without dlt counts as missing.
func realPython(t *testing.T) string {
	t.Helper()
	python := testenv.Tool(t, "python")
	if out, err := exec.Command(python, "-c", "import dlt, duckdb").CombinedOutput(); err != nil {
		testenv.Missing(t, "dlt in "+python+" ("+strings.TrimSpace(string(out))+")", "run `make tools` (installs the pinned dlt into .venv/)")
	}
	return python
}

// TestRealDLTPipeline runs testdata/realdlt/demo_pipeline.py with the real
// dlt when python3 can import it, twice: before the pipeline has a schema
// (resources listed in the config) and after.
func TestRealDLTPipeline(t *testing.T) {
	python := realPython(t)
	script, err := filepath.Abs(filepath.Join("testdata", "realdlt", "demo_pipeline.py"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := Config{
		Pipeline:     "demo_pipeline",
		PipelinesDir: "pipelines",
		Command:      Command{Argv: []string{python, script}},
		Dataset:      "demo_data",
		Destination:  "warehouse",
		Resources:    []string{"events", "users"},
		Source:       "demo",
		Env:          map[string]string{"RUNTIME__LOG_LEVEL": "WARNING"},
	}
	resources := map[string]engine.Resource{"warehouse": {Name: "warehouse", Type: "duckdb", Config: map[string]string{"path": "warehouse.duckdb"}}}
	events := asset.MustKey("dlt_demo_events")
	for day := 1; day <= 2; day++ {
		_, fams, err := Load(context.Background(), cfg, dir, resources)
		if err != nil {
			t.Fatal(err)
		}
		part := &engine.Partition{Key: "2024-05-0" + string(rune('0'+day)),
			Start: time.Date(2024, 5, day, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 5, day+1, 0, 0, 0, 0, time.UTC)}
		var log bytes.Buffer
		var got []engine.Event
		req := &engine.Request{Assets: []asset.Key{events, asset.MustKey("dlt_demo_users")}, Partition: part,
			ProjectDir: dir, StepDir: t.TempDir(), Log: &log, Resources: resources,
			Env: append(os.Environ(), "DLT_DATA_DIR="+filepath.Join(dir, "dlt_data"), "HOME="+filepath.Join(dir, "home"))}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		err = fams[0].Runner.Run(ctx, req, func(e engine.Event) { got = append(got, e) })
		cancel()
		if err != nil {
			t.Fatalf("day %d: %v\n%s", day, err, log.String())
		}
		var md map[string]any
		for _, e := range got {
			if e.Type == engine.AssetMaterialized && e.Asset == events {
				md = e.Metadata
			}
		}
		if md == nil || md["load_id"] == nil {
			t.Fatalf("day %d: no materialization with a load id: %+v", day, got)
		}
		byTable, _ := md["rows_by_table"].(map[string]int64)
		if byTable["events"] != 24 {
			t.Errorf("day %d: %d events rows, want the 24 hours of the window", day, byTable["events"])
		}
	}
}
