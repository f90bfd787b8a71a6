package project

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/integrations/duckdb"
	"github.com/eltproject/elt/plugins"
)

// pluginAsset makes an asset materialized by a plugin: a built-in one
// served by the elt binary (restapi), or an external binary declared under
// plugins: by path.
func (p *Project) pluginAsset(a *AssetConfig, spec *asset.Spec, fam *engine.Family) error {
	name := a.Plugin.Name
	if name == "" {
		return fmt.Errorf("plugin: needs name: (a built-in plugin such as restapi, or one declared under plugins:)")
	}
	ref := plugins.PluginRef{Name: name}
	if decl, ok := p.Config.Plugins[name]; ok {
		path := decl.Path
		if path == "" {
			return fmt.Errorf("plugin %q is declared without path:", name)
		}
		if !filepath.IsAbs(path) {
			path = filepath.Join(p.Dir, path)
		}
		if !fileExists(path) {
			return fmt.Errorf("plugin %q: %s does not exist; build it first (go build -o %s)", name, path, decl.Path)
		}
		ref.Path = path
	} else if plugins.IsBuiltin(name) {
		ref.Builtin = name
	} else {
		known := append(plugins.Builtins(), sortedNames(p.Config.Plugins)...)
		sort.Strings(known)
		return fmt.Errorf("unknown plugin %q; built-in and declared plugins: %s", name, strings.Join(known, ", "))
	}
	fam.Runner = plugins.NewRunner(ref, a.Plugin.Config, p.Resources)
	if ref.Path != "" {
		p.described = append(p.described, pluginDescribe{ref: ref, cfg: a.Plugin.Config, key: spec.Key, line: a.line, fam: fam})
	}
	spec.Kinds = append(spec.Kinds, "plugin", name)
	spec.CodeVersion = fmt.Sprintf("%s:%v", name, a.Plugin.Config)
	// A plugin loading into a DuckDB resource joins that file's pool.
	if dest, ok := a.Plugin.Config["destination"].(map[string]any); ok {
		if rn, ok := dest["resource"].(string); ok {
			if r, ok := p.Resources[rn]; ok && r.Type == duckdb.ResourceType {
				if _, rc, err := duckdb.PickResource(rn, p.Resources); err == nil {
					pool := duckdb.PoolName(rc.AbsPath(p.Dir))
					if !slices.Contains(fam.Pools, pool) {
						fam.Pools = append(fam.Pools, pool)
					}
				}
			}
		}
	}
	return nil
}

// pluginDescribe is a plugin asset whose plugin is asked, once the assets
// are loaded, what it materializes (sdk.Plugin's Describe).
type pluginDescribe struct {
	ref  plugins.PluginRef
	cfg  map[string]any
	key  asset.Key
	line int
	fam  *engine.Family
}

// describePlugins asks each external plugin (declared under plugins:) which
// assets and checks it materializes under its config, and adds them: the
// declared asset gains the checks, kinds, description and metadata the
// plugin names for it; every other key the plugin names becomes another
// asset of the same step, like an output. Built-in plugins describe exactly
// the asset they are declared as, so they are not started here.
func (p *Project) describePlugins(ctx context.Context, specs []asset.Spec, probs *problems) []asset.Spec {
	for _, d := range p.described {
		idx := slices.IndexFunc(specs, func(s asset.Spec) bool { return s.Key == d.key })
		if idx < 0 {
			continue
		}
		described, err := plugins.Describe(ctx, d.ref, d.cfg)
		if err != nil {
			probs.add(d.line, "asset %s: %v", d.key, err)
			continue
		}
		base := specs[idx]
		for _, ds := range described {
			if ds.Key == d.key {
				mergeDescribed(&specs[idx], ds)
				continue
			}
			if slices.ContainsFunc(specs, func(s asset.Spec) bool { return s.Key == ds.Key }) {
				probs.add(d.line, "asset %s: plugin %s also describes %s, which is defined elsewhere", d.key, d.ref.Name, ds.Key)
				continue
			}
			extra := base
			extra.Key = ds.Key
			extra.Checks = nil
			extra.Description = ""
			extra.Metadata = nil
			extra.Deps = append([]asset.Key{}, base.Deps...)
			extra.Deps = append(extra.Deps, ds.Deps...)
			extra.Kinds = append([]string{}, base.Kinds...)
			mergeDescribed(&extra, ds)
			specs = append(specs, extra)
			d.fam.Multi = true
		}
	}
	return specs
}

// mergeDescribed adds what a plugin's Describe says about s, without
// overriding what elt.yaml set.
func mergeDescribed(s *asset.Spec, d asset.Spec) {
	for _, c := range d.Checks {
		if _, dup := s.Check(c.Name); !dup {
			s.Checks = append(s.Checks, c)
		}
	}
	for _, k := range d.Kinds {
		if !slices.Contains(s.Kinds, k) {
			s.Kinds = append(s.Kinds, k)
		}
	}
	for _, t := range d.Tags {
		if !slices.Contains(s.Tags, t) {
			s.Tags = append(s.Tags, t)
		}
	}
	for _, o := range d.Owners {
		if !slices.Contains(s.Owners, o) {
			s.Owners = append(s.Owners, o)
		}
	}
	if s.Description == "" {
		s.Description = d.Description
	}
	if s.Group == "" {
		s.Group = d.Group
	}
	if len(d.Metadata) > 0 {
		md := make(map[string]any, len(s.Metadata)+len(d.Metadata))
		for k, v := range d.Metadata {
			md[k] = v
		}
		for k, v := range s.Metadata {
			md[k] = v
		}
		s.Metadata = md
	}
}
