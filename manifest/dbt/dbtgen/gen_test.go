package dbtgen

import (
	"bytes"
	"testing"

	dbtmanifest "github.com/eltproject/elt/manifest/dbt"
)

func TestGenerateParses(t *testing.T) {
	var buf bytes.Buffer
	opts := Options{Models: 200, Tests: 450, Sources: 20, Seeds: 3, Macros: 10, Groups: 2}
	if err := Generate(&buf, opts); err != nil {
		t.Fatal(err)
	}
	m, err := dbtmanifest.ParseManifest(buf.Bytes(), "generated")
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, n := range m.Nodes {
		counts[n.ResourceType]++
	}
	if counts["model"] != 200 || counts["test"] != 450 || counts["seed"] != 3 || len(m.Sources) != 20 || len(m.Groups) != 2 || len(m.Macros) != 10 {
		t.Errorf("counts: nodes %v, sources %d, groups %d, macros %d", counts, len(m.Sources), len(m.Groups), len(m.Macros))
	}
	if m.SchemaVersion != 12 || m.ProjectName != "bench" || m.AdapterType != "postgres" {
		t.Errorf("metadata: v%d %q %q", m.SchemaVersion, m.ProjectName, m.AdapterType)
	}
	// Every dep points at a lower-numbered model, a seed or a source: the
	// graph is a DAG, and marts have fan-in.
	maxFanIn := 0
	for id, n := range m.Nodes {
		if n.ResourceType != "model" {
			continue
		}
		for _, d := range n.DependsOn.Nodes {
			if _, ok := m.Nodes[d]; !ok {
				if _, ok := m.Sources[d]; !ok {
					t.Errorf("%s depends on unknown %s", id, d)
				}
			}
		}
		maxFanIn = max(maxFanIn, len(n.DependsOn.Nodes))
	}
	if maxFanIn < 3 {
		t.Errorf("max fan-in %d, want a realistic spread", maxFanIn)
	}
	var again bytes.Buffer
	if err := Generate(&again, opts); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("output is not deterministic")
	}
}
