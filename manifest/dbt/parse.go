package dbt

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// parser holds what one manifest parse shares: the output, a string
// interner (unique_ids, package names and schemas repeat thousands of
// times), and a scanner reused for each node's members.
type parser struct {
	s       *scanner
	m       *Manifest
	strs    map[string]string
	ns      [maxDepth]scanner
	err     error // first error inside a member walk
	scratch []byte
	// strScratch and colScratch collect list elements before they are
	// copied into exactly sized slices.
	strScratch []string
	colScratch []Column
	recent     [1024]string
	sawMeta    bool
	firstPk    string
	depsType   string // set by dependsOn when depends_on.nodes is not a list
	bad        string // a member of the node being read has the wrong JSON type
}

func parseManifest(s *scanner) (*Manifest, error) {
	m := &Manifest{
		Name:      s.name,
		Nodes:     make(map[string]*Node, 1024),
		Sources:   map[string]*Source{},
		Exposures: map[string]*Exposure{},
		Groups:    map[string]*Group{},
		Macros:    make(map[string]*Macro, 1024),
	}
	p := &parser{s: s, m: m, strs: make(map[string]string, 4096)}
	c, err := s.skipSpace()
	if err != nil {
		return nil, err
	}
	if c != '{' {
		if c == 0 {
			return nil, fmt.Errorf("%s: not a dbt manifest: the file is empty; expected target/manifest.json written by dbt", s.name)
		}
		return nil, fmt.Errorf("%s: not a dbt manifest: expected a JSON object, found %q; pass the target/manifest.json written by dbt", s.name, c)
	}
	err = s.object(func(key []byte) error {
		switch string(key) {
		case "metadata":
			raw, err := s.value()
			if err != nil {
				return err
			}
			return p.metadata(raw)
		case "nodes":
			if err := p.section(s, "nodes"); err != nil {
				return err
			}
			return p.nodes(s)
		case "sources":
			if err := p.section(s, "sources"); err != nil {
				return err
			}
			return s.object(func([]byte) error { return p.source(s) })
		case "macros":
			if err := p.section(s, "macros"); err != nil {
				return err
			}
			return s.object(func([]byte) error { return p.macro(s) })
		case "exposures":
			if err := p.section(s, "exposures"); err != nil {
				return err
			}
			return s.object(func([]byte) error { return p.exposure(s) })
		case "groups":
			if err := p.section(s, "groups"); err != nil {
				return err
			}
			return s.object(func([]byte) error {
				raw, err := s.value()
				if err != nil {
					return err
				}
				return p.group(raw)
			})
		case "disabled":
			return p.skipObjectMembers(func(id string) { m.Disabled = append(m.Disabled, id) })
		case "unit_tests":
			return s.object(func([]byte) error { return p.unitTest(s) })
		default:
			return s.skip()
		}
	})
	if err != nil {
		return nil, err
	}
	if !p.sawMeta {
		return nil, fmt.Errorf("%s: not a dbt manifest: no metadata.dbt_schema_version; pass the target/manifest.json written by dbt", s.name)
	}
	if m.ProjectName == "" && p.firstPk != "" {
		m.ProjectName, m.ProjectNameGuessed = p.firstPk, true
	}
	slices.Sort(m.Disabled)
	if err := checkDependsOn(m); err != nil {
		return nil, err
	}
	// dbt derives parent_map and child_map from depends_on; so do we,
	// sharing the strings already read instead of reading the file's copy.
	m.ParentMap = buildParentMap(m)
	m.ChildMap = buildChildMap(m.ParentMap)
	return m, nil
}

func (p *parser) metadata(raw []byte) error {
	r := gjson.Parse(unsafeString(raw))
	p.sawMeta = true
	sv := r.Get("dbt_schema_version").String()
	v, err := manifestVersion(sv)
	if err != nil {
		return fmt.Errorf("%s: %w", p.s.name, err)
	}
	m := p.m
	m.SchemaVersion = v
	m.DbtVersion = strings.Clone(r.Get("dbt_version").String())
	m.ProjectName = strings.Clone(r.Get("project_name").String())
	m.AdapterType = strings.Clone(r.Get("adapter_type").String())
	m.GeneratedAt = strings.Clone(r.Get("generated_at").String())
	m.InvocationID = strings.Clone(r.Get("invocation_id").String())
	return nil
}

