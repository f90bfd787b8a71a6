// Package dbt turns a dbt manifest into asset specs with dagster-dbt's
// default rules, so a project moving from Dagster keeps its asset keys:
//
//   - models, seeds and snapshots become assets materialized by one step
//     family; ephemeral models, analyses, operations and tests do not;
//     sources become external assets;
//   - key: meta.elt.asset_key, else meta.dagster.asset_key (node meta or
//     config.meta, a list of strings); a source is [source_name, name]; a
//     versioned model is [alias]; a model with config.schema is
//     [schema, name]; otherwise [name];
//   - deps follow depends_on, walking through ephemeral models;
//   - group: meta.dagster.group, else config.group; owners:
//     meta.dagster.owners, else the dbt group's owner email (or name);
//   - tests become checks of the asset they test; error severity blocks.
package dbt

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/eltproject/elt/asset"
	dbtmanifest "github.com/eltproject/elt/manifest/dbt"
)

// Options tune Translate.
type Options struct {
	// ModelKeyPrefix is prepended to the default keys of models, seeds and
	// snapshots; SourceKeyPrefix to those of sources. Keys set in meta are
	// used as written.
	ModelKeyPrefix  []string
	SourceKeyPrefix []string
	// Family is the Spec.Step of every translated asset, e.g.
	// "dbt:jaffle_shop".
	Family string
	// SourceTests turns tests of sources into checks of the source assets.
	SourceTests bool
	// Select and Exclude choose what to import, in dbt's selector syntax:
	// fqn globs ("staging", "jaffle_shop.marts.*", "stg_*"), "tag:x",
	// "path:models/staging", also "fqn:", "resource_type:", "package:" and
	// "source:". Space separates a union, comma an intersection. Empty
	// Select imports everything.
	Select, Exclude []string
}

// Metadata keys set on every translated spec.
const (
	MetaUniqueID         = "unique_id"
	MetaFQN              = "fqn"
	MetaResourceType     = "resource_type"
	MetaMaterialization  = "materialization"
	MetaRelation         = "relation"
	MetaColumns          = "columns"
	MetaOriginalFilePath = "original_file_path"
)

// isAssetNode reports whether a node becomes a materialized asset.
func isAssetNode(n *dbtmanifest.Node) bool {
	switch n.ResourceType {
	case "model":
		return n.Config.Materialized != "ephemeral"
	case "seed", "snapshot":
		return true
	}
	return false
}

// translator carries one translation's lookups.
type translator struct {
	m       *dbtmanifest.Manifest
	opts    Options
	keys    map[string]asset.Key // unique_id → key, for nodes and sources that have one
	groups  map[string]*dbtmanifest.Group
	nodeIDs []string // sorted
}

