package dbt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
)

// scanner walks JSON objects member by member. Fed by a reader it keeps only
// the current member's bytes in memory, so a 140 MB manifest is read with a
// buffer of a few megabytes; fed by a byte slice it scans it in place.
//
// Slices it returns stay valid until the next call that reads input.
type scanner struct {
	r     io.Reader // nil: buf is the whole input
	buf   []byte
	pos   int
	off   int64 // input offset of buf[0]
	lines int   // newlines in input dropped before buf[0]
	eof   bool
	name  string // file name, for errors
}

const chunkSize = 1 << 20

func newBytesScanner(data []byte, name string) *scanner {
	return &scanner{buf: data, eof: true, name: name}
}

func newReaderScanner(r io.Reader, name string) *scanner {
	return &scanner{r: r, buf: make([]byte, 0, 4*chunkSize), name: name}
}

// syntaxError reports a malformed document at the scanner's position.
type syntaxError struct {
	Name   string
	Line   int
	Offset int64
	Msg    string
}

// Error names the file, line (when known) and byte offset.
func (e *syntaxError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: invalid JSON at byte %d: %s", e.Name, e.Offset, e.Msg)
	}
	return fmt.Sprintf("%s:%d: invalid JSON at byte %d: %s", e.Name, e.Line, e.Offset, e.Msg)
}

func (s *scanner) errAt(i int, format string, args ...any) error {
	if i > len(s.buf) {
		i = len(s.buf)
	}
	return &syntaxError{
		Name:   s.name,
		Line:   s.lines + bytes.Count(s.buf[:i], []byte{'\n'}) + 1,
		Offset: s.off + int64(i),
		Msg:    fmt.Sprintf(format, args...),
	}
}

// more reads input, dropping buf[:keep]. It returns how far indices moved
// left, and false when the input is exhausted.
func (s *scanner) more(keep int) (int, bool, error) {
	if s.eof {
		return 0, false, nil
	}
	if keep > 0 {
		s.lines += bytes.Count(s.buf[:keep], []byte{'\n'})
		s.off += int64(keep)
		n := copy(s.buf, s.buf[keep:])
		s.buf = s.buf[:n]
		s.pos -= keep
	}
	if cap(s.buf)-len(s.buf) < chunkSize {
		nb := make([]byte, len(s.buf), 2*cap(s.buf)+chunkSize)
		copy(nb, s.buf)
		s.buf = nb
	}
	for {
		n, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
		s.buf = s.buf[:len(s.buf)+n]
		if errors.Is(err, io.EOF) {
			s.eof = true
			return keep, n > 0, nil
		}
		if err != nil {
			return keep, false, fmt.Errorf("%s: %w", s.name, err)
		}
		if n > 0 {
			return keep, true, nil
		}
	}
}

// skipSpace moves past white space and returns the next byte, or 0 at the
// end of input.
func (s *scanner) skipSpace() (byte, error) {
	for {
		for s.pos < len(s.buf) {
			c := s.buf[s.pos]
			if c != ' ' && c != '\n' && c != '\r' && c != '\t' {
				return c, nil
			}
			s.pos++
		}
		if _, ok, err := s.more(s.pos); err != nil || !ok {
			return 0, err
		}
	}
}

func (s *scanner) expect(c byte) error {
	got, err := s.skipSpace()
	if err != nil {
		return err
	}
	if got != c {
		if got == 0 {
			return s.errAt(s.pos, "unexpected end of input, expected %q", c)
		}
		return s.errAt(s.pos, "expected %q, found %q", c, got)
	}
	s.pos++
	return nil
}

// value returns the bytes of the next JSON value, held whole.
func (s *scanner) value() ([]byte, error) {
	start, end, err := s.scan(true)
	if err != nil {
		return nil, err
	}
	return s.buf[start:end], nil
}

// skip moves past the next JSON value without holding it.
func (s *scanner) skip() error {
	_, _, err := s.scan(false)
	return err
}

// scan finds the extent of the next value. With hold unset, bytes already
// scanned may be dropped and the returned start is meaningless.
func (s *scanner) scan(hold bool) (start, end int, err error) {
	c, err := s.skipSpace()
	if err != nil {
		return 0, 0, err
	}
	if c == 0 {
		return 0, 0, s.errAt(s.pos, "unexpected end of input, expected a value")
	}
	start = s.pos
	i := s.pos
	depth := 0
	inStr, escaped := false, false
	scalar := c != '{' && c != '[' && c != '"'
	for {
		if i >= len(s.buf) {
			keep := i
			if hold {
				keep = start
			}
			shift, ok, err := s.more(keep)
			if err != nil {
				return 0, 0, err
			}
			start -= shift
			i -= shift
			if !ok {
				if scalar && depth == 0 && !inStr {
					break
				}
				return 0, 0, s.errAt(i, "unexpected end of input inside a value that starts at byte %d", s.off+int64(start))
			}
			continue
		}
		if inStr {
			if escaped {
				escaped = false
				i++
				continue
			}
			k := stringStop(s.buf, i)
			if k < 0 {
				// No closing quote buffered: note whether the buffer ends
				// inside an escape, then read more.
				i = skipEscapes(s.buf, i)
				escaped = i > len(s.buf)
				i = len(s.buf)
				continue
			}
			if s.buf[k] == '\\' {
				i = k + 1
				escaped = true
				continue
			}
			i = k + 1
			inStr = false
			if depth == 0 {
				break
			}
			continue
		}
		b := s.buf[i]
		if !scalar && !structural[b] {
			i++
			continue
		}
		if scalar {
			if b == ',' || b == '}' || b == ']' || b == ' ' || b == '\n' || b == '\r' || b == '\t' {
				break
			}
			i++
			continue
		}
		i++
		switch b {
		case '"':
			inStr = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth < 0 {
				return 0, 0, s.errAt(i-1, "unbalanced %q", b)
			}
		}
		if depth == 0 && !inStr {
			break
		}
	}
	s.pos = i
	if scalar && i == start {
		return 0, 0, s.errAt(i, "expected a value, found %q", c)
	}
	return start, i, nil
}

