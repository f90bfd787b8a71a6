package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const small = `
name: small
assets:
  - key: raw/orders
    command: "true"
    tags: [nightly]
    group: raw
    checks:
      - {name: rows_present, blocking: true}
  - key: stg/orders
    deps: [raw/orders]
    command: "true"
    owners: [team:data]
  - key: mart/revenue
    deps: [stg/orders, erp/customers]
    command: ["true"]
    group: marts
jobs:
  nightly: tag:nightly+
`

func TestValidateAndExitCodes(t *testing.T) {
	dir := newProject(t, small)
	out, errOut, code := elt(t, dir, "validate")
	if code != 0 || !strings.Contains(out, "ok (3 assets, 1 external, 1 jobs)") {
		t.Fatalf("validate: %d %q %q", code, out, errOut)
	}
	bad := newProject(t, "name: x\nassets:\n  - {key: a, deps: [b], command: 'true'}\n  - {key: b, deps: [a], command: 'true'}\n")
	_, errOut, code = elt(t, bad, "validate")
	if code != 2 || !strings.Contains(errOut, "a -> b -> a") {
		t.Fatalf("cycle: %d %q", code, errOut)
	}
	_, errOut, code = elt(t, t.TempDir(), "validate")
	if code != 2 || !strings.Contains(errOut, "no elt.yaml") {
		t.Fatalf("missing project: %d %q", code, errOut)
	}
	_, _, code = elt(t, dir, "assets", "list", "--bogus")
	if code != 2 {
		t.Fatalf("unknown flag exit %d", code)
	}
	_, errOut, code = elt(t, dir, "assets", "list", "-s", "+")
	if code != 2 || !strings.Contains(errOut, "column") {
		t.Fatalf("bad selection: %d %q", code, errOut)
	}
	_, errOut, code = elt(t, dir, "assets", "list", "-s", "stg/order")
	if code != 2 || !strings.Contains(errOut, "did you mean: stg/orders") {
		t.Fatalf("no match: %d %q", code, errOut)
	}
}

func TestAssetsListJSONContract(t *testing.T) {
	dir := newProject(t, small)
	out, _, code := elt(t, dir, "assets", "list", "-o", "json")
	if code != 0 {
		t.Fatal(code)
	}
	var assets []map[string]any
	mustJSON(t, out, &assets)
	if len(assets) != 4 {
		t.Fatalf("%d assets", len(assets))
	}
	for _, a := range assets {
		for _, field := range []string{"key", "deps", "kinds", "group", "owners", "tags", "checks", "external"} {
			if _, ok := a[field]; !ok {
				t.Errorf("asset %v lacks %q", a["key"], field)
			}
		}
	}
	first := assets[0]
	if k := first["key"].([]any); len(k) != 2 || k[0] != "raw" {
		t.Errorf("key is not an array of parts: %v", first["key"])
	}
	checks := first["checks"].([]any)
	if c := checks[0].(map[string]any); c["name"] != "rows_present" || c["blocking"] != true {
		t.Errorf("checks %v", checks)
	}
	out, _, _ = elt(t, dir, "assets", "list", "-o", "json", "--job", "nightly", "--exclude", "mart/*")
	mustJSON(t, out, &assets)
	if len(assets) != 2 {
		t.Errorf("job minus exclude: %d assets", len(assets))
	}
}

func TestAssetsGraphFormats(t *testing.T) {
	dir := newProject(t, small)
	out, _, code := elt(t, dir, "assets", "graph", "--format", "mermaid")
	if code != 0 || !strings.HasPrefix(out, "graph LR") || !strings.Contains(out, "-->") || !strings.Contains(out, `subgraph g_marts["marts"]`) {
		t.Fatalf("mermaid:\n%s", out)
	}
	out, _, _ = elt(t, dir, "assets", "graph", "--format", "dot", "-s", "+mart/revenue")
	if !strings.Contains(out, `"stg/orders" -> "mart/revenue"`) || !strings.Contains(out, "style=dashed") {
		t.Fatalf("dot:\n%s", out)
	}
	out, _, _ = elt(t, dir, "assets", "graph", "--format", "json")
	var g struct {
		Nodes []map[string]any `json:"nodes"`
		Edges []map[string]any `json:"edges"`
	}
	mustJSON(t, out, &g)
	if len(g.Nodes) != 4 || len(g.Edges) != 3 {
		t.Fatalf("json graph %d nodes %d edges", len(g.Nodes), len(g.Edges))
	}
	_, _, code = elt(t, dir, "assets", "graph", "--format", "png")
	if code != 2 {
		t.Fatalf("bad format exit %d", code)
	}
}

func TestPlanOutput(t *testing.T) {
	dir := newProject(t, small)
	out, _, code := elt(t, dir, "plan")
	if code != 0 || !strings.Contains(out, "3 steps, 3 assets, 1 external asset not materialized") {
		t.Fatalf("plan:\n%s", out)
	}
	out, _, _ = elt(t, dir, "plan", "-o", "json")
	var plan struct {
		Steps []struct {
			ID   string   `json:"id"`
			Deps []string `json:"deps"`
		} `json:"steps"`
	}
	mustJSON(t, out, &plan)
	if len(plan.Steps) != 3 || plan.Steps[2].ID != "mart.revenue" || plan.Steps[2].Deps[0] != "stg.orders" {
		t.Fatalf("plan json %+v", plan)
	}
}

func TestVersionAndCompletion(t *testing.T) {
	out, _, code := elt(t, "", "version")
	if code != 0 || !strings.HasPrefix(out, "elt ") {
		t.Fatal(out)
	}
	out, _, code = elt(t, "", "completion", "bash")
	if code != 0 || !strings.Contains(out, "bash completion") {
		t.Fatalf("completion: %d", code)
	}
}

func TestProjectFoundFromSubfolder(t *testing.T) {
	dir := newProject(t, small)
	sub := filepath.Join(dir, "models", "deep")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	if err := os.Chdir(sub); err != nil {
		t.Fatal(err)
	}
	out, _, code := elt(t, "", "validate")
	if code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("%d %s", code, out)
	}
}

func TestExcludeMatchingNothingWarns(t *testing.T) {
	dir := newProject(t, small)
	out, errOut, code := elt(t, dir, "assets", "list", "--exclude", "stg/ordrs")
	if code != 0 || !strings.Contains(errOut, `warning: --exclude "stg/ordrs" matches no asset; did you mean: stg/orders`) || !strings.Contains(out, "stg/orders") {
		t.Fatalf("%d %q", code, errOut)
	}
}
