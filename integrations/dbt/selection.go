package dbt

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"go.yaml.in/yaml/v3"
)

// Spec and CheckSpec metadata keys the runner relies on (set by the dbt
// translator).
const (
	MetaUniqueID     = "unique_id"
	MetaFQN          = "fqn"
	MetaResourceType = "resource_type"
	MetaRelation     = "relation"
	// MetaMaterialization is the model's materialization (table, view,
	// ephemeral, …); ephemeral models are never run on their own.
	MetaMaterialization = "materialization"
)

// selectorsFileThreshold is the number of node selectors above which the
// selection goes into a YAML selectors file instead of the command line.
const selectorsFileThreshold = 200

// selectorName is the name of the selector elt writes.
const selectorName = "elt_step"

// target is a node of the request: an asset, or a test that is a check.
type target struct {
	key      asset.Key
	check    string // check name; "" for an asset
	uid      string
	rtype    string
	relation string
	severity string
	blocking bool
}

// nodeSelector selects one node by its fully qualified name.
type nodeSelector struct {
	fqn  string // segments joined by "."
	test bool   // intersect with resource_type:test (a bare test name)
	// pkg, set for versioned models, intersects with package:<pkg>: dbt's
	// fqn method also matches a versioned model on its last two segments
	// alone ("dim_customers.v2"), which reaches the same model and version
	// in every other package.
	pkg string
}

func (s nodeSelector) cli() string {
	v := "fqn:" + s.fqn
	if s.test {
		v += ",resource_type:test"
	}
	if s.pkg != "" {
		v += ",package:" + s.pkg
	}
	return v
}

// unrun is a requested asset the configured command does not materialize.
type unrun struct {
	key    asset.Key
	reason string
}

// plan is what one step attempt runs and how results map back to assets.
type plan struct {
	assets  map[string]*target // node unique_id → asset
	checks  map[string]*target // test unique_id → check
	order   []string           // asset unique_ids in request order
	unrun   []unrun
	selects []nodeSelector
	exclude []nodeSelector
}

// fqnIndex knows the fqn of every node of the project, to find nodes that
// an fqn selector would select by accident: dbt's fqn method matches by
// prefix, so "pkg.staging.orders" also selects pkg.staging.orders.x.
// The index is built on first use (nodesUnder): most runs select by
// unique id and never need it, and building it was 7% of loading a
// 10,000-model project.
type fqnIndex struct {
	nodes []knownNode
	once  sync.Once
	under map[string][]nodeSelector // fqn → selectors of nodes strictly under it
}

// knownNode is a node of the project: its unique_id and fqn.
type knownNode struct {
	uid string
	fqn []string
}

func newFQNIndex(nodes []knownNode) *fqnIndex { return &fqnIndex{nodes: nodes} }

// nodesUnder returns the selectors of the nodes strictly under fqn.
func (ix *fqnIndex) nodesUnder(fqn string) []nodeSelector {
	ix.once.Do(ix.build)
	return ix.under[fqn]
}

func (ix *fqnIndex) build() {
	ix.under = map[string][]nodeSelector{}
	for _, n := range ix.nodes {
		md := map[string]any{MetaFQN: n.fqn}
		parts := flatFQN(md)
		if len(parts) == 0 {
			continue
		}
		sel := selectorFor(md, n.uid, false)
		for i := 1; i < len(parts); i++ {
			p := strings.Join(parts[:i], ".")
			ix.under[p] = append(ix.under[p], sel)
		}
	}
	ix.nodes = nil
}

// specNodes lists the nodes named by specs and their checks.
func specNodes(specs []asset.Spec) []knownNode {
	var out []knownNode
	add := func(md map[string]any) {
		if parts := flatFQN(md); len(parts) > 0 {
			out = append(out, knownNode{uid: metaString(md, MetaUniqueID), fqn: parts})
		}
	}
	for i := range specs {
		add(specs[i].Metadata)
		for _, c := range specs[i].Checks {
			add(c.Metadata)
		}
	}
	return out
}

