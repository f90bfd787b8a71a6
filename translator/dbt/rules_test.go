package dbt

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/eltproject/elt/asset"
	dbtmanifest "github.com/eltproject/elt/manifest/dbt"
)

func loadShop(t *testing.T) *dbtmanifest.Manifest {
	t.Helper()
	m, err := dbtmanifest.ReadManifest("testdata/shop_manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTranslateRules(t *testing.T) {
	m := loadShop(t)
	specs, err := Translate(m, Options{Family: "dbt:shop", ModelKeyPrefix: []string{"dw"}, SourceKeyPrefix: []string{"src"}})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, s := range specs {
		keys = append(keys, s.Key.String())
	}
	slices.Sort(keys)
	want := []string{"dw/dim_v2", "dw/marts/mart_a", "dw/orders", "dw/raw_orders", "dw/stg_orders", "src/shop/orders_src", "warehouse/custom"}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys = %v, want %v (no ephemeral, analysis, operation or test assets)", keys, want)
	}
	tests := []struct {
		key, deps, group, owners string
		external                 bool
		checks                   string // name:blocking:severity, sorted
	}{
		{key: "dw/orders", deps: "dw/raw_orders dw/stg_orders", group: "finance", owners: "fin@example.com",
			checks: "assert_orders_match:true:error not_null_orders_id:false:warn relationships_orders_id__id__ref_stg_orders_:true:error"},
		{key: "dw/stg_orders", deps: "src/shop/orders_src", checks: "assert_stg_ok:true:error"},
		{key: "warehouse/custom", deps: "dw/orders", group: "special", owners: "ann@example.com"},
		{key: "dw/dim_v2", deps: "dw/orders"},
		{key: "dw/marts/mart_a", deps: "dw/orders"},
		{key: "src/shop/orders_src", group: "raw", external: true},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			s := specByKey(t, specs, tc.key)
			if got := keyStrings(s.Deps); got != tc.deps {
				t.Errorf("deps = %q, want %q", got, tc.deps)
			}
			if s.Group != tc.group || strings.Join(s.Owners, " ") != tc.owners {
				t.Errorf("group, owners = %q, %v; want %q, %q", s.Group, s.Owners, tc.group, tc.owners)
			}
			if s.External != tc.external || (s.Step == "") != tc.external {
				t.Errorf("external = %v, step = %q", s.External, s.Step)
			}
			var checks []string
			for _, c := range s.Checks {
				checks = append(checks, c.Name+":"+boolText(c.Blocking)+":"+c.Severity)
				if c.Runner != "" || c.Metadata[MetaUniqueID] == nil {
					t.Errorf("check %s: runner %q, metadata %v", c.Name, c.Runner, c.Metadata)
				}
			}
			if got := strings.Join(checks, " "); got != tc.checks {
				t.Errorf("checks = %q, want %q", got, tc.checks)
			}
			for _, k := range []string{MetaUniqueID, MetaFQN, MetaResourceType, MetaMaterialization, MetaColumns, MetaOriginalFilePath, MetaRelation} {
				if _, ok := s.Metadata[k]; !ok {
					t.Errorf("metadata has no %q", k)
				}
			}
			if !slices.Contains(s.Kinds, "dbt") || !slices.Contains(s.Kinds, "duckdb") {
				t.Errorf("kinds = %v", s.Kinds)
			}
		})
	}
	stg := specByKey(t, specs, "dw/stg_orders")
	if stg.Origin != "dbt model.shop.stg_orders (models/staging/stg_orders.sql)" || stg.CodeVersion != "c-stg_orders" {
		t.Errorf("origin %q, code version %q", stg.Origin, stg.CodeVersion)
	}
	cols, _ := stg.Metadata[MetaColumns].([]dbtmanifest.Column)
	if len(cols) != 1 || cols[0] != (dbtmanifest.Column{Name: "id", DataType: "integer", Description: "Order id"}) {
		t.Errorf("columns = %#v", stg.Metadata[MetaColumns])
	}
	if _, err := asset.NewGraph(specs, asset.GraphOptions{StrictDeps: true}); err != nil {
		t.Errorf("graph: %v", err)
	}
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func TestSourceTests(t *testing.T) {
	m := loadShop(t)
	specs, err := Translate(m, Options{SourceTests: true})
	if err != nil {
		t.Fatal(err)
	}
	src := specByKey(t, specs, "shop/orders_src")
	if len(src.Checks) != 1 || src.Checks[0].Name != "source_not_null_shop_orders_src_id" {
		t.Errorf("source checks = %+v", src.Checks)
	}
}

