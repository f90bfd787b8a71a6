package lineage

import (
	"context"
	"strings"
	"testing"
)

// FuzzColumnLineage: any SQL either yields lineage whose inputs are
// datasets the resolver named, or an error; never a panic.
func FuzzColumnLineage(f *testing.F) {
	for _, s := range []string{
		`SELECT o.id, c.name FROM orders o JOIN customers c ON o.customer_id = c.id`,
		`WITH a AS (SELECT * FROM orders) SELECT sum(amount) FROM a GROUP BY ALL`,
		`SELECT * EXCLUDE (id) FROM (SELECT * FROM customers) s ORDER BY 1`,
		`SELECT list_transform([1,2], x -> x + amount) FROM orders`,
		`SELECT id FROM orders UNION SELECT id FROM events QUALIFY row_number() OVER () = 1`,
		`SELECT`, `SELECT 1 GROUP BY 2`, `FROM orders`, `SELECT COLUMNS('a.*') FROM orders`,
	} {
		f.Add(s)
	}
	p := &Parser{}
	f.Cleanup(func() { _ = p.Close() })
	f.Fuzz(func(t *testing.T, sql string) {
		cl, err := p.ColumnLineage(context.Background(), sql, testResolver, nil)
		if err != nil {
			return
		}
		for name, in := range cl.Fields {
			for _, f := range in {
				if !strings.HasPrefix(f.Name, "w.main.") || len(f.Transformations) == 0 {
					t.Fatalf("column %s: input %+v", name, f)
				}
			}
		}
	})
}

// FuzzSplitRelation: parts joined back with quoting give the same parts.
func FuzzSplitRelation(f *testing.F) {
	for _, s := range []string{`"main"."orders"`, `a.b.c`, `"we""ird"."x.y"`, ``, `"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		parts := SplitRelation(s)
		q := make([]string, len(parts))
		for i, p := range parts {
			q[i] = `"` + strings.ReplaceAll(p, `"`, `""`) + `"`
		}
		again := SplitRelation(strings.Join(q, "."))
		if strings.Join(again, "\x00") != strings.Join(parts, "\x00") {
			t.Fatalf("%q: %q then %q", s, parts, again)
		}
	})
}
