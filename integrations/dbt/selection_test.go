package dbt

import (
	"slices"
	"strings"
	"testing"

	"github.com/eltproject/elt/asset"
	"go.yaml.in/yaml/v3"
)

func TestSelectors(t *testing.T) {
	versioned := model("model.shop.dim_customers.v2", "shop", "marts", "dim_customers", "v2")
	versioned.Key = asset.MustKey("dim_customers_v2")
	dotted := model("model.shop.dim_orders.v1.5", "shop", "dim_orders", "v1.5")
	dotted.Key = asset.MustKey("dim_orders_v1_5")
	noFQN := model("model.shop.bare", "")
	noFQN.Metadata[MetaFQN] = nil
	noFQNVersioned := model("model.shop.dim_x.v3")
	noFQNVersioned.Key = asset.MustKey("dim_x_v3")
	noFQNVersioned.Metadata[MetaFQN] = nil
	anyFQN := model("seed.shop.countries")
	anyFQN.Metadata[MetaFQN] = []any{"shop", "seeds", "countries"}
	ephemeral := model("model.shop.eph", "shop", "eph")
	ephemeral.Metadata[MetaMaterialization] = "ephemeral"
	withCheck := withTests(model("model.shop.orders", "shop", "orders"), "test.shop.unique_orders_id.abc123")
	withFQNCheck := withTests(model("model.shop.items", "shop", "items"), "test.shop.not_null_items_id.def456")
	withFQNCheck.Checks[0].Metadata[MetaFQN] = []string{"shop", "schema", "not_null_items_id"}
	sqlCheck := model("model.shop.lines", "shop", "lines")
	sqlCheck.Checks = []asset.CheckSpec{{Name: "row_count", Runner: "duckdb", Metadata: map[string]any{MetaUniqueID: "x"}}}

	tests := []struct {
		name    string
		command string
		specs   []asset.Spec
		want    string
		unrun   int
	}{
		{"model fqn", "run", []asset.Spec{model("model.shop.stg_orders", "shop", "staging", "stg_orders")}, "fqn:shop.staging.stg_orders", 0},
		{"versioned model keeps its version part", "run", []asset.Spec{versioned}, "fqn:shop.marts.dim_customers.v2,package:shop", 0},
		{"dotted version", "run", []asset.Spec{dotted}, "fqn:shop.dim_orders.v1.5,package:shop", 0},
		{"fqn as []any", "build", []asset.Spec{anyFQN}, "fqn:shop.seeds.countries", 0},
		{"no fqn: name from unique_id", "run", []asset.Spec{noFQN}, "fqn:bare", 0},
		{"no fqn, versioned", "run", []asset.Spec{noFQNVersioned}, "fqn:dim_x.v3", 0},
		{"ephemeral is not selected", "run", []asset.Spec{ephemeral, model("model.shop.a", "shop", "a")}, "fqn:shop.a", 0},
		{"build selects check tests", "build", []asset.Spec{withCheck}, "fqn:shop.orders fqn:unique_orders_id,resource_type:test", 0},
		{"check test with fqn", "build", []asset.Spec{withFQNCheck}, "fqn:shop.items fqn:shop.schema.not_null_items_id", 0},
		{"run selects no tests", "run", []asset.Spec{withCheck}, "fqn:shop.orders", 0},
		{"test selects only tests", "test", []asset.Spec{withCheck}, "fqn:unique_orders_id,resource_type:test", 0},
		{"checks of other runners are not dbt tests", "build", []asset.Spec{sqlCheck}, "fqn:shop.lines", 0},
		{"snapshot command skips models", "snapshot", []asset.Spec{model("model.shop.a", "shop", "a"), model("snapshot.shop.s", "shop", "s", "s")}, "fqn:shop.s.s", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := request(t, tc.specs)
			p, err := newPlan(req, tc.command, newFQNIndex(specNodes(tc.specs)))
			if err != nil {
				t.Fatal(err)
			}
			if got := joinSelectors(p.selects); got != tc.want {
				t.Errorf("select = %q, want %q", got, tc.want)
			}
			if len(p.unrun) != tc.unrun {
				t.Errorf("unrun = %v", p.unrun)
			}
		})
	}
}