// section checks that a top-level member of the manifest is an object,
// as dbt writes it, before it is walked.
func (p *parser) section(s *scanner, name string) error {
	c, err := s.skipSpace()
	if err != nil || c == '{' {
		return err
	}
	v, err := s.value()
	if err != nil {
		return err
	}
	if len(v) > 40 {
		v = append(v[:40:40], "…"...)
	}
	return fmt.Errorf("%s: %q is %s, not an object: dbt writes an object of %s ({} when there are none); re-run dbt parse to write a complete manifest", p.s.name, name, v, name)
}

// checkDependsOn refuses a manifest whose nodes or exposures depend on a
// node or source it does not hold: dropping the edge would let a model
// build before its parent.
func checkDependsOn(m *Manifest) error {
	known := func(id string) bool {
		if m.Nodes[id] != nil || m.Sources[id] != nil {
			return true
		}
		// Metrics, semantic models and saved queries are not read; an
		// exposure may depend on them.
		kind, _, _ := strings.Cut(id, ".")
		return kind == "metric" || kind == "semantic_model" || kind == "saved_query"
	}
	// The first offender in unique_id order, so the message is stable;
	// nothing is sorted when all is well.
	var what, bad, missing string
	check := func(kind, id string, deps []string) {
		for _, d := range deps {
			if !known(d) && (bad == "" || kind < what || kind == what && id < bad) {
				what, bad, missing = kind, id, d
				return
			}
		}
	}
	for id, n := range m.Nodes {
		check("node", id, n.DependsOn.Nodes)
	}
	for id, e := range m.Exposures {
		check("exposure", id, e.DependsOn.Nodes)
	}
	if bad == "" {
		return nil
	}
	return fmt.Errorf("%s: %s %s depends on %q, which is not in the manifest; re-run dbt parse to write a complete manifest (a hand-edited or truncated manifest would let %s run before its parent)", m.Name, what, bad, missing, bad)
}

// manifestVersion extracts N from ".../manifest/vN.json".
func manifestVersion(sv string) (int, error) {
	i := strings.Index(sv, "/manifest/v")
	if i < 0 {
		if sv == "" {
			return 0, fmt.Errorf("not a dbt manifest: metadata.dbt_schema_version is missing; expected \".../manifest/vN.json\" (pass target/manifest.json)")
		}
		return 0, fmt.Errorf("not a dbt manifest: metadata.dbt_schema_version is %q; expected \".../manifest/vN.json\" (pass target/manifest.json)", sv)
	}
	num := strings.TrimSuffix(sv[i+len("/manifest/v"):], ".json")
	v, err := strconv.Atoi(num)
	if err != nil {
		return 0, fmt.Errorf("not a dbt manifest: metadata.dbt_schema_version %q has no version number", sv)
	}
	if v < MinManifestVersion {
		return v, fmt.Errorf("dbt manifest schema v%d is not supported (elt reads v%d to v%d, written by dbt 1.0 and later); re-run dbt parse with a newer dbt", v, MinManifestVersion, MaxManifestVersion)
	}
	if v > MaxManifestVersion && v != FusionManifestVersion {
		return v, fmt.Errorf("dbt manifest schema v%d is newer than elt supports (v%d to v%d, and v%d from dbt Fusion); upgrade elt or write the manifest with an older dbt", v, MinManifestVersion, MaxManifestVersion, FusionManifestVersion)
	}
	return v, nil
}

// eachMember walks the members of the object at the scanner, handing fn
// each key and value; the value is valid until fn returns.
func (p *parser) eachMember(s *scanner, fn func(key string, val []byte)) error {
	return s.object(func(k []byte) error {
		v, err := s.value()
		if err != nil {
			return err
		}
		fn(unsafeString(k), v)
		return p.err
	})
}

