package dbt

import (
	"os"
	"path/filepath"
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
		{"{method: selector, value: s}", `selector "s" refers to itself through s → s`},
		{"{method: tag, value: x, parents: maybe}", `selectors.yml:3: "maybe" is not true or false`},
		{"{method: tag, value: x, children_depth: -1}", "depth \"-1\" must be a whole number"},
		{"{union: [{exclude: [a]}]}", "union lists no definition to select from"},
		{"{union: [a], method: tag}", "union stands alone"},
		{"{value: x, parents: true}", "needs method: and value:"},
		{"{method: tag, value: x, colour: red}", `unknown selector key "colour"`},
		{"[a]", "a selector definition is a string"},
	} {
		_, err := evalSelectors(t, "selectors:\n  - name: s\n    definition: "+tc.def+"\n", "s")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "selectors.yml") {
			t.Errorf("%s: %v, want %q and the file", tc.def, err, tc.want)
		}
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
