package asset

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Selection is a parsed selection expression in dbt's grammar:
//
//	raw/orders           a key (a bare name also matches keys ending in it)
//	raw/*  **            globs: * within a part, ** across parts
//	+x  2+x  x+  x+1     x with all (or N levels of) upstream / downstream
//	@x                   x, its downstream, and everything those depend on
//	tag:nightly          methods: tag, group, kind, owner, key (and any
//	                     registered by integrations, e.g. state:modified)
//	a b                  union (space)
//	a,b                  intersection (comma)
type Selection struct {
	Text  string
	terms [][]atom // union of intersections
}

type atom struct {
	col       int // 1-based column of the atom in Text
	text      string
	at        bool
	up, down  bool
	upDepth   int // -1: unbounded
	downDepth int
	method    string // "" for a key or glob
	value     string
}

// SyntaxError is a selection parse error pointing at a column.
type SyntaxError struct {
	Text string
	Col  int // 1-based
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("selection %q, column %d: %s\n  %s\n  %s^", e.Text, e.Col, e.Msg, e.Text, strings.Repeat(" ", e.Col-1))
}

// Methods whose values the parser accepts without a registered evaluator.
var builtinMethods = []string{"tag", "group", "kind", "owner", "key"}

// ParseSelection parses a selection expression. An empty expression is an
// error: omit --select to select everything.
func ParseSelection(text string) (*Selection, error) {
	sel := &Selection{Text: text}
	if strings.TrimSpace(text) == "" {
		return nil, &SyntaxError{Text: text, Col: 1, Msg: "selection is empty; omit --select to select everything"}
	}
	i := 0
	for i < len(text) {
		for i < len(text) && text[i] == ' ' {
			i++
		}
		if i >= len(text) {
			break
		}
		start := i
		for i < len(text) && text[i] != ' ' {
			i++
		}
		term, err := parseTerm(text, start, text[start:i])
		if err != nil {
			return nil, err
		}
		sel.terms = append(sel.terms, term)
	}
	return sel, nil
}

