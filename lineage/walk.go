package lineage

import (
	"fmt"
	"strings"
)

// query follows one query node (SELECT_NODE, SET_OPERATION_NODE,
// CTE_NODE) to a relation.
func (w *walker) query(node map[string]any, parent *scope) (*relation, error) {
	if node == nil {
		return nil, fmt.Errorf("empty query node")
	}
	sc := &scope{parent: parent, ctes: map[string]*relation{}}
	for _, e := range list(obj(node, "cte_map"), "map") {
		em, _ := e.(map[string]any)
		name := str(em, "key")
		q := obj(obj(obj(em, "value"), "query"), "node")
		r, err := w.query(q, sc)
		if err != nil {
			return nil, fmt.Errorf("CTE %s: %w", name, err)
		}
		// WITH c(a, b) renames the CTE's columns.
		for i, a := range list(obj(em, "value"), "aliases") {
			if s, ok := a.(string); ok && i < len(r.cols) {
				r.cols[i].name = s
			}
		}
		sc.ctes[strings.ToLower(name)] = r
	}
	switch str(node, "type") {
	case "SELECT_NODE":
		return w.selectNode(node, sc)
	case "SET_OPERATION_NODE":
		l, err := w.query(obj(node, "left"), sc)
		if err != nil {
			return nil, err
		}
		r, err := w.query(obj(node, "right"), sc)
		if err != nil {
			return nil, err
		}
		if len(l.cols) != len(r.cols) {
			return nil, fmt.Errorf("%s of %d and %d columns", str(node, "setop_type"), len(l.cols), len(r.cols))
		}
		out := &relation{indirect: deps{}}
		out.indirect.merge(l.indirect)
		out.indirect.merge(r.indirect)
		for i, c := range l.cols {
			d := deps{}
			d.merge(c.deps)
			d.merge(r.cols[i].deps)
			out.cols = append(out.cols, column{name: c.name, deps: d})
		}
		return out, nil
	}
	return nil, fmt.Errorf("query node %s is not supported", str(node, "type"))
}

func (w *walker) selectNode(node map[string]any, sc *scope) (*relation, error) {
	out := &relation{indirect: deps{}}
	if err := w.from(obj(node, "from_table"), sc, out.indirect); err != nil {
		return nil, err
	}
	for _, k := range []string{"where_clause", "having", "qualify"} {
		if e := obj(node, k); e != nil {
			d, err := w.expr(e, sc)
			if err != nil {
				return nil, err
			}
			out.indirect.merge(d.as(indirect, subFilter))
		}
	}
	var selDeps []deps
	for _, it := range list(node, "select_list") {
		e, _ := it.(map[string]any)
		if str(e, "class") == "STAR" {
			cols, err := w.star(e, sc)
			if err != nil {
				return nil, err
			}
			for _, c := range cols {
				out.cols = append(out.cols, c)
				selDeps = append(selDeps, c.deps)
			}
			continue
		}
		d, err := w.expr(e, sc)
		if err != nil {
			return nil, err
		}
		name := str(e, "alias")
		if cn := list(e, "column_names"); name == "" && str(e, "class") == "COLUMN_REF" && len(cn) > 0 {
			name, _ = cn[len(cn)-1].(string)
		}
		out.cols = append(out.cols, column{name: name, deps: d})
		selDeps = append(selDeps, d)
	}
	// GROUP BY and ORDER BY may name select-list positions and aliases.
	byPos := func(e map[string]any) (deps, error) {
		if e == nil {
			return deps{}, nil
		}
		if str(e, "class") == "CONSTANT" {
			if n, ok := obj(e, "value")["value"].(float64); ok && int(n) >= 1 && int(n) <= len(selDeps) {
				return selDeps[int(n)-1], nil
			}
		}
		if str(e, "class") == "COLUMN_REF" {
			if cn := list(e, "column_names"); len(cn) == 1 {
				name, _ := cn[0].(string)
				if !w.inScope(name, sc) {
					for i, c := range out.cols {
						if strings.EqualFold(c.name, name) {
							return selDeps[i], nil
						}
					}
				}
			}
		}
		return w.expr(e, sc)
	}
	for _, g := range list(node, "group_expressions") {
		gm, _ := g.(map[string]any)
		d, err := byPos(gm)
		if err != nil {
			return nil, err
		}
		out.indirect.merge(d.as(indirect, subGroupBy))
	}
	for _, m := range list(node, "modifiers") {
		mm, _ := m.(map[string]any)
		if str(mm, "type") != "ORDER_MODIFIER" {
			continue
		}
		for _, o := range list(mm, "orders") {
			om, _ := o.(map[string]any)
			d, err := byPos(obj(om, "expression"))
			if err != nil {
				return nil, err
			}
			out.indirect.merge(d.as(indirect, subSort))
		}
	}
	return out, nil
}

// inScope reports whether a FROM relation has a column of that name.
func (w *walker) inScope(name string, sc *scope) bool {
	for _, b := range sc.bindings {
		for _, c := range b.rel.cols {
			if strings.EqualFold(c.name, name) {
				return true
			}
		}
	}
	return false
}

