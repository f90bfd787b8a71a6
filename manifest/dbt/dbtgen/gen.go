// Package dbtgen writes synthetic dbt manifests (schema v12) of realistic
// shape and size, for benchmarks: a layered DAG of models (staging,
// intermediate, marts) over sources and seeds, generic and singular tests,
// groups with owners, macros, and parent and child maps. Output is
// deterministic for given Options.
package dbtgen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
)

// Options size the generated project. Zero fields take the defaults noted.
type Options struct {
	Project string // "bench"
	Adapter string // "postgres"
	Models  int    // 10,000
	Tests   int    // 20,000
	Sources int    // 500
	Seeds   int    // 20
	Macros  int    // 400
	Groups  int    // 10
	// MinSQL and MaxSQL bound the bytes of SQL per model (1,024 and 3,072).
	MinSQL, MaxSQL int
	// Seed makes different but equally shaped manifests.
	Seed uint64
}

func (o *Options) defaults() {
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	if o.Project == "" {
		o.Project = "bench"
	}
	if o.Adapter == "" {
		o.Adapter = "postgres"
	}
	def(&o.Models, 10000)
	def(&o.Tests, 20000)
	def(&o.Sources, 500)
	def(&o.Seeds, 20)
	def(&o.Macros, 400)
	def(&o.Groups, 10)
	def(&o.MinSQL, 1024)
	def(&o.MaxSQL, 3072)
	if o.MaxSQL < o.MinSQL {
		o.MaxSQL = o.MinSQL
	}
}

// ModelName returns the name of model i, as generated: "model_<i>".
func ModelName(i int) string { return fmt.Sprintf("model_%d", i) }

type gen struct {
	o       Options
	rng     *rand.Rand
	w       *bufio.Writer
	err     error
	parents map[string][]string
	order   []string
}

// Generate writes a manifest.json to w.
func Generate(w io.Writer, opts Options) error {
	opts.defaults()
	g := &gen{
		o:       opts,
		rng:     rand.New(rand.NewPCG(opts.Seed, 0x5eed)),
		w:       bufio.NewWriterSize(w, 1<<20),
		parents: map[string][]string{},
	}
	g.write()
	if g.err != nil {
		return fmt.Errorf("generate dbt manifest: %w", g.err)
	}
	if err := g.w.Flush(); err != nil {
		return fmt.Errorf("generate dbt manifest: %w", err)
	}
	return nil
}

func (g *gen) raw(s string) {
	if g.err == nil {
		_, g.err = g.w.WriteString(s)
	}
}

func (g *gen) member(first *bool, key string, v any) {
	if !*first {
		g.raw(",")
	}
	*first = false
	b, err := json.Marshal(v)
	if err != nil && g.err == nil {
		g.err = err
	}
	k, _ := json.Marshal(key)
	g.raw(string(k) + ":")
	if g.err == nil {
		_, g.err = g.w.Write(b)
	}
}

