package project

import (
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
