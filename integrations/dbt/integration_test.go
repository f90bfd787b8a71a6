package dbt

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
)

// TestRealDBT runs the real dbt with the DuckDB adapter on
// testdata/duckdb_project, when both are installed.
func TestRealDBT(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real dbt")
	}
	exe, err := exec.LookPath("dbt")
	if err != nil {
		t.Skip("dbt is not on PATH")
	}
	out, err := exec.Command(exe, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "duckdb") {
		t.Skipf("dbt has no duckdb adapter: %s", out)
	}
	proj := t.TempDir()
	if err := os.CopyFS(proj, os.DirFS("testdata/duckdb_project")); err != nil {
		t.Fatal(err)
	}
	cfg := Config{ProjectDir: proj, Executable: exe}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var prep bytes.Buffer
	if err := Prepare(ctx, cfg, "/", &prep); err != nil {
		t.Fatalf("prepare: %v\n%s", err, prep.String())
	}
	specs := specsFromManifest(t, filepath.Join(proj, "target", "manifest.json"))
	r, err := NewRunner(cfg, "/", specs)
	if err != nil {
		t.Fatal(err)
	}
	req, log := request(t, specs)
	req.Partition = &engine.Partition{Key: "2024-01-01", Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)}
	var evs events
	if err := r.Run(ctx, req, evs.emit); err != nil {
		t.Fatalf("run: %v\n%s", err, log.String())
	}
	if n := len(evs.of(engine.AssetMaterialized)); n != 2 {
		t.Errorf("want 2 materializations, got %d: %+v", n, evs.evs)
	}
	c := evs.of(engine.CheckEvaluated)
	if len(c) != 1 || !*c[0].Passed {
		t.Errorf("want the not_null check passed: %+v", c)
	}
	// Only the first model, on a second attempt: a subset run.
	req.Assets = req.Assets[:1]
	req.Attempt = 2
	evs = events{}
	if err := r.Run(ctx, req, evs.emit); err != nil {
		t.Fatalf("subset run: %v\n%s", err, log.String())
	}
	if len(evs.evs) != 1 || evs.evs[0].Type != engine.AssetMaterialized {
		t.Errorf("subset: %+v", evs.evs)
	}
}

// specsFromManifest builds specs for the models of a small manifest by
// hand, with the tests as checks, as the translator would.
func specsFromManifest(t *testing.T, path string) []asset.Spec {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Nodes map[string]struct {
			ResourceType string   `json:"resource_type"`
			Name         string   `json:"name"`
			FQN          []string `json:"fqn"`
			AttachedNode string   `json:"attached_node"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	byID := map[string]*asset.Spec{}
	var order []string
	for _, id := range []string{"model.elt_shop.stg_items", "model.elt_shop.items"} {
		n, ok := m.Nodes[id]
		if !ok {
			t.Fatalf("%s not in %s", id, path)
		}
		s := model(id, n.FQN...)
		byID[id] = &s
		order = append(order, id)
	}
	for id, n := range m.Nodes {
		if n.ResourceType == "test" && byID[n.AttachedNode] != nil {
			s := byID[n.AttachedNode]
			s.Checks = append(s.Checks, asset.CheckSpec{Name: n.Name, Severity: "error", Blocking: true,
				Metadata: map[string]any{MetaUniqueID: id, MetaFQN: n.FQN}})
		}
	}
	var specs []asset.Spec
	for _, id := range order {
		specs = append(specs, *byID[id])
	}
	return specs
}