// TestSelectorPrefixExclusion: dbt's fqn method selects by prefix, so
// selecting shop.staging.orders also reaches a model in a folder named
// staging/orders/; the runner excludes what was not asked for.
func TestSelectorPrefixExclusion(t *testing.T) {
	all := []asset.Spec{
		model("model.shop.orders", "shop", "staging", "orders"),
		model("model.shop.order_lines", "shop", "staging", "orders", "order_lines"),
		model("model.shop.customers", "shop", "staging", "customers"),
	}
	req, _ := request(t, all[:1])
	p, err := newPlan(req, "run", newFQNIndex(specNodes(all)))
	if err != nil {
		t.Fatal(err)
	}
	got := p.selectArgs()
	want := []string{"--select", "fqn:shop.staging.orders", "--exclude", "fqn:shop.staging.orders.order_lines"}
	if !slices.Equal(got, want) {
		t.Errorf("args = %q, want %q", got, want)
	}
	// Both requested: nothing to exclude.
	req, _ = request(t, all[:2])
	p, _ = newPlan(req, "run", newFQNIndex(specNodes(all)))
	if len(p.exclude) != 0 {
		t.Errorf("exclude = %v", p.exclude)
	}
	y, err := p.selectorsYAML("")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(y), "indirect_selection") {
		t.Errorf("run needs no indirect selection:\n%s", y)
	}

	// Version 2 of a model is a prefix of version 2.1 once dbt flattens
	// the dots; both carry the package intersection.
	v2 := model("model.shop.dim.v2", "shop", "dim", "v2")
	v2.Key = asset.MustKey("dim_v2")
	v21 := model("model.shop.dim.v2.1", "shop", "dim", "v2.1")
	v21.Key = asset.MustKey("dim_v2_1")
	req, _ = request(t, []asset.Spec{v2})
	p, _ = newPlan(req, "run", newFQNIndex(specNodes([]asset.Spec{v2, v21})))
	got = p.selectArgs()
	want = []string{"--select", "fqn:shop.dim.v2,package:shop", "--exclude", "fqn:shop.dim.v2.1,package:shop"}
	if !slices.Equal(got, want) {
		t.Errorf("versioned args = %q, want %q", got, want)
	}
	y, _ = p.selectorsYAML("")
	if !strings.Contains(string(y), "method: package") {
		t.Errorf("the selectors file must keep the package intersection:\n%s", y)
	}
}

func TestSelectorsYAMLShape(t *testing.T) {
	all := []asset.Spec{
		withTests(model("model.shop.orders", "shop", "staging", "orders"), "test.shop.unique_orders_id.1"),
		model("model.shop.order_lines", "shop", "staging", "orders", "order_lines"),
	}
	req, _ := request(t, all[:1])
	p, err := newPlan(req, "build", newFQNIndex(specNodes(all)))
	if err != nil {
		t.Fatal(err)
	}
	y, err := p.selectorsYAML("empty")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string][]struct {
		Name       string
		Definition map[string][]map[string]any
	}
	if err := yaml.Unmarshal(y, &doc); err != nil {
		t.Fatal(err)
	}
	union := doc["selectors"][0].Definition["union"]
	if len(union) != 3 {
		t.Fatalf("want model, test and exclude in the union:\n%s", y)
	}
	if union[0]["method"] != "fqn" || union[0]["value"] != "shop.staging.orders" || union[0]["indirect_selection"] != "empty" {
		t.Errorf("model: %v", union[0])
	}
	inter, _ := union[1]["intersection"].([]any)
	if len(inter) != 2 {
		t.Errorf("test selector should be an intersection with resource_type:test: %v", union[1])
	}
	ex, _ := union[2]["exclude"].([]any)
	if len(ex) != 1 || ex[0].(map[string]any)["value"] != "shop.staging.orders.order_lines" {
		t.Errorf("exclude: %v", union[2])
	}
}

func TestPlanErrors(t *testing.T) {
	s := model("model.shop.a", "shop", "a")
	delete(s.Metadata, MetaUniqueID)
	req, _ := request(t, []asset.Spec{s})
	if _, err := newPlan(req, "build", nil); err == nil || !strings.Contains(err.Error(), "asset a has no \"unique_id\"") {
		t.Errorf("err = %v", err)
	}
	req.Specs = nil
	if _, err := newPlan(req, "build", nil); err == nil || !strings.Contains(err.Error(), "no spec") {
		t.Errorf("err = %v", err)
	}
}

// TestVersionedAcrossPackages: dbt's fqn method matches a versioned model
// on its name and version alone, so version 2 of dim in package a would
// also select version 2 of dim in package b without the package
// intersection.
func TestVersionedAcrossPackages(t *testing.T) {
	a := model("model.a.dim.v2", "a", "marts", "dim", "v2")
	a.Key = asset.MustKey("a_dim_v2")
	b := model("model.b.dim.v2", "b", "core", "dim", "v2")
	b.Key = asset.MustKey("b_dim_v2")
	req, _ := request(t, []asset.Spec{a})
	p, err := newPlan(req, "run", newFQNIndex(specNodes([]asset.Spec{a, b})))
	if err != nil {
		t.Fatal(err)
	}
	if !selects(p.selects, "model.a.dim.v2", "model", []string{"a", "marts", "dim", "v2"}) {
		t.Errorf("a's dim v2 is not selected by %v", p.selects)
	}
	if selects(p.selects, "model.b.dim.v2", "model", []string{"b", "core", "dim", "v2"}) {
		t.Errorf("b's dim v2 is selected too by %v", p.selects)
	}
}

// TestUnitTestsAreExcluded: dbt puts a model's unit tests under the
// model's fqn, so selecting the model would run them too.
func TestUnitTestsAreExcluded(t *testing.T) {
	all := []asset.Spec{model("model.shop.orders", "shop", "marts", "orders")}
	known := append(specNodes(all), knownNode{uid: "unit_test.shop.orders.test_totals", fqn: []string{"shop", "marts", "orders", "test_totals"}})
	req, _ := request(t, all)
	p, err := newPlan(req, "build", newFQNIndex(known))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.selectArgs(), " "); !strings.Contains(got, "--exclude") || !strings.Contains(got, "test_totals") {
		t.Fatalf("args %q do not exclude the unit test", got)
	}
}