// object calls fn for each member of the next value, which must be an
// object. fn must consume the member's value (value, skip or object). The
// key passed to fn is valid until fn returns; fn may not retain it.
func (s *scanner) object(fn func(key []byte) error) error {
	return s.walkObject(fn, false)
}

// objectEarlyKey is object for callers that are done with the key before
// they read anything more: it then hands over the key in place, uncopied,
// whenever the ':' after it is already buffered.
func (s *scanner) objectEarlyKey(fn func(key []byte) error) error {
	return s.walkObject(fn, true)
}

func (s *scanner) walkObject(fn func(key []byte) error, early bool) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	var keyBuf []byte
	c, err := s.skipSpace()
	if err != nil {
		return err
	}
	if c == '}' {
		s.pos++
		return nil
	}
	for {
		c, err := s.skipSpace()
		if err != nil {
			return err
		}
		if c != '"' {
			if c == 0 {
				return s.errAt(s.pos, "unexpected end of input, expected a member name")
			}
			return s.errAt(s.pos, "expected a member name, found %q", c)
		}
		raw, err := s.value()
		if err != nil {
			return err
		}
		key := raw[1 : len(raw)-1]
		// A streamed buffer may move before fn is done with the key; an
		// in-memory one never does, so its keys need no copy. Nor do
		// early keys when the ':' is buffered: nothing is read before fn
		// has used them.
		colon := false
		if early && s.r != nil {
			j := s.pos
			for j < len(s.buf) && (s.buf[j] == ' ' || s.buf[j] == '\n' || s.buf[j] == '\r' || s.buf[j] == '\t') {
				j++
			}
			if j < len(s.buf) && s.buf[j] == ':' {
				s.pos, colon = j+1, true
			}
		}
		if (s.r != nil && !colon) || bytes.IndexByte(key, '\\') >= 0 {
			keyBuf = appendUnquoted(keyBuf[:0], raw)
			key = keyBuf
		}
		if !colon {
			if err := s.expect(':'); err != nil {
				return err
			}
		}
		if err := fn(key); err != nil {
			return err
		}
		c, err = s.skipSpace()
		if err != nil {
			return err
		}
		switch c {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return nil
		case 0:
			return s.errAt(s.pos, "unexpected end of input, expected ',' or '}'")
		default:
			return s.errAt(s.pos, "expected ',' or '}' after a member, found %q", c)
		}
	}
}

// appendUnquoted appends the text of a JSON string literal to dst.
func appendUnquoted(dst, raw []byte) []byte {
	if len(raw) < 2 {
		return dst
	}
	body := raw[1 : len(raw)-1]
	if bytes.IndexByte(body, '\\') < 0 {
		return append(dst, body...)
	}
	return append(dst, unquote(raw)...)
}

// array calls fn for each element of the next value, which must be an
// array; fn must consume the element.
func (s *scanner) array(fn func() error) error {
	if err := s.expect('['); err != nil {
		return err
	}
	c, err := s.skipSpace()
	if err != nil {
		return err
	}
	if c == ']' {
		s.pos++
		return nil
	}
	for {
		if err := fn(); err != nil {
			return err
		}
		c, err := s.skipSpace()
		if err != nil {
			return err
		}
		switch c {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		case 0:
			return s.errAt(s.pos, "unexpected end of input, expected ',' or ']'")
		default:
			return s.errAt(s.pos, "expected ',' or ']' after an element, found %q", c)
		}
	}
}

// structural marks the bytes that change the state of a value scan.
var structural = [256]bool{'"': true, '{': true, '}': true, '[': true, ']': true}

// SWAR constants: one in every byte, and each byte's high bit.
const (
	swarLo = 0x0101010101010101
	swarHi = 0x8080808080808080
)

// stringStop returns the index of the first '"' or '\\' at or after i in
// b, or -1. Short strings (most keys and names) are searched eight bytes
// at a time; longer ones with vectorized searches.
func stringStop(b []byte, i int) int {
	for n := 0; n < 4 && i+8 <= len(b); n++ {
		x := binary.LittleEndian.Uint64(b[i:])
		q := x ^ ('"' * swarLo)
		e := x ^ ('\\' * swarLo)
		// The lowest flagged byte is exact (borrows only run upwards).
		if m := ((q-swarLo)&^q | (e-swarLo)&^e) & swarHi; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	q := bytes.IndexByte(b[i:], '"')
	if q < 0 {
		if e := bytes.IndexByte(b[i:], '\\'); e >= 0 {
			return i + e
		}
		return -1
	}
	if e := bytes.IndexByte(b[i:i+q], '\\'); e >= 0 {
		return i + e
	}
	return i + q
}

// skipEscapes moves past every escape in b[i:], which holds no closing
// quote, and returns where scanning resumes: len(b)+1 when b ends in the
// middle of an escape.
func skipEscapes(b []byte, i int) int {
	for {
		e := bytes.IndexByte(b[i:], '\\')
		if e < 0 {
			return len(b)
		}
		i += e + 2
		if i > len(b) {
			return i
		}
	}
}
