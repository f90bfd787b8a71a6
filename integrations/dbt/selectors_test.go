package dbt

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/eltproject/elt/asset"
)

// selectorGraph is a small graph: a → b → c, with tags.
func selectorGraph(t testing.TB) *asset.Graph {
	t.Helper()
	g, err := asset.NewGraph([]asset.Spec{
		{Key: asset.MustKey("a"), Tags: []string{"raw"}},
		{Key: asset.MustKey("b"), Deps: []asset.Key{asset.MustKey("a")}, Tags: []string{"mart"}},
		{Key: asset.MustKey("c"), Deps: []asset.Key{asset.MustKey("b")}, Tags: []string{"mart", "late"}},
	}, asset.GraphOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func evalSelectors(t testing.TB, yml, name string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "selectors.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	g := selectorGraph(t)
	set, err := EvalSelector(Config{ProjectDir: dir}, "/", name, &asset.Selector{Graph: g})
	if err != nil {
		return "", err
	}
	var keys []string
	for _, k := range g.SetKeys(set) {
		keys = append(keys, k.String())
	}
	return strings.Join(keys, " "), nil
}

func TestEvalSelector(t *testing.T) {
	for _, tc := range []struct{ name, def, want string }{
		{"string", `"tag:mart"`, "b c"},
		{"method", "{method: tag, value: late, parents: true}", "a b c"},
		{"depth", "{method: tag, value: raw, children_depth: 1}", "a b"},
		{"childrens_parents", "{method: key, value: b, childrens_parents: true}", "a b c"},
		{"short", "{tag: raw}", "a"},
		{"union", "{union: [{tag: raw}, {tag: late}]}", "a c"},
		{"intersection", "{intersection: [{tag: mart}, {tag: late}]}", "c"},
		{"exclude item", "{union: [{tag: mart}, {exclude: [c]}]}", "b"},
		{"exclude key", "{method: tag, value: mart, exclude: [{tag: late}]}", "b"},
		{"selector", "{method: selector, value: other}", "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := evalSelectors(t, "selectors:\n  - name: s\n    definition: "+tc.def+"\n  - name: other\n    definition: {tag: raw}\n", "s")
			if err != nil || got != tc.want {
				t.Errorf("%s: %q, %v; want %q", tc.def, got, err, tc.want)
			}
		})
	}
	for _, tc := range []struct{ def, want string }{
		{"{method: selector, value: s}", `selectors.yml:3: selector "s" refers to itself through s → s`},
		{"{method: tag, value: x, parents: maybe}", `selectors.yml:3: "maybe" is not true or false`},
		{"{method: tag, value: x, children_depth: -1}", "depth \"-1\" must be a whole number"},
		{"{union: [{exclude: [a]}]}", "union lists no definition to select from"},
		{"{union: [a], method: tag}", "union stands alone"},
		{"{value: x, parents: true}", "needs method: and value:"},
		{"{method: tag, value: x, colour: red}", `unknown selector key "colour"`},
		{"[a]", "a selector definition is a string"},
		{"{method: selector}", "selectors.yml:3: method: selector needs value:"},
		{"{method: selector, value: nope}", `selectors.yml:3: has no selector "nope"; it defines: s`},
	} {
		_, err := evalSelectors(t, "selectors:\n  - name: s\n    definition: "+tc.def+"\n", "s")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.def, err, tc.want)
			continue
		}
		checkSelectorsErrorShape(t, err)
	}
}

// selectorsLine is the one place of an error in selectors.yml.
var selectorsLine = regexp.MustCompile(`selectors\.yml:[1-9][0-9]*: `)

// checkSelectorsErrorShape asserts err names the file and a line exactly
// once, at its start (<path>:<line>: <message>).
func checkSelectorsErrorShape(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	if n := len(selectorsLine.FindAllStringIndex(msg, -1)); n != 1 {
		t.Errorf("%v: names selectors.yml:<line> %d times, want exactly once", err, n)
	}
	if strings.Count(msg, "selectors.yml") != 1 {
		t.Errorf("%v: names selectors.yml more than once", err)
	}
	if loc := selectorsLine.FindStringIndex(msg); loc != nil && strings.Contains(msg[:loc[0]], ": ") {
		t.Errorf("%v: something comes before <path>:<line>:", err)
	}
}

