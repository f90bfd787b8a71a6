package dlt

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Schema engine versions this package reads. Engine 11 is current in dlt;
// older files are still found in long-lived pipeline folders.
const (
	MinSchemaEngine = 4
	MaxSchemaEngine = 11
)

// SchemaFileSuffix and SchemaYAMLSuffix end the names of stored schemas
// (<pipeline dir>/schemas/<name>.schema.json) and exported ones.
const (
	SchemaFileSuffix = ".schema.json"
	SchemaYAMLSuffix = ".schema.yaml"
)

// Schema is a dlt schema (the stored TStoredSchema shape): its tables in
// file order. dlt's own tables (_dlt_loads, _dlt_version,
// _dlt_pipeline_state) are kept; DataTables leaves them out.
type Schema struct {
	Name          string
	Version       int
	VersionHash   string
	EngineVersion int
	Tables        []Table
	// Path is the file the schema was read from ("" when parsed from bytes).
	Path string

	index map[string]int // table name → position in Tables
}

// Table is one table of a schema.
type Table struct {
	Name string
	// Resource is the dlt resource that produces a root table. Nested tables
	// have none; they have Parent instead. Root tables of old schemas that
	// lack it get their own name, as dlt does for new tables.
	Resource string
	// Parent names the table a nested table hangs off. A "__" in a name
	// does not make a table nested: only Parent does.
	Parent string
	// WriteDisposition is skip, append, replace or merge; nested tables
	// inherit their root's.
	WriteDisposition string
	Description      string
	Columns          []Column
	// SeenData is x-normalizer.seen-data: the table received data. Schemas
	// older than engine 9 did not record it; dlt's migration infers it from
	// a _dlt_id column and so does this reader.
	SeenData bool
	// Line is the table's line in the schema file.
	Line int
}

// Column is one column of a table, in the schema's column order.
type Column struct {
	Name     string
	DataType string
	// Nullable is dlt's default (true) when the schema does not say.
	Nullable    bool
	Description string
	// Hints lists the column's boolean hints that are set, sorted:
	// primary_key, merge_key, unique, partition, cluster, sort, row_key,
	// parent_key, root_key, hard_delete, dedup_sort, incremental, …
	Hints []string
}

// IsDLT reports whether the table is one of dlt's own (_dlt_* names).
func (t *Table) IsDLT() bool { return IsDLTTable(t.Name) }

// IsDLTTable reports whether name is one of dlt's own tables.
func IsDLTTable(name string) bool { return strings.HasPrefix(name, "_dlt_") }

// IsNested reports whether the table hangs off a parent table.
func (t *Table) IsNested() bool { return t.Parent != "" }

// Table returns the table named name.
func (s *Schema) Table(name string) (*Table, bool) {
	if i, ok := s.index[name]; ok && i < len(s.Tables) && s.Tables[i].Name == name {
		return &s.Tables[i], true
	}
	// A schema built or changed by hand has no (valid) index.
	for i := range s.Tables {
		if s.Tables[i].Name == name {
			return &s.Tables[i], true
		}
	}
	return nil, false
}

func (s *Schema) buildIndex() {
	s.index = make(map[string]int, len(s.Tables))
	for i := range s.Tables {
		if _, dup := s.index[s.Tables[i].Name]; !dup {
			s.index[s.Tables[i].Name] = i
		}
	}
}

// DataTables returns the tables that are not dlt's own, in file order.
func (s *Schema) DataTables() []*Table {
	var out []*Table
	for i := range s.Tables {
		if !s.Tables[i].IsDLT() {
			out = append(out, &s.Tables[i])
		}
	}
	return out
}

// Root returns the root table of t by following Parent links. A broken or
// circular chain ends at the last table found.
func (s *Schema) Root(t *Table) *Table {
	seen := map[string]bool{}
	for t.Parent != "" && !seen[t.Name] {
		seen[t.Name] = true
		p, ok := s.Table(t.Parent)
		if !ok {
			break
		}
		t = p
	}
	return t
}

// Nested returns the tables below root (children, grandchildren, …) in
// file order.
func (s *Schema) Nested(root string) []*Table {
	var out []*Table
	for _, t := range s.nestedByRoot()[root] {
		out = append(out, &s.Tables[t])
	}
	return out
}

func (s *Schema) nestedByRoot() map[string][]int {
	m := map[string][]int{}
	for i := range s.Tables {
		t := &s.Tables[i]
		if t.Parent == "" {
			continue
		}
		if r := s.Root(t); r != t && r.Name != t.Name {
			m[r.Name] = append(m[r.Name], i)
		}
	}
	return m
}

// Resources returns the resources of the schema's data tables in order of
// first appearance.
func (s *Schema) Resources() []string {
	var out []string
	for _, t := range s.DataTables() {
		if t.Parent == "" && t.Resource != "" && !slices.Contains(out, t.Resource) {
			out = append(out, t.Resource)
		}
	}
	return out
}

// RootTables returns the data root tables of resource, in file order.
func (s *Schema) RootTables(resource string) []*Table {
	var out []*Table
	for _, t := range s.DataTables() {
		if t.Parent == "" && t.Resource == resource {
			out = append(out, t)
		}
	}
	return out
}

