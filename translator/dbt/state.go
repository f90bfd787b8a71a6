package dbt

import (
	"fmt"
	"strings"

	"github.com/eltproject/elt/asset"
	dbtmanifest "github.com/eltproject/elt/manifest/dbt"
)

// StateSelector returns the "state" selection method: state:new,
// state:modified and state:modified.<sub> (body, configs, relation,
// persisted_descriptions, macros, contract) select the assets whose dbt
// resource is in diff, or which have a check whose test is.
func StateSelector(diff *dbtmanifest.StateDiff) asset.MethodFunc {
	return func(g *asset.Graph, value string) (asset.Set, error) {
		var ids map[string]bool
		switch {
		case value == "new":
			ids = diff.New
		case value == "modified" || strings.HasPrefix(value, "modified."):
			ids = diff.Modified(value)
		}
		if ids == nil {
			valid := []string{"new", "modified"}
			for _, s := range dbtmanifest.StateSubSelectors() {
				valid = append(valid, "modified."+s)
			}
			return asset.Set{}, fmt.Errorf("unknown state %q; use one of %s", value, strings.Join(valid, ", "))
		}
		var keys []asset.Key
		for _, spec := range g.Specs() {
			if id, _ := spec.Metadata[MetaUniqueID].(string); ids[id] {
				keys = append(keys, spec.Key)
				continue
			}
			for _, c := range spec.Checks {
				if id, _ := c.Metadata[MetaUniqueID].(string); ids[id] {
					keys = append(keys, spec.Key)
					break
				}
			}
		}
		return g.SetOf(keys...), nil
	}
}

// StateMethods returns the selection methods for a state comparison,
// ready for asset.Selector.Methods.
func StateMethods(diff *dbtmanifest.StateDiff) map[string]asset.MethodFunc {
	return map[string]asset.MethodFunc{"state": StateSelector(diff)}
}