func TestSelectImport(t *testing.T) {
	m := loadShop(t)
	tests := []struct {
		sel, excl []string
		want      string
		wantErr   string
	}{
		{sel: []string{"staging"}, want: "shop/orders_src stg_orders"},
		{sel: []string{"tag:nightly"}, want: "orders"},
		{sel: []string{"path:models/marts"}, want: "orders"},
		{sel: []string{"shop.marts.*"}, want: "orders"},
		{sel: []string{"marts"}, want: "orders"},
		{sel: []string{"stg_*", "resource_type:seed"}, want: "raw_orders shop/orders_src stg_orders"},
		{sel: []string{"tag:nightly,path:models/staging"}, wantErr: "matches nothing"},
		{sel: []string{"dim"}, want: "dim_v2"},
		{excl: []string{"tag:staging", "resource_type:source"}, want: "dim_v2 marts/mart_a orders raw_orders warehouse/custom"},
		{sel: []string{"+orders"}, wantErr: "graph operators"},
		{sel: []string{"colour:red"}, wantErr: "unknown method"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.sel, "|")+"-"+strings.Join(tc.excl, "|"), func(t *testing.T) {
			specs, err := Translate(m, Options{Select: tc.sel, Exclude: tc.excl})
			if tc.wantErr == "matches nothing" {
				if err == nil && len(specs) == 0 {
					return
				}
			}
			if tc.wantErr != "" && tc.wantErr != "matches nothing" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, s := range specs {
				// Deps on assets outside the selection stay as deps; only
				// count what was imported.
				keys = append(keys, s.Key.String())
			}
			slices.Sort(keys)
			if tc.wantErr == "matches nothing" {
				t.Fatalf("got %v, want nothing", keys)
			}
			if got := strings.Join(keys, " "); got != tc.want {
				t.Errorf("imported %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDuplicateKeys(t *testing.T) {
	data, err := os.ReadFile("testdata/shop_manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	// Give mart_a the key of orders' neighbour: [warehouse, custom].
	s := strings.Replace(string(data), `"config": {
    "enabled": true,
    "materialized": "table",
    "schema": "marts"`, `"meta": {"elt": {"asset_key": ["warehouse", "custom"]}}, "config": {
    "enabled": true,
    "materialized": "table",
    "schema": "marts"`, 1)
	if s == string(data) {
		t.Fatal("fixture edit did not apply")
	}
	m, err := dbtmanifest.ParseManifest([]byte(s), "dup.json")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Translate(m, Options{})
	if err == nil {
		t.Fatal("want a duplicate key error")
	}
	for _, want := range []string{"warehouse/custom", "model.shop.custom (models/custom.sql)", "model.shop.mart_a (models/mart_a.sql)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestFixtureFacts pins the facts checked by hand in the golden files.
func TestFixtureFacts(t *testing.T) {
	jaffle, err := Translate(loadFixture(t, "jaffle_shop_classic_v9"), Options{Family: "dbt:jaffle_shop"})
	if err != nil {
		t.Fatal(err)
	}
	if got := keyStrings(specByKey(t, jaffle, "customers").Deps); got != "stg_customers stg_orders stg_payments" {
		t.Errorf("customers deps = %q", got)
	}
	orders := specByKey(t, jaffle, "orders")
	if c, ok := orders.Check("relationships_orders_customer_id__customer_id__ref_customers_"); !ok || !c.Blocking || c.Severity != "error" {
		t.Errorf("relationships check on orders = %+v, %v (severity ERROR in the manifest)", c, ok)
	}
	balboa, err := Translate(loadFixture(t, "datacoves_balboa_v12"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"stg_country_populations_v1", "stg_country_populations_v2", "stg_country_populations_v3"} {
		specByKey(t, balboa, k)
	}
	cp := specByKey(t, balboa, "L2_COUNTRY_DEMOGRAPHICS/country_population")
	if cp.Group != "marketing" || strings.Join(cp.Owners, ",") != "markeeting@example.com" || keyStrings(cp.Deps) != "stg_country_populations_v2" {
		t.Errorf("country_population: group %q owners %v deps %v", cp.Group, cp.Owners, cp.Deps)
	}
	// flipside v4 has no attached_node: generic tests find their model
	// through depends_on; the singular test with two parents is dropped.
	flip, err := Translate(loadFixture(t, "flipside_ethereum_v4"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	checks := 0
	for _, s := range flip {
		checks += len(s.Checks)
		if _, ok := s.Check("silver__transactions__tx-gap"); ok {
			t.Errorf("multi-parent test attached to %s", s.Key)
		}
	}
	if checks != 600 {
		t.Errorf("%d checks, want 600 (601 tests, one with two parents and no meta ref)", checks)
	}
	// solana v6: generic tests with two parents (the model and a seed of
	// expected rows) go to the model named in their "model" argument.
	sol, err := Translate(loadFixture(t, "flipside_solana_v6"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sol {
		if _, ok := s.Check("silver__nft_mints_business_logic_test"); ok && s.Key.Last() != "silver__nft_mints" {
			t.Errorf("two-parent generic test attached to %s", s.Key)
		}
	}
	if _, ok := specByKey(t, sol, "silver__nft_mints").Check("silver__nft_mints_business_logic_test"); !ok {
		t.Error("silver__nft_mints has no business logic check")
	}
}

func TestBadMetaKey(t *testing.T) {
	m := loadShop(t)
	m.Nodes["model.shop.orders"].Meta = map[string]any{"dagster": map[string]any{"asset_key": []any{"a/b"}}}
	_, err := Translate(m, Options{})
	if err == nil || !strings.Contains(err.Error(), "model.shop.orders (models/marts/orders.sql)") || !strings.Contains(err.Error(), "contains") {
		t.Errorf("err = %v", err)
	}
}

// TestNonUTF8Name: a model named with a byte that is not UTF-8 would list
// under another key (JSON turns the byte into U+FFFD); it is refused with
// the node that holds it.
func TestNonUTF8Name(t *testing.T) {
	b, err := os.ReadFile("testdata/shop_manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.ReplaceAll(b, []byte("orders"), []byte("or\xacders"))
	m, err := dbtmanifest.ParseManifest(b, "manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Translate(m, Options{})
	if err == nil || !strings.Contains(err.Error(), "not valid UTF-8") || !strings.Contains(err.Error(), `or\xacders`) || !strings.Contains(err.Error(), "model.shop.") {
		t.Fatalf("err = %v", err)
	}
}