// ReadSchema reads a schema file: JSON (.schema.json, as dlt stores it in
// the pipeline folder) or YAML (.schema.yaml / .yml, as exported).
func ReadSchema(path string) (*Schema, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read dlt schema: %w", err)
	}
	s, err := ParseSchema(path, b)
	if err != nil {
		return nil, err
	}
	s.Path = path
	return s, nil
}

// ParseSchema parses schema content. name is used in errors and picks the
// format: names ending in .yaml or .yml are YAML, anything else JSON (a
// JSON document is also accepted when the name says YAML).
func ParseSchema(name string, b []byte) (*Schema, error) {
	var root *value
	var err error
	ext := strings.ToLower(filepath.Ext(name))
	if ext == ".yaml" || ext == ".yml" {
		root, err = parseYAMLTree(b)
	} else {
		root, err = parseJSONTree(b)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: not a dlt schema: %w", name, err)
	}
	return schemaFromTree(name, root)
}

func schemaFromTree(name string, root *value) (*Schema, error) {
	at := func(v *value) string {
		if v != nil && v.line > 0 {
			return fmt.Sprintf("%s:%d", name, v.line)
		}
		return name
	}
	if root == nil || root.kind != kObject {
		return nil, fmt.Errorf("%s: a dlt schema is an object with name, engine_version and tables", name)
	}
	s := &Schema{}
	nv := root.get("name")
	s.Name = nv.str()
	if s.Name == "" {
		return nil, fmt.Errorf("%s: schema has no \"name\"", at(root))
	}
	ev := root.get("engine_version")
	eng, ok := ev.integer()
	if !ok {
		return nil, fmt.Errorf("%s: schema %q has no integer \"engine_version\"", at(root), s.Name)
	}
	if eng < MinSchemaEngine || eng > MaxSchemaEngine {
		return nil, fmt.Errorf("%s: schema %q has engine_version %d; elt reads engines %d to %d (upgrade the pipeline with a current dlt, or upgrade elt)",
			at(ev), s.Name, eng, MinSchemaEngine, MaxSchemaEngine)
	}
	s.EngineVersion = eng
	s.Version, _ = root.get("version").integer()
	s.VersionHash = root.get("version_hash").str()
	tv := root.get("tables")
	if tv == nil || tv.kind == kNull {
		return s, nil
	}
	if tv.kind != kObject {
		return nil, fmt.Errorf("%s: \"tables\" is a %s, want an object of tables", at(tv), tv.kind)
	}
	for i, tname := range tv.keys {
		t, err := tableFromTree(tname, tv.vals[i], eng, at)
		if err != nil {
			return nil, err
		}
		t.Line = tv.keyLine(i)
		s.Tables = append(s.Tables, t)
	}
	s.buildIndex()
	// Nested tables carry no write disposition of their own.
	for i := range s.Tables {
		t := &s.Tables[i]
		if t.Parent != "" && t.WriteDisposition == "" {
			t.WriteDisposition = s.Root(t).WriteDisposition
		}
	}
	return s, nil
}

func tableFromTree(name string, v *value, engine int, at func(*value) string) (Table, error) {
	if name == "" {
		return Table{}, fmt.Errorf("%s: table with an empty name", at(v))
	}
	if v == nil || v.kind != kObject {
		return Table{}, fmt.Errorf("%s: table %q is not an object", at(v), name)
	}
	t := Table{
		Name:             name,
		Resource:         v.get("resource").str(),
		Parent:           v.get("parent").str(),
		WriteDisposition: v.get("write_disposition").str(),
		Description:      v.get("description").str(),
		Line:             v.line,
	}
	if t.Parent == "" && t.Resource == "" {
		t.Resource = name
	}
	if t.Parent != "" {
		t.Resource = ""
	}
	cv := v.get("columns")
	if cv != nil && cv.kind != kObject && cv.kind != kNull {
		return Table{}, fmt.Errorf("%s: columns of table %q are a %s, want an object", at(cv), name, cv.kind)
	}
	hasDLTID := false
	if cv != nil && cv.kind == kObject {
		for i, cname := range cv.keys {
			c, err := columnFromTree(cname, cv.vals[i])
			if err != nil {
				return Table{}, fmt.Errorf("%s: table %q: %w", at(cv.vals[i]), name, err)
			}
			if c.Name == "_dlt_id" {
				hasDLTID = true
			}
			t.Columns = append(t.Columns, c)
		}
	}
	if seen, ok := v.get("x-normalizer").get("seen-data").boolean(); ok {
		t.SeenData = seen
	} else if engine < 9 {
		t.SeenData = hasDLTID
	}
	return t, nil
}

func columnFromTree(name string, v *value) (Column, error) {
	if v == nil || v.kind != kObject {
		return Column{}, fmt.Errorf("column %q is not an object", name)
	}
	c := Column{Name: name, Nullable: true}
	if n := v.get("name").str(); n != "" {
		c.Name = n
	}
	c.DataType = v.get("data_type").str()
	c.Description = v.get("description").str()
	for i, k := range v.keys {
		b, ok := v.vals[i].boolean()
		if !ok {
			continue
		}
		if k == "nullable" {
			c.Nullable = b
			continue
		}
		if b {
			c.Hints = append(c.Hints, k)
		}
	}
	slices.Sort(c.Hints)
	c.Hints = slices.Compact(c.Hints)
	return c, nil
}
