// Package dlt turns a dlt pipeline's schemas and state into asset specs.
//
// Default rules follow dagster-dlt so a project moving from Dagster keeps
// its keys: one asset per resource, keyed dlt_<source>_<resource>, that
// depends on an external asset <source>_<resource> (the system the resource
// reads), with the resource's tables (root and nested) in its metadata.
// With Keys set to "table" there is one asset per root table keyed
// [dataset, table], its nested tables in its metadata. Either way the
// source is the dlt schema's name, dlt's own _dlt_* tables are left out,
// incremental cursors from the pipeline state are shown as metadata, and
// AssetKeys / Deps override keys and deps by resource (or table) name.
package dlt

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/eltproject/elt/asset"
	mdlt "github.com/eltproject/elt/manifest/dlt"
)

// Key styles.
const (
	// KeysByResource gives one asset per resource: dlt_<source>_<resource>.
	KeysByResource = "resource"
	// KeysByTable gives one asset per root table: [dataset, table].
	KeysByTable = "table"
)

// Options tune the translation. The zero value gives dagster-dlt's keys.
type Options struct {
	// Keys is KeysByResource (default) or KeysByTable.
	Keys string
	// KeyPrefix is put before every generated key (not before external deps
	// and not before keys given in AssetKeys).
	KeyPrefix []string
	// Dataset names the destination dataset. Default: the state's
	// dataset_name, else <pipeline>_dataset as dlt names it.
	Dataset string
	// Destination is the destination type shown as a kind and in metadata
	// ("duckdb"). Default: the state's destination.
	Destination string
	// AssetKeys replaces the key of a resource (KeysByResource) or a root
	// table (KeysByTable).
	AssetKeys map[string]asset.Key
	// Deps replaces the deps of a resource or root table.
	Deps map[string][]asset.Key
	// Resources are resources to expose that the schemas do not show yet
	// (a pipeline that never ran); their table is named after them.
	Resources []string
	// Source names the source of Resources that no schema knows. Default:
	// the state's default schema, else the pipeline name without a
	// "_pipeline" suffix (dlt's default schema name).
	Source string
	// Step is the family name put in Spec.Step.
	Step       string
	Group      string
	Partitions string
}

// Asset is one translated asset with what the runner needs to run it.
type Asset struct {
	Spec     asset.Spec
	Source   string
	Resource string
	// Tables are the tables the asset covers: its root table(s) first, then
	// nested tables, in schema order.
	Tables []string
}

// Result is the translation of one pipeline.
type Result struct {
	Assets []Asset
	// External are the upstream assets the resources read from
	// (<source>_<resource>), not materialized by elt.
	External []asset.Spec
	Dataset  string
}

// Specs returns every spec: the assets, then the external ones.
func (r *Result) Specs() []asset.Spec {
	out := make([]asset.Spec, 0, len(r.Assets)+len(r.External))
	for _, a := range r.Assets {
		out = append(out, a.Spec)
	}
	return append(out, r.External...)
}

type unit struct {
	schema   *mdlt.Schema
	source   string
	resource string
	roots    []*mdlt.Table // empty for a resource no schema knows
	name     string        // resource or table name, for overrides
}