// materializes reports whether command creates nodes of resource type rtype.
func materializes(command, rtype string) bool {
	switch command {
	case CommandBuild:
		return rtype == "model" || rtype == "seed" || rtype == "snapshot"
	case CommandRun:
		return rtype == "model"
	case CommandSeed:
		return rtype == "seed"
	case CommandSnapshot:
		return rtype == "snapshot"
	}
	return false
}

func runsTests(command string) bool { return command == CommandBuild || command == CommandTest }

// newPlan selects exactly the requested assets and, for build and test,
// the tests that are their checks.
func newPlan(req *engine.Request, command string, ix *fqnIndex) (*plan, error) {
	p := &plan{assets: map[string]*target{}, checks: map[string]*target{}}
	selected := map[string]bool{}
	addSel := func(s nodeSelector) {
		if !selected[s.fqn] {
			selected[s.fqn] = true
			p.selects = append(p.selects, s)
		}
	}
	for _, key := range req.Assets {
		spec := req.Specs[key]
		if spec == nil {
			return nil, fmt.Errorf("asset %s: the request has no spec for it", key)
		}
		uid := metaString(spec.Metadata, MetaUniqueID)
		if uid == "" {
			return nil, fmt.Errorf("asset %s has no %q metadata, so elt cannot tell dbt which node it is; it must come from the dbt manifest", key, MetaUniqueID)
		}
		rtype := resourceType(spec.Metadata, uid)
		switch {
		case metaString(spec.Metadata, MetaMaterialization) == "ephemeral":
			// dbt never runs an ephemeral model by itself; it is compiled
			// into its dependents.
		case materializes(command, rtype):
			p.assets[uid] = &target{key: key, uid: uid, rtype: rtype, relation: metaString(spec.Metadata, MetaRelation)}
			p.order = append(p.order, uid)
			addSel(selectorFor(spec.Metadata, uid, false))
		case command != CommandTest:
			p.unrun = append(p.unrun, unrun{key: key, reason: fmt.Sprintf("dbt %s does not materialize %ss (%s); use command: build", command, rtype, uid)})
		}
		if !runsTests(command) {
			continue
		}
		for _, c := range spec.Checks {
			tuid := metaString(c.Metadata, MetaUniqueID)
			if c.Runner != "" || tuid == "" {
				continue
			}
			sev := strings.ToLower(c.Severity)
			if sev != "warn" {
				sev = "error"
			}
			p.checks[tuid] = &target{key: key, check: c.Name, uid: tuid, rtype: "test", severity: sev, blocking: c.Blocking}
			addSel(selectorFor(c.Metadata, tuid, true))
		}
	}
	// Exclude nodes an fqn selector reaches by prefix that were not asked for.
	if ix != nil {
		excluded := map[string]bool{}
		for _, s := range p.selects {
			for _, other := range ix.nodesUnder(s.fqn) {
				if !selected[other.fqn] && !excluded[other.fqn] {
					excluded[other.fqn] = true
					p.exclude = append(p.exclude, other)
				}
			}
		}
	}
	return p, nil
}

// selectorFor returns the fqn selector of a node: its fqn from metadata,
// or, without one, the name taken from its unique_id (for a test,
// intersected with resource_type:test so a model of the same name is not
// selected).
func selectorFor(md map[string]any, uid string, test bool) nodeSelector {
	parts := strings.Split(uid, ".")
	if fqn := flatFQN(md); len(fqn) > 0 {
		s := nodeSelector{fqn: strings.Join(fqn, ".")}
		// model.<package>.<name>.v<version>
		if !test && len(parts) > 3 && parts[0] == "model" {
			s.pkg = fqn[0]
		}
		return s
	}
	switch {
	case len(parts) < 3:
		return nodeSelector{fqn: uid, test: test}
	case test:
		// test.<package>.<name>[.<hash>]
		return nodeSelector{fqn: parts[2], test: true}
	default:
		// model.<package>.<name>[.v<version>]: dbt matches a versioned
		// model's "name.v2" against the last two fqn segments.
		return nodeSelector{fqn: strings.Join(parts[2:], ".")}
	}
}

