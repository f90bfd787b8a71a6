package project

import (
	"encoding"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

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
	// deferUnset leaves a value with an unset variable as written,
	// recorded in deferred instead of a problem (Options.DeferUnset).
	deferUnset bool
	deferred   []Problem
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
		var unset *unsetVarError
		if err != nil && p.deferUnset && errors.As(err, &unset) {
			// Left as written: a value that must not be empty (a path, a
			// URL) still loads, and nothing can mistake it for the secret.
			p.deferred = append(p.deferred, Problem{File: p.file, Line: n.Line, Msg: err.Error()})
			return
		}
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
		return "", &unsetVarError{name: name}
	})
}

// unsetVarError is a ${VAR} without a default whose variable is unset.
type unsetVarError struct{ name string }

func (e *unsetVarError) Error() string {
	return fmt.Sprintf("environment variable %s is not set; export it or write ${%s:-default}", e.name, e.name)
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
	if !valueFits(n, t, what, p) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return
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

// valueFits reports whether node n can decode into a value of type t, and
// adds a problem at n's line when it surely cannot. Cases it does not know
// are left to the decoder.
func valueFits(n *yaml.Node, t reflect.Type, what string, p *problems) bool {
	tag := n.ShortTag()
	if tag == "!!null" || reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) {
		return true
	}
	var want string
	ok := true
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		want, ok = "a mapping", n.Kind == yaml.MappingNode
	case reflect.Slice, reflect.Array:
		want, ok = "a list", n.Kind == yaml.SequenceNode
	case reflect.String:
		want, ok = "a single value", n.Kind == yaml.ScalarNode
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if t.PkgPath() == "time" {
			return true // time.Duration takes "90s"
		}
		want, ok = "a whole number", n.Kind == yaml.ScalarNode && (tag == "!!int" || tag == "!!float" && isWhole(n.Value))
	case reflect.Float32, reflect.Float64:
		want, ok = "a number", n.Kind == yaml.ScalarNode && (tag == "!!int" || tag == "!!float")
	case reflect.Bool:
		want, ok = "true or false", n.Kind == yaml.ScalarNode && (tag == "!!bool" || tag == "!!str" && yaml11Bool(n.Value))
	}
	if ok {
		return true
	}
	p.add(n.Line, "%s: found %s where %s belongs", strings.TrimPrefix(what, "elt.yaml."), describeNode(n), want)
	return false
}

// describeNode names what a node holds, for messages: a string `abc`, a
// list, a mapping.
func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	v := n.Value
	if len(v) > 20 {
		v = v[:17] + "..."
	}
	kind := map[string]string{"!!int": "a number", "!!float": "a number", "!!bool": "true/false"}[n.ShortTag()]
	if kind == "" {
		kind = "a string"
	}
	return fmt.Sprintf("%s `%s`", kind, v)
}

// isWhole reports whether a YAML float such as 4.0 is a whole number.
func isWhole(s string) bool {
	f, err := strconv.ParseFloat(s, 64)
	return err == nil && f == float64(int64(f))
}

// yaml11Bool reports whether s is one of YAML 1.1's words for true and
// false, which the decoder accepts into a bool.
func yaml11Bool(s string) bool {
	switch s {
	case "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "n", "N", "no", "No", "NO", "off", "Off", "OFF":
		return true
	}
	return false
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

// decodeNode decodes n into out, turning decode errors into problems with
// lines. Our own unmarshalers report *lineError values; the YAML library's
// type errors are only text, so checkKeys finds the type mismatches it
// knows from the nodes first and the library's text is a fallback for the
// rest (a line already reported is not reported twice).
func decodeNode(n *yaml.Node, out any, p *problems) bool {
	err := n.Decode(out)
	if err == nil {
		return true
	}
	var le *lineError
	var te *yaml.TypeError
	switch {
	case errors.As(err, &le):
		p.add(le.Line, "%s", le.Msg)
	case errors.As(err, &te):
		for _, e := range te.Errors {
			line, msg := lineOf(e)
			if line == 0 {
				line = n.Line
			}
			if !p.hasLine(line) {
				p.add(line, "%s", friendlyTypeError(msg))
			}
		}
	default:
		line, msg := lineOf(err.Error())
		if line == 0 {
			line = n.Line
		}
		p.add(line, "%s", msg)
	}
	return false
}

// friendlyTypeError rewrites the YAML library's "cannot unmarshal !!str
// `abc` into int" into words a user knows. Text it does not recognise is
// kept as it is.
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
		// The library's syntax errors are text only ("yaml: line 4: …"),
		// and some have no line at all.
		line, msg := lineOf(err.Error())
		if line == 0 {
			line = syntaxErrorLine(b, err.Error())
		}
		return nil, &Error{Problems: []Problem{{File: path, Line: line, Msg: "malformed YAML: " + msg}}}
	}
	return &doc, nil
}

// syntaxErrorLine finds the line of a syntax error whose text names none
// ("mapping values are not allowed in this context"): the first line at
// which a prefix of the file fails with the same error, found by bisection
// (a prefix that holds the error fails with it, a shorter one does not).
// It returns 0 when no prefix fails that way.
func syntaxErrorLine(b []byte, msg string) int {
	lines := strings.SplitAfter(string(b), "\n")
	fails := func(k int) bool {
		var n yaml.Node
		err := yaml.Unmarshal([]byte(strings.Join(lines[:k], "")), &n)
		return err != nil && err.Error() == msg
	}
	lo, hi := 1, len(lines)
	if !fails(hi) {
		return 0
	}
	for lo < hi {
		mid := (lo + hi) / 2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// strictDecode is for custom unmarshalers: it refuses unknown keys and
// values of the wrong type (the first one, as a *lineError) and decodes n
// into out.
func strictDecode(n *yaml.Node, out any, what string) error {
	var probs problems
	checkKeys(n, reflect.TypeOf(out), what, &probs)
	if len(probs.list) > 0 {
		return &lineError{Line: probs.list[0].Line, Msg: probs.list[0].Msg}
	}
	return n.Decode(out)
}

// lineError is a problem at one line of a YAML file, returned by our own
// unmarshalers through the YAML library (which passes it on unchanged).
type lineError struct {
	Line int
	Msg  string
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// errAt returns a *lineError at n's line.
func errAt(n *yaml.Node, format string, args ...any) error {
	return &lineError{Line: n.Line, Msg: fmt.Sprintf(format, args...)}
}

// splitLineError returns the line and message of err: those of a
// *lineError, else what lineOf finds in its text.
func splitLineError(err error) (int, string) {
	var le *lineError
	if errors.As(err, &le) {
		return le.Line, le.Msg
	}
	return lineOf(err.Error())
}

// libLine finds "line N" (optionally "line N column M") followed by a colon
// in an error text of the YAML library, which has no typed syntax errors.
var libLine = regexp.MustCompile(`\bline (\d+)(?:,? column \d+)?: ?`)

// lineOf splits an error text such as "yaml: line N: msg" into the line
// and the message without the library's prefix. A text without a line is
// returned whole, with line 0.
func lineOf(msg string) (int, string) {
	msg = strings.TrimPrefix(msg, "yaml: ")
	m := libLine.FindStringSubmatchIndex(msg)
	if m == nil {
		return 0, msg
	}
	line, err := strconv.Atoi(msg[m[2]:m[3]])
	if err != nil {
		return 0, msg
	}
	rest := strings.TrimSpace(msg[:m[0]] + msg[m[1]:])
	rest = strings.TrimPrefix(strings.TrimSuffix(rest, ":"), "yaml: ")
	return line, strings.TrimSpace(rest)
}
