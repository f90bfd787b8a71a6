package lineage

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// DatasetID names a dataset.
type DatasetID struct{ Namespace, Name string }

// TableRef is a table as a query names it.
type TableRef struct{ Catalog, Schema, Name string }

// Resolver maps a table a query reads to its dataset and, when known, its
// columns in order (nil when unknown).
type Resolver func(TableRef) (DatasetID, []string)

// Transformation is how an input field contributes to an output field, as
// the columnLineage facet defines it.
type Transformation struct {
	Type    string `json:"type"`
	Subtype string `json:"subtype,omitempty"`
}

// InputField is one input column of an output column or of the dataset.
type InputField struct {
	Namespace       string           `json:"namespace"`
	Name            string           `json:"name"`
	Field           string           `json:"field"`
	Transformations []Transformation `json:"transformations"`
}

// ColumnLineage maps each output column to its input columns; Dataset
// holds the columns that affect every row (joins, filters, grouping,
// sorting).
type ColumnLineage struct {
	Fields  map[string][]InputField `json:"fields"`
	Dataset []InputField            `json:"dataset,omitempty"`
}

// Transformation types and subtypes.
const (
	direct         = "DIRECT"
	indirect       = "INDIRECT"
	subIdentity    = "IDENTITY"
	subTransform   = "TRANSFORMATION"
	subAggregation = "AGGREGATION"
	subJoin        = "JOIN"
	subFilter      = "FILTER"
	subGroupBy     = "GROUP_BY"
	subSort        = "SORT"
	subWindow      = "WINDOW"
	subConditional = "CONDITIONAL"
)

// ColumnLineage parses query (one SELECT, possibly with CTEs) with DuckDB's
// parser and follows each output column to the input columns. outCols,
// when known, are the names of the materialized columns in order; they
// name the output when the query leaves a column unnamed. An error says
// why no lineage could be derived.
func (p *Parser) ColumnLineage(ctx context.Context, query string, resolve Resolver, outCols []string) (*ColumnLineage, error) {
	tree, err := p.Serialize(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("duckdb cannot parse the statement: %w", err)
	}
	stmts, _ := tree["statements"].([]any)
	if len(stmts) != 1 {
		return nil, fmt.Errorf("expected one SELECT statement, found %d", len(stmts))
	}
	st, _ := stmts[0].(map[string]any)
	node, _ := st["node"].(map[string]any)
	w := &walker{p: p, resolve: resolve}
	rel, err := w.query(node, nil)
	if err != nil {
		return nil, err
	}
	if len(outCols) > 0 && len(outCols) != len(rel.cols) {
		return nil, fmt.Errorf("the query yields %d columns but the table has %d", len(rel.cols), len(outCols))
	}
	out := &ColumnLineage{Fields: map[string][]InputField{}}
	for i, c := range rel.cols {
		name := c.name
		if len(outCols) > 0 {
			name = outCols[i]
		}
		if name == "" {
			return nil, fmt.Errorf("column %d has no name (give it an alias)", i+1)
		}
		out.Fields[name] = c.deps.fields()
	}
	out.Dataset = rel.indirect.fields()
	return out, nil
}

// field is one input column.
type field struct {
	ds  DatasetID
	col string
}

// deps are the input columns of an expression with how they contribute.
type deps map[field]map[Transformation]bool

func (d deps) add(f field, t Transformation) {
	m := d[f]
	if m == nil {
		m = map[Transformation]bool{}
		d[f] = m
	}
	m[t] = true
}

func (d deps) merge(o deps) {
	for f, ts := range o {
		for t := range ts {
			d.add(f, t)
		}
	}
}

// as returns d with every direct contribution raised to at least sub, or
// with every contribution made indirect of subtype sub.
func (d deps) as(typ, sub string) deps {
	out := deps{}
	for f, ts := range d {
		for t := range ts {
			switch {
			case typ == indirect && t.Type == direct:
				out.add(f, Transformation{indirect, sub})
			case typ == direct && t.Type == direct && rank(sub) > rank(t.Subtype):
				out.add(f, Transformation{direct, sub})
			default:
				out.add(f, t)
			}
		}
	}
	return out
}

func rank(sub string) int {
	switch sub {
	case subIdentity:
		return 0
	case subTransform:
		return 1
	case subAggregation:
		return 2
	}
	return 0
}

// fields lists d sorted by dataset, field.
func (d deps) fields() []InputField {
	out := make([]InputField, 0, len(d))
	for f, ts := range d {
		in := InputField{Namespace: f.ds.Namespace, Name: f.ds.Name, Field: f.col}
		for t := range ts {
			in.Transformations = append(in.Transformations, t)
		}
		sort.Slice(in.Transformations, func(i, j int) bool {
			a, b := in.Transformations[i], in.Transformations[j]
			return a.Type+a.Subtype < b.Type+b.Subtype
		})
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Namespace+"\x00"+a.Name != b.Namespace+"\x00"+b.Name {
			return a.Namespace+"\x00"+a.Name < b.Namespace+"\x00"+b.Name
		}
		return a.Field < b.Field
	})
	return out
}

// column is one column of a relation.
type column struct {
	name string
	deps deps
}

// relation is a table, CTE or subquery in scope. Base tables of unknown
// schema are open: any column name resolves to that column.
type relation struct {
	cols     []column
	open     *DatasetID
	indirect deps
}

func (r *relation) lookup(name string) (deps, bool) {
	for _, c := range r.cols {
		if strings.EqualFold(c.name, name) {
			return c.deps, true
		}
	}
	if r.open != nil {
		d := deps{}
		d.add(field{*r.open, name}, Transformation{direct, subIdentity})
		return d, true
	}
	return nil, false
}

// binding is a relation under its name in a FROM clause.
type binding struct {
	alias string
	// table is the unqualified table name, for schema.table.column refs.
	table string
	rel   *relation
}

// scope is what a query level can see: its FROM bindings, its CTEs and
// the enclosing levels (correlated subqueries).
type scope struct {
	parent   *scope
	bindings []binding
	ctes     map[string]*relation
}

func (s *scope) cte(name string) *relation {
	for c := s; c != nil; c = c.parent {
		if r, ok := c.ctes[strings.ToLower(name)]; ok {
			return r
		}
	}
	return nil
}

type walker struct {
	p       *Parser
	resolve Resolver
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }
func obj(m map[string]any, k string) map[string]any {
	o, _ := m[k].(map[string]any)
	return o
}
func list(m map[string]any, k string) []any { l, _ := m[k].([]any); return l }
