package project

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/integrations/command"
)

// Problem is one thing wrong with the project, with its location.
type Problem struct {
	File string
	Line int
	Msg  string
}

func (p Problem) String() string {
	switch {
	case p.File != "" && p.Line > 0:
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
	case p.File != "":
		return p.File + ": " + p.Msg
	}
	return p.Msg
}

// Error lists every problem found while loading a project. It is a user
// error: the CLI exits 2.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return e.Problems[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// problems collects Problems for one file.
type problems struct {
	file string
	list []Problem
}

func (p *problems) add(line int, format string, args ...any) {
	p.list = append(p.list, Problem{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// hasLine reports whether a problem was already found at line.
func (p *problems) hasLine(line int) bool {
	for _, q := range p.list {
		if q.Line == line && line > 0 {
			return true
		}
	}
	return false
}

func (p *problems) addErr(line int, err error) {
	for _, l := range strings.Split(err.Error(), "\n") {
		if strings.TrimSpace(l) != "" {
			p.add(line, "%s", strings.TrimSpace(l))
		}
	}
}

// interpolate replaces ${VAR} and ${VAR:-default} in every scalar of the
// tree. $${ is a literal ${. A variable that is unset and has no default
// is a problem at its line.
func interpolate(n *yaml.Node, getenv func(string) (string, bool), p *problems) {
	if n == nil {
		return
	}
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
		v, err := expand(n.Value, getenv)
		if err != nil {
			p.add(n.Line, "%v", err)
		} else {
			n.Value = v
			if n.Style == 0 {
				// Unquoted: let the value decide its type again, so
				// `concurrency: ${C:-4}` is a number.
				n.Tag = ""
			}
		}
		return
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			// Commands are expanded when they run, with the step's own
			// environment (ELT_PARTITION_KEY, ELT_RESOURCE_*, …): a shell
			// string by the shell, an argv list by elt.
			if n.Content[i].Value == "command" {
				continue
			}
			interpolate(n.Content[i+1], getenv, p)
		}
		return
	}
	for _, c := range n.Content {
		interpolate(c, getenv, p)
	}
}

// expand substitutes ${VAR} and ${VAR:-default} in s; a variable that is
// unset and has no default is an error.
func expand(s string, getenv func(string) (string, bool)) (string, error) {
	return command.ExpandFunc(s, func(expr string) (string, error) {
		name, def, hasDef := strings.Cut(expr, ":-")
		if !validEnvName(name) {
			return "", fmt.Errorf("bad variable name %q in ${%s}; names are letters, digits and _", name, expr)
		}
		v, ok := getenv(name)
		switch {
		case ok && v != "":
			return v, nil
		case hasDef:
			return def, nil
		case ok:
			return "", nil // set but empty
		}
		return "", fmt.Errorf("environment variable %s is not set; export it or write ${%s:-default}", name, name)
	})
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') || (i > 0 && r >= '0' && r <= '9') {
			continue
		}
		return false
	}
	return true
}

// checkKeys walks n against the Go type t and reports every mapping key
// that t does not declare, with the allowed keys. Types that decode
// themselves (yaml.Unmarshaler, yaml.Node, interfaces, maps of any) are
// not looked into.
func checkKeys(n *yaml.Node, t reflect.Type, what string, p *problems) {
	if n == nil {
		return
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			checkKeys(c, t, what, p)
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		checkKeys(n.Alias, t, what, p)
		return
	}
	ti := typeInfoOf(t)
	if ti.opaque {
		return
	}
	t = ti.t
	if !checkShape(n, t, what, p) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // decode reports the type mismatch
		}
		fields, open := ti.fields, ti.open
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" {
				continue
			}
			ft, ok := fields[k.Value]
			if !ok && open {
				continue // an inline map takes any other key
			}
			if !ok {
				allowed := ti.allowed
				hint := ""
				if near := nearest(k.Value, allowed); near != "" {
					hint = fmt.Sprintf(" (did you mean %q?)", near)
				}
				p.add(k.Line, "unknown key %q in %s%s; allowed keys: %s", k.Value, what, hint, strings.Join(allowed, ", "))
				continue
			}
			checkKeys(v, ft, what+"."+k.Value, p)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			checkKeys(n.Content[i+1], t.Elem(), what+"."+n.Content[i].Value, p)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, c := range n.Content {
			checkKeys(c, t.Elem(), fmt.Sprintf("%s[%d]", what, i), p)
		}
	}
}

// typeInfo is what checkKeys needs of a type, worked out once per type:
// reflection per YAML node was a third of loading a 10,000-asset elt.yaml.
type typeInfo struct {
	t       reflect.Type // pointers removed
	opaque  bool         // decodes itself: not looked into
	fields  map[string]reflect.Type
	open    bool     // an inline map takes any other key
	allowed []string // the declared keys, sorted, for messages
}

var typeInfos sync.Map // reflect.Type → *typeInfo

func typeInfoOf(t reflect.Type) *typeInfo {
	if ti, ok := typeInfos.Load(t); ok {
		return ti.(*typeInfo)
	}
	ti := &typeInfo{t: t}
	for ti.t.Kind() == reflect.Pointer {
		ti.t = ti.t.Elem()
	}
	ti.opaque = ti.t == reflect.TypeFor[yaml.Node]() || reflect.PointerTo(ti.t).Implements(reflect.TypeFor[yaml.Unmarshaler]())
	if !ti.opaque && ti.t.Kind() == reflect.Struct {
		ti.fields = yamlFields(ti.t)
		_, ti.open = ti.fields[inlineMapKey]
		for name := range ti.fields {
			if name != inlineMapKey {
				ti.allowed = append(ti.allowed, name)
			}
		}
		slices.Sort(ti.allowed)
	}
	v, _ := typeInfos.LoadOrStore(t, ti)
	return v.(*typeInfo)
}

