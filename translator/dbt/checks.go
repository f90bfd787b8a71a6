package dbt

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/eltproject/elt/asset"
	dbtmanifest "github.com/eltproject/elt/manifest/dbt"
)

// attachChecks turns each enabled test into a check of the asset it tests.
// A test is attached to: the asset named by meta.elt.ref / meta.dagster.ref;
// else its attached_node; else its only parent; else, for generic tests,
// the model or source in its "model" argument. Tests of unselected assets,
// of ephemeral models, and of sources (unless SourceTests) are dropped.
func (t *translator) attachChecks(specs []asset.Spec, index map[string]int, nodeIDs []string) {
	touched := map[int]bool{}
	for _, id := range nodeIDs {
		n := t.m.Nodes[id]
		if n.ResourceType != "test" || !n.Config.Enabled {
			continue
		}
		target := t.testTarget(n)
		i, ok := index[target]
		if !ok {
			continue
		}
		if _, isSource := t.m.Sources[target]; isSource && !t.opts.SourceTests {
			continue
		}
		spec := &specs[i]
		name := n.Name
		if _, dup := spec.Check(name); dup {
			name = n.Name + "_" + id[strings.LastIndexByte(id, '.')+1:]
		}
		severity := "error" // dbt's default
		switch sev := n.Config.Severity; {
		case strings.EqualFold(sev, "warn"):
			severity = "warn"
		case sev != "" && !strings.EqualFold(sev, "error"):
			severity = strings.ToLower(sev)
		}
		md := map[string]any{MetaUniqueID: id}
		if n.ColumnName != "" {
			md["column"] = n.ColumnName // the tested column (OpenLineage's assertions name it)
		}
		spec.Checks = append(spec.Checks, asset.CheckSpec{
			Name:        name,
			Blocking:    severity == "error",
			Description: n.Description,
			Severity:    severity,
			Metadata:    md,
		})
		touched[i] = true
	}
	for i := range touched {
		slices.SortFunc(specs[i].Checks, func(a, b asset.CheckSpec) int { return strings.Compare(a.Name, b.Name) })
	}
}

// testTarget returns the unique_id of the node or source a test tests, or
// "" when it cannot tell.
func (t *translator) testTarget(n *dbtmanifest.Node) string {
	if v, ok := metaOverride("ref", n.Meta, n.Config.Meta); ok {
		return t.resolveRef(n, v)
	}
	if n.AttachedNode != "" {
		return n.AttachedNode
	}
	parents := t.testParents(n)
	if len(parents) == 1 {
		return parents[0]
	}
	if n.TestMetadata != nil && len(parents) > 1 {
		if model, ok := n.TestMetadata.Kwargs["model"].(string); ok {
			return t.matchArgument(model, parents)
		}
	}
	return ""
}

// testParents lists the distinct models, seeds, snapshots and sources a
// test depends on.
func (t *translator) testParents(n *dbtmanifest.Node) []string {
	var out []string
	for _, d := range n.DependsOn.Nodes {
		if slices.Contains(out, d) {
			continue
		}
		if up, ok := t.m.Nodes[d]; ok {
			switch up.ResourceType {
			case "model", "seed", "snapshot":
				out = append(out, d)
			}
			continue
		}
		if _, ok := t.m.Sources[d]; ok {
			out = append(out, d)
		}
	}
	return out
}

var (
	refCall    = regexp.MustCompile(`\bref\(\s*['"]([^'"]+)['"]\s*(?:,\s*['"]([^'"]+)['"])?`)
	sourceCall = regexp.MustCompile(`\bsource\(\s*['"]([^'"]+)['"]\s*,\s*['"]([^'"]+)['"]`)
)

// matchArgument finds the parent named in a generic test's "model"
// argument, "{{ get_where_subquery(ref('orders')) }}" or a source() call.
func (t *translator) matchArgument(model string, parents []string) string {
	if m := refCall.FindStringSubmatch(model); m != nil {
		pkg, name := "", m[1]
		if m[2] != "" {
			pkg, name = m[1], m[2]
		}
		for _, p := range parents {
			if up, ok := t.m.Nodes[p]; ok && up.Name == name && (pkg == "" || up.PackageName == pkg) {
				return p
			}
		}
	}
	if m := sourceCall.FindStringSubmatch(model); m != nil {
		for _, p := range parents {
			if s, ok := t.m.Sources[p]; ok && s.SourceName == m[1] && s.Name == m[2] {
				return p
			}
		}
	}
	return ""
}

// resolveRef resolves meta.dagster.ref, written {name, package_name,
// version} or as a bare name, preferring the test's own parents.
func (t *translator) resolveRef(n *dbtmanifest.Node, v any) string {
	var name, pkg, version string
	switch r := v.(type) {
	case string:
		name = r
	case map[string]any:
		name, _ = r["name"].(string)
		pkg, _ = r["package_name"].(string)
		if pkg == "" {
			pkg, _ = r["package"].(string)
		}
		switch ver := r["version"].(type) {
		case string:
			version = ver
		case float64:
			version = strconv.FormatFloat(ver, 'f', -1, 64)
		}
	}
	if name == "" {
		return ""
	}
	match := func(id string) bool {
		up, ok := t.m.Nodes[id]
		return ok && up.Name == name && (pkg == "" || up.PackageName == pkg) && (version == "" || up.Version == version) &&
			(up.ResourceType == "model" || up.ResourceType == "seed" || up.ResourceType == "snapshot")
	}
	for _, d := range n.DependsOn.Nodes {
		if match(d) {
			return d
		}
	}
	for _, id := range t.nodeIDs {
		if match(id) {
			return id
		}
	}
	return ""
}
