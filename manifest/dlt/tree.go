package dlt

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/tidwall/gjson"
	"go.yaml.in/yaml/v3"
)

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 512

// maxNodes bounds how many values one document may expand to (YAML aliases
// can multiply a small file).
const maxNodes = 1 << 20

type kind uint8

const (
	kNull kind = iota
	kObject
	kArray
	kString
	kNumber
	kBool
)

// String names the kind in error messages.
func (k kind) String() string {
	return [...]string{"null", "object", "array", "string", "number", "boolean"}[k]
}

// value is a JSON/YAML document that keeps the order of object keys, which
// dlt uses for column order. line is 1-based (0 when unknown).
type value struct {
	kind kind
	keys []string
	klns []int    // object keys' lines, parallel to keys
	vals []*value // object values, parallel to keys; or array items
	text string   // string, or a number's text
	b    bool
	line int
}

// get returns the value of key in an object, or nil.
func (v *value) get(key string) *value {
	if v == nil || v.kind != kObject {
		return nil
	}
	for i, k := range v.keys {
		if k == key {
			return v.vals[i]
		}
	}
	return nil
}

// keyLine returns the line of the i-th key of an object.
func (v *value) keyLine(i int) int {
	if i < len(v.klns) {
		return v.klns[i]
	}
	return v.line
}

// str returns the string value, or "" when v is not a string.
func (v *value) str() string {
	if v == nil || v.kind != kString {
		return ""
	}
	return v.text
}

// boolean returns the boolean value and whether v was a boolean.
func (v *value) boolean() (bool, bool) {
	if v == nil || v.kind != kBool {
		return false, false
	}
	return v.b, true
}

// integer returns v as an int when it is a whole number.
func (v *value) integer() (int, bool) {
	if v == nil || v.kind != kNumber {
		return 0, false
	}
	n := json.Number(v.text)
	i, err := n.Int64()
	if err != nil {
		f, ferr := n.Float64()
		if ferr != nil || f != float64(int64(f)) {
			return 0, false
		}
		i = int64(f)
	}
	return int(i), true
}

// lineIndex maps byte offsets of a JSON document to 1-based lines.
type lineIndex []int

func newLineIndex(b []byte) lineIndex {
	var idx lineIndex
	for i, c := range b {
		if c == '\n' {
			idx = append(idx, i)
		}
	}
	return idx
}

func (l lineIndex) line(off int64) int {
	return sort.SearchInts(l, int(off)) + 1
}

// parseJSONTree decodes one JSON value keeping key order and lines. The
// document is validated by encoding/json (for its error positions) and
// walked with gjson, which keeps key order and offsets and is much faster
// than a token stream.
func parseJSONTree(b []byte) (*value, error) {
	lines := newLineIndex(b)
	if !json.Valid(b) {
		var v any
		err := json.Unmarshal(b, &v)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return nil, jsonErrLine(err, lines)
	}
	budget := 0
	return fromGJSON(gjson.ParseBytes(b), lines, 0, &budget)
}

func jsonErrLine(err error, lines lineIndex) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("line %d: %w", lines.line(se.Offset), err)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("line %d: %w", lines.line(te.Offset), err)
	}
	return err
}

