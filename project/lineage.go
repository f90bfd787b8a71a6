package project

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/integrations/duckdb"
	"github.com/eltproject/elt/lineage"
	"github.com/eltproject/elt/store"
)

// LineageConfig resolves the openlineage: section and the OPENLINEAGE_*
// environment; nil when lineage is off.
func (p *Project) LineageConfig() (*lineage.Config, error) {
	getenv := func(k string) string {
		if p.getenv != nil {
			v, _ := p.getenv(k)
			return v
		}
		return os.Getenv(k)
	}
	return lineage.Resolve(p.Config.OpenLineage, getenv, p.Config.Name)
}

// lineageSecrets are the values redaction must hide: the api key.
func (p *Project) lineageSecrets() []string {
	c, err := p.LineageConfig()
	if err != nil || c == nil || c.Transport.APIKey == "" {
		return nil
	}
	return []string{c.Transport.APIKey}
}

// lineageHook starts OpenLineage emission for one run when configured. It
// returns the observer to chain before opts.Observe and a finish function
// that flushes with a short deadline. Warnings go to stderr, once.
func (p *Project) lineageHook(st store.Store, opts RunOptions, runID string, plan *engine.Plan, part *engine.Partition, latest map[asset.Key]store.Materialization) (func(engine.Event), func()) {
	cfg, err := p.LineageConfig()
	if err != nil {
		p.lineageWarn(err.Error())
		return opts.Observe, func() {}
	}
	if cfg == nil {
		return opts.Observe, func() {}
	}
	tr, err := lineage.NewTransport(cfg.Transport, p.Dir, os.Stdout)
	if err != nil {
		p.lineageWarn(err.Error())
		return opts.Observe, func() {}
	}
	where := cfg.Transport.Type
	if cfg.Transport.Type == "http" {
		where = lineage.RedactURL(cfg.Transport.URL)
	} else if cfg.Transport.Type == "file" {
		where = cfg.Transport.Path
	}
	eo := lineage.EmitterOptions{Where: where, Warn: p.lineageWarn}
	if p.HasSecrets() {
		eo.Redact = p.Redact
	}
	em := lineage.NewEmitter(tr, eo)
	job := opts.Job
	if job == "" {
		job = p.Config.Name
	}
	if job == "" {
		job = "elt"
	}
	steps := map[string][]asset.Key{}
	pools := map[string][]string{}
	for _, s := range plan.Steps {
		steps[s.ID] = s.Assets
		pools[s.ID] = s.Pools
	}
	o := lineage.Options{
		Catalog: func(ctx context.Context, stepID string, keys []asset.Key) (map[asset.Key][]lineage.Column, error) {
			return p.lineageCatalog(ctx, pools[stepID], keys)
		},
		Namespace: cfg.Namespace, Job: job, RunID: runID, Trigger: opts.Trigger, Partition: part,
		Steps: steps, Emitter: em, Parser: lineage.SharedParser(), CacheFile: filepath.Join(p.StateDir(), "lineage-cache.json"), Assets: p.LineageAssets(latest),
		Deps: func(k asset.Key) []asset.Key {
			if s, ok := p.Graph.Spec(k); ok {
				return s.Deps
			}
			return nil
		},
		Table: p.lineageTable, Warn: p.lineageWarn,
		Log: func(stepID, msg string) {
			_ = st.Record(context.Background(), engine.Event{Type: engine.Log, Time: time.Now(), RunID: runID, StepID: stepID, Message: msg})
		},
	}
	ob := lineage.NewObserver(o)
	next := opts.Observe
	observe := func(ev engine.Event) {
		ob.Observe(ev)
		if next != nil {
			next(ev)
		}
	}
	return observe, func() {
		ob.Close(lineage.DefaultFlush)
	}
}

func (p *Project) lineageWarn(msg string) {
	msg = p.Redact(msg)
	if p.Warn != nil {
		p.Warn(msg)
		return
	}
	os.Stderr.WriteString("elt: warning: " + msg + "\n")
}

