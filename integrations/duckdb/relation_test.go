package duckdb

import (
	"strings"
	"testing"

	"github.com/eltproject/elt/asset"
)

func TestRelation(t *testing.T) {
	tests := []struct {
		key      asset.Key
		override string
		want     string
	}{
		{asset.MustKey("orders"), "", `"main"."orders"`},
		{asset.MustKey("raw", "orders"), "", `"raw"."orders"`},
		{asset.MustKey("a", "b", "c"), "", `"a_b"."c"`},
		{asset.MustKey(`we"ird name`), "", `"main"."we""ird name"`},
		{asset.MustKey("x"), "analytics.daily", `"analytics"."daily"`},
		{asset.MustKey("x"), `"my schema"."my ""t"""`, `"my schema"."my ""t"""`},
		{asset.MustKey("x"), `db.s.t`, `"db"."s"."t"`},
		{asset.MustKey("x"), ` "a.b" . c `, `"a.b"."c"`},
		{asset.MustKey("x"), `plain`, `"main"."plain"`},
		{asset.MustKey("x"), `a.b.c.d`, `"main"."a.b.c.d"`}, // invalid: quoted whole
	}
	for _, tt := range tests {
		if got := Relation(tt.key, tt.override); got != tt.want {
			t.Errorf("Relation(%s, %q) = %s, want %s", tt.key, tt.override, got, tt.want)
		}
	}
}

func TestParseRelationErrors(t *testing.T) {
	for _, s := range []string{"", "a.", ".a", `"a`, `a"b`, "a b", "a.b.c.d", `""`} {
		if _, err := parseRelation(s); err == nil {
			t.Errorf("parseRelation(%q) succeeded, want an error", s)
		}
	}
}

// FuzzParseRelation checks that a parsed relation prints as a quoted name
// that parses back to itself.
func FuzzParseRelation(f *testing.F) {
	for _, s := range []string{"a", "a.b", `"x y"."z""w"`, "c.s.t", ` a . "b" `} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseRelation(s)
		if err != nil {
			return
		}
		if r.Name == "" || r.Schema == "" {
			t.Fatalf("parseRelation(%q) = %+v with an empty part", s, r)
		}
		back, err := parseRelation(r.String())
		if err != nil || back != r {
			t.Fatalf("round trip of %q: %+v → %s → %+v, %v", s, r, r.String(), back, err)
		}
		if strings.Count(r.String(), `"`)%2 != 0 {
			t.Fatalf("unbalanced quotes in %s", r.String())
		}
	})
}
