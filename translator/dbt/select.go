package dbt

import (
	"fmt"
	"path"
	"strings"

	dbtmanifest "github.com/eltproject/elt/manifest/dbt"
)

// selection decides which manifest resources Translate imports.
type selection struct {
	include, exclude [][]selector // union of intersections
}

type selector struct {
	method, value string
}

// Import selection methods.
var importMethods = []string{"fqn", "tag", "path", "resource_type", "package", "source"}

func newSelection(include, exclude []string) (*selection, error) {
	sel := &selection{}
	var err error
	if sel.include, err = parseSelectors(include, "select"); err != nil {
		return nil, err
	}
	if sel.exclude, err = parseSelectors(exclude, "exclude"); err != nil {
		return nil, err
	}
	return sel, nil
}

func parseSelectors(exprs []string, what string) ([][]selector, error) {
	var out [][]selector
	for _, expr := range exprs {
		for _, term := range strings.Fields(expr) {
			var and []selector
			for _, atom := range strings.Split(term, ",") {
				if atom == "" {
					return nil, fmt.Errorf("dbt %s %q: empty selector around ','", what, expr)
				}
				if strings.ContainsAny(atom, "+@") {
					return nil, fmt.Errorf("dbt %s %q: graph operators (+, @) are not supported when choosing what to import; import the models and use elt's --select to walk the graph", what, expr)
				}
				method, value, ok := strings.Cut(atom, ":")
				if !ok {
					value = atom
					method = "fqn"
					if strings.Contains(atom, "/") || strings.HasSuffix(atom, ".sql") || strings.HasSuffix(atom, ".csv") {
						method = "path"
					}
				}
				known := false
				for _, k := range importMethods {
					known = known || k == method
				}
				if !known {
					return nil, fmt.Errorf("dbt %s %q: unknown method %q; use one of %s", what, expr, method, strings.Join(importMethods, ", "))
				}
				if value == "" {
					return nil, fmt.Errorf("dbt %s %q: method %q needs a value", what, expr, method)
				}
				if _, err := path.Match(value, ""); err != nil {
					return nil, fmt.Errorf("dbt %s %q: bad pattern %q: %w", what, expr, value, err)
				}
				and = append(and, selector{method, value})
			}
			out = append(out, and)
		}
	}
	return out, nil
}

// resource is what selectors look at, for nodes and sources alike.
type resource struct {
	name, resourceType, pkg, file string
	fqn, tags                     []string
	versioned                     bool
	sourceName                    string // sources only
}

func (s *selection) matchNode(n *dbtmanifest.Node) bool {
	return s.match(resource{name: n.Name, resourceType: n.ResourceType, pkg: n.PackageName, file: n.OriginalFilePath,
		fqn: n.FQN, tags: n.Tags, versioned: n.Version != ""})
}

func (s *selection) matchSource(src *dbtmanifest.Source) bool {
	return s.match(resource{name: src.Name, resourceType: "source", pkg: src.PackageName, file: src.OriginalFilePath,
		fqn: src.FQN, tags: src.Tags, sourceName: src.SourceName})
}

func (s *selection) match(r resource) bool {
	if len(s.include) > 0 && !anyTerm(s.include, r) {
		return false
	}
	return !anyTerm(s.exclude, r)
}

func anyTerm(terms [][]selector, r resource) bool {
	for _, and := range terms {
		all := true
		for _, sel := range and {
			if !sel.match(r) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func (sel selector) match(r resource) bool {
	switch sel.method {
	case "tag":
		for _, t := range r.tags {
			if glob(sel.value, t) {
				return true
			}
		}
		return false
	case "path":
		file := strings.ReplaceAll(r.file, `\`, "/")
		want := strings.TrimSuffix(sel.value, "/")
		return file == want || strings.HasPrefix(file, want+"/") || glob(want, file)
	case "resource_type":
		return r.resourceType == sel.value
	case "package":
		return glob(sel.value, r.pkg)
	case "source":
		if r.sourceName == "" {
			return false
		}
		src, table, _ := strings.Cut(sel.value, ".")
		return glob(src, r.sourceName) && (table == "" || glob(table, r.name))
	}
	return matchFQN(sel.value, r)
}

// matchFQN follows dbt's fqn method: the selector matches the resource's
// name, or is a dotted prefix of its fqn with or without the package,
// where "*" ends the match and each part may be a glob.
func matchFQN(value string, r resource) bool {
	if glob(value, r.name) {
		return true
	}
	if r.versioned && len(r.fqn) >= 2 && glob(value, r.fqn[len(r.fqn)-2]) {
		return true
	}
	return fqnPrefix(value, r.fqn) || (len(r.fqn) > 1 && fqnPrefix(value, r.fqn[1:]))
}

func fqnPrefix(value string, fqn []string) bool {
	var flat []string
	for _, p := range fqn {
		flat = append(flat, strings.Split(p, ".")...)
	}
	parts := strings.Split(value, ".")
	if len(parts) > len(flat) {
		return false
	}
	for i, p := range parts {
		if p == "*" {
			return true
		}
		if !glob(p, flat[i]) {
			return false
		}
	}
	return true
}

func glob(pattern, s string) bool {
	if !strings.ContainsAny(pattern, "*?[") {
		return pattern == s
	}
	ok, _ := path.Match(pattern, s)
	return ok
}
