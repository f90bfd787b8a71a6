package dbt

import (
	"bytes"
	"errors"
	"hash/crc32"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"
)

// Nesting depths of the member scanners; each depth has its own scanner
// so an object can be walked while its parent's walk is under way.
const (
	depthNode = iota
	depthField
	depthItem
	maxDepth
)

// members calls fn with each member of the object raw, without decoding
// values: big strings like raw_code are only decoded when asked for. A
// malformed object records the parse's first error.
func (p *parser) members(depth int, raw []byte, fn func(key string, val []byte)) {
	if len(raw) == 0 || raw[0] != '{' {
		return
	}
	ns := &p.ns[depth]
	ns.buf, ns.pos, ns.eof, ns.name = raw, 0, true, p.s.name
	err := ns.object(func(k []byte) error {
		v, err := ns.value()
		if err != nil {
			return err
		}
		fn(unsafeString(k), v)
		return nil
	})
	if err != nil && p.err == nil {
		p.err = err
	}
}

// errStop ends a member walk early without error.
var errStop = errors.New("stop")

// fields is members with an early exit: fn returns false to stop.
func (p *parser) fields(depth int, raw []byte, fn func(key string, val []byte) bool) {
	if len(raw) == 0 || raw[0] != '{' {
		return
	}
	ns := &p.ns[depth]
	ns.buf, ns.pos, ns.eof, ns.name = raw, 0, true, p.s.name
	err := ns.object(func(k []byte) error {
		v, err := ns.value()
		if err != nil {
			return err
		}
		if !fn(unsafeString(k), v) {
			return errStop
		}
		return nil
	})
	if err != nil && err != errStop && p.err == nil {
		p.err = err
	}
}

// elems calls fn with each element of the array raw.
func (p *parser) elems(depth int, raw []byte, fn func(val []byte)) {
	if len(raw) == 0 || raw[0] != '[' {
		return
	}
	ns := &p.ns[depth]
	ns.buf, ns.pos, ns.eof, ns.name = raw, 0, true, p.s.name
	err := ns.array(func() error {
		v, err := ns.value()
		if err != nil {
			return err
		}
		fn(v)
		return nil
	})
	if err != nil && p.err == nil {
		p.err = err
	}
}

// str decodes a JSON string (null and non-strings give "") into a fresh
// Go string that does not alias the input buffer.
func (p *parser) str(v []byte) string {
	if len(v) < 2 || v[0] != '"' {
		return ""
	}
	return unquote(v)
}

// scalar decodes a string or number ("2" or 2) as text; null gives "".
func (p *parser) scalar(v []byte) string {
	if len(v) == 0 || string(v) == "null" {
		return ""
	}
	if v[0] == '"' {
		return unquote(v)
	}
	return string(v)
}

// intern decodes a JSON string and returns the shared copy of its text.
// Only short, often repeated values are interned: package and schema
// names, resource types, file paths, fqn parts and tags.
func (p *parser) intern(v []byte) string {
	if len(v) < 2 || v[0] != '"' {
		return ""
	}
	body := v[1 : len(v)-1]
	if bytes.IndexByte(body, '\\') >= 0 {
		return p.internStr(unquote(v))
	}
	return p.internStr(unsafeString(body))
}

// internStr returns the shared copy of s, cloning it the first time: s
// may alias a buffer that is reused.
func (p *parser) internStr(s string) string {
	if s == "" {
		return ""
	}
	// A small direct-mapped cache in front of the map: most repeats are
	// the same few package, schema and folder names.
	slot := &p.recent[(len(s)*31+int(s[0])*7+int(s[len(s)-1])*13+int(s[len(s)/2]))&(len(p.recent)-1)]
	if *slot == s {
		return *slot
	}
	v, ok := p.strs[s]
	if !ok {
		v = strings.Clone(s)
		p.strs[v] = v
	}
	*slot = v
	return v
}

// uid returns a unique_id, shared with the node, source or exposure of
// that id when one was already read.
func (p *parser) uid(v []byte) string {
	if len(v) < 2 || v[0] != '"' {
		return ""
	}
	body := v[1 : len(v)-1]
	if bytes.IndexByte(body, '\\') < 0 {
		return p.uidText(body)
	}
	return unquote(v)
}

// uidText is uid for an already decoded unique_id.
func (p *parser) uidText(b []byte) string {
	k := unsafeString(b)
	if n, ok := p.m.Nodes[k]; ok {
		return n.UniqueID
	}
	if s, ok := p.m.Sources[k]; ok {
		return s.UniqueID
	}
	return string(b)
}

// strList reads a list of strings, or a single string, interning each.
func (p *parser) strList(depth int, v []byte) []string {
	if len(v) > 0 && v[0] == '"' {
		return []string{p.intern(v)}
	}
	buf := p.strScratch[:0]
	p.elems(depth, v, func(e []byte) { buf = append(buf, p.intern(e)) })
	p.strScratch = buf
	return exact(buf)
}

