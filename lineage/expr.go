package lineage

import "strings"

// expr returns the input columns of an expression: column references are
// IDENTITY, anything computed from them TRANSFORMATION, aggregates
// AGGREGATION; CASE conditions and window partitions are indirect.
func (w *walker) expr(e map[string]any, sc *scope) (deps, error) {
	if e == nil {
		return deps{}, nil
	}
	switch str(e, "class") {
	case "CONSTANT", "PARAMETER", "DEFAULT":
		return deps{}, nil
	case "COLUMN_REF":
		var parts []string
		for _, p := range list(e, "column_names") {
			s, _ := p.(string)
			parts = append(parts, s)
		}
		if len(parts) == 0 {
			return deps{}, nil
		}
		return w.column(parts, sc)
	case "FUNCTION", "AGGREGATE":
		d, err := w.children(e, sc, "children")
		if err != nil {
			return nil, err
		}
		sub := subTransform
		if w.p.isAggregate(str(e, "function_name")) {
			sub = subAggregation
		}
		out := d.as(direct, sub)
		if f := obj(e, "filter"); f != nil {
			fd, err := w.expr(f, sc)
			if err != nil {
				return nil, err
			}
			out.merge(fd.as(indirect, subFilter))
		}
		return out, nil
	case "WINDOW":
		d, err := w.children(e, sc, "children")
		if err != nil {
			return nil, err
		}
		out := d.as(direct, subAggregation)
		if !w.p.isAggregate(str(e, "function_name")) {
			out = d.as(direct, subTransform)
		}
		part, err := w.children(e, sc, "partitions")
		if err != nil {
			return nil, err
		}
		out.merge(part.as(indirect, subWindow))
		for _, o := range list(e, "orders") {
			om, _ := o.(map[string]any)
			od, err := w.expr(obj(om, "expression"), sc)
			if err != nil {
				return nil, err
			}
			out.merge(od.as(indirect, subWindow))
		}
		return out, nil
	case "CASE":
		out := deps{}
		for _, c := range list(e, "case_checks") {
			cm, _ := c.(map[string]any)
			wd, err := w.expr(obj(cm, "when_expr"), sc)
			if err != nil {
				return nil, err
			}
			out.merge(wd.as(indirect, subConditional))
			td, err := w.expr(obj(cm, "then_expr"), sc)
			if err != nil {
				return nil, err
			}
			out.merge(td.as(direct, subTransform))
		}
		ed, err := w.expr(obj(e, "else_expr"), sc)
		if err != nil {
			return nil, err
		}
		out.merge(ed.as(direct, subTransform))
		return out, nil
	case "SUBQUERY":
		r, err := w.query(obj(obj(e, "subquery"), "node"), sc)
		if err != nil {
			return nil, err
		}
		out := deps{}
		for _, c := range r.cols {
			out.merge(c.deps.as(direct, subTransform))
		}
		out.merge(r.indirect)
		if c := obj(e, "child"); c != nil {
			cd, err := w.expr(c, sc)
			if err != nil {
				return nil, err
			}
			out.merge(cd.as(direct, subTransform))
		}
		return out, nil
	case "STAR":
		// count(*) and the like: no particular column.
		return deps{}, nil
	case "LAMBDA":
		// The lambda's parameters are not columns; its body may name
		// columns of the query.
		return w.generic(e, sc)
	}
	return w.generic(e, sc)
}

func (w *walker) children(e map[string]any, sc *scope, key string) (deps, error) {
	out := deps{}
	for _, c := range list(e, key) {
		cm, _ := c.(map[string]any)
		d, err := w.expr(cm, sc)
		if err != nil {
			return nil, err
		}
		out.merge(d)
	}
	return out, nil
}

// generic handles operators, casts, comparisons, conjunctions and other
// expression classes by following every nested expression: a computed
// value is a TRANSFORMATION of its inputs.
func (w *walker) generic(e map[string]any, sc *scope) (deps, error) {
	out := deps{}
	var visit func(v any) error
	visit = func(v any) error {
		switch x := v.(type) {
		case map[string]any:
			if _, ok := x["class"].(string); ok {
				d, err := w.expr(x, sc)
				if err != nil {
					return err
				}
				out.merge(d)
				return nil
			}
			for k, c := range x {
				if strings.HasPrefix(k, "query_location") {
					continue
				}
				if err := visit(c); err != nil {
					return err
				}
			}
		case []any:
			for _, c := range x {
				if err := visit(c); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for k, v := range e {
		if k == "class" || k == "type" || k == "alias" {
			continue
		}
		if err := visit(v); err != nil {
			return nil, err
		}
	}
	return out.as(direct, subTransform), nil
}
