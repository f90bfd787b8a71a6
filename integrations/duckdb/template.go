package duckdb

import (
	"fmt"
	"strings"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
)

// This file reads SQL written by users: it splits a script into statements
// (respecting quotes, dollar quotes and comments) and finds the {{ … }}
// templates, which render as quoted identifiers (ref, this) or as bound
// parameters (partition values, env), never as pasted values.

// position is a 1-based line and column in a SQL text.
type position struct{ line, col int }

func (p position) String() string { return fmt.Sprintf("line %d, column %d", p.line, p.col) }

// Template functions.
const (
	tmplRef            = "ref"
	tmplEnv            = "env"
	tmplThis           = "this"
	tmplPartitionStart = "partition_start"
	tmplPartitionEnd   = "partition_end"
	tmplPartitionKey   = "partition_key"
)

// tmpl is one {{ … }} in a statement.
type tmpl struct {
	fn  string
	arg string    // the string argument of ref and env
	key asset.Key // ref's target
	pos position
	// inLiteral: the template was the whole content of a '…' literal,
	// which it replaces (COPY t FROM '{{ env("FILE") }}').
	inLiteral bool
}

// segment is SQL text or a template.
type segment struct {
	text string
	tmpl *tmpl
}

// statement is one statement of a script.
type statement struct {
	pos  position
	segs []segment
}

// hasValues reports whether rendering binds parameters.
func (s statement) hasValues() bool {
	for _, sg := range s.segs {
		if sg.tmpl != nil && sg.tmpl.fn != tmplRef && sg.tmpl.fn != tmplThis {
			return true
		}
	}
	return false
}

// sqlParser scans one SQL text.
type sqlParser struct {
	src   string
	i     int
	stmts []statement
	cur   statement
	text  strings.Builder
	code  bool // the current statement has more than blanks and comments
	begun bool // the current statement's position is set
}

// parseSQL splits src into statements and finds its templates. Statements
// made only of blanks and comments are dropped.
func parseSQL(src string) ([]statement, error) {
	p := &sqlParser{src: src}
	for p.i < len(src) {
		c := src[p.i]
		if !p.begun && !isSpace(c) && c != ';' {
			p.cur.pos = p.posAt(p.i)
			p.begun = true
		}
		switch {
		case c == '-' && p.peek(1) == '-':
			end := strings.IndexByte(src[p.i:], '\n')
			if end < 0 {
				end = len(src) - p.i
			}
			p.text.WriteString(src[p.i : p.i+end])
			p.i += end
		case c == '/' && p.peek(1) == '*':
			if err := p.blockComment(); err != nil {
				return nil, err
			}
		case c == '\'':
			if err := p.stringLiteral(); err != nil {
				return nil, err
			}
		case c == '"':
			if err := p.quotedIdent(); err != nil {
				return nil, err
			}
		case c == '$' && p.dollarTag() != "":
			if err := p.dollarString(); err != nil {
				return nil, err
			}
		case c == '{' && p.peek(1) == '{':
			end := strings.Index(src[p.i+2:], "}}")
			if end < 0 {
				return nil, fmt.Errorf("%s: unterminated {{ (close it with }})", p.posAt(p.i))
			}
			t, err := parseTemplate(src[p.i+2:p.i+2+end], p.posAt(p.i))
			if err != nil {
				return nil, err
			}
			p.addTemplate(t)
			p.i += end + 4
		case c == ';':
			p.endStatement()
			p.i++
		default:
			if !isSpace(c) {
				p.code = true
			}
			p.text.WriteByte(c)
			p.i++
		}
	}
	p.endStatement()
	return p.stmts, nil
}

func (p *sqlParser) peek(n int) byte {
	if p.i+n < len(p.src) {
		return p.src[p.i+n]
	}
	return 0
}

func (p *sqlParser) posAt(off int) position {
	line := 1 + strings.Count(p.src[:off], "\n")
	col := off - strings.LastIndexByte(p.src[:off], '\n')
	return position{line, col}
}

func (p *sqlParser) flushText() {
	if p.text.Len() > 0 {
		p.cur.segs = append(p.cur.segs, segment{text: p.text.String()})
		p.text.Reset()
	}
}

func (p *sqlParser) addTemplate(t *tmpl) {
	p.flushText()
	p.cur.segs = append(p.cur.segs, segment{tmpl: t})
	p.code = true
}

func (p *sqlParser) endStatement() {
	p.flushText()
	if p.code {
		p.stmts = append(p.stmts, p.cur)
	}
	p.cur = statement{}
	p.code = false
	p.begun = false
}

func (p *sqlParser) blockComment() error {
	start := p.i
	depth := 0
	for p.i < len(p.src) {
		switch {
		case p.src[p.i] == '/' && p.peek(1) == '*':
			depth++
			p.i += 2
		case p.src[p.i] == '*' && p.peek(1) == '/':
			depth--
			p.i += 2
			if depth == 0 {
				p.text.WriteString(p.src[start:p.i])
				return nil
			}
		default:
			p.i++
		}
	}
	return fmt.Errorf("%s: unterminated /* comment", p.posAt(start))
}