// uidList reads a list of unique_ids.
func (p *parser) uidList(depth int, v []byte) []string {
	buf := p.strScratch[:0]
	p.elems(depth, v, func(e []byte) { buf = append(buf, p.uid(e)) })
	p.strScratch = buf
	return exact(buf)
}

// exact copies a scratch slice into one of exactly its length (nil when
// empty), so lists cost one allocation instead of a series of growths.
func exact[T any](buf []T) []T {
	if len(buf) == 0 {
		return nil
	}
	out := make([]T, len(buf))
	copy(out, buf)
	clear(buf)
	return out
}

// rawJSON copies a JSON value's text; the common empty object is shared.
func (p *parser) rawJSON(v []byte) string {
	if string(v) == "{}" || string(v) == "null" {
		return "{}"
	}
	return string(v)
}

// anyMap converts a JSON object to a map with strings copied; empty
// objects and non-objects give nil.
func (p *parser) anyMap(v []byte) map[string]any {
	if len(v) < 2 || v[0] != '{' || string(v) == "{}" {
		return nil
	}
	m, _ := toAny(gjson.Parse(unsafeString(v))).(map[string]any)
	if len(m) == 0 {
		return nil
	}
	return m
}

// toAny converts a gjson value to the types encoding/json would produce,
// copying every string so the result does not alias the input.
func toAny(r gjson.Result) any {
	switch r.Type {
	case gjson.String:
		return strings.Clone(r.Str)
	case gjson.Number:
		return r.Num
	case gjson.True:
		return true
	case gjson.False:
		return false
	case gjson.JSON:
		if r.IsArray() {
			out := []any{}
			r.ForEach(func(_, e gjson.Result) bool {
				out = append(out, toAny(e))
				return true
			})
			return out
		}
		out := map[string]any{}
		r.ForEach(func(k, e gjson.Result) bool {
			out[strings.Clone(k.Str)] = toAny(e)
			return true
		})
		return out
	}
	return nil
}

// unquote decodes a JSON string literal into a fresh string.
func unquote(raw []byte) string {
	if len(raw) < 2 {
		return ""
	}
	body := raw[1 : len(raw)-1]
	if bytes.IndexByte(body, '\\') < 0 {
		return string(body)
	}
	b := appendUnescaped(make([]byte, 0, len(body)), body)
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// appendUnescaped decodes the body of a JSON string literal onto dst,
// copying the runs between escapes whole.
func appendUnescaped(dst, body []byte) []byte {
	for len(body) > 0 {
		i := bytes.IndexByte(body, '\\')
		if i < 0 || i == len(body)-1 {
			return append(dst, body...)
		}
		dst = append(dst, body[:i]...)
		c := body[i+1]
		body = body[i+2:]
		switch c {
		case 'n':
			dst = append(dst, '\n')
		case 't':
			dst = append(dst, '\t')
		case 'r':
			dst = append(dst, '\r')
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'u':
			r, n := decodeU(body)
			body = body[n:]
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/' and anything else stand for themselves
			dst = append(dst, c)
		}
	}
	return dst
}

// decodeU decodes the hex digits after \u, joining a surrogate pair; it
// returns the rune and how many bytes it used.
func decodeU(b []byte) (rune, int) {
	r, ok := hex4(b)
	if !ok {
		return utf8.RuneError, 0
	}
	if utf16.IsSurrogate(r) && len(b) >= 10 && b[4] == '\\' && b[5] == 'u' {
		if r2, ok := hex4(b[6:]); ok {
			if c := utf16.DecodeRune(r, r2); c != utf8.RuneError {
				return c, 10
			}
		}
	}
	if utf16.IsSurrogate(r) {
		return utf8.RuneError, 4
	}
	return r, 4
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// hashString digests the decoded text of a JSON string literal, so equal
// texts hash equal however they were escaped. It decodes into a scratch
// buffer reused across calls. The digest joins two CRC-32s (Castagnoli
// and IEEE, both hardware-assisted): 64 bits, deterministic across runs.
func (p *parser) hashString(raw []byte) uint64 {
	if len(raw) < 2 || raw[0] != '"' {
		return 0
	}
	body := raw[1 : len(raw)-1]
	if bytes.IndexByte(body, '\\') >= 0 {
		p.scratch = appendUnescaped(p.scratch[:0], body)
		body = p.scratch
	}
	return uint64(crc32.Checksum(body, castagnoli()))<<32 | uint64(crc32.ChecksumIEEE(body))
}

// castagnoli is made on first use, not at every start of elt (0.15–0.2 ms
// of package init, for commands that never read a manifest).
var castagnoli = sync.OnceValue(func() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) })

// isTrue reports whether a JSON value is the literal true.
func isTrue(v []byte) bool { return string(v) == "true" }

// unsafeString views b as a string without copying. The string must not
// outlive b's contents.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
