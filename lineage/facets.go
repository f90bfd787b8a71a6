package lineage

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/eltproject/elt/asset"
)

// inputs are the upstream assets of a step's assets outside the step.
func (ob *Observer) inputs(keys []asset.Key) []Dataset {
	in := map[asset.Key]bool{}
	for _, k := range keys {
		in[k] = true
	}
	seen := map[asset.Key]bool{}
	var out []Dataset
	for _, k := range keys {
		if ob.o.Deps == nil {
			break
		}
		for _, d := range ob.o.Deps(k) {
			if in[d] || seen[d] {
				continue
			}
			seen[d] = true
			out = append(out, ob.dataset(d, nil))
		}
	}
	return out
}

// dataset is an asset's dataset with its static facets; cols, when set,
// are the columns just materialized.
func (ob *Observer) dataset(k asset.Key, cols []Column) Dataset {
	a := ob.o.Assets[k]
	if a == nil {
		return Dataset{Namespace: ob.o.Namespace, Name: k.String()}
	}
	ds := Dataset{Namespace: a.Dataset.Namespace, Name: a.Dataset.Name, Facets: Facets{}}
	if cols == nil {
		cols = a.Columns
	}
	if len(cols) > 0 {
		fs := make([]map[string]any, len(cols))
		for i, c := range cols {
			fs[i] = map[string]any{"name": c.Name, "ordinal_position": i + 1}
			if c.Type != "" {
				fs[i]["type"] = c.Type
			}
		}
		ds.Facets["schema"] = newFacet("schema", map[string]any{"fields": fs})
	}
	if a.DataSourceURI != "" {
		ds.Facets["dataSource"] = newFacet("dataSource", map[string]any{"name": a.DataSourceName, "uri": a.DataSourceURI})
	}
	if len(ds.Facets) == 0 {
		ds.Facets = nil
	}
	return ds
}

func (ob *Observer) output(st *stepState, k asset.Key, done bool) Dataset {
	md := st.mats[k]
	cols := columnsOf(md)
	if cols == nil {
		cols = st.catalog[k]
	}
	ds := ob.dataset(k, cols)
	if !done {
		return ds
	}
	if ds.Facets == nil {
		ds.Facets = Facets{}
	}
	if md != nil {
		stats := map[string]any{}
		if n, ok := intOf(md["rows"]); ok {
			stats["rowCount"] = n
		} else if n, ok := intOf(md["rows_inserted"]); ok {
			stats["rowCount"] = n
		}
		if n, ok := intOf(md["bytes"]); ok {
			stats["size"] = n
		}
		if len(stats) > 0 {
			ds.OutputFacets = Facets{"outputStatistics": newFacet("outputStatistics", stats)}
		}
	}
	if c := st.checks[k]; len(c) > 0 {
		ds.Facets["dataQualityAssertions"] = newFacet("dataQualityAssertions", map[string]any{"assertions": c})
	}
	if a := ob.o.Assets[k]; a != nil && md != nil {
		if cl := ob.columnLineage(st, a, cols); cl != nil {
			ds.Facets["columnLineage"] = cl
		}
	}
	if len(ds.Facets) == 0 {
		ds.Facets = nil
	}
	return ds
}

// setCatalog keeps the columns read from the catalog at a step's end:
// they name the schema facet of the step's outputs and, for later steps,
// the asset's columns.
func (ob *Observer) setCatalog(q queued) {
	st := ob.step(q.ev.StepID)
	if q.catErr != nil {
		ob.log(st, fmt.Sprintf("openlineage: no schema from the catalog for step %s: %v", st.id, q.catErr))
	}
	st.catalog = q.catalog
	for k, c := range q.catalog {
		if a := ob.o.Assets[k]; a != nil && len(c) > 0 {
			a.Columns, a.Declared = c, false
		}
	}
}

