package dbt

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/internal/testenv"
	dbtmanifest "github.com/eltproject/elt/manifest/dbt"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fixturesDir is shared/fixtures/dbt; testenv stops the test when it is
// absent (a failure in CI).
func fixturesDir(t testing.TB) string {
	t.Helper()
	return testenv.Fixtures(t, "dbt")
}

func loadFixture(t testing.TB, name string) *dbtmanifest.Manifest {
	t.Helper()
	m, err := dbtmanifest.ReadManifest(filepath.Join(fixturesDir(t), name, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// goldenSpec is the part of a spec the golden files pin down.
type goldenSpec struct {
	Key      asset.Key     `json:"key"`
	UniqueID string        `json:"unique_id"`
	Deps     []asset.Key   `json:"deps,omitempty"`
	Group    string        `json:"group,omitempty"`
	Owners   []string      `json:"owners,omitempty"`
	Kinds    []string      `json:"kinds"`
	External bool          `json:"external,omitempty"`
	Step     string        `json:"step,omitempty"`
	Checks   []goldenCheck `json:"checks,omitempty"`
}

type goldenCheck struct {
	Name     string `json:"name"`
	Blocking bool   `json:"blocking"`
	Severity string `json:"severity"`
	UniqueID string `json:"unique_id"`
}

func golden(specs []asset.Spec) []goldenSpec {
	out := make([]goldenSpec, 0, len(specs))
	for _, s := range specs {
		g := goldenSpec{Key: s.Key, UniqueID: s.Metadata[MetaUniqueID].(string), Deps: s.Deps, Group: s.Group,
			Owners: s.Owners, Kinds: s.Kinds, External: s.External, Step: s.Step}
		for _, c := range s.Checks {
			g.Checks = append(g.Checks, goldenCheck{c.Name, c.Blocking, c.Severity, c.Metadata[MetaUniqueID].(string)})
		}
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b goldenSpec) int { return a.Key.Compare(b.Key) })
	return out
}

var goldenFixtures = []string{
	"jaffle_shop_classic_v9", "jaffle_shop_classic_v9_test_run", "jaffle_shop_fork_v10",
	"dbt_core_state_v4", "dbt_core_state_v7", "dbt_core_state_v10", "dbt_core_state_v11", "dbt_core_state_v12",
	"flipside_ethereum_v4", "flipside_solana_v6", "datacoves_balboa_v12",
}

func TestGolden(t *testing.T) {
	for _, name := range goldenFixtures {
		t.Run(name, func(t *testing.T) {
			m := loadFixture(t, name)
			specs, err := Translate(m, Options{Family: "dbt:" + m.ProjectName})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := asset.NewGraph(specs, asset.GraphOptions{}); err != nil {
				t.Fatalf("specs do not form a graph: %v", err)
			}
			got, err := json.MarshalIndent(golden(specs), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the translation; run go test -update and review the diff", path)
			}
		})
	}
}

func specByKey(t *testing.T, specs []asset.Spec, key string) *asset.Spec {
	t.Helper()
	for i := range specs {
		if specs[i].Key.String() == key {
			return &specs[i]
		}
	}
	t.Fatalf("no asset %s", key)
	return nil
}

func keyStrings(keys []asset.Key) string {
	var s []string
	for _, k := range keys {
		s = append(s, k.String())
	}
	return strings.Join(s, " ")
}
