package dbt

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/eltproject/elt/asset"
	dbtmanifest "github.com/eltproject/elt/manifest/dbt"
)

func TestStateSelector(t *testing.T) {
	data, err := os.ReadFile("testdata/shop_manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	prev, err := dbtmanifest.ParseManifest(data, "prev.json")
	if err != nil {
		t.Fatal(err)
	}
	// stg_orders' SQL changes; the singular test on stg_orders changes;
	// the warn test on orders becomes an error test.
	edited := strings.Replace(string(data), `"raw_code": "select 1",
   "checksum": {
    "name": "sha256",
    "checksum": "c-stg_orders"`, `"raw_code": "select 2",
   "checksum": {
    "name": "sha256",
    "checksum": "c-stg_orders2"`, 1)
	edited = strings.Replace(edited, `"checksum": "c-assert_stg_ok"`, `"checksum": "c-assert_stg_ok2"`, 1)
	if strings.Count(edited, "c-stg_orders2") != 1 {
		t.Fatal("fixture edit did not apply")
	}
	cur, err := dbtmanifest.ParseManifest([]byte(edited), "cur.json")
	if err != nil {
		t.Fatal(err)
	}
	specs, err := Translate(cur, Options{Family: "dbt:shop"})
	if err != nil {
		t.Fatal(err)
	}
	g, err := asset.NewGraph(specs, asset.GraphOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sel := asset.Selector{Graph: g, Methods: StateMethods(dbtmanifest.Compare(cur, prev))}
	tests := []struct {
		expr, want, wantErr string
	}{
		{expr: "state:modified", want: "stg_orders"},
		{expr: "state:modified.body", want: "stg_orders"},
		{expr: "state:modified+", want: "custom dim_v2 mart_a orders stg_orders"},
		{expr: "state:modified.configs", wantErr: "matches no asset"},
		{expr: "state:new", wantErr: "matches no asset"},
		{expr: "state:changed", wantErr: `unknown state "changed"`},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			set, err := sel.Select([]string{tc.expr}, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, k := range g.SetKeys(set) {
				got = append(got, k.Last())
			}
			slices.Sort(got)
			if strings.Join(got, " ") != tc.want {
				t.Errorf("selected %v, want %q", got, tc.want)
			}
		})
	}
	// A check's test that changed selects the asset it checks, even when
	// the asset itself did not change.
	cur2, err := dbtmanifest.ParseManifest(data, "cur2.json")
	if err != nil {
		t.Fatal(err)
	}
	cur2.Nodes["test.shop.not_null_orders_id.abc"].Unrendered = `{"severity": "error"}`
	d := dbtmanifest.Compare(cur2, prev)
	if !d.Modified("configs")["test.shop.not_null_orders_id.abc"] {
		t.Fatalf("test config change not detected: %v", d)
	}
	specs2, _ := Translate(cur2, Options{})
	g2, _ := asset.NewGraph(specs2, asset.GraphOptions{})
	set, err := StateSelector(d)(g2, "modified.configs")
	if err != nil {
		t.Fatal(err)
	}
	if keys := g2.SetKeys(set); len(keys) != 1 || keys[0].String() != "orders" {
		t.Errorf("modified.configs selects %v, want orders (through its check)", keys)
	}
}