// columnLineage derives the columnLineage facet of a SQL asset, or logs
// why there is none.
func (ob *Observer) columnLineage(st *stepState, a *Asset, cols []Column) Facet {
	ob.loadCompiled(st, a)
	if a.SQL == "" || ob.o.Table == nil {
		return nil
	}
	if a.Script {
		ob.log(st, fmt.Sprintf("openlineage: no column lineage for %s: its SQL is a script (materialize: script), not one SELECT", a.Key))
		return nil
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	byName := make(map[string]*Asset, len(ob.o.Assets))
	for k, other := range ob.o.Assets {
		byName[k.String()] = other
	}
	key := cacheKey(a.SQL, names, byName)
	if e, ok := ob.cache.get(key); ok {
		if e.Err != "" {
			ob.log(st, fmt.Sprintf("openlineage: no column lineage for %s: %s", a.Key, e.Err))
			return nil
		}
		return columnLineageFacet(e.Lineage)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resolve := func(t TableRef) (DatasetID, []string) {
		ds := ob.o.Table(a.Key, t)
		for _, other := range ob.o.Assets {
			if other.Dataset == ds && other.Columns != nil && !other.Declared {
				cols := make([]string, len(other.Columns))
				for i, c := range other.Columns {
					cols[i] = c.Name
				}
				return ds, cols
			}
		}
		return ds, nil
	}
	cl, err := ob.o.Parser.ColumnLineage(ctx, a.SQL, resolve, names)
	if err != nil {
		if ctx.Err() == nil {
			ob.cache.put(key, cacheEntry{Err: err.Error()})
		}
		ob.log(st, fmt.Sprintf("openlineage: no column lineage for %s: %v", a.Key, err))
		return nil
	}
	ob.cache.put(key, cacheEntry{Lineage: cl})
	return columnLineageFacet(cl)
}

// loadCompiled reads the compiled SQL a tool wrote for a (once it exists).
func (ob *Observer) loadCompiled(st *stepState, a *Asset) {
	if a.CompiledFile == nil || st == nil {
		return
	}
	// The engine names an attempt's folder like its log, without .log.
	path := a.CompiledFile(strings.TrimSuffix(st.logPath, ".log"), st.attempt)
	if path == "" {
		return
	}
	if b, err := os.ReadFile(path); err == nil {
		a.SQL = strings.TrimSpace(string(b))
	}
}

// log notes msg in the step's log file and through Options.Log.
func (ob *Observer) log(st *stepState, msg string) {
	if st.logPath != "" {
		if f, err := os.OpenFile(st.logPath, os.O_APPEND|os.O_WRONLY, 0); err == nil {
			_, _ = f.WriteString(msg + "\n")
			_ = f.Close()
		}
	}
	ob.o.Log(st.id, msg)
}

func columnLineageFacet(cl *ColumnLineage) Facet {
	fields := map[string]any{}
	for name, in := range cl.Fields {
		fields[name] = map[string]any{"inputFields": in}
	}
	f := map[string]any{"fields": fields}
	if len(cl.Dataset) > 0 {
		f["dataset"] = cl.Dataset
	}
	return newFacet("columnLineage", f)
}

// jobFacets are a step's job facets: jobType, sql, sourceCodeLocation,
// ownership and documentation of its assets.
func (ob *Observer) jobFacets(st *stepState, keys []asset.Key) Facets {
	f := Facets{"jobType": jobTypeFacet("STEP")}
	var owners []map[string]any
	seenOwner := map[string]bool{}
	var sqls, docs []string
	dialect := ""
	for _, k := range keys {
		a := ob.o.Assets[k]
		if a == nil {
			continue
		}
		ob.loadCompiled(st, a)
		if a.SQL != "" {
			sqls = append(sqls, a.SQL)
			if strings.HasPrefix(a.Dataset.Namespace, "duckdb://") {
				dialect = "duckdb"
			}
		}
		if a.Description != "" {
			docs = append(docs, a.Description)
		}
		if a.SourceFile != "" && f["sourceCodeLocation"] == nil {
			f["sourceCodeLocation"] = newFacet("sourceCodeLocation", map[string]any{"type": "file", "url": "file://" + a.SourceFile, "path": a.SourceFile})
		}
		for _, o := range a.Owners {
			if !seenOwner[o] {
				seenOwner[o] = true
				owners = append(owners, map[string]any{"name": o})
			}
		}
	}
	if len(sqls) > 0 {
		sf := map[string]any{"query": strings.Join(sqls, ";\n")}
		if dialect != "" {
			sf["dialect"] = dialect
		}
		f["sql"] = newFacet("sql", sf)
	}
	if len(owners) > 0 {
		f["ownership"] = newFacet("jobOwnership", map[string]any{"owners": owners})
	}
	if len(docs) > 0 {
		f["documentation"] = newFacet("jobDocumentation", map[string]any{"description": strings.Join(docs, "\n"), "contentType": "text/plain"})
	}
	return f
}

// columnsOf reads the columns a materialization reported.
func columnsOf(md map[string]any) []Column {
	raw, _ := md["columns"].([]any)
	if raw == nil {
		if cs, ok := md["columns"].([]map[string]any); ok {
			for _, c := range cs {
				raw = append(raw, c)
			}
		}
	}
	var out []Column
	for _, r := range raw {
		m, ok := r.(map[string]any)
		if !ok {
			continue
		}
		n, _ := m["name"].(string)
		t, _ := m["type"].(string)
		if n != "" {
			out = append(out, Column{Name: n, Type: t})
		}
	}
	return out
}

func intOf(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int64:
		return n, true
	case float64:
		return int64(n), true
	case uint64:
		return int64(n), true
	}
	return 0, false
}
