package dbt

import (
	"path/filepath"
	"testing"
)

// counts per resource type, from shared/fixtures/dbt/SOURCES.md.
type fixtureCounts struct {
	models, seeds, snapshots, sources, tests, exposures int
}

var manifestFixtures = map[string]fixtureCounts{
	"jaffle_shop_classic_v9":          {5, 3, 0, 0, 20, 0},
	"jaffle_shop_classic_v9_test_run": {5, 3, 0, 0, 20, 0},
	"jaffle_shop_fork_v10":            {5, 0, 0, 1, 4, 0},
	"dbt_core_state_v4":               {1, 0, 0, 0, 0, 0},
	"dbt_core_state_v7":               {1, 1, 1, 1, 3, 1},
	"dbt_core_state_v10":              {2, 1, 1, 1, 3, 1},
	"dbt_core_state_v11":              {2, 1, 1, 1, 3, 1},
	"dbt_core_state_v12":              {2, 1, 1, 1, 3, 1},
	"flipside_ethereum_v4":            {59, 3, 0, 20, 601, 0},
	"flipside_solana_v6":              {102, 11, 0, 17, 776, 0},
	"datacoves_balboa_v12":            {36, 3, 0, 12, 10, 2},
}

func TestFixtureCounts(t *testing.T) {
	dir := fixturesDir(t)
	for name, want := range manifestFixtures {
		t.Run(name, func(t *testing.T) {
			m, err := ReadManifest(filepath.Join(dir, name, "manifest.json"))
			if err != nil {
				t.Fatal(err)
			}
			var got fixtureCounts
			for _, n := range m.Nodes {
				switch n.ResourceType {
				case "model":
					got.models++
				case "seed":
					got.seeds++
				case "snapshot":
					got.snapshots++
				case "test":
					got.tests++
				}
			}
			got.sources = len(m.Sources)
			got.exposures = len(m.Exposures)
			if got != want {
				t.Errorf("counts = %+v, want %+v (SOURCES.md)", got, want)
			}
		})
	}
}

func TestUnitTestsAreRead(t *testing.T) {
	data := []byte(`{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json", "dbt_version": "1.8.0"},
		"nodes": {}, "sources": {},
		"unit_tests": {"unit_test.shop.orders.t": {"unique_id": "unit_test.shop.orders.t", "fqn": ["shop", "marts", "orders", "t"], "name": "t"}}}`)
	m, err := ParseManifest(data, "m.json")
	if err != nil {
		t.Fatal(err)
	}
	if got := m.UnitTests["unit_test.shop.orders.t"]; len(got) != 4 || got[3] != "t" {
		t.Fatalf("unit tests %v", m.UnitTests)
	}
}