func (g *gen) write() {
	o := g.o
	p := o.Project
	g.raw(`{"metadata":`)
	first := true
	g.raw("")
	b, _ := json.Marshal(map[string]any{
		"dbt_schema_version":         "https://schemas.getdbt.com/dbt/manifest/v12.json",
		"dbt_version":                "1.10.0",
		"generated_at":               "2026-01-01T00:00:00.000000Z",
		"invocation_id":              "00000000-0000-4000-8000-000000000000",
		"env":                        map[string]any{},
		"project_name":               p,
		"project_id":                 "0123456789abcdef0123456789abcdef",
		"user_id":                    nil,
		"send_anonymous_usage_stats": false,
		"adapter_type":               o.Adapter,
	})
	g.raw(string(b))

	// Models are numbered so deps always point at lower numbers: 20%
	// staging over sources, 40% intermediate, 40% marts.
	nStg := o.Models / 5
	nInt := o.Models * 2 / 5
	g.raw(`,"nodes":{`)
	for i := 0; i < o.Seeds; i++ {
		g.seed(&first, i)
	}
	for i := 0; i < o.Models; i++ {
		var layer string
		var deps []string
		switch {
		case i < nStg:
			layer = "staging"
			deps = append(deps, g.sourceID(g.rng.IntN(o.Sources)))
			if g.rng.IntN(4) == 0 {
				deps = append(deps, g.sourceID(g.rng.IntN(o.Sources)))
			}
			if g.rng.IntN(10) == 0 {
				deps = append(deps, g.seedID(g.rng.IntN(o.Seeds)))
			}
		case i < nStg+nInt:
			layer = "intermediate"
			deps = g.pickDeps(i, 1+g.rng.IntN(3), 0, i)
		default:
			layer = "marts"
			deps = g.pickDeps(i, 2+g.rng.IntN(5), nStg, i)
		}
		g.model(&first, i, layer, uniq(deps))
	}
	g.tests(&first)
	g.raw("}")

	g.raw(`,"sources":{`)
	first = true
	for i := 0; i < o.Sources; i++ {
		g.source(&first, i)
	}
	g.raw("}")

	g.raw(`,"macros":{`)
	first = true
	for i := 0; i < o.Macros; i++ {
		g.macro(&first, i)
	}
	g.raw("}")

	g.raw(`,"docs":{"doc.dbt.__overview__":{"name":"__overview__","resource_type":"doc","package_name":"dbt","path":"overview.md","original_file_path":"docs/overview.md","unique_id":"doc.dbt.__overview__","block_contents":"### Welcome!"}}`)
	g.raw(`,"exposures":{},"metrics":{}`)
	g.raw(`,"groups":{`)
	first = true
	for i := 0; i < o.Groups; i++ {
		name := fmt.Sprintf("team_%d", i)
		g.member(&first, "group."+p+"."+name, map[string]any{
			"name": name, "resource_type": "group", "package_name": p, "path": "groups.yml",
			"original_file_path": "models/groups.yml", "unique_id": "group." + p + "." + name,
			"owner": map[string]any{"email": name + "@example.com", "name": nil}, "description": nil,
			"config": map[string]any{"meta": map[string]any{}},
		})
	}
	g.raw(`},"selectors":{},"disabled":{}`)

	g.raw(`,"parent_map":{`)
	first = true
	children := map[string][]string{}
	for _, id := range g.order {
		ps := g.parents[id]
		if ps == nil {
			ps = []string{}
		}
		g.member(&first, id, ps)
		for _, par := range ps {
			children[par] = append(children[par], id)
		}
	}
	g.raw(`},"child_map":{`)
	first = true
	for _, id := range g.order {
		c := children[id]
		if c == nil {
			c = []string{}
		}
		g.member(&first, id, c)
	}
	g.raw(`},"group_map":{},"saved_queries":{},"semantic_models":{},"unit_tests":{}}`)
}

func (g *gen) modelID(i int) string { return "model." + g.o.Project + "." + ModelName(i) }
func (g *gen) seedID(i int) string  { return fmt.Sprintf("seed.%s.seed_%d", g.o.Project, i) }
func (g *gen) sourceID(i int) string {
	return fmt.Sprintf("source.%s.src_%d.table_%d", g.o.Project, i%25, i)
}

// pickDeps chooses n distinct models in [lo, hi), favouring recent ones
// (most fan-in is local, some reaches far back).
func (g *gen) pickDeps(self, n, lo, hi int) []string {
	var out []string
	for k := 0; k < n && hi > lo; k++ {
		span := hi - lo
		var j int
		if g.rng.IntN(4) > 0 && span > 200 {
			j = hi - 1 - g.rng.IntN(200)
		} else {
			j = lo + g.rng.IntN(span)
		}
		out = append(out, g.modelID(j))
	}
	return out
}

