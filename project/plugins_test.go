package project

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/internal/testenv"
)

// buildHello builds examples/plugin-hello into dir/bin/plugin-hello.
func buildHello(t *testing.T, dir string) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		testenv.Missing(t, "the go command", "put go on PATH")
	}
	out, err := exec.Command(goBin, "build", "-o", filepath.Join(dir, "bin", "plugin-hello"), filepath.Join(testenv.RepoRoot(), "examples", "plugin-hello")).CombinedOutput()
	if err != nil {
		t.Fatalf("go build examples/plugin-hello: %v\n%s", err, out)
	}
}

// A plugin's Describe adds its checks to the declared asset and its other
// assets to the same step.
func TestPluginDescribe(t *testing.T) {
	testenv.Slow(t, "builds examples/plugin-hello")
	dir := t.TempDir()
	buildHello(t, dir)
	path := write(t, dir, FileName, `
name: hello
plugins:
  hello: {path: bin/plugin-hello}
assets:
  - key: greetings/en
    group: greetings
    checks:
      - {name: not_empty, blocking: false, severity: warn}   # elt.yaml wins over Describe
    plugin: {name: hello, config: {greeting: Hi, assets: [greetings/en, greetings/fr]}}
`)
	p, err := Load(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	en, okEn := p.Graph.Spec(asset.MustKey("greetings", "en"))
	fr, okFr := p.Graph.Spec(asset.MustKey("greetings", "fr"))
	if !okEn || !okFr {
		t.Fatalf("specs: en %v fr %v; want both", en, fr)
	}
	if en.Step != fr.Step || !p.Families[en.Step].Multi {
		t.Errorf("steps %q and %q; want one multi-asset step", en.Step, fr.Step)
	}
	if c, ok := en.Check("not_empty"); !ok || c.Blocking || len(en.Checks) != 1 {
		t.Errorf("greetings/en checks = %+v; want elt.yaml's non-blocking not_empty only", en.Checks)
	}
	if c, ok := fr.Check("not_empty"); !ok || !c.Blocking {
		t.Errorf("greetings/fr checks = %+v; want the plugin's blocking not_empty", fr.Checks)
	}
	for _, s := range []*asset.Spec{en, fr} {
		if !slices.Contains(s.Kinds, "file") || !slices.Contains(s.Kinds, "plugin") {
			t.Errorf("%s kinds = %v; want plugin's file and elt's plugin", s.Key, s.Kinds)
		}
		if !strings.Contains(s.Description, "hello plugin") || s.Group != "greetings" {
			t.Errorf("%s description %q group %q", s.Key, s.Description, s.Group)
		}
	}
}

// A plugin that cannot describe its assets is a load problem naming the asset.
func TestPluginDescribeFails(t *testing.T) {
	testenv.Slow(t, "builds examples/plugin-hello")
	dir := t.TempDir()
	buildHello(t, dir)
	path := write(t, dir, FileName, `
name: hello
plugins:
  hello: {path: bin/plugin-hello}
assets:
  - key: greetings/en
    plugin: {name: hello, config: {greeting: Hi}}
`)
	_, err := Load(context.Background(), path, Options{})
	if err == nil || !strings.Contains(err.Error(), "asset greetings/en") || !strings.Contains(err.Error(), "lists no asset keys") {
		t.Fatalf("err = %v; want the plugin's own message, naming the asset", err)
	}
}