// Translate builds asset specs for pipeline p.
func Translate(p *mdlt.Pipeline, opts Options) (*Result, error) {
	style := opts.Keys
	if style == "" {
		style = KeysByResource
	}
	if style != KeysByResource && style != KeysByTable {
		return nil, fmt.Errorf("dlt pipeline %s: keys is %q; use %q or %q", p.Name, opts.Keys, KeysByResource, KeysByTable)
	}
	res := &Result{Dataset: opts.Dataset}
	if res.Dataset == "" && p.State != nil {
		res.Dataset = p.State.DatasetName
	}
	if res.Dataset == "" {
		res.Dataset = p.Name + "_dataset"
	}
	dest := opts.Destination
	if dest == "" && p.State != nil {
		dest = p.State.Destination()
	}

	var units []unit
	known := map[string]bool{}
	for _, s := range p.Schemas {
		for _, r := range s.Resources() {
			known[r] = true
			roots := s.RootTables(r)
			if style == KeysByResource {
				units = append(units, unit{schema: s, source: s.Name, resource: r, roots: roots, name: r})
				continue
			}
			for _, t := range roots {
				units = append(units, unit{schema: s, source: s.Name, resource: r, roots: []*mdlt.Table{t}, name: t.Name})
			}
		}
	}
	source := opts.Source
	if source == "" && p.State != nil {
		source = p.State.DefaultSchemaName
	}
	if source == "" {
		source = strings.TrimSuffix(p.Name, "_pipeline")
	}
	for _, r := range opts.Resources {
		if !known[r] {
			known[r] = true
			units = append(units, unit{source: source, resource: r, name: r})
		}
	}
	if len(units) == 0 {
		return nil, fmt.Errorf("dlt pipeline %s in %s has no resources: run the pipeline once so dlt writes its schema, or list its resources under resources:", p.Name, p.Dir)
	}

	names := map[string]bool{}
	for _, u := range units {
		names[u.name] = true
	}
	for _, m := range []map[string]bool{keysOf(opts.AssetKeys), keysOf(opts.Deps)} {
		for n := range m {
			if !names[n] {
				return nil, fmt.Errorf("dlt pipeline %s: override for %q, which is not a %s of the pipeline (known: %s)",
					p.Name, n, style, strings.Join(slices.Sorted(maps.Keys(names)), ", "))
			}
		}
	}

	seen := map[asset.Key]string{}
	externals := map[asset.Key]bool{}
	for _, u := range units {
		a, err := translateUnit(p, u, style, dest, res.Dataset, opts)
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[a.Spec.Key]; dup {
			return nil, fmt.Errorf("dlt pipeline %s: asset key %s is given to both %s and %s; set asset_keys for one of them", p.Name, a.Spec.Key, prev, u.name)
		}
		seen[a.Spec.Key] = u.name
		res.Assets = append(res.Assets, a)
		if _, overridden := opts.Deps[u.name]; overridden {
			continue
		}
		ext, err := externalKey(u)
		if err != nil {
			return nil, fmt.Errorf("dlt pipeline %s: %w", p.Name, err)
		}
		if externals[ext] {
			continue
		}
		externals[ext] = true
		res.External = append(res.External, asset.Spec{
			Key:         ext,
			External:    true,
			Kinds:       []string{"dlt"},
			Description: fmt.Sprintf("Data that dlt resource %s of source %s reads.", u.resource, u.source),
			Origin:      fmt.Sprintf("dlt pipeline %s: source of resource %s", p.Name, u.resource),
			Group:       opts.Group,
		})
	}
	return res, nil
}

func keysOf[V any](m map[string]V) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}

func externalKey(u unit) (asset.Key, error) {
	return asset.NewKey(u.source + "_" + u.resource)
}

