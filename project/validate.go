package project

import (
	"fmt"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// validateLimits checks `concurrency:`, `pools:` and every `pool:` an
// asset, dbt project or Sling replication names. A pool nobody declared
// used to be accepted silently with a limit of 1, so a typo serialized
// steps instead of sharing the intended limit.
func (p *Project) validateLimits(root *yaml.Node, probs *problems) {
	if p.Config.Concurrency < 0 {
		probs.add(lineOfKey(root, "concurrency"), "concurrency: %d; write a number of parallel steps, 1 or more (0 or unset: one per CPU)", p.Config.Concurrency)
	}
	pnode := valueOf(root, "pools")
	declared := make([]string, 0, len(p.Config.Pools))
	for name, limit := range p.Config.Pools {
		declared = append(declared, name)
		if limit < 1 {
			probs.add(lineOfKey(pnode, name), "pool %q has limit %d; write 1 or more (steps holding it at once)", name, limit)
		}
	}
	sort.Strings(declared)
	known := fmt.Sprintf("declared pools: %s", strings.Join(declared, ", "))
	if len(declared) == 0 {
		known = "no pools are declared"
	}
	assetLine := map[string]int{}
	for _, a := range p.Config.Assets {
		assetLine["asset:"+a.Key.Key.String()] = a.line
	}
	fams := make([]string, 0, len(p.Families))
	for n := range p.Families {
		fams = append(fams, n)
	}
	sort.Strings(fams)
	for _, n := range fams {
		for _, pool := range p.Families[n].Pools {
			if _, ok := p.Config.Pools[pool]; ok || strings.HasPrefix(pool, "duckdb:") || pool == n {
				// duckdb:<path> pools are elt's own, one writer per file; a pool
				// named after its family is the integration's own lock (a dlt
				// pipeline never runs twice at once).
				continue
			}
			line, ok := assetLine[n]
			if !ok {
				section, _, _ := strings.Cut(n, ":")
				line = lineOfKey(root, section)
			}
			hint := ""
			if near := nearest(pool, declared); near != "" {
				hint = fmt.Sprintf(" (did you mean %q?)", near)
			}
			probs.add(line, "%s: pool %q is not declared%s; add it under pools: (e.g. pools: {%s: 1}) or fix the name (%s)",
				strings.TrimPrefix(n, "asset:"), pool, hint, pool, known)
		}
	}
}