// checkShape reports a node whose kind cannot fill t (a mapping where a
// list belongs, a word where a duration belongs) in our own words, with
// what to write instead; decode errors at the same line are then dropped.
// It reports whether n has the right shape.
func checkShape(n *yaml.Node, t reflect.Type, what string, p *problems) bool {
	if isNull(n) {
		return true
	}
	name := strings.TrimPrefix(what, "elt.yaml.")
	if t == reflect.TypeFor[time.Duration]() {
		if n.Kind != yaml.ScalarNode {
			p.add(n.Line, "%s must be a duration such as 30s, 5m or 1h, found %s", name, nodeKind(n))
			return false
		}
		if _, err := time.ParseDuration(n.Value); err != nil {
			if _, ierr := strconv.ParseInt(n.Value, 10, 64); ierr != nil {
				p.add(n.Line, "%s: %q is not a duration; write a number with a unit, such as 30s, 5m or 1h", name, n.Value)
				return false
			}
		}
		return true
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		if n.Kind != yaml.MappingNode {
			p.add(n.Line, "%s must be a mapping (\"name: value\" lines or {name: value}), found %s", name, nodeKind(n))
			return false
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			p.add(n.Line, "%s must be a list (\"- item\" lines or [a, b]), found %s", name, nodeKind(n))
			return false
		}
	}
	return true
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && (n.Tag == "!!null" || (n.Style == 0 && (n.Value == "" || n.Value == "~" || n.Value == "null")))
}

// nodeKind names a node's kind for messages.
func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

// inlineMapKey marks, in yamlFields' result, a struct with an inline map.
const inlineMapKey = "\x00inline"

// yamlFields maps the YAML names of t's fields (following inline structs)
// to their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(opts, "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch ft.Kind() {
			case reflect.Struct:
				for k, v := range yamlFields(ft) {
					out[k] = v
				}
			case reflect.Map:
				out[inlineMapKey] = ft
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

// nearest returns the candidate closest to s when it is close enough to be
// a likely typo.
func nearest(s string, cands []string) string {
	best, bestD := "", 3
	for _, c := range cands {
		if d := asset.EditDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// decodeNode decodes n into out, turning yaml.v3's type errors into
// problems with lines.
func decodeNode(n *yaml.Node, out any, p *problems) bool {
	if err := n.Decode(out); err != nil {
		var te *yaml.TypeError
		if ok := asTypeError(err, &te); ok {
			for _, e := range te.Errors {
				line, msg := lineOf(e)
				if p.hasLine(line) {
					continue // checkKeys said it in clearer words
				}
				p.add(line, "%s", friendlyTypeError(msg))
			}
			return false
		}
		line, msg := lineOf(err.Error())
		if line == 0 {
			line = n.Line
		}
		p.add(line, "%s", msg)
		return false
	}
	return true
}

func asTypeError(err error, te **yaml.TypeError) bool {
	t, ok := err.(*yaml.TypeError)
	if ok {
		*te = t
	}
	return ok
}

// friendlyTypeError rewrites "cannot unmarshal !!str `abc` into int" into
// words a user knows.
func friendlyTypeError(msg string) string {
	r := strings.NewReplacer("!!str", "a string", "!!int", "a number", "!!seq", "a list", "!!map", "a mapping", "!!bool", "true/false", "!!float", "a number",
		"cannot unmarshal", "found", " into []string", " where a list of strings belongs", " into string", " where a single value belongs",
		" into int", " where a whole number belongs", " into bool", " where true or false belongs", " into float64", " where a number belongs",
		" into map[string]string", " where a mapping of names to values belongs")
	msg = r.Replace(msg)
	if i := strings.Index(msg, " into "); i >= 0 {
		msg = msg[:i] + " where something else belongs"
	}
	return msg
}

// readYAML parses a YAML file into a node tree.
func readYAML(path string) (*yaml.Node, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		line, msg := lineOf(strings.TrimPrefix(err.Error(), "yaml: "))
		return nil, &Error{Problems: []Problem{{File: path, Line: line, Msg: "malformed YAML: " + msg}}}
	}
	return &doc, nil
}

// strictDecode is for custom unmarshalers: it refuses unknown keys (the
// first one, as an error with its line) and decodes n into out.
func strictDecode(n *yaml.Node, out any, what string) error {
	var probs problems
	checkKeys(n, reflect.TypeOf(out), what, &probs)
	if len(probs.list) > 0 {
		return fmt.Errorf("line %d: %s", probs.list[0].Line, probs.list[0].Msg)
	}
	return n.Decode(out)
}

// lineOf splits a "line N: msg" error text into its parts.
func lineOf(msg string) (int, string) {
	var line int
	if strings.HasPrefix(msg, "line ") {
		if _, err := fmt.Sscanf(msg, "line %d:", &line); err == nil {
			if i := strings.IndexByte(msg, ':'); i >= 0 {
				return line, strings.TrimSpace(msg[i+1:])
			}
		}
	}
	return 0, msg
}