func translateUnit(p *mdlt.Pipeline, u unit, style, dest, dataset string, opts Options) (Asset, error) {
	a := Asset{Source: u.source, Resource: u.resource}
	for _, t := range u.roots {
		a.Tables = append(a.Tables, t.Name)
	}
	var nested []*mdlt.Table
	for _, t := range u.roots {
		nested = append(nested, u.schema.Nested(t.Name)...)
	}
	for _, t := range nested {
		a.Tables = append(a.Tables, t.Name)
	}
	if len(u.roots) == 0 {
		a.Tables = []string{u.resource} // dlt names a resource's table after it
	}

	key, ok := opts.AssetKeys[u.name]
	if !ok {
		var parts []string
		if style == KeysByTable {
			parts = []string{dataset, u.name}
		} else {
			parts = []string{"dlt_" + u.source + "_" + u.resource}
		}
		var err error
		key, err = asset.NewKey(append(slices.Clone(opts.KeyPrefix), parts...)...)
		if err != nil {
			return a, fmt.Errorf("dlt pipeline %s, %s %s: %w", p.Name, style, u.name, err)
		}
	}
	deps, ok := opts.Deps[u.name]
	if !ok {
		ext, err := externalKey(u)
		if err != nil {
			return a, fmt.Errorf("dlt pipeline %s, resource %s: %w", p.Name, u.resource, err)
		}
		deps = []asset.Key{ext}
	}

	md := map[string]any{
		"dlt_pipeline": p.Name,
		"dlt_source":   u.source,
		"dlt_resource": u.resource,
		"dataset":      dataset,
	}
	if dest != "" {
		md["destination"] = dest
	}
	var tables []map[string]any
	for _, t := range u.roots {
		tables = append(tables, tableMetadata(t))
	}
	for _, t := range nested {
		tables = append(tables, tableMetadata(t))
	}
	if len(u.roots) > 0 {
		md["write_disposition"] = u.roots[0].WriteDisposition
	}
	// The table a typed check on this asset reads: the one root table, or,
	// before the first run, the table dlt will name after the resource.
	switch {
	case dataset == "":
	case len(u.roots) == 1:
		md["relation"] = quoteIdent(dataset) + "." + quoteIdent(u.roots[0].Name)
	case len(u.roots) == 0 && reSnake.MatchString(u.resource):
		md["relation"] = quoteIdent(dataset) + "." + quoteIdent(u.resource)
	}
	if style == KeysByTable && len(u.roots) == 1 {
		md["relation_name"] = dataset + "." + u.roots[0].Name
		md["table"] = u.roots[0].Name
		md["columns"] = tables[0]["columns"]
		if len(tables) > 1 {
			md["nested_tables"] = tables[1:]
		}
	} else {
		md["tables"] = a.Tables
		if len(tables) > 0 {
			md["table_schemas"] = tables
		}
	}
	if p.State != nil {
		var incs []map[string]any
		for _, inc := range p.State.ResourceIncrementals(u.source, u.resource) {
			incs = append(incs, map[string]any{
				"cursor_path":   inc.CursorPath,
				"initial_value": inc.InitialValue,
				"last_value":    inc.LastValue,
			})
		}
		if len(incs) > 0 {
			md["incremental"] = incs
		}
	}

	kinds := []string{"dlt"}
	if dest != "" {
		kinds = append(kinds, dest)
	}
	spec := asset.Spec{
		Key:         key,
		Deps:        slices.Clone(deps),
		Group:       opts.Group,
		Kinds:       kinds,
		Description: description(u, style),
		Metadata:    md,
		Partitions:  opts.Partitions,
		Step:        opts.Step,
		Origin:      origin(p, u),
	}
	spec.Normalize()
	a.Spec = spec
	return a, nil
}

func description(u unit, style string) string {
	for _, t := range u.roots {
		if t.Description != "" {
			return t.Description
		}
	}
	if style == KeysByTable {
		return fmt.Sprintf("Table %s loaded by dlt resource %s of source %s.", u.name, u.resource, u.source)
	}
	return fmt.Sprintf("dlt resource %s of source %s.", u.resource, u.source)
}

func origin(p *mdlt.Pipeline, u unit) string {
	if len(u.roots) == 0 || u.schema == nil {
		return fmt.Sprintf("dlt pipeline %s: resource %s (listed in elt.yaml)", p.Name, u.resource)
	}
	loc := u.schema.Name + " schema"
	if u.schema.Path != "" {
		loc = u.schema.Path
		if u.roots[0].Line > 0 {
			loc = fmt.Sprintf("%s:%d", loc, u.roots[0].Line)
		}
	}
	return fmt.Sprintf("dlt pipeline %s: table %s (%s)", p.Name, u.roots[0].Name, loc)
}

func tableMetadata(t *mdlt.Table) map[string]any {
	m := map[string]any{"name": t.Name, "write_disposition": t.WriteDisposition, "seen_data": t.SeenData}
	if t.Parent != "" {
		m["parent"] = t.Parent
	}
	if t.Resource != "" {
		m["resource"] = t.Resource
	}
	cols := make([]map[string]any, 0, len(t.Columns))
	for _, c := range t.Columns {
		cm := map[string]any{"name": c.Name, "data_type": c.DataType, "nullable": c.Nullable}
		if len(c.Hints) > 0 {
			cm["hints"] = c.Hints
		}
		if c.Description != "" {
			cm["description"] = c.Description
		}
		cols = append(cols, cm)
	}
	m["columns"] = cols
	return m
}

// reSnake matches names dlt's snake_case naming keeps as they are.
var reSnake = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// quoteIdent double-quotes one identifier for the "relation" metadata.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
