package project

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eltproject/elt/asset"
)

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func load(t *testing.T, body string, env map[string]string) (*Project, error) {
	t.Helper()
	dir := t.TempDir()
	path := write(t, dir, FileName, body)
	return Load(context.Background(), path, Options{Getenv: func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}})
}

const good = `
name: demo
resources:
  api:
    type: http
    token: ${API_TOKEN:-dev-token-123}
    secret: [token]
assets:
  - key: raw/orders
    command: ["sh", "-c", "echo orders"]
    group: raw
    tags: [nightly]
    owners: [team:data]
    retries: {max: 2, delay: 1s, backoff: linear}
    timeout: 10m
    checks:
      - name: no_empty_file
        blocking: true
  - key: [stg, orders]
    deps: [raw/orders]
    command: echo stg
  - key: mart/report
    deps: [stg/orders, source/erp_customers]
    ops:
      - {name: extract, command: echo e}
      - {name: render, command: echo r, deps: [extract]}
jobs:
  nightly: "tag:nightly+"
  marts:
    select: ["mart/*"]
    exclude: raw/*
`

func TestLoadGood(t *testing.T) {
	p, err := load(t, good, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Graph.Len() != 4 {
		t.Fatalf("%d assets: %v", p.Graph.Len(), p.Graph.Keys())
	}
	ext, ok := p.Graph.Spec(asset.MustKey("source", "erp_customers"))
	if !ok || !ext.External {
		t.Error("undeclared dep did not become an external asset")
	}
	raw, _ := p.Graph.Spec(asset.MustKey("raw", "orders"))
	fam := p.Families[raw.Step]
	if fam.Retry.MaxRetries != 2 || fam.Retry.Backoff != "linear" || fam.Timeout.Minutes() != 10 {
		t.Errorf("family %+v", fam)
	}
	if c, ok := raw.Check("no_empty_file"); !ok || !c.Blocking {
		t.Errorf("check %+v", c)
	}
	set, err := p.Select("nightly", nil, nil)
	if err != nil || set.Len() != 3 {
		t.Errorf("job nightly = %v, %v", p.Graph.SetKeys(set), err)
	}
	if got := p.Redact("Authorization: Bearer dev-token-123"); strings.Contains(got, "dev-token-123") {
		t.Errorf("secret not redacted: %s", got)
	}
	env := strings.Join(p.Env(), "\n")
	if !strings.Contains(env, "ELT_RESOURCE_API_TOKEN=dev-token-123") {
		t.Error("resource settings not in step env")
	}
}

func TestLoadBadInput(t *testing.T) {
	tests := []struct {
		name string
		body string
		env  map[string]string
		want []string // every substring must appear
	}{
		{"malformed yaml", "name: x\nassets:\n  - key: a\n   command: [", nil, []string{"elt.yaml:", "malformed YAML"}},
		{"unknown key with suggestion", "name: x\nassets:\n  - key: a\n    comand: echo\n", nil, []string{"elt.yaml:4:", `unknown key "comand"`, `did you mean "command"`, "allowed keys:"}},
		{"unknown top-level key", "name: x\nasets: []\n", nil, []string{"elt.yaml:2:", `unknown key "asets"`}},
		{"cycle", "name: x\nassets:\n  - {key: a, deps: [b], command: echo}\n  - {key: b, deps: [a], command: echo}\n", nil, []string{"dependency cycle", "a -> b -> a"}},
		{"duplicate keys", "name: x\nassets:\n  - {key: a, command: echo}\n  - {key: a, command: echo}\n", nil, []string{"defined twice", "elt.yaml:3", "elt.yaml:4"}},
		{"empty key part", "name: x\nassets:\n  - {key: a//b, command: echo}\n", nil, []string{"elt.yaml:3", "part 2 is empty"}},
		{"empty part in list", "name: x\nassets:\n  - {key: [a, ''], command: echo}\n", nil, []string{"part 2 is empty"}},
		{"nothing to run", "name: x\nassets:\n  - key: a\n", nil, []string{"elt.yaml:3", "needs one of command"}},
		{"unset env", "name: x\nresources:\n  db: {type: postgres, url: '${DB_URL}'}\n", nil, []string{"elt.yaml:3", "DB_URL is not set"}},
		{"bad job selection", "name: x\nassets:\n  - {key: a, command: echo}\njobs:\n  j: 'a,,b'\n", nil, []string{"job \"j\"", "column 3"}},
		{"job matches nothing", "name: x\nassets:\n  - {key: orders, command: echo}\njobs:\n  j: ordres\n", nil, []string{"matches no asset", "orders"}},
		{"bad retries", "name: x\nassets:\n  - {key: a, command: echo, retries: {max: 1, backof: linear}}\n", nil, []string{"backof"}},
		{"bad duration", "name: x\nassets:\n  - {key: a, command: echo, timeout: soon}\n", nil, []string{"elt.yaml:3", "bad duration"}},
		{"op cycle", "name: x\nassets:\n  - key: a\n    ops:\n      - {name: o1, command: echo, deps: [o2]}\n      - {name: o2, command: echo, deps: [o1]}\n", nil, []string{"cycle"}},
		{"strict deps", "name: x\nstrict_deps: true\nassets:\n  - {key: a, deps: [nope], command: echo}\n", nil, []string{"depends on nope"}},
		{"several problems together", "name: x\nfoo: 1\nassets:\n  - key: a\n    bar: 2\n    command: echo\n", nil, []string{"2 problems", `"foo"`, `"bar"`}},
		{"top-level check on unknown asset", "name: x\nassets:\n  - {key: a, command: echo}\nchecks:\n  - {asset: zz, name: c}\n", nil, []string{"unknown asset zz"}},
		{"wrong type", "name: x\nconcurrency: lots\n", nil, []string{"elt.yaml:2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.body, tt.env)
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v (%T), want *project.Error", err, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err.Error(), w)
				}
			}
		})
	}
}