// Translate returns the asset specs of m: one per selected model, seed and
// snapshot, sorted by unique_id, then one external spec per selected
// source and per source a selected node depends on. Tests become checks of
// those specs. Keys that clash are reported together in one error.
func Translate(m *dbtmanifest.Manifest, opts Options) ([]asset.Spec, error) {
	t := &translator{m: m, opts: opts, keys: make(map[string]asset.Key, len(m.Nodes)/2+len(m.Sources))}
	t.groups = make(map[string]*dbtmanifest.Group, len(m.Groups))
	for _, g := range m.Groups {
		t.groups[g.Name] = g
	}
	sel, err := newSelection(opts.Select, opts.Exclude)
	if err != nil {
		return nil, err
	}
	var errs []error
	nodeIDs := m.SortedNodeIDs()
	t.nodeIDs = nodeIDs
	sourceIDs := m.SortedSourceIDs()
	// Keys first: deps and checks refer to nodes of any kind.
	for _, id := range nodeIDs {
		n := m.Nodes[id]
		if !isAssetNode(n) || !n.Config.Enabled {
			continue
		}
		k, err := t.nodeKey(n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t.keys[id] = k
	}
	for _, id := range sourceIDs {
		k, err := t.sourceKey(m.Sources[id])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t.keys[id] = k
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	specs := make([]asset.Spec, 0, len(t.keys))
	index := make(map[string]int, len(t.keys)) // unique_id → specs index
	neededSources := map[string]bool{}
	for _, id := range nodeIDs {
		n := m.Nodes[id]
		if _, ok := t.keys[id]; !ok || !sel.matchNode(n) {
			continue
		}
		ups := t.upstream(n)
		for _, up := range ups {
			if _, ok := m.Sources[up]; ok {
				neededSources[up] = true
			}
		}
		spec := t.nodeSpec(n, ups)
		index[id] = len(specs)
		specs = append(specs, spec)
	}
	for _, id := range sourceIDs {
		s := m.Sources[id]
		if !s.Config.Enabled || (!sel.matchSource(s) && !neededSources[id]) {
			continue
		}
		index[id] = len(specs)
		specs = append(specs, t.sourceSpec(s))
	}
	if err := duplicateKeys(specs); err != nil {
		return nil, err
	}
	t.attachChecks(specs, index, nodeIDs)
	return specs, nil
}

// metaValue returns meta[ns][field] from the first of metas that has it
// (node meta, then config.meta).
func metaValue(field, ns string, metas ...map[string]any) (any, bool) {
	for _, meta := range metas {
		if sub, ok := meta[ns].(map[string]any); ok {
			if v, ok := sub[field]; ok && v != nil {
				return v, true
			}
		}
	}
	return nil, false
}

// metaOverride looks a field up in meta.elt, then meta.dagster.
func metaOverride(field string, metas ...map[string]any) (any, bool) {
	if v, ok := metaValue(field, "elt", metas...); ok {
		return v, true
	}
	return metaValue(field, "dagster", metas...)
}

func stringList(v any) ([]string, bool) {
	switch x := v.(type) {
	case string:
		return []string{x}, x != ""
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok || s == "" {
				return nil, false
			}
			out = append(out, s)
		}
		return out, len(out) > 0
	}
	return nil, false
}

func origin(id, file string) string {
	if file == "" {
		return "dbt " + id
	}
	return "dbt " + id + " (" + file + ")"
}

func (t *translator) nodeKey(n *dbtmanifest.Node) (asset.Key, error) {
	if v, ok := metaOverride("asset_key", n.Meta, n.Config.Meta); ok {
		parts, ok := stringList(v)
		if !ok {
			return asset.Key{}, fmt.Errorf("%s: meta asset_key must be a list of non-empty strings, got %v", origin(n.UniqueID, n.OriginalFilePath), v)
		}
		k, err := asset.NewKey(parts...)
		if err != nil {
			return k, fmt.Errorf("%s: meta asset_key: %w", origin(n.UniqueID, n.OriginalFilePath), err)
		}
		return k, nil
	}
	var parts []string
	switch {
	case n.Version != "":
		parts = []string{n.Alias}
	case n.Config.Schema != "":
		parts = []string{n.Config.Schema, n.Name}
	default:
		parts = []string{n.Name}
	}
	k, err := asset.NewKey(append(slices.Clone(t.opts.ModelKeyPrefix), parts...)...)
	if err != nil {
		return k, fmt.Errorf("%s: asset key: %w; set meta.dagster.asset_key", origin(n.UniqueID, n.OriginalFilePath), err)
	}
	return k, nil
}

func (t *translator) sourceKey(s *dbtmanifest.Source) (asset.Key, error) {
	if v, ok := metaOverride("asset_key", s.Meta, s.Config.Meta); ok {
		parts, ok := stringList(v)
		if !ok {
			return asset.Key{}, fmt.Errorf("%s: meta asset_key must be a list of non-empty strings, got %v", origin(s.UniqueID, s.OriginalFilePath), v)
		}
		k, err := asset.NewKey(parts...)
		if err != nil {
			return k, fmt.Errorf("%s: meta asset_key: %w", origin(s.UniqueID, s.OriginalFilePath), err)
		}
		return k, nil
	}
	k, err := asset.NewKey(append(slices.Clone(t.opts.SourceKeyPrefix), s.SourceName, s.Name)...)
	if err != nil {
		return k, fmt.Errorf("%s: asset key: %w; set meta.dagster.asset_key", origin(s.UniqueID, s.OriginalFilePath), err)
	}
	return k, nil
}

// upstream returns the unique_ids of n's nearest asset ancestors: its
// depends_on nodes, with ephemeral models replaced by their own upstream.
func (t *translator) upstream(n *dbtmanifest.Node) []string {
	direct := true
	for _, d := range n.DependsOn.Nodes {
		if _, ok := t.keys[d]; !ok {
			direct = false
			break
		}
	}
	if direct && !hasDuplicates(n.DependsOn.Nodes) {
		return n.DependsOn.Nodes
	}
	var out []string
	seen := map[string]bool{}
	var walk func(deps []string)
	walk = func(deps []string) {
		for _, d := range deps {
			if seen[d] {
				continue
			}
			seen[d] = true
			if _, ok := t.keys[d]; ok {
				out = append(out, d)
				continue
			}
			if up, ok := t.m.Nodes[d]; ok && up.ResourceType == "model" && up.Config.Materialized == "ephemeral" {
				walk(up.DependsOn.Nodes)
			}
		}
	}
	walk(n.DependsOn.Nodes)
	return out
}

func (t *translator) nodeSpec(n *dbtmanifest.Node, ups []string) asset.Spec {
	deps := make([]asset.Key, 0, len(ups))
	for _, u := range ups {
		deps = append(deps, t.keys[u])
	}
	spec := asset.Spec{
		Key:         t.keys[n.UniqueID],
		Deps:        deps,
		Group:       t.group(n),
		Kinds:       t.kinds(),
		Owners:      t.owners(n),
		Tags:        slices.Clone(n.Tags),
		Description: n.Description,
		Step:        t.opts.Family,
		Origin:      origin(n.UniqueID, n.OriginalFilePath),
		CodeVersion: n.Checksum.Checksum,
		Metadata: map[string]any{
			MetaUniqueID:         n.UniqueID,
			MetaFQN:              n.FQN,
			MetaResourceType:     n.ResourceType,
			MetaMaterialization:  n.Config.Materialized,
			MetaColumns:          columns(n.Columns),
			MetaOriginalFilePath: n.OriginalFilePath,
		},
	}
	if n.RelationName != "" {
		spec.Metadata[MetaRelation] = n.RelationName
	}
	spec.Normalize()
	return spec
}

func (t *translator) sourceSpec(s *dbtmanifest.Source) asset.Spec {
	spec := asset.Spec{
		Key:         t.keys[s.UniqueID],
		Kinds:       t.kinds(),
		Tags:        slices.Clone(s.Tags),
		Description: s.Description,
		External:    true,
		Origin:      origin(s.UniqueID, s.OriginalFilePath),
		Metadata: map[string]any{
			MetaUniqueID:         s.UniqueID,
			MetaFQN:              s.FQN,
			MetaResourceType:     "source",
			MetaMaterialization:  "",
			MetaColumns:          columns(s.Columns),
			MetaOriginalFilePath: s.OriginalFilePath,
		},
	}
	if v, ok := metaOverride("group", s.Meta, s.Config.Meta); ok {
		spec.Group, _ = v.(string)
	}
	if v, ok := metaOverride("owners", s.Meta, s.Config.Meta); ok {
		spec.Owners, _ = stringList(v)
	}
	if s.RelationName != "" {
		spec.Metadata[MetaRelation] = s.RelationName
	}
	spec.Normalize()
	return spec
}

func columns(cols []dbtmanifest.Column) []dbtmanifest.Column {
	if cols == nil {
		return []dbtmanifest.Column{}
	}
	return cols
}

func (t *translator) kinds() []string {
	if a := strings.ToLower(t.m.AdapterType); a != "" && a != "dbt" {
		return []string{"dbt", a}
	}
	return []string{"dbt"}
}

func (t *translator) group(n *dbtmanifest.Node) string {
	if v, ok := metaOverride("group", n.Meta, n.Config.Meta); ok {
		if s, ok := v.(string); ok {
			return s
		}
	}
	if n.Config.Group != "" {
		return n.Config.Group
	}
	return n.Group
}

func (t *translator) owners(n *dbtmanifest.Node) []string {
	if v, ok := metaOverride("owners", n.Meta, n.Config.Meta); ok {
		if o, ok := stringList(v); ok {
			return o
		}
	}
	name := n.Config.Group
	if name == "" {
		name = n.Group
	}
	if g := t.groups[name]; g != nil {
		switch {
		case g.OwnerEmail != "":
			return []string{g.OwnerEmail}
		case g.OwnerName != "":
			return []string{g.OwnerName}
		}
	}
	return nil
}

// duplicateKeys reports every key given to more than one spec, in one
// error naming each clashing unique_id and file.
func duplicateKeys(specs []asset.Spec) error {
	byKey := make(map[asset.Key][]int, len(specs))
	for i := range specs {
		byKey[specs[i].Key] = append(byKey[specs[i].Key], i)
	}
	var lines []string
	for k, idx := range byKey {
		if len(idx) < 2 {
			continue
		}
		var who []string
		for _, i := range idx {
			who = append(who, strings.TrimPrefix(specs[i].Origin, "dbt "))
		}
		lines = append(lines, fmt.Sprintf("  %s: %s", k, strings.Join(who, ", ")))
	}
	if len(lines) == 0 {
		return nil
	}
	slices.Sort(lines)
	return fmt.Errorf("dbt resources share asset keys; give each a distinct meta.dagster.asset_key or key prefix:\n%s", strings.Join(lines, "\n"))
}

func hasDuplicates(ids []string) bool {
	for i := range ids {
		for j := i + 1; j < len(ids); j++ {
			if ids[i] == ids[j] {
				return true
			}
		}
	}
	return false
}