// LineageAssets describes every asset of the graph for OpenLineage:
// dataset names, compiled SQL, owners and the columns of the latest
// materialization (latest may be nil).
func (p *Project) LineageAssets(latest map[asset.Key]store.Materialization) map[asset.Key]*lineage.Asset {
	out := map[asset.Key]*lineage.Asset{}
	for _, s := range p.Graph.Specs() {
		a := &lineage.Asset{Key: s.Key, Owners: s.Owners, Description: s.Description, CheckColumns: map[string]string{}}
		a.Dataset, a.DataSourceName, a.DataSourceURI = p.lineageDataset(s)
		for _, c := range s.Checks {
			if col, ok := c.Metadata["column"].(string); ok {
				a.CheckColumns[c.Name] = col
			} else if cfg, ok := c.Metadata["config"].(map[string]any); ok {
				if col, ok := cfg["column"].(string); ok {
					a.CheckColumns[c.Name] = col
				}
			}
		}
		if cfg, ok := p.sqlConfigs[s.Key]; ok && cfg.Import == nil {
			if text, file, err := cfg.LoadSQL(p.Dir); err == nil {
				this, _ := s.Metadata["relation"].(string)
				a.SQL = lineage.Compile(text, p.lineageRef, this)
				a.Script = cfg.Materialize == "script"
				if file != "" {
					a.SourceFile = p.abs(file)
				}
			}
		}
		if a.SQL == "" {
			a.CompiledFile = p.dbtCompiledFile(s)
		}
		if m, ok := latest[s.Key]; ok {
			a.Columns = lineageColumns(m.Metadata["columns"])
		}
		if a.Columns == nil {
			// Declared columns (dbt's manifest) until a run reports them.
			a.Columns = lineageColumns(s.Metadata["columns"])
			a.Declared = a.Columns != nil
		}
		out[s.Key] = a
	}
	return out
}

// lineageCatalog reads the columns of keys from the catalogs of their
// DuckDB files, one read-only query per file. It is called as the step
// ends, while the step still holds its pools: only files whose pool the
// step holds are read, so no other step of this process writes them
// meanwhile (a step outside the pool, such as a dbt project without
// DuckDB checks, keeps the columns dbt declared).
func (p *Project) lineageCatalog(ctx context.Context, held []string, keys []asset.Key) (map[asset.Key][]lineage.Column, error) {
	type target struct {
		key   asset.Key
		table duckdb.TableRef
	}
	byRes := map[string][]target{}
	rcs := map[string]duckdb.ResourceConfig{}
	for _, k := range keys {
		s, ok := p.Graph.Spec(k)
		if !ok {
			continue
		}
		rel, _ := s.Metadata["relation"].(string)
		if rel == "" {
			continue
		}
		parts := lineage.SplitRelation(rel)
		res, _ := s.Metadata["duckdb_resource"].(string)
		name := p.duckdbResourceName(res, parts)
		if name == "" {
			continue
		}
		_, rc, err := duckdb.PickResource(name, p.Resources)
		if err != nil || !slices.Contains(held, duckdb.PoolName(rc.AbsPath(p.Dir))) {
			continue
		}
		schema := "main"
		if len(parts) >= 2 {
			schema = parts[len(parts)-2]
		}
		rcs[name] = rc
		byRes[name] = append(byRes[name], target{k, duckdb.TableRef{Schema: schema, Name: parts[len(parts)-1]}})
	}
	out := map[asset.Key][]lineage.Column{}
	var errs []error
	for name, ts := range byRes {
		tables := make([]duckdb.TableRef, len(ts))
		for i, t := range ts {
			tables[i] = t.table
		}
		cols, err := rcs[name].TableColumns(ctx, p.Dir, tables)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, t := range ts {
			for _, c := range cols[t.table] {
				out[t.key] = append(out[t.key], lineage.Column{Name: c.Name, Type: c.Type})
			}
		}
	}
	return out, errors.Join(errs...)
}

// duckdbResourceName is the duckdb resource holding a relation: the one
// named, else the one whose file name matches the relation's catalog.
func (p *Project) duckdbResourceName(res string, parts []string) string {
	if r, ok := p.Resources[res]; ok && r.Type == "duckdb" {
		return res
	}
	if len(parts) == 3 {
		for name, r := range p.Resources {
			path := r.Config["path"]
			if r.Type == "duckdb" && strings.EqualFold(strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)), parts[0]) {
				return name
			}
		}
	}
	return ""
}

// lineageColumns reads columns from materialization metadata ({name,
// type}) or from a translator's column list (dbt: {name, data_type});
// columns without a name are left out.
func lineageColumns(v any) []lineage.Column {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var raw []struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		DataType string `json:"data_type"`
	}
	if json.Unmarshal(b, &raw) != nil {
		return nil
	}
	var out []lineage.Column
	for _, c := range raw {
		if c.Name == "" {
			continue
		}
		t := c.Type
		if t == "" {
			t = c.DataType
		}
		out = append(out, lineage.Column{Name: c.Name, Type: t})
	}
	return out
}

// lineageRef is the relation {{ ref("x") }} renders to.
func (p *Project) lineageRef(name string) string {
	k, err := asset.ParseKey(name)
	if err != nil {
		return ""
	}
	if s, ok := p.Graph.Spec(k); ok {
		if r, ok := s.Metadata["relation"].(string); ok {
			return r
		}
	}
	return ""
}

