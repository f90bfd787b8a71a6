package lineage

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// testTables are the tables the column lineage tests read: orders has a
// known schema, customers too, events has none (columns unknown).
func testResolver(t TableRef) (DatasetID, []string) {
	ds := DatasetID{Namespace: "duckdb:///w.duckdb", Name: "w.main." + strings.ToLower(t.Name)}
	switch strings.ToLower(t.Name) {
	case "orders":
		return ds, []string{"id", "customer_id", "amount", "status", "ordered_at"}
	case "customers":
		return ds, []string{"id", "name", "country"}
	}
	return ds, nil
}

func TestColumnLineageGolden(t *testing.T) {
	cases := []struct{ name, sql string }{
		{"identity_alias", `SELECT id, amount AS total FROM orders`},
		{"table_alias_join", `SELECT o.id, c.name AS customer FROM orders o JOIN customers c ON o.customer_id = c.id WHERE o.status = 'paid'`},
		{"aggregate_group_by", `SELECT customer_id, sum(amount) AS revenue, count(*) AS n FROM orders GROUP BY 1 ORDER BY revenue DESC`},
		{"cte_and_subquery", `WITH paid AS (SELECT id, amount FROM orders WHERE status = 'paid')
			SELECT s.id, s.doubled FROM (SELECT id, amount * 2 AS doubled FROM paid) AS s`},
		{"case_and_functions", `SELECT CASE WHEN amount > 100 THEN upper(status) ELSE 'small' END AS size, ordered_at::DATE AS day FROM orders`},
		{"star_known", `SELECT * EXCLUDE (ordered_at) FROM orders`},
		{"star_qualified_join", `SELECT c.*, o.amount FROM customers c LEFT JOIN orders o USING (id)`},
		{"unknown_schema", `SELECT e.kind, count(DISTINCT e.user_id) AS users FROM events e GROUP BY e.kind`},
		{"union", `SELECT id, amount FROM orders UNION ALL SELECT id, 0 FROM customers`},
		{"window", `SELECT id, row_number() OVER (PARTITION BY customer_id ORDER BY ordered_at) AS rn FROM orders`},
		{"scalar_subquery", `SELECT id, (SELECT max(amount) FROM orders o2 WHERE o2.customer_id = c.id) AS top FROM customers c`},
	}
	p := &Parser{}
	defer p.Close()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl, err := p.ColumnLineage(context.Background(), tc.sql, testResolver, nil)
			if err != nil {
				t.Fatalf("ColumnLineage: %v", err)
			}
			got, _ := json.MarshalIndent(cl, "", "  ")
			golden(t, filepath.Join("testdata", "columns", tc.name+".json"), got)
		})
	}
}

func TestColumnLineageErrors(t *testing.T) {
	cases := []struct{ name, sql, want string }{
		{"syntax", `SELEC id FROM orders`, "cannot parse"},
		{"not_select", `CREATE TABLE x AS SELECT 1`, "cannot parse"},
		{"star_unknown", `SELECT * FROM events`, "not known"},
		{"ambiguous", `SELECT kind FROM events JOIN other ON true`, "several tables"},
		{"two_statements", `SELECT 1; SELECT 2`, "one SELECT"},
		{"table_function", `SELECT * FROM read_csv('x.csv')`, "not supported"},
	}
	p := &Parser{}
	defer p.Close()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.ColumnLineage(context.Background(), tc.sql, testResolver, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestColumnLineageNamesFromTable(t *testing.T) {
	p := &Parser{}
	defer p.Close()
	cl, err := p.ColumnLineage(context.Background(), `SELECT id + 1, amount FROM orders`, testResolver, []string{"(id + 1)", "amount"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cl.Fields["(id + 1)"]; !ok {
		t.Fatalf("fields %v lack the table's name for the unnamed column", cl.Fields)
	}
	if _, err := p.ColumnLineage(context.Background(), `SELECT id FROM orders`, testResolver, []string{"a", "b"}); err == nil {
		t.Fatal("want an error when the table has more columns than the query")
	}
}

// golden compares got with the file, or rewrites it under -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./lineage -update to create it)", err)
	}
	if strings.TrimSpace(string(want)) != strings.TrimSpace(string(got)) {
		t.Errorf("%s differs:\n got: %s\nwant: %s", path, got, want)
	}
}