// node reads one node from walk, which hands each member to its argument.
func (p *parser) node(walk func(fn func(key string, v []byte)) error) (*Node, error) {
	n := &Node{Config: Config{Enabled: true}}
	p.bad, p.depsType = "", ""
	err := walk(func(key string, v []byte) {
		switch key {
		case "unique_id":
			n.UniqueID = p.str(v)
		case "resource_type":
			if len(v) == 0 || v[0] != '"' {
				p.bad = fmt.Sprintf("resource_type is %s, not a string such as \"model\"", v)
			}
			n.ResourceType = p.intern(v)
		case "name":
			n.Name = p.str(v)
		case "alias":
			// The alias is usually the name: share the string.
			if len(v) == len(n.Name)+2 && string(v[1:len(v)-1]) == n.Name {
				n.Alias = n.Name
			} else {
				n.Alias = p.str(v)
			}
		case "schema":
			n.Schema = p.intern(v)
		case "database":
			n.Database = p.intern(v)
		case "package_name":
			n.PackageName = p.intern(v)
		case "path":
			n.Path = p.str(v)
		case "original_file_path":
			n.OriginalFilePath = p.intern(v)
		case "fqn":
			n.FQN = p.strList(depthField, v)
		case "tags":
			n.Tags = p.strList(depthField, v)
		case "description":
			n.Description = p.str(v)
		case "meta":
			n.Meta = p.anyMap(v)
		case "config":
			p.config(v, &n.Config)
		case "depends_on":
			n.DependsOn = p.dependsOn(v)
			if t := p.depsType; t != "" {
				p.bad = "depends_on.nodes is " + t + ", not a list of unique_ids"
				p.depsType = ""
			}
		case "columns":
			n.Columns = p.columns(v)
		case "raw_code", "raw_sql":
			n.RawCodeHash = p.hashString(v)
		case "checksum":
			p.members(depthField, v, func(k string, cv []byte) {
				switch k {
				case "name":
					n.Checksum.Name = p.intern(cv)
				case "checksum":
					n.Checksum.Checksum = p.str(cv)
				}
			})
		case "version":
			n.Version = p.scalar(v)
		case "latest_version":
			n.LatestVersion = p.scalar(v)
		case "relation_name":
			n.RelationName = p.str(v)
		case "attached_node":
			n.AttachedNode = p.uid(v)
		case "test_metadata":
			r := gjson.Parse(unsafeString(v))
			if r.IsObject() {
				n.TestMetadata = &TestMetadata{
					Name:      p.internStr(r.Get("name").String()),
					Namespace: p.internStr(r.Get("namespace").String()),
				}
				if kw, ok := toAny(r.Get("kwargs")).(map[string]any); ok && len(kw) > 0 {
					n.TestMetadata.Kwargs = kw
				}
			}
		case "column_name":
			n.ColumnName = p.str(v)
		case "group":
			n.Group = p.intern(v)
		case "contract":
			p.members(depthField, v, func(k string, cv []byte) {
				switch k {
				case "enforced":
					n.Contract.Enforced = isTrue(cv)
				case "checksum":
					n.Contract.Checksum = p.str(cv)
				}
			})
		case "unrendered_config":
			n.Unrendered = p.rawJSON(v)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", n.UniqueID, err)
	}
	if n.UniqueID == "" {
		return nil, fmt.Errorf("%s: a node has no unique_id; is this a dbt manifest?", p.s.name)
	}
	if p.bad != "" {
		return nil, fmt.Errorf("%s: node %s: %s; re-run dbt parse to write a valid manifest (was it edited by hand?)", p.s.name, n.UniqueID, p.bad)
	}
	return n, nil
}

// addNode records a parsed node.
func (p *parser) addNode(n *Node) {
	if p.firstPk == "" && n.ResourceType == "model" {
		p.firstPk = n.PackageName
	}
	p.m.Nodes[n.UniqueID] = n
}

func (p *parser) dependsOn(v []byte) DependsOn {
	var d DependsOn
	p.members(depthField, v, func(k string, lv []byte) {
		switch k {
		case "nodes":
			if len(lv) == 0 || lv[0] != '[' {
				p.depsType = jsonType(lv)
			}
			d.Nodes = p.uidList(depthItem, lv)
		case "macros":
			d.Macros = p.strList(depthItem, lv)
		}
	})
	return d
}

// jsonType names the JSON type of a value that should have been a list.
func jsonType(v []byte) string {
	switch {
	case len(v) == 0:
		return "empty"
	case string(v) == "null":
		return "null"
	case v[0] == '{':
		return "an object"
	case v[0] == '"':
		return "a string"
	}
	if len(v) > 20 {
		return string(v[:20]) + "…"
	}
	return string(v)
}

func (p *parser) config(v []byte, c *Config) {
	p.members(depthField, v, func(k string, cv []byte) {
		switch k {
		case "enabled":
			c.Enabled = string(cv) != "false"
		case "materialized":
			c.Materialized = p.intern(cv)
		case "alias":
			c.Alias = p.str(cv)
		case "schema":
			c.Schema = p.intern(cv)
		case "database":
			c.Database = p.intern(cv)
		case "group":
			c.Group = p.intern(cv)
		case "tags":
			c.Tags = p.strList(depthItem, cv)
		case "meta":
			c.Meta = p.anyMap(cv)
		case "severity":
			c.Severity = p.intern(cv)
		case "persist_docs":
			p.members(depthItem, cv, func(k string, pv []byte) {
				switch k {
				case "relation":
					c.PersistDocs.Relation = isTrue(pv)
				case "columns":
					c.PersistDocs.Columns = isTrue(pv)
				}
			})
		}
	})
}

func (p *parser) columns(v []byte) []Column {
	out := p.colScratch[:0]
	p.members(depthField, v, func(name string, cv []byte) {
		// Columns carry many fields elt ignores; stop at data_type, which
		// dbt writes after name, description and meta.
		c := Column{Name: strings.Clone(name)}
		p.fields(depthItem, cv, func(k string, fv []byte) bool {
			switch k {
			case "description":
				c.Description = p.str(fv)
			case "data_type":
				c.DataType = p.intern(fv)
				return false
			}
			return true
		})
		out = append(out, c)
	})
	p.colScratch = out
	return exact(out)
}

// skipObjectMembers reads an object, reporting each key and skipping its
// value.
func (p *parser) skipObjectMembers(fn func(key string)) error {
	s := p.s
	return s.object(func(k []byte) error {
		fn(string(k))
		return s.skip()
	})
}

func buildParentMap(m *Manifest) map[string][]string {
	pm := make(map[string][]string, len(m.Nodes)+len(m.Sources))
	for id, n := range m.Nodes {
		pm[id] = n.DependsOn.Nodes
	}
	for id := range m.Sources {
		pm[id] = nil
	}
	for id, e := range m.Exposures {
		pm[id] = e.DependsOn.Nodes
	}
	return pm
}

func buildChildMap(pm map[string][]string) map[string][]string {
	// Gather children in slices indexed per parent, touching the map once
	// per edge, then hand the sorted slices to the result map.
	idx := make(map[string]int, len(pm))
	ids := make([]string, 0, len(pm))
	for id := range pm {
		idx[id] = len(ids)
		ids = append(ids, id)
	}
	children := make([][]string, len(ids))
	for id, parents := range pm {
		for _, par := range parents {
			i, ok := idx[par]
			if !ok {
				i = len(ids)
				idx[par] = i
				ids = append(ids, par)
				children = append(children, nil)
			}
			children[i] = append(children[i], id)
		}
	}
	cm := make(map[string][]string, len(ids))
	for i, id := range ids {
		slices.Sort(children[i])
		cm[id] = children[i]
	}
	return cm
}