func uniq(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func (g *gen) columns(n int, prefix string) map[string]any {
	cols := map[string]any{}
	for c := 0; c < n; c++ {
		name := fmt.Sprintf("%s_col_%d", prefix, c)
		if c == 0 {
			name = "id"
		}
		cols[name] = map[string]any{
			"name": name, "description": "The " + name + " of the record, documented in schema.yml; null when the upstream system has no value.",
			"meta": map[string]any{}, "data_type": []string{"integer", "text", "timestamp", "numeric"}[c%4],
			"constraints": []any{}, "quote": nil, "tags": []any{}, "granularity": nil,
		}
	}
	return cols
}

func nodeConfig(materialized, schema, group string, tags []string, extra map[string]any) map[string]any {
	c := map[string]any{
		"enabled": true, "alias": nil, "schema": nilIfEmpty(schema), "database": nil, "tags": tags,
		"meta": map[string]any{}, "group": nilIfEmpty(group), "materialized": materialized,
		"incremental_strategy": nil, "batch_size": nil, "lookback": 1, "begin": nil,
		"persist_docs": map[string]any{}, "post-hook": []any{}, "pre-hook": []any{},
		"quoting": map[string]any{}, "column_types": map[string]any{}, "full_refresh": nil,
		"unique_key": nil, "on_schema_change": "ignore", "on_configuration_change": "apply",
		"grants": map[string]any{}, "packages": []any{}, "docs": map[string]any{"show": true, "node_color": nil},
		"contract": map[string]any{"enforced": false, "alias_types": true}, "event_time": nil,
		"concurrent_batches": nil, "access": "protected",
	}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (g *gen) seed(first *bool, i int) {
	p := g.o.Project
	name := fmt.Sprintf("seed_%d", i)
	id := g.seedID(i)
	g.order = append(g.order, id)
	g.member(first, id, map[string]any{
		"database": "analytics", "schema": "public", "name": name, "resource_type": "seed", "package_name": p,
		"path": name + ".csv", "original_file_path": "seeds/" + name + ".csv", "unique_id": id,
		"fqn": []string{p, name}, "alias": name,
		"checksum": map[string]any{"name": "sha256", "checksum": fmt.Sprintf("%064x", g.rng.Uint64())},
		"config":   nodeConfig("seed", "", "", []string{}, map[string]any{"delimiter": ",", "quote_columns": nil}),
		"tags":     []string{}, "description": "", "columns": map[string]any{}, "meta": map[string]any{},
		"group": nil, "docs": map[string]any{"show": true, "node_color": nil}, "patch_path": nil,
		"build_path": nil, "unrendered_config": map[string]any{}, "created_at": 1767225600.0,
		"relation_name": fmt.Sprintf(`"analytics"."public"."%s"`, name), "raw_code": "",
		"root_path": "/project", "depends_on": map[string]any{"macros": []string{}},
	})
	g.parents[id] = nil
}

func (g *gen) sql(i int, deps []string) string {
	var b strings.Builder
	size := g.o.MinSQL + g.rng.IntN(g.o.MaxSQL-g.o.MinSQL+1)
	b.WriteString("{{ config(tags=['nightly']) }}\n\nwith ")
	for k, d := range deps {
		if k > 0 {
			b.WriteString(",\n")
		}
		parts := strings.Split(d, ".")
		if parts[0] == "source" {
			fmt.Fprintf(&b, "dep_%d as (\n    select * from {{ source('%s', '%s') }}\n)", k, parts[2], parts[3])
		} else {
			fmt.Fprintf(&b, "dep_%d as (\n    select * from {{ ref('%s') }}\n)", k, parts[2])
		}
	}
	b.WriteString(",\n\nfinal as (\n    select\n        dep_0.id")
	for c := 1; b.Len() < size-40; c++ {
		fmt.Fprintf(&b, ",\n        coalesce(dep_0.col_%d, 'unknown \"value\"') as %s_col_%d", c, ModelName(i), c)
	}
	b.WriteString("\n    from dep_0\n)\n\nselect * from final\n")
	return b.String()
}

func (g *gen) model(first *bool, i int, layer string, deps []string) {
	p := g.o.Project
	name := ModelName(i)
	id := g.modelID(i)
	g.order = append(g.order, id)
	materialized := map[string]string{"staging": "view", "intermediate": "view", "marts": "table"}[layer]
	if layer == "intermediate" && g.rng.IntN(20) == 0 {
		materialized = "ephemeral"
	}
	if layer == "marts" && g.rng.IntN(5) == 0 {
		materialized = "incremental"
	}
	schema, group := "", ""
	dbSchema := "analytics"
	if layer == "marts" {
		schema = "marts"
		dbSchema = "analytics_marts"
		group = fmt.Sprintf("team_%d", g.rng.IntN(g.o.Groups))
	}
	unrendered := map[string]any{"materialized": materialized}
	if schema != "" {
		unrendered["schema"] = schema
	}
	tags := []string{"nightly", layer}
	sql := g.sql(i, deps)
	var macros []string
	for _, d := range deps {
		if strings.HasPrefix(d, "source.") {
			macros = append(macros, fmt.Sprintf("macro.%s.macro_%d", p, i%g.o.Macros))
			break
		}
	}
	if macros == nil {
		macros = []string{}
	}
	var refs []any
	var srcs []any
	for _, d := range deps {
		parts := strings.Split(d, ".")
		if parts[0] == "source" {
			srcs = append(srcs, []string{parts[2], parts[3]})
		} else {
			refs = append(refs, map[string]any{"name": parts[2], "package": nil, "version": nil})
		}
	}
	relation := ""
	if materialized != "ephemeral" {
		relation = fmt.Sprintf(`"analytics"."%s"."%s"`, dbSchema, name)
	}
	g.member(first, id, map[string]any{
		"database": "analytics", "schema": dbSchema, "name": name, "resource_type": "model", "package_name": p,
		"path": layer + "/" + name + ".sql", "original_file_path": "models/" + layer + "/" + name + ".sql",
		"unique_id": id, "fqn": []string{p, layer, name}, "alias": name,
		"checksum": map[string]any{"name": "sha256", "checksum": fmt.Sprintf("%016x%016x%016x%016x", g.rng.Uint64(), g.rng.Uint64(), g.rng.Uint64(), g.rng.Uint64())},
		"config":   nodeConfig(materialized, schema, group, tags, nil), "tags": tags,
		"description": "Model " + name + " in the " + layer + " layer.", "columns": g.columns(6+g.rng.IntN(12), name),
		"meta": map[string]any{}, "group": nilIfEmpty(group), "docs": map[string]any{"show": true, "node_color": nil},
		"patch_path": p + "://models/" + layer + "/schema.yml", "build_path": nil, "unrendered_config": unrendered,
		"created_at": 1767225600.0, "relation_name": nilIfEmpty(relation), "raw_code": sql,
		"doc_blocks": []any{}, "language": "sql", "refs": orEmpty(refs), "sources": orEmpty(srcs), "metrics": []any{},
		"functions": []any{}, "depends_on": map[string]any{"macros": macros, "nodes": deps},
		"compiled_path": "target/compiled/" + p + "/models/" + layer + "/" + name + ".sql",
		"compiled":      true, "compiled_code": strings.ReplaceAll(sql, "{{ ref('", `"analytics"."analytics"."`),
		"extra_ctes_injected": true, "extra_ctes": []any{},
		"contract": map[string]any{"enforced": false, "alias_types": true, "checksum": nil},
		"access":   "protected", "constraints": []any{}, "version": nil, "latest_version": nil, "deprecation_date": nil,
		"primary_key": []string{"id"}, "time_spine": nil,
	})
	g.parents[id] = deps
}

func orEmpty(v []any) []any {
	if v == nil {
		return []any{}
	}
	return v
}