// lineageDataset names an asset's dataset: a DuckDB table by its file and
// relation, a dbt relation in the DuckDB file of the same catalog name,
// anything else by its key in the job namespace.
func (p *Project) lineageDataset(s *asset.Spec) (lineage.DatasetID, string, string) {
	rel, _ := s.Metadata["relation"].(string)
	if rel != "" {
		parts := lineage.SplitRelation(rel)
		res, _ := s.Metadata["duckdb_resource"].(string)
		path := p.duckdbPath(res, parts)
		if path != "" {
			schema, table := "main", parts[len(parts)-1]
			if len(parts) >= 2 {
				schema = parts[len(parts)-2]
			}
			ds := lineage.DuckDBDataset(path, schema, table)
			return ds, "duckdb", ds.Namespace
		}
		return lineage.DatasetID{Namespace: p.lineageNamespace(), Name: strings.Join(parts, ".")}, "", ""
	}
	return lineage.DatasetID{Namespace: p.lineageNamespace(), Name: s.Key.String()}, "", ""
}

// duckdbPath finds the DuckDB file of a relation: the named resource, or
// the duckdb resource whose file name matches the relation's catalog.
func (p *Project) duckdbPath(res string, parts []string) string {
	if r, ok := p.Resources[res]; ok && r.Type == "duckdb" {
		return r.Config["path"]
	}
	if len(parts) == 3 {
		for _, r := range p.Resources {
			if r.Type != "duckdb" {
				continue
			}
			path := r.Config["path"]
			if strings.EqualFold(strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)), parts[0]) {
				return path
			}
		}
	}
	return ""
}

func (p *Project) lineageNamespace() string {
	if c, err := p.LineageConfig(); err == nil && c != nil {
		return c.Namespace
	}
	return p.Config.Name
}

// lineageTable maps a table named in an asset's SQL to a dataset: an
// asset of the same DuckDB file when one has that relation, else the
// table itself in that file.
func (p *Project) lineageTable(from asset.Key, t lineage.TableRef) lineage.DatasetID {
	var res string
	if spec, ok := p.Graph.Spec(from); ok {
		res, _ = spec.Metadata["duckdb_resource"].(string)
	}
	var path string
	if t.Catalog != "" {
		// A three-part name picks the DuckDB file of that catalog.
		path = p.duckdbPath("", []string{t.Catalog, t.Schema, t.Name})
	}
	if path == "" {
		path = p.duckdbPath(res, nil)
	}
	schema := t.Schema
	if schema == "" {
		schema = "main"
	}
	if path == "" {
		return lineage.DatasetID{Namespace: p.lineageNamespace(), Name: schema + "." + t.Name}
	}
	return lineage.DuckDBDataset(path, schema, t.Name)
}

// ExportLineage writes the static OpenLineage lineage of a selection (see
// lineage.Export). Columns come from the run store's latest
// materializations when the project has run before. warn receives why an
// asset has no column lineage.
func (p *Project) ExportLineage(ctx context.Context, w io.Writer, set asset.Set, warn func(string)) error {
	plan, err := p.Plan(set)
	if err != nil {
		return err
	}
	var latest map[asset.Key]store.Materialization
	if _, err := os.Stat(filepath.Join(p.StateDir(), "elt.db")); err == nil {
		st, err := p.OpenStore(ctx)
		if err != nil {
			return err
		}
		latest, err = st.LatestMaterializations(ctx)
		_ = st.Close()
		if err != nil {
			return err
		}
	}
	steps := map[string][]asset.Key{}
	for _, s := range plan.Steps {
		steps[s.ID] = s.Assets
	}
	ns := p.lineageNamespace()
	if ns == "" {
		ns = "default"
	}
	o := lineage.Options{Namespace: ns, Steps: steps, Assets: p.LineageAssets(latest), Table: p.lineageTable,
		CacheFile: filepath.Join(p.StateDir(), "lineage-cache.json"),
		Deps: func(k asset.Key) []asset.Key {
			if s, ok := p.Graph.Spec(k); ok {
				return s.Deps
			}
			return nil
		},
		Log: func(_, msg string) { warn(msg) },
	}
	return lineage.Export(w, o, time.Now().UTC())
}

// dbtCompiledFile says where dbt writes a model's compiled SQL in a
// step attempt: elt's dbt runner points DBT_TARGET_PATH at
// <attempt folder>/dbt-<attempt>/target, and dbt writes
// compiled/<package>/<original_file_path> there. nil for other assets.
func (p *Project) dbtCompiledFile(s *asset.Spec) func(string, int) string {
	uid, _ := s.Metadata["unique_id"].(string)
	orig, _ := s.Metadata["original_file_path"].(string)
	parts := strings.SplitN(uid, ".", 3)
	if len(parts) < 3 || parts[0] != "model" || orig == "" || !strings.HasPrefix(s.Step, "dbt:") {
		return nil
	}
	return func(stepDir string, attempt int) string {
		if stepDir == "" {
			return ""
		}
		return filepath.Join(stepDir, fmt.Sprintf("dbt-%d", attempt), "target", "compiled", parts[1], orig)
	}
}