// stringLiteral reads '…' (with ” escapes, and backslash escapes in E'…').
// A literal whose whole content is one template is replaced by it.
func (p *sqlParser) stringLiteral() error {
	start := p.i
	escapes := start > 0 && (p.src[start-1] == 'E' || p.src[start-1] == 'e') &&
		(start < 2 || !isIdentByte(p.src[start-2]))
	p.i++
	for p.i < len(p.src) {
		c := p.src[p.i]
		if escapes && c == '\\' {
			p.i += 2
			continue
		}
		if c == '\'' {
			if p.peek(1) == '\'' {
				p.i += 2
				continue
			}
			p.i++
			return p.literalDone(start)
		}
		p.i++
	}
	return fmt.Errorf("%s: unterminated string literal", p.posAt(start))
}

func (p *sqlParser) literalDone(start int) error {
	lit := p.src[start:p.i]
	inner := lit[1 : len(lit)-1]
	p.code = true
	if !strings.Contains(inner, "{{") {
		p.text.WriteString(lit)
		return nil
	}
	trimmed := strings.TrimSpace(inner)
	if strings.HasPrefix(trimmed, "{{") && strings.HasSuffix(trimmed, "}}") && strings.Count(trimmed, "{{") == 1 {
		t, err := parseTemplate(trimmed[2:len(trimmed)-2], p.posAt(start))
		if err != nil {
			return err
		}
		if t.fn == tmplRef || t.fn == tmplThis {
			return fmt.Errorf("%s: {{ %s }} names a relation; write it outside quotes", t.pos, t.fn)
		}
		t.inLiteral = true
		p.addTemplate(t)
		return nil
	}
	return fmt.Errorf("%s: a template inside a string literal must be the whole literal ('{{ partition_key }}'); build longer strings with ||", p.posAt(start))
}

func (p *sqlParser) quotedIdent() error {
	start := p.i
	p.i++
	for p.i < len(p.src) {
		if p.src[p.i] == '"' {
			if p.peek(1) == '"' {
				p.i += 2
				continue
			}
			p.i++
			id := p.src[start:p.i]
			if strings.Contains(id, "{{") {
				return fmt.Errorf("%s: templates are not allowed inside quoted identifiers", p.posAt(start))
			}
			p.text.WriteString(id)
			p.code = true
			return nil
		}
		p.i++
	}
	return fmt.Errorf("%s: unterminated quoted identifier", p.posAt(start))
}

// dollarTag returns the $tag$ opening at p.i, or "" when there is none
// ($1 parameters and identifiers containing $ are not dollar quotes).
func (p *sqlParser) dollarTag() string {
	if p.i > 0 && isIdentByte(p.src[p.i-1]) {
		return ""
	}
	j := p.i + 1
	for j < len(p.src) && p.src[j] != '$' {
		c := p.src[j]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || j > p.i+1 && c >= '0' && c <= '9') {
			return ""
		}
		j++
	}
	if j >= len(p.src) {
		return ""
	}
	return p.src[p.i : j+1]
}