// flatFQN returns metadata "fqn" split the way dbt flattens it: segments
// containing dots (a version "v1.5") count as several parts.
func flatFQN(md map[string]any) []string {
	var segs []string
	switch v := md[MetaFQN].(type) {
	case []string:
		segs = v
	case []any:
		for _, x := range v {
			s, ok := x.(string)
			if !ok {
				return nil
			}
			segs = append(segs, s)
		}
	}
	var out []string
	for _, s := range segs {
		for p := range strings.SplitSeq(s, ".") {
			if p == "" {
				return nil
			}
			out = append(out, p)
		}
	}
	return out
}

func metaString(md map[string]any, k string) string {
	s, _ := md[k].(string)
	return s
}

func resourceType(md map[string]any, uid string) string {
	if t := metaString(md, MetaResourceType); t != "" {
		return t
	}
	t, _, _ := strings.Cut(uid, ".")
	return t
}

// selectArgs returns the --select/--exclude arguments of p.
func (p *plan) selectArgs() []string {
	args := []string{"--select", joinSelectors(p.selects)}
	if len(p.exclude) > 0 {
		args = append(args, "--exclude", joinSelectors(p.exclude))
	}
	return args
}

func joinSelectors(s []nodeSelector) string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = x.cli()
	}
	return strings.Join(out, " ")
}

// selectorsYAML renders p's selection as a dbt selectors.yml with one
// selector named selectorName. YAML selectors ignore --indirect-selection,
// so each method carries indirect_selection itself.
func (p *plan) selectorsYAML(indirect string) ([]byte, error) {
	leaf := func(method, value string) map[string]string {
		m := map[string]string{"method": method, "value": value}
		if indirect != "" {
			m["indirect_selection"] = indirect
		}
		return m
	}
	node := func(s nodeSelector) any {
		and := []any{leaf("fqn", s.fqn)}
		if s.test {
			and = append(and, leaf("resource_type", "test"))
		}
		if s.pkg != "" {
			and = append(and, leaf("package", s.pkg))
		}
		if len(and) == 1 {
			return and[0]
		}
		return map[string]any{"intersection": and}
	}
	union := make([]any, 0, len(p.selects)+1)
	for _, s := range p.selects {
		union = append(union, node(s))
	}
	if len(p.exclude) > 0 {
		ex := make([]any, 0, len(p.exclude))
		for _, s := range p.exclude {
			ex = append(ex, node(s))
		}
		union = append(union, map[string]any{"exclude": ex})
	}
	doc := map[string]any{"selectors": []any{map[string]any{
		"name":        selectorName,
		"description": "written by elt for one step attempt",
		"definition":  map[string]any{"union": union},
	}}}
	return yaml.Marshal(doc)
}

// shadowProject makes dir a stand-in for the dbt project: every entry of
// projectDir is linked into it, except selectors.yml, which holds
// selectors. dbt reads selectors only from the project root, so a
// generated selector needs its own root; the project itself is never
// modified, so concurrent steps and a killed elt leave nothing behind.
func shadowProject(projectDir, dir string, selectors []byte) error {
	entries, err := os.ReadDir(projectDir)
	if err != nil {
		return fmt.Errorf("dbt project %s: %w", projectDir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		if slices.Contains([]string{"selectors.yml", "selectors.yaml"}, e.Name()) {
			continue
		}
		if err := os.Symlink(filepath.Join(projectDir, e.Name()), filepath.Join(dir, e.Name())); err != nil && !os.IsExist(err) {
			return fmt.Errorf("link %s into %s: %w", e.Name(), dir, err)
		}
	}
	return os.WriteFile(filepath.Join(dir, "selectors.yml"), selectors, 0o644)
}
