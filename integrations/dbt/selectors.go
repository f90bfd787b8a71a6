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

// ErrNoSelectorsFile is returned (wrapped, with the path) by EvalSelector
// when the dbt project has no selectors.yml.
var ErrNoSelectorsFile = errors.New("no selectors.yml")

// noSelectorsFileError says the selectors.yml at path does not exist and
// what to do instead; it is ErrNoSelectorsFile for errors.Is.
type noSelectorsFileError struct{ path string }

func (e *noSelectorsFileError) Error() string {
	return e.path + ": does not exist; write one in dbt's format (selectors: - name: NAME, definition: ...) or choose with --select instead"
}

func (e *noSelectorsFileError) Is(target error) bool { return target == ErrNoSelectorsFile }

// selectorsError is an error at a line of selectors.yml, printed as
// <path>:<line>: <message>, once: wrapping it again keeps it as it is.
type selectorsError struct {
	file string
	line int
	err  error
}

func (e *selectorsError) Error() string {
	return fmt.Sprintf("%s:%d: %v", e.file, e.line, e.err)
}

func (e *selectorsError) Unwrap() error { return e.err }

// at places err at line (at least 1) of file, unless it is placed already.
func at(file string, line int, err error) error {
	if se := (*selectorsError)(nil); errors.As(err, &se) {
		return err
	}
	return &selectorsError{file: file, line: max(line, 1), err: err}
}

// selectorsTopKeys are the keys dbt reads at the top of selectors.yml.
var selectorsTopKeys = []string{"selectors", "version"}

const selectorsShape = "write selectors: as a list of - name: NAME with definition: ..."

// EvalSelector evaluates the selector called name of the selectors.yml in
// the dbt project of cfg (dbt's --selector) with sel, mapping each
// definition onto elt's typed selection: method/value criteria with
// parents, children, their depths and childrens_parents; union,
// intersection and exclude; a string in dbt's command-line syntax; and
// method: selector, which refers to another selector of the file. Errors
// in the file name its path and line once.
func EvalSelector(cfg Config, projectDir, name string, sel *asset.Selector) (asset.Set, error) {
	rc, err := cfg.resolved(projectDir)
	if err != nil {
		return asset.Set{}, err
	}
	path := filepath.Join(rc.ProjectDir, "selectors.yml")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return asset.Set{}, &noSelectorsFileError{path: path}
	}
	if err != nil {
		return asset.Set{}, err
	}
	defs, order, key, err := loadSelectors(path, b)
	if err != nil {
		return asset.Set{}, err
	}
	e := &selectorEval{file: path, defs: defs, order: order, sel: sel}
	if defs[name] == nil {
		return asset.Set{}, e.errf(key, "has no selector %q; it defines: %s", name, strings.Join(e.order, ", "))
	}
	return e.named(key, name)
}

