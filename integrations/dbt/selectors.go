package dbt

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/eltproject/elt/asset"
	"go.yaml.in/yaml/v3"
)

// ErrNoSelectorsFile is returned by EvalSelector when the dbt project has
// no selectors.yml.
var ErrNoSelectorsFile = errors.New("no selectors.yml")

// EvalSelector evaluates the selector called name of the selectors.yml in
// the dbt project of cfg (dbt's --selector) with sel, mapping each
// definition onto elt's typed selection: method/value criteria with
// parents, children, their depths and childrens_parents; union,
// intersection and exclude; a string in dbt's command-line syntax; and
// method: selector, which refers to another selector of the file.
func EvalSelector(cfg Config, projectDir, name string, sel *asset.Selector) (asset.Set, error) {
	rc, err := cfg.resolved(projectDir)
	if err != nil {
		return asset.Set{}, err
	}
	path := filepath.Join(rc.ProjectDir, "selectors.yml")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return asset.Set{}, fmt.Errorf("%s: %w", path, ErrNoSelectorsFile)
	}
	if err != nil {
		return asset.Set{}, err
	}
	var doc struct {
		Selectors []struct {
			Name       string    `yaml:"name"`
			Definition yaml.Node `yaml:"definition"`
		} `yaml:"selectors"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return asset.Set{}, fmt.Errorf("%s: %w", path, err)
	}
	defs := map[string]*yaml.Node{}
	var names []string
	for i := range doc.Selectors {
		s := &doc.Selectors[i]
		defs[s.Name] = &s.Definition
		names = append(names, s.Name)
	}
	e := &selectorEval{file: path, defs: defs, sel: sel}
	if defs[name] == nil {
		return asset.Set{}, fmt.Errorf("%s has no selector %q; it defines: %s", path, name, strings.Join(names, ", "))
	}
	return e.named(name)
}

type selectorEval struct {
	file   string
	defs   map[string]*yaml.Node
	sel    *asset.Selector
	active []string // selectors being evaluated, to refuse cycles
}

func (e *selectorEval) errf(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", e.file, n.Line, fmt.Sprintf(format, args...))
}

func (e *selectorEval) named(name string) (asset.Set, error) {
	if slices.Contains(e.active, name) {
		return asset.Set{}, fmt.Errorf("%s: selector %q refers to itself through %s", e.file, name, strings.Join(append(e.active, name), " → "))
	}
	def := e.defs[name]
	if def == nil {
		return asset.Set{}, fmt.Errorf("%s: no selector %q", e.file, name)
	}
	e.active = append(e.active, name)
	defer func() { e.active = e.active[:len(e.active)-1] }()
	return e.def(def)
}

// def evaluates one definition.
func (e *selectorEval) def(n *yaml.Node) (asset.Set, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		// dbt's command-line syntax, as the user wrote it.
		parsed, err := asset.ParseSelection(n.Value)
		if err != nil {
			return asset.Set{}, fmt.Errorf("%s:%d: %w", e.file, n.Line, err)
		}
		set, err := e.sel.Eval(parsed)
		if err != nil {
			return asset.Set{}, fmt.Errorf("%s:%d: %w", e.file, n.Line, err)
		}
		return set, nil
	case yaml.MappingNode:
	default:
		return asset.Set{}, e.errf(n, "a selector definition is a string, a method/value mapping, union or intersection")
	}
	m := map[string]*yaml.Node{}
	var keys []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		m[n.Content[i].Value] = n.Content[i+1]
		keys = append(keys, n.Content[i].Value)
	}
	for _, op := range []string{"union", "intersection"} {
		list := m[op]
		if list == nil {
			continue
		}
		if len(m) > 1 {
			return asset.Set{}, e.errf(n, "%s stands alone in its mapping (found %s)", op, strings.Join(keys, ", "))
		}
		return e.combine(op, list)
	}
	if _, ok := m["method"]; !ok && len(m) == 1 && keys[0] != "exclude" {
		// The short form {tag: nightly}.
		return e.criterion(n, asset.Criterion{Method: keys[0], Value: m[keys[0]].Value}, nil)
	}
	c := asset.Criterion{}
	var exclude *yaml.Node
	for _, k := range keys {
		v := m[k]
		var err error
		switch k {
		case "method":
			c.Method = v.Value
		case "value":
			c.Value = v.Value
		case "parents":
			c.Parents, err = e.boolean(v)
		case "children":
			c.Children, err = e.boolean(v)
		case "childrens_parents":
			c.ChildrensParents, err = e.boolean(v)
		case "parents_depth":
			c.ParentsDepth, err = e.depth(v)
			c.Parents = true
		case "children_depth":
			c.ChildrenDepth, err = e.depth(v)
			c.Children = true
		case "exclude":
			exclude = v
		case "indirect_selection", "description", "default":
			// Tests are checks of their assets in elt: nothing to choose.
		default:
			return asset.Set{}, e.errf(v, "unknown selector key %q (method, value, parents, children, parents_depth, children_depth, childrens_parents, exclude, union, intersection)", k)
		}
		if err != nil {
			return asset.Set{}, err
		}
	}
	if c.Method == "" {
		return asset.Set{}, e.errf(n, "a selector definition needs method: and value:")
	}
	return e.criterion(n, c, exclude)
}

func (e *selectorEval) criterion(n *yaml.Node, c asset.Criterion, exclude *yaml.Node) (asset.Set, error) {
	var set asset.Set
	var err error
	switch c.Method {
	case "selector":
		set, err = e.named(c.Value)
	case "fqn":
		if c.Value == "*" {
			c.Method, c.Value = "", "**"
		}
		fallthrough
	default:
		set, err = e.sel.EvalCriterion(c)
	}
	if err != nil {
		return asset.Set{}, fmt.Errorf("%s:%d: %w", e.file, n.Line, err)
	}
	if exclude != nil {
		ex, err := e.excluded(exclude)
		if err != nil {
			return asset.Set{}, err
		}
		set = set.Minus(ex)
	}
	return set, nil
}

// combine evaluates union or intersection; {exclude: [...]} items leave
// their union out of the result.
func (e *selectorEval) combine(op string, list *yaml.Node) (asset.Set, error) {
	if list.Kind != yaml.SequenceNode {
		return asset.Set{}, e.errf(list, "%s takes a list of definitions", op)
	}
	var acc, ex asset.Set
	have, haveEx := false, false
	for _, item := range list.Content {
		if item.Kind == yaml.MappingNode && len(item.Content) == 2 && item.Content[0].Value == "exclude" {
			s, err := e.excluded(item.Content[1])
			if err != nil {
				return asset.Set{}, err
			}
			if haveEx {
				ex = ex.Union(s)
			} else {
				ex, haveEx = s, true
			}
			continue
		}
		s, err := e.def(item)
		if err != nil {
			return asset.Set{}, err
		}
		switch {
		case !have:
			acc, have = s, true
		case op == "union":
			acc = acc.Union(s)
		default:
			acc = acc.Intersect(s)
		}
	}
	if !have {
		return asset.Set{}, e.errf(list, "%s lists no definition to select from (only exclude)", op)
	}
	if haveEx {
		acc = acc.Minus(ex)
	}
	return acc, nil
}

// excluded is the union of an exclude list (or single definition).
func (e *selectorEval) excluded(n *yaml.Node) (asset.Set, error) {
	if n.Kind != yaml.SequenceNode {
		return e.def(n)
	}
	return e.combine("union", n)
}

func (e *selectorEval) boolean(n *yaml.Node) (bool, error) {
	b, err := strconv.ParseBool(n.Value)
	if err != nil {
		return false, e.errf(n, "%q is not true or false", n.Value)
	}
	return b, nil
}

func (e *selectorEval) depth(n *yaml.Node) (int, error) {
	d, err := strconv.Atoi(n.Value)
	if err != nil || d < 1 {
		return 0, e.errf(n, "depth %q must be a whole number, 1 or more", n.Value)
	}
	return d, nil
}
