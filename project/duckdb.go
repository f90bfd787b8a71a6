package project

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/integrations/duckdb"
)

// sqlAsset configures a DuckDB SQL or import asset. The runner is made in
// finishSQLAssets, once every SQL asset is known.
func (p *Project) sqlAsset(a *AssetConfig, spec *asset.Spec, fam *engine.Family) error {
	cfg := duckdb.AssetConfig{SQL: a.SQL, Materialize: a.Materialize, PartitionColumn: a.PartitionColumn, Resource: a.Resource, Relation: a.Relation}
	if a.Import.Kind != 0 {
		var ic duckdb.ImportConfig
		if err := strictDecode(&a.Import, &ic, "import"); err != nil {
			return err
		}
		cfg.Import = &ic
		// A missing file is a mistake unless an upstream asset makes it.
		if len(a.Deps) == 0 && ic.Path != "" && !strings.ContainsAny(ic.Path, "*?[") && !strings.Contains(ic.Path, "://") && !fileExists(p.abs(ic.Path)) {
			return fmt.Errorf("import: %s does not exist (if an upstream asset creates it, list that asset under deps:)", p.abs(ic.Path))
		}
	}
	info, err := cfg.Info(a.Key.Key, p.Dir, p.Resources)
	if err != nil {
		// Info's errors already name the asset.
		return bareError{err}
	}
	spec.Deps = append(spec.Deps, info.Deps...)
	md := map[string]any{}
	for k, v := range info.Metadata {
		md[k] = v
	}
	for k, v := range spec.Metadata {
		md[k] = v
	}
	spec.Metadata = md
	spec.CodeVersion = info.CodeVersion
	spec.Kinds = append(spec.Kinds, info.Kinds...)
	if !slices.Contains(fam.Pools, info.Pool) {
		fam.Pools = append(fam.Pools, info.Pool)
	}
	if p.sqlConfigs == nil {
		p.sqlConfigs = map[asset.Key]duckdb.AssetConfig{}
	}
	p.sqlConfigs[a.Key.Key] = cfg
	return nil
}

// finishSQLAssets gives every SQL asset family one shared runner that
// knows all SQL assets (for {{ ref() }}), and registers the DuckDB check
// runner.
func (p *Project) finishSQLAssets(cfgs map[asset.Key]*AssetConfig, probs *problems) {
	if len(p.sqlConfigs) > 0 {
		r := duckdb.NewRunner(p.Resources, p.sqlConfigs, p.Dir)
		for k := range p.sqlConfigs {
			if f := p.Families["asset:"+k.String()]; f != nil {
				f.Runner = r
			}
		}
	}
	p.CheckRunners["duckdb"] = duckdb.NewCheckRunner(p.Resources, p.Dir)
}

// builtinCheck decodes a typed check (not_null, unique, …) run by DuckDB.
// assetRes, when set, is the DuckDB resource of the checked asset, used
// when the check names no resource: of its own.
func (p *Project) builtinCheck(n *yaml.Node, assetRes string) (asset.CheckSpec, error) {
	var c duckdb.CheckConfig
	if err := strictDecode(n, &c, "check"); err != nil {
		return asset.CheckSpec{}, err
	}
	if err := c.Validate(); err != nil {
		return asset.CheckSpec{}, err
	}
	cs := c.Spec()
	resName := c.Resource
	if resName == "" {
		resName = assetRes
	}
	if _, rc, err := duckdb.PickResource(resName, p.Resources); err == nil {
		if cs.Metadata == nil {
			cs.Metadata = map[string]any{}
		}
		cs.Metadata["pool"] = duckdb.PoolName(rc.AbsPath(p.Dir))
	} else {
		return asset.CheckSpec{}, fmt.Errorf("%v (built-in checks run in a DuckDB resource)", err)
	}
	return cs, nil
}

// addCheckPools puts each family whose assets have DuckDB checks into the
// DuckDB file's pool, so checks never read a file another step is writing.
func (p *Project) addCheckPools(specs []asset.Spec) {
	for _, s := range specs {
		f := p.Families[s.Step]
		if f == nil {
			continue
		}
		for _, c := range s.Checks {
			pool, _ := c.Metadata["pool"].(string)
			if pool != "" && !slices.Contains(f.Pools, pool) {
				f.Pools = append(f.Pools, pool)
			}
		}
	}
}

// bareError marks an error that already names its asset.
type bareError struct{ error }

func (e bareError) Unwrap() error { return e.error }