// mapValue is the value of key in mapping n, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// loadSelectors reads selectors.yml: the definition of each selector by
// name, and the selectors: key (for its line). It refuses what
// dbt refuses: no selectors: list, unknown top-level keys, a selector
// without a name or definition, and a name defined twice.
func loadSelectors(path string, b []byte) (defs map[string]*yaml.Node, order []string, key *yaml.Node, err error) {
	var root yaml.Node
	if err = yaml.Unmarshal(b, &root); err != nil {
		line := 1
		var te *yaml.TypeError
		if _, after, ok := strings.Cut(err.Error(), "line "); ok && !errors.As(err, &te) {
			if n, _, ok := strings.Cut(after, ":"); ok {
				if l, err := strconv.Atoi(n); err == nil {
					line = l
				}
			}
		}
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = strings.TrimPrefix(msg, fmt.Sprintf("line %d: ", line))
		return nil, nil, nil, at(path, line, fmt.Errorf("not valid YAML (%s)", msg))
	}
	top := &root
	if top.Kind == yaml.DocumentNode && len(top.Content) == 1 {
		top = top.Content[0]
	}
	if top.Kind != yaml.MappingNode {
		return nil, nil, nil, at(path, top.Line, fmt.Errorf("has no selectors: list; %s", selectorsShape))
	}
	var list *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		k := top.Content[i]
		if !slices.Contains(selectorsTopKeys, k.Value) {
			return nil, nil, nil, at(path, k.Line, fmt.Errorf("unknown top-level key %q: the file has only selectors: (and version:); %s", k.Value, selectorsShape))
		}
		if k.Value == "selectors" {
			key, list = k, top.Content[i+1]
		}
	}
	if list == nil {
		return nil, nil, nil, at(path, top.Line, fmt.Errorf("has no selectors: list; %s", selectorsShape))
	}
	if list.Kind != yaml.SequenceNode || len(list.Content) == 0 {
		return nil, nil, nil, at(path, list.Line, fmt.Errorf("selectors: is not a list of selectors; %s", selectorsShape))
	}
	defs = map[string]*yaml.Node{}
	first := map[string]int{}
	for _, s := range list.Content {
		if s.Kind != yaml.MappingNode {
			return nil, nil, nil, at(path, s.Line, fmt.Errorf("a selector is a mapping with name: and definition:"))
		}
		n := mapValue(s, "name")
		if n == nil || n.Kind != yaml.ScalarNode || n.Value == "" {
			return nil, nil, nil, at(path, s.Line, fmt.Errorf("a selector needs name: (a word to pass to --selector)"))
		}
		if l, ok := first[n.Value]; ok {
			return nil, nil, nil, at(path, n.Line, fmt.Errorf("selector %q is defined twice (first at line %d); dbt refuses duplicate names: rename or remove one", n.Value, l))
		}
		first[n.Value] = n.Line
		d := mapValue(s, "definition")
		if d == nil {
			return nil, nil, nil, at(path, n.Line, fmt.Errorf("selector %q has no definition: (a string such as \"tag:nightly\", a method/value mapping, union or intersection)", n.Value))
		}
		defs[n.Value] = d
		order = append(order, n.Value)
	}
	return defs, order, key, nil
}

type selectorEval struct {
	file   string
	defs   map[string]*yaml.Node
	order  []string // the names of defs, in the file's order
	sel    *asset.Selector
	active []string // selectors being evaluated, to refuse cycles
}

func (e *selectorEval) errf(n *yaml.Node, format string, args ...any) error {
	return at(e.file, n.Line, fmt.Errorf(format, args...))
}

// named evaluates the selector called name, referred to at n.
func (e *selectorEval) named(n *yaml.Node, name string) (asset.Set, error) {
	if slices.Contains(e.active, name) {
		return asset.Set{}, e.errf(n, "selector %q refers to itself through %s", name, strings.Join(append(slices.Clone(e.active), name), " → "))
	}
	def := e.defs[name]
	if def == nil {
		return asset.Set{}, e.errf(n, "has no selector %q; it defines: %s", name, strings.Join(e.order, ", "))
	}
	e.active = append(e.active, name)
	defer func() { e.active = e.active[:len(e.active)-1] }()
	return e.def(def)
}

// def evaluates one definition.
func (e *selectorEval) def(n *yaml.Node) (asset.Set, error) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias // *anchor: the definition it names
	}
	switch n.Kind {
	case yaml.ScalarNode:
		// dbt's command-line syntax, as the user wrote it.
		parsed, err := asset.ParseSelection(n.Value)
		if err != nil {
			return asset.Set{}, at(e.file, n.Line, err)
		}
		set, err := e.sel.Eval(parsed)
		if err != nil {
			return asset.Set{}, at(e.file, n.Line, err)
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
		v := m[keys[0]]
		if v.Kind != yaml.ScalarNode || v.Value == "" {
			return asset.Set{}, e.errf(v, "%s: needs a value (such as {%s: NAME})", keys[0], keys[0])
		}
		return e.criterion(v, asset.Criterion{Method: keys[0], Value: v.Value}, nil)
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
	if c.Value == "" {
		return asset.Set{}, e.errf(n, "method: %s needs value: (such as {method: %s, value: NAME})", c.Method, c.Method)
	}
	if v := m["value"]; c.Method == "selector" && v != nil {
		n = v // a reference to another selector is at its value
	}
	return e.criterion(n, c, exclude)
}

func (e *selectorEval) criterion(n *yaml.Node, c asset.Criterion, exclude *yaml.Node) (asset.Set, error) {
	var set asset.Set
	var err error
	switch c.Method {
	case "selector":
		set, err = e.named(n, c.Value)
	case "fqn":
		if c.Value == "*" {
			c.Method, c.Value = "", "**"
		}
		fallthrough
	default:
		set, err = e.sel.EvalCriterion(c)
	}
	if err != nil {
		return asset.Set{}, at(e.file, n.Line, err)
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