func TestFindAndResolve(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, FileName, "name: x\n")
	sub := filepath.Join(dir, "a", "b")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := Find(sub)
	if err != nil || got != filepath.Join(dir, FileName) {
		t.Fatalf("Find = %s, %v", got, err)
	}
	if _, err := Find(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no elt.yaml found") {
		t.Fatalf("missing elt.yaml: %v", err)
	}
	if _, err := Resolve(filepath.Join(dir, "a")); err == nil {
		t.Fatal("folder without elt.yaml accepted")
	}
	if p, err := Resolve(dir); err != nil || p != filepath.Join(dir, FileName) {
		t.Fatalf("Resolve(dir) = %s, %v", p, err)
	}
}

func TestExpand(t *testing.T) {
	env := func(k string) (string, bool) {
		m := map[string]string{"A": "1", "EMPTY": ""}
		v, ok := m[k]
		return v, ok
	}
	tests := []struct{ in, want, err string }{
		{"x${A}y", "x1y", ""},
		{"${B:-def}", "def", ""},
		{"${EMPTY:-def}", "def", ""},
		{"${EMPTY}", "", ""},
		{"$${A}", "${A}", ""},
		{"${B}", "", "B is not set"},
		{"${A", "", "unclosed"},
		{"${1A}", "", "bad variable name"},
	}
	for _, tt := range tests {
		got, err := expand(tt.in, env)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("expand(%q) err = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestInterpolatedValuesKeepTheirType(t *testing.T) {
	p, err := load(t, "name: x\nconcurrency: ${C:-4}\nstrict_deps: ${S:-false}\nassets:\n  - {key: a, command: 'echo ${C:-4}', timeout: '${T:-90s}'}\n", map[string]string{"C": "7"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Config.Concurrency != 7 || p.Config.StrictDeps {
		t.Fatalf("concurrency %d strict %v", p.Config.Concurrency, p.Config.StrictDeps)
	}
	if _, err := load(t, "name: x\nconcurrency: '${C:-4}'\n", nil); err == nil {
		t.Fatal("a quoted value must stay a string")
	}
}