func parseTerm(full string, off int, s string) ([]atom, error) {
	var out []atom
	pos := 0
	for _, part := range strings.Split(s, ",") {
		col := off + pos + 1
		pos += len(part) + 1
		if part == "" {
			return nil, &SyntaxError{Text: full, Col: col, Msg: "empty selector around ','; write a,b with no spaces"}
		}
		a, err := parseAtom(full, col, part)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func parseAtom(full string, col int, s string) (atom, error) {
	a := atom{col: col, text: s, upDepth: -1, downDepth: -1}
	body := s
	if strings.HasPrefix(body, "@") {
		a.at = true
		body = body[1:]
		if strings.HasPrefix(body, "+") || strings.HasSuffix(body, "+") {
			return a, &SyntaxError{Text: full, Col: col, Msg: "'@' cannot be combined with '+'"}
		}
	}
	// Leading [N]+
	if n := leadingDigits(body); n < len(body) && body[n] == '+' {
		a.up = true
		if n > 0 {
			d, _ := strconv.Atoi(body[:n])
			a.upDepth = d
		}
		body = body[n+1:]
	} else if n > 0 && n == len(body) {
		// A bare number is a key name; fall through.
	}
	// Trailing +[N]
	if j := strings.LastIndexByte(body, '+'); j >= 0 {
		tail := body[j+1:]
		if leadingDigits(tail) == len(tail) {
			a.down = true
			if tail != "" {
				d, _ := strconv.Atoi(tail)
				a.downDepth = d
			}
			body = body[:j]
		}
	}
	if body == "" {
		return a, &SyntaxError{Text: full, Col: col, Msg: "missing asset key or method after graph operator"}
	}
	if strings.ContainsAny(body, "+@") {
		c := col + strings.IndexAny(s, "+@")
		if k := strings.Index(s, body); k >= 0 {
			c = col + k + strings.IndexAny(body, "+@")
		}
		return a, &SyntaxError{Text: full, Col: c, Msg: "unexpected '+' or '@' inside a selector"}
	}
	if m, v, ok := strings.Cut(body, ":"); ok {
		if m == "" || v == "" {
			return a, &SyntaxError{Text: full, Col: col + strings.Index(s, body), Msg: "method selector needs method:value, e.g. tag:nightly"}
		}
		a.method, a.value = m, v
	} else {
		if strings.HasPrefix(body, "/") || strings.HasSuffix(body, "/") || strings.Contains(body, "//") {
			return a, &SyntaxError{Text: full, Col: col + strings.Index(s, body), Msg: "asset key has an empty part; keys look like a/b/c"}
		}
		if _, err := path.Match(body, ""); err != nil {
			return a, &SyntaxError{Text: full, Col: col + strings.Index(s, body), Msg: "bad glob: " + err.Error()}
		}
		a.value = body
	}
	return a, nil
}

func leadingDigits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

// MethodFunc evaluates a selection method such as "state:modified" for the
// given value, returning the matching assets. A method registered with a
// name ending in "." is a family: "config." evaluates config.<key>:<value>
// with the value "<key>:<value>".
type MethodFunc func(g *Graph, value string) (Set, error)

// Selector evaluates selections on a graph, with optional extra methods.
type Selector struct {
	Graph   *Graph
	Methods map[string]MethodFunc
	// Warn, when set, hears about --exclude expressions that match nothing
	// (usually a typo).
	Warn func(msg string)
}

// NoMatchError reports a selection that selects nothing, with near matches.
type NoMatchError struct {
	Text        string
	NearMatches []string
}

func (e *NoMatchError) Error() string {
	msg := fmt.Sprintf("selection %q matches no asset", e.Text)
	if len(e.NearMatches) > 0 {
		msg += "; did you mean: " + strings.Join(e.NearMatches, ", ")
	} else {
		msg += "; list assets with 'elt assets list'"
	}
	return msg
}

// Select evaluates include minus exclude. With no include expressions every
// asset is selected. Each expression is parsed; the union of includes is
// taken. An empty result is a *NoMatchError.
func (s *Selector) Select(include, exclude []string) (Set, error) {
	g := s.Graph
	var set Set
	if len(include) == 0 {
		set = g.AllSet()
	} else {
		set = g.NewSet()
		for _, text := range include {
			sel, err := ParseSelection(text)
			if err != nil {
				return Set{}, err
			}
			r, err := s.Eval(sel)
			if err != nil {
				return Set{}, err
			}
			set = set.Union(r)
		}
	}
	for _, text := range exclude {
		sel, err := ParseSelection(text)
		if err != nil {
			return Set{}, err
		}
		r, err := s.Eval(sel)
		if err != nil {
			return Set{}, err
		}
		if r.Len() == 0 && s.Warn != nil {
			msg := fmt.Sprintf("--exclude %q matches no asset", text)
			if near := s.near([]string{text}); len(near) > 0 {
				msg += "; did you mean: " + strings.Join(near, ", ")
			}
			s.Warn(msg)
		}
		set = set.Minus(r)
	}
	if set.Len() == 0 {
		text := strings.Join(include, " ")
		if len(exclude) > 0 {
			text += " --exclude " + strings.Join(exclude, " ")
		}
		return set, &NoMatchError{Text: text, NearMatches: s.near(include)}
	}
	return set, nil
}

// Eval evaluates one parsed selection.
func (s *Selector) Eval(sel *Selection) (Set, error) {
	g := s.Graph
	out := g.NewSet()
	for _, term := range sel.terms {
		var acc Set
		for n, a := range term {
			r, err := s.evalAtom(sel.Text, a)
			if err != nil {
				return Set{}, err
			}
			if n == 0 {
				acc = r
			} else {
				acc = acc.Intersect(r)
			}
		}
		out = out.Union(acc)
	}
	return out, nil
}

func (s *Selector) evalAtom(text string, a atom) (Set, error) {
	g := s.Graph
	base, err := s.baseSet(text, a)
	if err != nil {
		return Set{}, err
	}
	if !a.up && !a.down && !a.at {
		return base, nil
	}
	out := Set{bits: slices.Clone(base.bits)}
	starts := base.members()
	if a.up {
		// Each walk needs its own visited set so that one direction's
		// results do not stop the other's.
		up := Set{bits: slices.Clone(base.bits)}
		g.walkFrom(up, starts, a.upDepth, g.up)
		out = out.Union(up)
	}
	if a.down || a.at {
		down := Set{bits: slices.Clone(base.bits)}
		g.walkFrom(down, starts, a.downDepth, g.down)
		out = out.Union(down)
		if a.at {
			g.walkFrom(out, down.members(), -1, g.up)
		}
	}
	return out, nil
}

func (s *Selector) baseSet(text string, a atom) (Set, error) {
	g := s.Graph
	set := g.NewSet()
	match := func(f func(sp *Spec) bool) Set {
		for i, sp := range g.specs {
			if f(sp) {
				set.add(int32(i))
			}
		}
		return set
	}
	switch a.method {
	case "":
		if !hasGlob(a.value) {
			if k, err := ParseKey(a.value); err == nil {
				if i, ok := g.index[k]; ok {
					set.add(int32(i))
					return set, nil
				}
			}
			if !strings.Contains(a.value, "/") {
				return match(func(sp *Spec) bool { return sp.Key.Last() == a.value }), nil
			}
			return set, nil
		}
		return match(func(sp *Spec) bool { return globKey(a.value, sp.Key.path) }), nil
	case "key":
		return match(func(sp *Spec) bool { return globKey(a.value, sp.Key.path) }), nil
	case "tag":
		return match(func(sp *Spec) bool { return anyGlob(a.value, sp.Tags) }), nil
	case "kind":
		return match(func(sp *Spec) bool { return anyGlob(a.value, sp.Kinds) }), nil
	case "owner":
		return match(func(sp *Spec) bool { return anyGlob(a.value, sp.Owners) }), nil
	case "group":
		return match(func(sp *Spec) bool { return globString(a.value, sp.Group) }), nil
	}
	f, ok := s.Methods[a.method]
	value := a.value
	if !ok {
		// A family of methods, registered as "config.": config.materialized:table
		// reaches it with the value "materialized:table".
		if i := strings.IndexByte(a.method, '.'); i > 0 && i < len(a.method)-1 {
			f, ok = s.Methods[a.method[:i+1]]
			value = a.method[i+1:] + ":" + a.value
		}
	}
	if ok {
		r, err := f(g, value)
		if err != nil {
			return Set{}, &SyntaxError{Text: text, Col: a.col, Msg: err.Error()}
		}
		return r, nil
	}
	known := append([]string{}, builtinMethods...)
	for m := range s.Methods {
		if strings.HasSuffix(m, ".") {
			m += "<key>"
		}
		known = append(known, m)
	}
	slices.Sort(known)
	return Set{}, &SyntaxError{Text: text, Col: a.col, Msg: fmt.Sprintf("unknown method %q; known methods: %s", a.method, strings.Join(known, ", "))}
}

func hasGlob(s string) bool { return strings.ContainsAny(s, "*?[") }

// globKey matches a key's text form: '*' stays within a part, '**' spans
// parts.
func globKey(pattern, key string) bool {
	if !strings.Contains(pattern, "**") {
		ok, _ := path.Match(pattern, key)
		return ok
	}
	return globDoubleStar(strings.Split(pattern, "/"), strings.Split(key, "/"))
}

func globDoubleStar(pat, parts []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(parts); i++ {
				if globDoubleStar(pat[1:], parts[i:]) {
					return true
				}
			}
			return false
		}
		if len(parts) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], parts[0]); !ok {
			return false
		}
		pat, parts = pat[1:], parts[1:]
	}
	return len(parts) == 0
}

