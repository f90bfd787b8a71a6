package project

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestBadShapesAndLimits: input that used to be accepted (an undeclared
// pool, a negative concurrency) or refused in the YAML library's words is
// a project.Error (exit 2) at the right line, saying what to write.
func TestBadShapesAndLimits(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		line       int
		want       []string
	}{
		{"undeclared pool", `name: p
pools: {warehouse: 2}
assets:
  - {key: a, command: "true", pool: warehous}
`, 4, []string{`pool "warehous" is not declared`, `did you mean "warehouse"?`, "add it under pools:"}},
		{"pool with no pools", `name: p
assets:
  - key: a
    command: "true"
    pool: [db]
`, 3, []string{`a: pool "db" is not declared`, "no pools are declared"}},
		{"pool limit 0", `name: p
pools:
  db: 0
assets:
  - {key: a, command: "true", pool: db}
`, 3, []string{`pool "db" has limit 0`, "1 or more"}},
		{"negative concurrency", `name: p
concurrency: -3
assets:
  - {key: a, command: "true"}
`, 2, []string{"concurrency: -3", "1 or more"}},
		{"assets as a mapping", `name: p
assets: {a: 1}
`, 2, []string{"assets must be a list", "found a mapping"}},
		{"assets as a word", `name: p
assets: lots
`, 2, []string{"assets must be a list", `found "lots"`}},
		{"sensor interval", `name: p
assets:
  - {key: a, command: "true"}
sensors:
  s: {type: file, path: "in/*.csv", select: a, interval: soon}
`, 5, []string{`sensors.s.interval: "soon" is not a duration`, "30s, 5m or 1h"}},
		{"resources as a list", `name: p
resources: [a, b]
assets:
  - {key: a, command: "true"}
`, 2, []string{"resources must be a mapping", "found a list"}},
		{"openlineage bad type", `name: p
openlineage:
  namespace: ns
  transport:
    type: kafka
assets:
  - {key: a, command: "true"}
`, 5, []string{"openlineage: transport.type:", `"kafka" is not http, file or console`}},
		{"openlineage bad url", `name: p
openlineage:
  namespace: ns
  transport:
    type: http
    url: ftp://host/x
assets:
  - {key: a, command: "true"}
`, 6, []string{"openlineage: transport.url:", "not an http(s) URL", "write url: http://host:5000"}},
		{"openlineage http without url", `name: p
openlineage:
  namespace: ns
  transport:
    endpoint: api/v1/lineage
    type: http
assets:
  - {key: a, command: "true"}
`, 6, []string{"openlineage: transport.url:", "needs url", "write url: http://host:5000"}},
		{"openlineage file without path", `name: p
openlineage:
  namespace: ns
  transport:
    type: file
assets:
  - {key: a, command: "true"}
`, 5, []string{"openlineage: transport.path:", "needs path", "add path:, e.g. .elt/lineage.jsonl"}},
		{"openlineage blank namespace", `name: p
openlineage:
  transport:
    type: console
  namespace: " "
assets:
  - {key: a, command: "true"}
`, 5, []string{"openlineage: namespace:", "without leading or trailing spaces"}},
		{"check relation empty name", `name: p
resources:
  wh: {type: duckdb, path: wh.duckdb}
assets:
  - key: a
    command: "true"
    checks:
      - {type: row_count, min: 1, relation: "a..b"}
`, 8, []string{`asset a: check row_count: relation "a..b": empty name at offset 2; write schema.table, and double-quote names that contain dots`}},
		{"check relation unterminated quote", `name: p
resources:
  wh: {type: duckdb, path: wh.duckdb}
assets:
  - key: a
    command: "true"
    checks:
      - type: row_count
        name: has_rows
        min: 1
        relation: '"a.b'
`, 8, []string{`asset a: check has_rows: relation "\"a.b": unterminated quoted name`, `end it with a double quote`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.body, nil)
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v (%T), want a project.Error", err, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, fmt.Sprintf("elt.yaml:%d: ", tc.line)) {
				t.Errorf("no elt.yaml:%d in %q", tc.line, msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q lacks %q", msg, w)
				}
			}
			if strings.Contains(msg, "check: check") || strings.Contains(msg, "check relation") {
				t.Errorf("repeated words: %q", msg)
			}
			if strings.Contains(msg, "something else belongs") {
				t.Errorf("the YAML library's words leaked: %q", msg)
			}
		})
	}
	// Declared pools, elt's own duckdb pools and a positive concurrency
	// stay accepted.
	if _, err := load(t, `name: p
concurrency: 2
pools: {db: 1}
assets:
  - {key: a, command: "true", pool: db}
  - {key: b, command: "true", timeout: 90s}
`, nil); err != nil {
		t.Fatal(err)
	}
}
