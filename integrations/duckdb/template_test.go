package duckdb

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
)

var update = flag.Bool("update", false, "rewrite golden files")

// stmtTexts renders statements with templates shown as {{fn:arg}} so
// splitting can be compared as plain strings.
func stmtTexts(stmts []statement) []string {
	var out []string
	for _, st := range stmts {
		var b strings.Builder
		for _, sg := range st.segs {
			if sg.tmpl != nil {
				fmt.Fprintf(&b, "{{%s:%s:%v}}", sg.tmpl.fn, sg.tmpl.arg, sg.tmpl.inLiteral)
			} else {
				b.WriteString(sg.text)
			}
		}
		out = append(out, strings.TrimSpace(b.String()))
	}
	return out
}

func TestParseSQLSplits(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"one", "SELECT 1", []string{"SELECT 1"}},
		{"trailing semicolon", "SELECT 1;\n", []string{"SELECT 1"}},
		{"two", "CREATE TABLE t(a INT); INSERT INTO t VALUES (1)", []string{"CREATE TABLE t(a INT)", "INSERT INTO t VALUES (1)"}},
		{"semicolon in string", "SELECT 'a;b'; SELECT 2", []string{"SELECT 'a;b'", "SELECT 2"}},
		{"doubled quote in string", "SELECT 'it''s;'; SELECT 2", []string{"SELECT 'it''s;'", "SELECT 2"}},
		{"escape string", `SELECT E'a\';b'; SELECT 2`, []string{`SELECT E'a\';b'`, "SELECT 2"}},
		{"semicolon in identifier", `SELECT 1 AS "a;""b"; SELECT 2`, []string{`SELECT 1 AS "a;""b"`, "SELECT 2"}},
		{"line comment", "SELECT 1 -- a; b\n; SELECT 2", []string{"SELECT 1 -- a; b", "SELECT 2"}},
		{"block comment nested", "SELECT /* a; /* b; */ c; */ 1; SELECT 2", []string{"SELECT /* a; /* b; */ c; */ 1", "SELECT 2"}},
		{"dollar quote", "SELECT $$a;b$$; SELECT $x$;$x$", []string{"SELECT $$a;b$$", "SELECT $x$;$x$"}},
		{"parameter is not dollar quote", "SELECT $1; SELECT 2", []string{"SELECT $1", "SELECT 2"}},
		{"comment only statements dropped", "-- header\n;\n/* x */;SELECT 1;;", []string{"SELECT 1"}},
		{"empty", "  \n", nil},
		{"template", `SELECT * FROM {{ ref("raw/orders") }} WHERE d >= {{partition_start}}`, []string{`SELECT * FROM {{ref:raw/orders:false}} WHERE d >= {{partition_start::false}}`}},
		{"template in literal", `COPY t FROM '{{ env("FILE") }}'`, []string{`COPY t FROM {{env:FILE:true}}`}},
		{"template in comment ignored", "-- {{ ref(\"x\") }}\nSELECT 1", []string{"-- {{ ref(\"x\") }}\nSELECT 1"}},
		{"braces in string", `SELECT '{"a": {"b": 1}}'`, []string{`SELECT '{"a": {"b": 1}}'`}},
		{"single quoted arg", `SELECT * FROM {{ ref('a') }}`, []string{`SELECT * FROM {{ref:a:false}}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stmts, err := parseSQL(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			got := stmtTexts(stmts)
			if strings.Join(got, "\n---\n") != strings.Join(tt.want, "\n---\n") {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestParseSQLErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{"SELECT 'abc", "line 1, column 8: unterminated string literal"},
		{"SELECT\n  \"abc", "line 2, column 3: unterminated quoted identifier"},
		{"SELECT /* x", "line 1, column 8: unterminated /* comment"},
		{"SELECT $a$ x", "unterminated $a$ string"},
		{"SELECT {{ ref(\"a\")", "line 1, column 8: unterminated {{"},
		{"SELECT\n\n   {{ nope }}", "line 3, column 4: unknown template {{ nope }}"},
		{`SELECT {{ ref() }}`, "the argument must be one quoted string"},
		{`SELECT {{ ref }}`, "needs an asset key"},
		{`SELECT {{ ref("a//b") }}`, "part 2 is empty"},
		{`SELECT {{ env }}`, "needs a variable name"},
		{`SELECT {{ this("x") }}`, "takes no argument"},
		{`SELECT {{ ref("a" }}`, "missing )"},
		{`SELECT 'x{{ partition_key }}'`, "must be the whole literal"},
		{`SELECT '{{ ref("a") }}'`, "names a relation; write it outside quotes"},
		{`SELECT "{{ this }}"`, "not allowed inside quoted identifiers"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			_, err := parseSQL(tt.src)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestRefDeps(t *testing.T) {
	got, err := RefDeps(`SELECT * FROM {{ ref("raw/orders") }} o JOIN {{ref('customers')}} c USING (id)
		-- {{ ref("commented/out") }}
		UNION ALL SELECT * FROM {{ ref("raw/orders") }}`)
	if err != nil {
		t.Fatal(err)
	}
	want := []asset.Key{asset.MustKey("raw", "orders"), asset.MustKey("customers")}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("RefDeps = %v, want %v", got, want)
	}
	if _, err := RefDeps("SELECT {{ ref(\"a/\") }}"); err == nil || !strings.Contains(err.Error(), "line 1, column 8") {
		t.Errorf("error = %v, want the position", err)
	}
}

func testRenderEnv() *renderEnv {
	return &renderEnv{
		this: relation{Schema: "mart", Name: "daily"},
		ref:  func(k asset.Key) string { return Relation(k, "") },
		partition: &engine.Partition{
			Key:   "2024-01-02",
			Start: time.Date(2024, 1, 2, 0, 0, 0, 0, time.FixedZone("WIB", 7*3600)),
			End:   time.Date(2024, 1, 3, 0, 0, 0, 0, time.FixedZone("WIB", 7*3600)),
		},
		env: lookupEnv([]string{"SHARES_FILE=data/shares.csv", "TOKEN=s3cr3t'; DROP TABLE x; --"}),
	}
}

// TestRenderGolden renders every testdata/render/*.sql and compares the
// statements and their bound values with the .golden file beside it.
func TestRenderGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/render/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/render/*.sql: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			stmts, err := parseSQL(string(src))
			if err != nil {
				fmt.Fprintf(&b, "error: %v\n", err)
			}
			for i, st := range stmts {
				q, args, err := st.render(testRenderEnv(), nil)
				fmt.Fprintf(&b, "-- statement %d (%s)\n", i+1, st.pos)
				if err != nil {
					fmt.Fprintf(&b, "error: %v\n", err)
					continue
				}
				fmt.Fprintf(&b, "%s\n", q)
				for j, a := range args {
					fmt.Fprintf(&b, "-- $%d = %q\n", j+1, a)
				}
			}
			golden := strings.TrimSuffix(f, ".sql") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if b.String() != string(want) {
				t.Errorf("render mismatch for %s:\n--- got\n%s\n--- want\n%s", f, b.String(), want)
			}
		})
	}
}

func TestRenderNeedsPartition(t *testing.T) {
	e := testRenderEnv()
	e.partition = &engine.Partition{Key: "eu"}
	stmts, err := parseSQL("SELECT {{ partition_key }}, {{ partition_start }}")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := stmts[0].render(e, nil); err == nil || !strings.Contains(err.Error(), "line 1, column 29: {{ partition_start }} needs a run of a time-window partition") {
		t.Errorf("error = %v", err)
	}
	e.partition = nil
	if _, _, err := stmts[0].render(e, nil); err == nil || !strings.Contains(err.Error(), "needs a partitioned run") {
		t.Errorf("error = %v", err)
	}
	stmts, _ = parseSQL(`SELECT {{ env("MISSING") }}`)
	if _, _, err := stmts[0].render(e, nil); err == nil || !strings.Contains(err.Error(), `env("MISSING")`) {
		t.Errorf("error = %v", err)
	}
}

// source writes a parsed statement back as SQL with its templates.
func (s statement) source() string {
	var b strings.Builder
	for _, sg := range s.segs {
		t := sg.tmpl
		if t == nil {
			b.WriteString(sg.text)
			continue
		}
		expr := t.fn
		if t.fn == tmplRef || t.fn == tmplEnv {
			q := `"`
			if strings.Contains(t.arg, `"`) {
				q = "'"
			}
			expr += "(" + q + t.arg + q + ")"
		}
		if t.inLiteral {
			fmt.Fprintf(&b, "'{{ %s }}'", expr)
		} else {
			fmt.Fprintf(&b, "{{ %s }}", expr)
		}
	}
	return b.String()
}