func fromGJSON(r gjson.Result, lines lineIndex, depth int, budget *int) (*value, error) {
	*budget++
	line := lines.line(int64(r.Index))
	if *budget > maxNodes {
		return nil, errors.New("document too large")
	}
	if depth > maxDepth {
		return nil, fmt.Errorf("line %d: nesting deeper than %d", line, maxDepth)
	}
	switch r.Type {
	case gjson.Null:
		return &value{kind: kNull, line: line}, nil
	case gjson.False, gjson.True:
		return &value{kind: kBool, b: r.Type == gjson.True, line: line}, nil
	case gjson.Number:
		return &value{kind: kNumber, text: r.Raw, line: line}, nil
	case gjson.String:
		return &value{kind: kString, text: r.Str, line: line}, nil
	}
	v := &value{kind: kArray, line: line}
	if r.IsObject() {
		v.kind = kObject
	}
	var err error
	r.ForEach(func(k, item gjson.Result) bool {
		var child *value
		child, err = fromGJSON(item, lines, depth+1, budget)
		if err != nil {
			return false
		}
		if v.kind == kObject {
			v.keys = append(v.keys, k.Str)
			v.klns = append(v.klns, lines.line(int64(k.Index)))
		}
		v.vals = append(v.vals, child)
		return true
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// parseYAMLTree decodes one YAML document keeping key order and lines.
func parseYAMLTree(b []byte) (v *value, err error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	if doc.Kind == 0 {
		return &value{kind: kNull}, nil
	}
	c := &yamlConv{done: map[*yaml.Node]*value{}, active: map[*yaml.Node]bool{}}
	return c.convert(&doc, 0)
}

// yamlConv converts YAML nodes once each: an alias shares the value of its
// anchor, so alias chains cannot blow up time or memory.
type yamlConv struct {
	done   map[*yaml.Node]*value
	active map[*yaml.Node]bool
	budget int
}

func (c *yamlConv) convert(n *yaml.Node, depth int) (*value, error) {
	if v, ok := c.done[n]; ok {
		return v, nil
	}
	if c.active[n] {
		return nil, fmt.Errorf("line %d: YAML anchor contains an alias of itself", n.Line)
	}
	c.active[n] = true
	v, err := c.fromYAML(n, depth)
	delete(c.active, n)
	if err == nil {
		c.done[n] = v
	}
	return v, err
}

func (c *yamlConv) fromYAML(n *yaml.Node, depth int) (*value, error) {
	c.budget++
	budget := &c.budget
	if *budget > maxNodes {
		return nil, errors.New("document too large (YAML aliases expand too much)")
	}
	if depth > maxDepth {
		return nil, fmt.Errorf("line %d: nesting deeper than %d", n.Line, maxDepth)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return &value{kind: kNull, line: n.Line}, nil
		}
		return c.convert(n.Content[0], depth+1)
	case yaml.AliasNode:
		if n.Alias == nil {
			return &value{kind: kNull, line: n.Line}, nil
		}
		return c.convert(n.Alias, depth+1)
	case yaml.MappingNode:
		v := &value{kind: kObject, line: n.Line}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: mapping key is not a scalar", k.Line)
			}
			if k.Value == "<<" && k.ShortTag() == "!!merge" {
				// Merge keys: fold the merged mapping's entries in.
				merged, err := c.convert(val, depth+1)
				if err != nil {
					return nil, err
				}
				if merged.kind == kObject {
					*budget += len(merged.keys)
					if *budget > maxNodes {
						return nil, errors.New("document too large (YAML merge keys expand too much)")
					}
					v.keys = append(v.keys, merged.keys...)
					v.klns = append(v.klns, merged.klns...)
					v.vals = append(v.vals, merged.vals...)
				}
				continue
			}
			child, err := c.convert(val, depth+1)
			if err != nil {
				return nil, err
			}
			v.keys = append(v.keys, k.Value)
			v.klns = append(v.klns, k.Line)
			v.vals = append(v.vals, child)
		}
		return v, nil
	case yaml.SequenceNode:
		v := &value{kind: kArray, line: n.Line}
		for _, item := range n.Content {
			child, err := c.convert(item, depth+1)
			if err != nil {
				return nil, err
			}
			v.vals = append(v.vals, child)
		}
		return v, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return &value{kind: kNull, line: n.Line}, nil
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				return nil, fmt.Errorf("line %d: %w", n.Line, err)
			}
			return &value{kind: kBool, b: b, line: n.Line}, nil
		case "!!int", "!!float":
			return &value{kind: kNumber, text: n.Value, line: n.Line}, nil
		default:
			return &value{kind: kString, text: n.Value, line: n.Line}, nil
		}
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}
