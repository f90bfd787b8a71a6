package dbt

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/eltproject/elt/asset"
	dbtmanifest "github.com/eltproject/elt/manifest/dbt"
	"github.com/tidwall/gjson"
)

// LoadedManifest is a manifest for the selection methods: parsed, and its
// raw bytes, from which config.<key> reads any config value.
type LoadedManifest struct {
	Manifest *dbtmanifest.Manifest
	Raw      []byte
}

// MethodNames are dbt's node selection methods that SelectionMethods
// provides, beside elt's own tag, group, kind, owner and key.
var MethodNames = []string{"path", "resource_type", "config.", "source", "fqn", "test_type", "test_name", "package", "exposure"}

// SelectionMethods returns dbt's selection methods with dbt's meaning on
// dbt assets: path, resource_type, config.<key>, source, fqn, test_type,
// test_name, package and exposure. Assets that do not come from dbt never
// match; on a graph with no dbt asset at all a method is an error. load
// reads the manifests, once, on first use: a selection without these
// methods costs nothing.
func SelectionMethods(load func() ([]LoadedManifest, error)) map[string]asset.MethodFunc {
	ix := &methodIndex{load: load}
	out := map[string]asset.MethodFunc{}
	for _, name := range MethodNames {
		out[name] = func(g *asset.Graph, value string) (asset.Set, error) {
			if err := ix.ready(); err != nil {
				return asset.Set{}, err
			}
			return ix.eval(g, strings.TrimSuffix(name, "."), value)
		}
	}
	return out
}

// methodIndex finds a dbt asset's resource by unique_id across manifests.
type methodIndex struct {
	load func() ([]LoadedManifest, error)
	once sync.Once
	err  error
	ms   []LoadedManifest
}

func (ix *methodIndex) ready() error {
	ix.once.Do(func() { ix.ms, ix.err = ix.load() })
	return ix.err
}

// node and source find a resource and the manifest that holds it.
func (ix *methodIndex) node(id string) (*dbtmanifest.Node, *LoadedManifest) {
	for i := range ix.ms {
		if n := ix.ms[i].Manifest.Nodes[id]; n != nil {
			return n, &ix.ms[i]
		}
	}
	return nil, nil
}

func (ix *methodIndex) source(id string) (*dbtmanifest.Source, *LoadedManifest) {
	for i := range ix.ms {
		if s := ix.ms[i].Manifest.Sources[id]; s != nil {
			return s, &ix.ms[i]
		}
	}
	return nil, nil
}

// resourceTypes are the values of resource_type: dbt knows.
var resourceTypes = []string{"model", "seed", "snapshot", "source", "test", "unit_test", "analysis", "exposure", "metric", "semantic_model", "saved_query", "function"}