func globString(pattern, s string) bool {
	if !hasGlob(pattern) {
		return pattern == s
	}
	ok, _ := path.Match(pattern, s)
	return ok
}

func anyGlob(pattern string, vals []string) bool {
	for _, v := range vals {
		if globString(pattern, v) {
			return true
		}
	}
	return false
}

// near returns up to five keys closest to the words of the selections.
func (s *Selector) near(include []string) []string {
	var words []string
	for _, t := range include {
		for _, f := range strings.FieldsFunc(t, func(r rune) bool { return r == ' ' || r == ',' }) {
			f = strings.TrimPrefix(f, "@")
			if n := leadingDigits(f); n < len(f) && f[n] == '+' {
				f = f[n+1:]
			}
			if j := strings.LastIndexByte(f, '+'); j >= 0 && leadingDigits(f[j+1:]) == len(f)-j-1 {
				f = f[:j]
			}
			if _, v, ok := strings.Cut(f, ":"); ok {
				f = v
			}
			if f != "" {
				words = append(words, f)
			}
		}
	}
	type cand struct {
		key  string
		dist int
	}
	var cands []cand
	for _, sp := range s.Graph.specs {
		best := -1
		for _, w := range words {
			d := EditDistance(w, sp.Key.path)
			if d2 := EditDistance(w, sp.Key.Last()); d2 < d {
				d = d2
			}
			if best < 0 || d < best {
				best = d
			}
		}
		limit := 3
		for _, w := range words {
			if l := len(w) / 3; l > limit {
				limit = l
			}
		}
		if best >= 0 && best <= limit {
			cands = append(cands, cand{sp.Key.path, best})
		}
	}
	slices.SortFunc(cands, func(a, b cand) int {
		if a.dist != b.dist {
			return a.dist - b.dist
		}
		return strings.Compare(a.key, b.key)
	})
	var out []string
	for i := 0; i < len(cands) && i < 5; i++ {
		out = append(out, cands[i].key)
	}
	return out
}

// EditDistance is the Levenshtein distance of a and b (bytes); strings
// longer than 64 bytes are either equal (0) or far apart.
func EditDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		if a == b {
			return 0
		}
		return 1 << 20
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Criterion is one selector in typed form, as dbt's selectors.yml writes it
// ({method, value, parents, children, …}): evaluated like an atom of a
// parsed selection, without writing selection text (values may hold spaces
// or commas).
type Criterion struct {
	// Method is "" for a key or glob, else a method name (tag, fqn, …).
	Method, Value string
	// Parents and Children add upstream and downstream assets, as +x and
	// x+ do, up to ParentsDepth and ChildrenDepth levels (0: all).
	Parents, Children           bool
	ParentsDepth, ChildrenDepth int
	// ChildrensParents is @x: x, its downstream and all they depend on.
	ChildrensParents bool
}

// EvalCriterion evaluates one typed selector.
func (s *Selector) EvalCriterion(c Criterion) (Set, error) {
	text := c.Value
	if c.Method != "" {
		text = c.Method + ":" + c.Value
	}
	if c.Value == "" {
		return Set{}, &SyntaxError{Text: text, Col: 1, Msg: "a selector needs a value"}
	}
	a := atom{col: 1, text: text, method: c.Method, value: c.Value, up: c.Parents, down: c.Children, at: c.ChildrensParents, upDepth: -1, downDepth: -1}
	if c.ParentsDepth > 0 {
		a.upDepth = c.ParentsDepth
	}
	if c.ChildrenDepth > 0 {
		a.downDepth = c.ChildrenDepth
	}
	return s.evalAtom(text, a)
}