func (p *sqlParser) dollarString() error {
	start := p.i
	tag := p.dollarTag()
	end := strings.Index(p.src[p.i+len(tag):], tag)
	if end < 0 {
		return fmt.Errorf("%s: unterminated %s string", p.posAt(start), tag)
	}
	p.i += len(tag) + end + len(tag)
	p.text.WriteString(p.src[start:p.i])
	p.code = true
	return nil
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// parseTemplate parses the inside of {{ … }}: a name, or ref("a/b") and
// env("X") with one quoted argument.
func parseTemplate(expr string, pos position) (*tmpl, error) {
	e := strings.TrimSpace(expr)
	name, arg, hasArg := e, "", false
	if open := strings.IndexByte(e, '('); open >= 0 {
		if !strings.HasSuffix(e, ")") {
			return nil, fmt.Errorf("%s: {{ %s }}: missing )", pos, e)
		}
		name = strings.TrimSpace(e[:open])
		a := strings.TrimSpace(e[open+1 : len(e)-1])
		if len(a) < 2 || (a[0] != '"' && a[0] != '\'') || a[len(a)-1] != a[0] || strings.ContainsRune(a[1:len(a)-1], rune(a[0])) {
			return nil, fmt.Errorf("%s: {{ %s }}: the argument must be one quoted string, like %s(\"a/b\")", pos, e, name)
		}
		arg, hasArg = a[1:len(a)-1], true
	}
	t := &tmpl{fn: name, arg: arg, pos: pos}
	switch name {
	case tmplRef:
		if !hasArg {
			return nil, fmt.Errorf("%s: {{ ref }} needs an asset key: {{ ref(\"a/b\") }}", pos)
		}
		k, err := asset.ParseKey(arg)
		if err != nil {
			return nil, fmt.Errorf("%s: {{ ref(%q) }}: %w", pos, arg, err)
		}
		t.key = k
	case tmplEnv:
		if !hasArg || arg == "" {
			return nil, fmt.Errorf("%s: {{ env }} needs a variable name: {{ env(\"NAME\") }}", pos)
		}
	case tmplThis, tmplPartitionStart, tmplPartitionEnd, tmplPartitionKey:
		if hasArg {
			return nil, fmt.Errorf("%s: {{ %s }} takes no argument", pos, name)
		}
	default:
		return nil, fmt.Errorf("%s: unknown template {{ %s }}; use ref(\"a/b\"), this, partition_start, partition_end, partition_key or env(\"NAME\")", pos, e)
	}
	return t, nil
}

// RefDeps returns the asset keys a SQL text references with
// {{ ref("a/b") }}, in order of first use, so the loader can add them as
// dependencies. Errors name the line and column.
func RefDeps(sql string) ([]asset.Key, error) {
	stmts, err := parseSQL(sql)
	if err != nil {
		return nil, err
	}
	var keys []asset.Key
	seen := map[asset.Key]bool{}
	for _, st := range stmts {
		for _, sg := range st.segs {
			if sg.tmpl != nil && sg.tmpl.fn == tmplRef && !seen[sg.tmpl.key] {
				seen[sg.tmpl.key] = true
				keys = append(keys, sg.tmpl.key)
			}
		}
	}
	return keys, nil
}

// renderEnv is what templates render from.
type renderEnv struct {
	this      relation
	ref       func(asset.Key) string // quoted relation of another asset
	partition *engine.Partition
	env       func(string) (string, bool)
}

// timestampLayout is how window bounds are bound: the wall-clock time of
// the window in the partition's time zone, as a TIMESTAMP.
const timestampLayout = "2006-01-02 15:04:05.999999"

func wallClock(t time.Time) string { return t.Format(timestampLayout) }

// render returns the statement's SQL with templates replaced and the
// values to bind to its $n parameters: prior followed by the new ones, so a
// fragment can be rendered into a larger query.
func (s statement) render(e *renderEnv, prior []any) (string, []any, error) {
	var b strings.Builder
	args := prior
	bind := func(v any, cast string) {
		args = append(args, v)
		if cast != "" {
			fmt.Fprintf(&b, "CAST($%d AS %s)", len(args), cast)
		} else {
			fmt.Fprintf(&b, "$%d", len(args))
		}
	}
	for _, sg := range s.segs {
		t := sg.tmpl
		if t == nil {
			b.WriteString(sg.text)
			continue
		}
		cast := "TIMESTAMP"
		if t.inLiteral {
			cast = ""
		}
		switch t.fn {
		case tmplRef:
			b.WriteString(e.ref(t.key))
		case tmplThis:
			b.WriteString(e.this.String())
		case tmplPartitionKey:
			if e.partition == nil {
				return "", nil, fmt.Errorf("%s: {{ partition_key }} needs a partitioned run (pass --partition)", t.pos)
			}
			bind(e.partition.Key, "")
		case tmplPartitionStart, tmplPartitionEnd:
			if e.partition == nil {
				// An unpartitioned run covers all data: the window is
				// [0001-01-01, 9999-12-31), so a model filtered on it
				// rebuilds in full. (Infinite timestamps would not compare
				// with DATE columns.)
				v := "0001-01-01 00:00:00"
				if t.fn == tmplPartitionEnd {
					v = "9999-12-31 00:00:00"
				}
				bind(v, cast)
				continue
			}
			if !e.partition.HasWindow() {
				return "", nil, fmt.Errorf("%s: {{ %s }} needs a run of a time-window partition (this partition %q has no window)", t.pos, t.fn, e.partition.Key)
			}
			v := e.partition.Start
			if t.fn == tmplPartitionEnd {
				v = e.partition.End
			}
			bind(wallClock(v), cast)
		case tmplEnv:
			v, ok := e.env(t.arg)
			if !ok {
				return "", nil, fmt.Errorf("%s: {{ env(%q) }}: the variable is not set", t.pos, t.arg)
			}
			bind(v, "")
		}
	}
	return strings.TrimSpace(b.String()), args, nil
}

// lookupEnv returns a getter over a KEY=VALUE list, the last entry winning.
func lookupEnv(env []string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		for i := len(env) - 1; i >= 0; i-- {
			if k, v, ok := strings.Cut(env[i], "="); ok && k == name {
				return v, true
			}
		}
		return "", false
	}
}

// renderFragment renders a single expression or query written by a user
// (a check's where, expression or sql), continuing the numbering of args.
func renderFragment(src string, e *renderEnv, args []any) (string, []any, error) {
	stmts, err := parseSQL(src)
	if err != nil {
		return "", nil, err
	}
	if len(stmts) != 1 {
		return "", nil, fmt.Errorf("%q: expected one expression or query, found %d statements", clip(src, 80), len(stmts))
	}
	q, args, err := stmts[0].render(e, args)
	if strings.Contains(q, "--") {
		q += "\n" // a trailing line comment must not swallow what follows
	}
	return q, args, err
}