func (ix *methodIndex) eval(g *asset.Graph, method, value string) (asset.Set, error) {
	dbtAssets := 0
	var match func(s *asset.Spec, id string) bool
	switch method {
	case "path", "fqn", "package", "source":
		sel := selector{method: method, value: value}
		match = func(_ *asset.Spec, id string) bool {
			r, root, ok := ix.resource(id)
			// Paths are relative to the root project; a package's files
			// are relative to the package's own folder.
			if method == "path" && root != "" && r.pkg != root {
				return false
			}
			return ok && sel.match(r)
		}
	case "resource_type":
		if !slices.Contains(resourceTypes, value) {
			return asset.Set{}, fmt.Errorf("resource_type:%s is not a dbt resource type; use one of %s", value, strings.Join(resourceTypes, ", "))
		}
		match = func(s *asset.Spec, id string) bool {
			if value == "test" {
				// Tests are checks: their assets.
				return ix.anyTest(s, func(*dbtmanifest.Node) bool { return true })
			}
			rt, _ := s.Metadata[MetaResourceType].(string)
			return rt == value
		}
	case "config":
		key, want, ok := strings.Cut(value, ":")
		if !ok || key == "" || want == "" {
			return asset.Set{}, fmt.Errorf("config selection needs config.<key>:<value>, e.g. config.materialized:incremental")
		}
		match = func(_ *asset.Spec, id string) bool { return ix.configMatches(id, key, want) }
	case "test_type":
		var generic bool
		switch value {
		case "generic", "schema":
			generic = true
		case "singular", "data":
		case "unit":
			// Unit tests are not imported: they select nothing.
			match = func(*asset.Spec, string) bool { return false }
		default:
			return asset.Set{}, fmt.Errorf("test_type:%s is unknown; use generic, singular or unit", value)
		}
		if match == nil {
			match = func(s *asset.Spec, _ string) bool {
				return ix.anyTest(s, func(n *dbtmanifest.Node) bool { return (n.TestMetadata != nil) == generic })
			}
		}
	case "test_name":
		match = func(s *asset.Spec, _ string) bool {
			return ix.anyTest(s, func(n *dbtmanifest.Node) bool {
				name := n.Name
				if n.TestMetadata != nil {
					name = n.TestMetadata.Name
				}
				return glob(value, name)
			})
		}
	case "exposure":
		// An exposure is not an asset: exposure:x selects what it depends
		// on directly, so +exposure:x is everything upstream of it.
		parents := map[string]bool{}
		found := false
		var names []string
		for _, lm := range ix.ms {
			for _, e := range lm.Manifest.Exposures {
				names = append(names, e.Name)
				if glob(value, e.Name) {
					found = true
					for _, d := range e.DependsOn.Nodes {
						parents[d] = true
					}
				}
			}
		}
		if !found {
			if len(names) == 0 {
				return asset.Set{}, fmt.Errorf("exposure:%s: the dbt projects define no exposures", value)
			}
			slices.Sort(names)
			return asset.Set{}, fmt.Errorf("exposure:%s: no dbt exposure has that name; exposures: %s", value, strings.Join(slices.Compact(names), ", "))
		}
		match = func(_ *asset.Spec, id string) bool { return parents[id] }
	}
	var keys []asset.Key
	for _, s := range g.Specs() {
		id, _ := s.Metadata[MetaUniqueID].(string)
		if id == "" {
			continue
		}
		dbtAssets++
		if match(s, id) {
			keys = append(keys, s.Key)
		}
	}
	if dbtAssets == 0 {
		return asset.Set{}, fmt.Errorf("%s: is a dbt selection method, and no asset of this project comes from dbt", method)
	}
	return g.SetOf(keys...), nil
}

// resource describes a node or source for the import selectors' matching.
// root is the manifest's root project when it is known.
func (ix *methodIndex) resource(id string) (r resource, root string, ok bool) {
	rootOf := func(lm *LoadedManifest) string {
		if lm.Manifest.ProjectNameGuessed {
			return ""
		}
		return lm.Manifest.ProjectName
	}
	if n, lm := ix.node(id); n != nil {
		return resource{name: n.Name, resourceType: n.ResourceType, pkg: n.PackageName, file: n.OriginalFilePath,
			fqn: n.FQN, tags: n.Tags, versioned: n.Version != ""}, rootOf(lm), true
	}
	if s, lm := ix.source(id); s != nil {
		return resource{name: s.Name, resourceType: "source", pkg: s.PackageName, file: s.OriginalFilePath,
			fqn: s.FQN, tags: s.Tags, sourceName: s.SourceName}, rootOf(lm), true
	}
	return resource{}, "", false
}

// anyTest reports whether one of the asset's checks is a dbt test for
// which f holds.
func (ix *methodIndex) anyTest(s *asset.Spec, f func(*dbtmanifest.Node) bool) bool {
	for _, c := range s.Checks {
		id, _ := c.Metadata[MetaUniqueID].(string)
		if n, _ := ix.node(id); n != nil && n.ResourceType == "test" && f(n) {
			return true
		}
	}
	return false
}

// configMatches compares a resource's config.<key> with want as dbt does:
// equal as text (true, 3, table), or containing want when it is a list.
func (ix *methodIndex) configMatches(id, key, want string) bool {
	section := "nodes"
	lm := (*LoadedManifest)(nil)
	if _, m := ix.node(id); m != nil {
		lm = m
	} else if _, m := ix.source(id); m != nil {
		section, lm = "sources", m
	}
	if lm == nil {
		return false
	}
	path := section + "." + gjsonEscape(id) + ".config." + gjsonEscape(key)
	v := gjson.GetBytes(lm.Raw, path)
	if !v.Exists() {
		return false
	}
	if v.IsArray() {
		for _, e := range v.Array() {
			if glob(want, e.String()) {
				return true
			}
		}
		return false
	}
	return glob(want, v.String())
}

// gjsonEscape escapes the characters gjson's path syntax gives a meaning.
func gjsonEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '.', '*', '?', '|', '#', '@', '\\', '!', '=', '<', '>', '%':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
