package sling

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/internal/testenv"
	manifest "github.com/eltproject/elt/manifest/sling"
)

var update = flag.Bool("update", false, "rewrite golden files")

func fixturesDir(t testing.TB) string {
	t.Helper()
	return testenv.Fixtures(t, "sling")
}

func noEnv(string) (string, bool) { return "", false }

// render prints specs one per line: key, deps, group, external, and the
// metadata the CLI relies on.
func render(specs []asset.Spec) string {
	var b strings.Builder
	for _, s := range specs {
		if s.External {
			fmt.Fprintf(&b, "external %s\n", s.Key)
			continue
		}
		var deps []string
		for _, d := range s.Deps {
			deps = append(deps, d.String())
		}
		fmt.Fprintf(&b, "%s <- [%s] group=%q stream=%q object=%q tags=%v", s.Key, strings.Join(deps, ", "), s.Group, s.Metadata["stream"], s.Metadata["object"], s.Tags)
		if rv, ok := s.Metadata["runtime_vars"]; ok {
			fmt.Fprintf(&b, " runtime=%v", rv)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestGoldenKeysAndDeps(t *testing.T) {
	dir := fixturesDir(t)
	fixtures := []string{
		"dagster-sling_base_config.yaml",                   // quoted name, custom sql, own object
		"dagster-sling_base_with_default_meta.yaml",        // defaults meta, disabled, meta deps/asset_key
		"sling-cli_r09_hooks_tags_wildcards.yaml",          // wildcards, tags
		"sling-cli_r72_wildcard_disabled.yaml",             // schema wildcard + disabled
		"sling-cli_r07_file_globs.yaml",                    // file globs
		"sling-cli_r17_incremental_to_s3_sling_state.yaml", // run-time template vars
		"dagster-open-platform_low_volume_EXCERPT.yaml",    // meta asset_key with dots
		"sling-cli_r95_select_columns.yaml",                // own objects, sql streams
	}
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			r, err := manifest.ReadFile(filepath.Join(dir, name), noEnv)
			if err != nil {
				t.Fatal(err)
			}
			specs, err := Translate(r, Options{Replication: "sling/" + name, Step: "sling:x", Lookup: noEnv})
			if err != nil {
				t.Fatal(err)
			}
			got := render(specs)
			golden := filepath.Join("testdata", strings.TrimSuffix(name, ".yaml")+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("specs differ from %s (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

func TestEveryFixtureTranslates(t *testing.T) {
	dir := fixturesDir(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	for _, f := range files {
		r, err := manifest.ReadFile(f, noEnv)
		if err != nil {
			t.Fatal(err)
		}
		specs, err := Translate(r, Options{Replication: f, Step: "sling:x"})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if _, err := asset.NewGraph(specs, asset.GraphOptions{}); err != nil {
			t.Errorf("%s: graph: %v", f, err)
		}
	}
}

func TestDefaultRules(t *testing.T) {
	y := `source: SRC
target: TGT
defaults:
  object: '{stream_schema}_{stream_table}'
  meta:
    elt: {group: g1}
streams:
  public."Transactions":
  public.users:
    object: analytics.{stream_table}
    description: from field
    meta:
      elt: {owners: [ana], kinds: [postgres], partitions: daily, tags: {pii: ""}}
  public.orders:
    sql: select 1
    meta:
      dagster: {description: ignored because sql wins, deps: [raw.orders, "x/y"]}
  public.keyed:
    meta:
      elt: {asset_key: [a, "b.c"]}
  s.t:
    object: 'x/{YYYY}'
`
	r, err := manifest.Parse("r.yaml", []byte(y), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	specs, err := Translate(r, Options{Replication: "r.yaml", Step: "sling:r", KeyPrefix: []string{"p"}, Group: "fallback"})
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]asset.Spec{}
	for _, s := range specs {
		byKey[s.Key.String()] = s
	}
	check := func(key string, f func(asset.Spec) string) {
		t.Helper()
		s, ok := byKey[key]
		if !ok {
			t.Errorf("no asset %s among %s", key, render(specs))
			return
		}
		if msg := f(s); msg != "" {
			t.Errorf("%s: %s", key, msg)
		}
	}
	check("p/target/public/transactions", func(s asset.Spec) string {
		if s.Deps[0].String() != "public/transactions" || s.Group != "g1" || s.Step != "sling:r" {
			return fmt.Sprintf("deps %v group %q step %q", s.Deps, s.Group, s.Step)
		}
		if s.Metadata["object"] != "public_Transactions" || s.Metadata["stream"] != `public."Transactions"` {
			return fmt.Sprintf("metadata %v", s.Metadata)
		}
		return ""
	})
	// dagster-sling keys on the object as written: templates are not
	// rendered (the rendered object is metadata).
	check("p/target/analytics/_stream_table_", func(s asset.Spec) string {
		if s.Description != "from field" || s.Partitions != "daily" || len(s.Owners) != 1 || strings.Join(s.Kinds, ",") != "postgres,sling" || strings.Join(s.Tags, ",") != "pii" {
			return fmt.Sprintf("%+v", s)
		}
		return ""
	})
	check("p/target/public/orders", func(s asset.Spec) string {
		if s.Description != "select 1" || len(s.Deps) != 2 || s.Deps[0].String() != "raw/orders" || s.Deps[1].String() != "x/y" {
			return fmt.Sprintf("desc %q deps %v", s.Description, s.Deps)
		}
		return ""
	})
	check("a/b.c", func(asset.Spec) string { return "" })
	check("p/target/x__yyyy_", func(s asset.Spec) string {
		if s.Metadata["object"] != "x/{YYYY}" {
			return fmt.Sprintf("object %v", s.Metadata["object"])
		}
		return ""
	})
	if !byKey["public/users"].External {
		t.Errorf("default dep public/users should be an external spec")
	}
}

func TestDuplicateKeysAreErrors(t *testing.T) {
	y := "source: a\ntarget: b\nstreams:\n  s.t:\n    meta: {elt: {asset_key: x.y}}\n  s.u:\n    meta: {dagster: {asset_key: x.y}}\n"
	r, err := manifest.Parse("r.yaml", []byte(y), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Translate(r, Options{})
	if err == nil || !strings.Contains(err.Error(), "r.yaml:6") || !strings.Contains(err.Error(), "r.yaml:4") {
		t.Errorf("want an error naming both lines, got %v", err)
	}
}

func TestSharedObjectFallsBackToStreamName(t *testing.T) {
	y := "source: a\ntarget: b\nstreams:\n  s.t:\n    object: x.y\n  s.u:\n    object: x.y\n"
	r, err := manifest.Parse("r.yaml", []byte(y), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	specs, err := Translate(r, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if specs[0].Key.String() != "target/x/y" || specs[1].Key.String() != "target/s/u" {
		t.Errorf("keys %s, %s", specs[0].Key, specs[1].Key)
	}
}

func TestExpandWildcards(t *testing.T) {
	y := "source: a\ntarget: b\ndefaults:\n  object: 'main.{stream_table}'\nstreams:\n  s.t_*:\n    object: 'raw.{stream_table}'\n"
	r, err := manifest.Parse("r.yaml", []byte(y), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	specs, err := Translate(r, Options{Expand: map[string][]string{"s.t_*": {"s.t_1", "s.t_2"}}})
	if err != nil {
		t.Fatal(err)
	}
	got := render(specs)
	for _, want := range []string{"target/raw/t_1 <- [s/t_1]", "target/raw/t_2 <- [s/t_2]"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if specs[0].Metadata["stream_pattern"] != "s.t_*" {
		t.Errorf("stream_pattern = %v", specs[0].Metadata["stream_pattern"])
	}
}

func TestSanitize(t *testing.T) {
	tests := map[string]string{
		`public."Transactions"`: "public.transactions",
		"public.my_table_*":     "public.my_table__",
		"file://./a/b.csv":      "file___._a_b.csv",
		"Sling.Cloud-Product":   "sling.cloud_product",
	}
	for in, want := range tests {
		if got := Sanitize(in); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

func BenchmarkTranslateLowVolume(b *testing.B) {
	dir := fixturesDir(b)
	r, err := manifest.ReadFile(filepath.Join(dir, "dagster-open-platform_low_volume_EXCERPT.yaml"), noEnv)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Translate(r, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
