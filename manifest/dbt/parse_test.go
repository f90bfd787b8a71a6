package dbt

import (
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

func TestManifestErrors(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"empty", ``, "not a dbt manifest: the file is empty"},
		{"yaml", "version: 2\nmodels: []\n", `not a dbt manifest: expected a JSON object, found 'v'`},
		{"array", `[1, 2]`, "not a dbt manifest: expected a JSON object"},
		{"no metadata", `{"nodes": {}}`, "not a dbt manifest: no metadata.dbt_schema_version"},
		{"run results", `{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json"}, "results": []}`, `metadata.dbt_schema_version is "https://schemas.getdbt.com/dbt/run-results/v6.json"; expected ".../manifest/vN.json"`},
		{"catalog", `{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/catalog/v1.json"}}`, "not a dbt manifest"},
		{"too old", `{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v3.json"}}`, "schema v3 is not supported (elt reads v4 to v12"},
		{"too new", `{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v13.json"}}`, "schema v13 is newer than elt supports"},
		{"truncated", `{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"}, "nodes": {"model.a.b": {"name": "b"`, "unexpected end of input"},
		{"bad member", `{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"},
"nodes": {"model.a.b": {"unique_id" "b"}}}`, "manifest.json:2: invalid JSON at byte"},
		{"nodes null", `{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"}, "nodes": null}`, `"nodes" is null, not an object: dbt writes an object of nodes ({} when there are none); re-run dbt parse`},
		{"sources a list", `{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"}, "sources": []}`, `"sources" is [], not an object`},
		{"resource_type a number", `{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"}, "nodes": {"model.a.b": {"unique_id": "model.a.b", "resource_type": 7}}}`, `node model.a.b: resource_type is 7, not a string such as "model"; re-run dbt parse`},
		{"depends_on.nodes not a list", `{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"}, "nodes": {"model.a.b": {"unique_id": "model.a.b", "resource_type": "model", "depends_on": {"nodes": "model.a.c"}}}}`, "node model.a.b: depends_on.nodes is a string, not a list of unique_ids"},
		{"depends_on.nodes an object", `{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"}, "nodes": {"model.a.b": {"unique_id": "model.a.b", "resource_type": "model", "depends_on": {"nodes": {"model.a.c": 1}}}}}`, "node model.a.b: depends_on.nodes is an object"},
		{"depends_on a missing node", `{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"}, "nodes": {"model.a.b": {"unique_id": "model.a.b", "resource_type": "model", "depends_on": {"nodes": ["model.a.gone"]}}}}`, `node model.a.b depends on "model.a.gone", which is not in the manifest; re-run dbt parse`},
		{"exposure on a missing node", `{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"}, "nodes": {}, "exposures": {"exposure.a.e": {"unique_id": "exposure.a.e", "depends_on": {"nodes": ["model.a.gone"]}}}}`, `exposure exposure.a.e depends on "model.a.gone"`},
		{"fusion v21", `{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v21.json"}}`, "schema v21 is newer than elt supports (v4 to v12, and v20 from dbt Fusion)"},
		{"node without id", `{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"}, "nodes": {"x": {"name": "b"}}}`, "a node has no unique_id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseManifest([]byte(tc.data), "target/manifest.json")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "target/manifest.json") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
	if _, err := ReadManifest(filepath.Join(t.TempDir(), "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: %v", err)
	}
}

// TestStreamingMatchesInMemory reads fixtures through readers that return
// one byte, or half a buffer, at a time, so every value crosses buffer
// boundaries, and expects exactly what the in-memory parse gives.
func TestStreamingMatchesInMemory(t *testing.T) {
	dir := fixturesDir(t)
	for _, name := range []string{"jaffle_shop_classic_v9", "dbt_core_state_v7", "datacoves_balboa_v12"} {
		data, err := os.ReadFile(filepath.Join(dir, name, "manifest.json"))
		if err != nil {
			t.Fatal(err)
		}
		want, err := ParseManifest(data, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range []struct {
			kind string
			fn   func() *scanner
		}{
			{"one byte", func() *scanner { return newReaderScanner(iotest.OneByteReader(strings.NewReader(string(data))), name) }},
			{"half", func() *scanner { return newReaderScanner(iotest.HalfReader(strings.NewReader(string(data))), name) }},
		} {
			got, err := parseManifest(r.fn())
			if err != nil {
				t.Fatalf("%s, %s reader: %v", name, r.kind, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s, %s reader: streamed parse differs from the in-memory one", name, r.kind)
			}
		}
	}
}

func TestManifestFields(t *testing.T) {
	dir := fixturesDir(t)
	load := func(name string) *Manifest {
		m, err := ReadManifest(filepath.Join(dir, name, "manifest.json"))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	t.Run("jaffle v9", func(t *testing.T) {
		m := load("jaffle_shop_classic_v9")
		if m.SchemaVersion != 9 || m.DbtVersion != "1.5.0" || m.ProjectName != "jaffle_shop" || m.AdapterType != "postgres" {
			t.Errorf("metadata: %d %q %q %q (project name falls back to the first model's package)", m.SchemaVersion, m.DbtVersion, m.ProjectName, m.AdapterType)
		}
		c := m.Nodes["model.jaffle_shop.customers"]
		if c == nil || c.Config.Materialized != "table" || c.RelationName != `"sales"."public"."customers"` || len(c.Columns) != 7 ||
			c.Columns[0].Name != "customer_id" || c.RawCodeHash == 0 || c.Checksum.Name != "sha256" ||
			!reflect.DeepEqual(c.DependsOn.Nodes, []string{"model.jaffle_shop.stg_customers", "model.jaffle_shop.stg_orders", "model.jaffle_shop.stg_payments"}) {
			t.Errorf("customers = %+v", c)
		}
		if !reflect.DeepEqual(m.ChildMap["model.jaffle_shop.stg_customers"], []string{"model.jaffle_shop.customers", "test.jaffle_shop.not_null_stg_customers_customer_id.e2cfb1f9aa", "test.jaffle_shop.unique_stg_customers_customer_id.c7614daada"}) {
			t.Errorf("child map of stg_customers = %v", m.ChildMap["model.jaffle_shop.stg_customers"])
		}
		rel := m.Nodes["test.jaffle_shop.relationships_orders_customer_id__customer_id__ref_customers_.c6ec7f58f2"]
		if rel == nil || rel.AttachedNode != "model.jaffle_shop.orders" || rel.TestMetadata == nil || rel.TestMetadata.Name != "relationships" ||
			rel.TestMetadata.Kwargs["to"] != "ref('customers')" || rel.Config.Severity != "ERROR" || rel.ColumnName != "customer_id" {
			t.Errorf("relationships test = %+v", rel)
		}
	})
	t.Run("flipside v4", func(t *testing.T) {
		m := load("flipside_ethereum_v4")
		n := m.Nodes["test.ethereum_models.not_null_silver__logs_BLOCK_NUMBER.f98b235d4c"]
		if n == nil || n.AttachedNode != "" || n.TestMetadata == nil || n.RawCodeHash == 0 {
			t.Errorf("v4 generic test (no attached_node, raw_sql) = %+v", n)
		}
		if m.ProjectName != "ethereum_models" || len(m.Macros) != 655 {
			t.Errorf("project %q, %d macros", m.ProjectName, len(m.Macros))
		}
	})
	t.Run("balboa v12", func(t *testing.T) {
		m := load("datacoves_balboa_v12")
		v := m.Nodes["model.balboa.stg_country_populations.v1"]
		if v == nil || v.Version != "1" || v.LatestVersion != "2" || v.Alias != "stg_country_populations_v1" || v.Config.Schema != "L1_COUNTRY_DATA" {
			t.Errorf("versioned model = %+v", v)
		}
		g := m.GroupByName("finance")
		if g == nil || g.OwnerEmail != "finance@example.com" || g.UniqueID != "group.balboa.finance" {
			t.Errorf("group finance = %+v", g)
		}
		if !reflect.DeepEqual(m.Disabled, []string{"snapshot.balboa.snp_jhu_dashboard_covid_19_global"}) {
			t.Errorf("disabled = %v", m.Disabled)
		}
		if s := m.Nodes["model.balboa.stg_pipe_usage_history"]; s.Meta["owner"] != "@alice" || s.Config.Meta["model_maturity"] != "in dev" {
			t.Errorf("meta = %v, config.meta = %v", s.Meta, s.Config.Meta)
		}
		if len(m.Exposures) != 2 || len(m.Groups) != 2 {
			t.Errorf("%d exposures, %d groups", len(m.Exposures), len(m.Groups))
		}
		for id, s := range m.Sources {
			if s.SourceName == "" || s.Name == "" || s.RelationName == "" || s.UniqueID != id {
				t.Errorf("source %s = %+v", id, s)
			}
		}
	})
}

// TestSequentialMatchesParallel parses with one CPU (nodes read in line)
// and with several (nodes parsed by workers) and expects the same result.
func TestSequentialMatchesParallel(t *testing.T) {
	dir := fixturesDir(t)
	data, err := os.ReadFile(filepath.Join(dir, "flipside_solana_v6", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	prev := runtime.GOMAXPROCS(1)
	seq, err := ParseManifest(data, "m.json")
	runtime.GOMAXPROCS(max(prev, 2))
	if err != nil {
		t.Fatal(err)
	}
	par, err := ParseManifest(data, "m.json")
	runtime.GOMAXPROCS(prev)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(seq, par) {
		t.Error("parallel parse differs from the sequential one")
	}
	if len(seq.Nodes) != 894 {
		t.Errorf("%d nodes, want 894", len(seq.Nodes))
	}
}