// TestEvalSelectorFileErrors refuses files dbt refuses, at the line.
func TestEvalSelectorFileErrors(t *testing.T) {
	for _, tc := range []struct{ name, yml, want string }{
		{"no definition", "selectors:\n  - name: other\n    definition: {tag: raw}\n  - name: s\n    description: none\n",
			`selectors.yml:4: selector "s" has no definition:`},
		{"duplicate name", "selectors:\n  - name: s\n    definition: {tag: raw}\n  - name: s\n    definition: {tag: late}\n",
			`selectors.yml:4: selector "s" is defined twice (first at line 2); dbt refuses duplicate names`},
		{"misspelled top key", "selector:\n  - name: s\n    definition: {tag: raw}\n",
			`selectors.yml:1: unknown top-level key "selector": the file has only selectors:`},
		{"extra top key", "selectors:\n  - name: s\n    definition: {tag: raw}\nmodels: []\n",
			`selectors.yml:4: unknown top-level key "models"`},
		{"no selectors list", "version: 2\n", "selectors.yml:1: has no selectors: list; write selectors: as a list"},
		{"empty file", "", "selectors.yml:1: has no selectors: list"},
		{"selectors not a list", "selectors: 3\n", "selectors.yml:1: selectors: is not a list of selectors"},
		{"unnamed", "selectors:\n  - definition: {tag: raw}\n", "selectors.yml:2: a selector needs name:"},
		{"not yaml", "selectors:\n  - name: s\n    definition: {tag: raw}\n\tbad: x\n", "selectors.yml:4: not valid YAML"},
		{"unknown name", "selectors:\n  - name: a\n    definition: {tag: raw}\n  - name: b\n    definition: {tag: raw}\n",
			`selectors.yml:1: has no selector "s"; it defines: a, b`},
		{"cycle", "selectors:\n  - name: s\n    definition:\n      union:\n        - {method: selector, value: t}\n  - name: t\n    definition:\n      method: selector\n      value: s\n",
			`selectors.yml:9: selector "s" refers to itself through s → t → s`},
		{"selector without value", "selectors:\n  - name: s\n    definition:\n      method: selector\n",
			"selectors.yml:4: method: selector needs value:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := evalSelectors(t, tc.yml, "s")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
			checkSelectorsErrorShape(t, err)
		})
	}
}

// TestEvalSelectorNoFile says the file does not exist and what to do.
func TestEvalSelectorNoFile(t *testing.T) {
	dir := t.TempDir()
	_, err := EvalSelector(Config{ProjectDir: dir}, "/", "s", &asset.Selector{Graph: selectorGraph(t)})
	if !errors.Is(err, ErrNoSelectorsFile) {
		t.Fatalf("%v, want ErrNoSelectorsFile", err)
	}
	want := filepath.Join(dir, "selectors.yml") + ": does not exist; write one in dbt's format"
	if msg := err.Error(); !strings.HasPrefix(msg, want) || !strings.Contains(msg, "--select") || strings.Count(msg, "selectors.yml") != 1 {
		t.Errorf("%v, want %q… and --select", err, want)
	}
}

func FuzzEvalSelector(f *testing.F) {
	f.Add("selectors:\n  - name: s\n    definition: {union: [{tag: raw}, {exclude: [c]}, {method: key, value: b, parents_depth: 2}]}\n")
	f.Add("selectors:\n  - name: s\n    definition: {method: selector, value: s}\n")
	f.Add("selectors:\n  - name: s\n    definition: \"tag:mart+,@b\"\n")
	f.Add("selectors: 3")
	f.Fuzz(func(t *testing.T, yml string) {
		_, err := evalSelectors(t, yml, "s")
		if err != nil && !strings.Contains(err.Error(), "selectors.yml") {
			if _, ok := err.(*asset.SyntaxError); !ok {
				t.Errorf("error without the file: %v", err)
			}
		}
	})
}