// from binds a FROM clause's tables into sc; join conditions go to ind.
func (w *walker) from(t map[string]any, sc *scope, ind deps) error {
	if t == nil {
		return nil
	}
	switch str(t, "type") {
	case "EMPTY":
		return nil
	case "BASE_TABLE":
		name := str(t, "table_name")
		alias := str(t, "alias")
		if alias == "" {
			alias = name
		}
		if str(t, "schema_name") == "" && str(t, "catalog_name") == "" {
			if r := sc.cte(name); r != nil {
				ind.merge(r.indirect)
				sc.bindings = append(sc.bindings, binding{alias: alias, table: name, rel: r})
				return nil
			}
		}
		ds, cols := w.resolve(TableRef{Catalog: str(t, "catalog_name"), Schema: str(t, "schema_name"), Name: name})
		r := &relation{}
		if cols == nil {
			r.open = &ds
		}
		for _, c := range cols {
			d := deps{}
			d.add(field{ds, c}, Transformation{direct, subIdentity})
			r.cols = append(r.cols, column{name: c, deps: d})
		}
		sc.bindings = append(sc.bindings, binding{alias: alias, table: name, rel: r})
		return nil
	case "SUBQUERY":
		r, err := w.query(obj(obj(t, "subquery"), "node"), sc)
		if err != nil {
			return err
		}
		for i, a := range list(t, "column_name_alias") {
			if s, ok := a.(string); ok && i < len(r.cols) {
				r.cols[i].name = s
			}
		}
		ind.merge(r.indirect)
		sc.bindings = append(sc.bindings, binding{alias: str(t, "alias"), rel: r})
		return nil
	case "JOIN":
		if err := w.from(obj(t, "left"), sc, ind); err != nil {
			return err
		}
		if err := w.from(obj(t, "right"), sc, ind); err != nil {
			return err
		}
		if c := obj(t, "condition"); c != nil {
			d, err := w.expr(c, sc)
			if err != nil {
				return err
			}
			ind.merge(d.as(indirect, subJoin))
		}
		for _, u := range list(t, "using_columns") {
			name, _ := u.(string)
			for _, b := range sc.bindings {
				if d, ok := b.rel.lookup(name); ok {
					ind.merge(d.as(indirect, subJoin))
				}
			}
		}
		return nil
	}
	return fmt.Errorf("FROM %s is not supported (table functions and the like have no known columns)", str(t, "type"))
}

// star expands * and t.* (with EXCLUDE) when the columns are known.
func (w *walker) star(e map[string]any, sc *scope) ([]column, error) {
	if str(e, "expr") != "" || obj(e, "expr") != nil || e["columns"] == true {
		return nil, fmt.Errorf("COLUMNS(...) expressions are not supported")
	}
	rel := str(e, "relation_name")
	excl := map[string]bool{}
	for _, x := range list(e, "exclude_list") {
		switch v := x.(type) {
		case string:
			excl[strings.ToLower(v)] = true
		case map[string]any:
			if p := list(v, "column_names"); len(p) > 0 {
				s, _ := p[len(p)-1].(string)
				excl[strings.ToLower(s)] = true
			}
		}
	}
	var out []column
	for _, b := range sc.bindings {
		if rel != "" && !strings.EqualFold(rel, b.alias) {
			continue
		}
		if b.rel.open != nil {
			return nil, fmt.Errorf("SELECT * over %s, whose columns are not known yet", b.rel.open.Name)
		}
		for _, c := range b.rel.cols {
			if !excl[strings.ToLower(c.name)] {
				out = append(out, c)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("SELECT * matches no known columns")
	}
	return out, nil
}

// column resolves a column reference in sc (and enclosing scopes).
func (w *walker) column(parts []string, sc *scope) (deps, error) {
	name := parts[len(parts)-1]
	qual := ""
	if len(parts) >= 2 {
		qual = parts[len(parts)-2]
	}
	for s := sc; s != nil; s = s.parent {
		var found []deps
		var open []deps
		for _, b := range s.bindings {
			if qual != "" && !strings.EqualFold(qual, b.alias) && !strings.EqualFold(qual, b.table) {
				continue
			}
			for _, c := range b.rel.cols {
				if strings.EqualFold(c.name, name) {
					found = append(found, c.deps)
					break
				}
			}
			if b.rel.open != nil {
				d, _ := b.rel.lookup(name)
				open = append(open, d)
			}
		}
		switch {
		case len(found) == 1:
			return found[0], nil
		case len(found) > 1:
			return nil, fmt.Errorf("column %s is ambiguous", strings.Join(parts, "."))
		case len(open) == 1:
			return open[0], nil
		case len(open) > 1:
			return nil, fmt.Errorf("column %s may come from several tables whose columns are not known", strings.Join(parts, "."))
		}
	}
	if len(parts) == 1 {
		// A struct field or a name DuckDB binds later (a lambda
		// parameter): no input column.
		return deps{}, nil
	}
	return nil, fmt.Errorf("column %s not found", strings.Join(parts, "."))
}