// FuzzParseSQL checks that the splitter never panics and that splitting is
// stable: each statement, written back, parses again to one statement with
// the same templates.
func FuzzParseSQL(f *testing.F) {
	for _, s := range []string{
		"SELECT 1; SELECT 2",
		"SELECT 'a;b' -- c\n; /* d; */ SELECT \"e;\"",
		`COPY t FROM '{{ env("X") }}'; SELECT * FROM {{ ref("a/b") }}`,
		"SELECT $$;$$, $1, E'\\';'",
		"{{ partition_start }}{{",
		"/* /* */",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		stmts, err := parseSQL(src)
		if err != nil {
			return
		}
		for _, st := range stmts {
			if len(st.segs) == 0 {
				t.Fatalf("empty statement kept from %q", src)
			}
			again, err := parseSQL(st.source())
			if err != nil || len(again) != 1 || len(again[0].segs) != len(st.segs) {
				t.Fatalf("statement %q of %q does not parse back to itself: %d statements, %v", st.source(), src, len(again), err)
			}
			for _, sg := range st.segs {
				if sg.tmpl != nil && sg.tmpl.fn == tmplRef && sg.tmpl.key.IsZero() {
					t.Fatalf("ref without key from %q", src)
				}
			}
		}
		if _, err := RefDeps(src); err != nil {
			t.Fatalf("RefDeps fails where parseSQL succeeded: %v", err)
		}
	})
}
