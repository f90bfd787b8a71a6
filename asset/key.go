// Package asset defines what elt orchestrates: asset keys, asset specs with
// their checks, the asset graph built from them, and the selection grammar
// that every command taking --select uses. It is pure: no I/O.
package asset

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Key identifies an asset: a path of non-empty parts, shown as "a/b/c".
// Keys are comparable and usable as map keys. The zero Key is empty and
// identifies nothing.
type Key struct {
	path string // parts joined by "/"; parts never contain "/"
}

// KeySeparator joins the parts of a key in its text form.
const KeySeparator = "/"

// NewKey returns the key made of parts. It fails when there are no parts,
// a part is empty, contains "/" or is not valid UTF-8.
//
// Keys must be UTF-8 because they travel as JSON (store, -o json, API),
// which cannot carry other bytes: a part with a stray byte would come back
// as a different key. Refusing it where the key is made lets the caller
// name where it came from.
func NewKey(parts ...string) (Key, error) {
	if len(parts) == 0 {
		return Key{}, fmt.Errorf("asset key is empty")
	}
	for i, p := range parts {
		if p == "" {
			return Key{}, fmt.Errorf("asset key %q: part %d is empty", strings.Join(parts, KeySeparator), i+1)
		}
		if strings.Contains(p, KeySeparator) {
			return Key{}, fmt.Errorf("asset key part %q contains %q; use a list of parts instead", p, KeySeparator)
		}
		if !utf8.ValidString(p) {
			return Key{}, notUTF8(p)
		}
	}
	return Key{path: strings.Join(parts, KeySeparator)}, nil
}

// MustKey is NewKey for keys known to be valid (tests, constants); it panics
// on an invalid key.
func MustKey(parts ...string) Key {
	k, err := NewKey(parts...)
	if err != nil {
		panic(err)
	}
	return k
}

// ParseKey parses the text form "a/b/c". Leading, trailing or doubled
// slashes are errors: every part must be non-empty and valid UTF-8.
func ParseKey(s string) (Key, error) {
	if s == "" {
		return Key{}, fmt.Errorf("asset key is empty")
	}
	parts := strings.Split(s, KeySeparator)
	for i, p := range parts {
		if p == "" {
			return Key{}, fmt.Errorf("asset key %q: part %d is empty (keys look like a/b/c)", s, i+1)
		}
		if !utf8.ValidString(p) {
			return Key{}, notUTF8(p)
		}
	}
	return Key{path: s}, nil
}

func notUTF8(part string) error {
	return fmt.Errorf("asset key part %q is not valid UTF-8; rename it with UTF-8 text (keys are stored and shown as JSON)", part)
}

// String returns the text form "a/b/c".
func (k Key) String() string { return k.path }

// IsZero reports whether k is the empty key.
func (k Key) IsZero() bool { return k.path == "" }

// Parts returns the parts of the key.
func (k Key) Parts() []string {
	if k.path == "" {
		return nil
	}
	return strings.Split(k.path, KeySeparator)
}

// Last returns the final part of the key, often the table or model name.
func (k Key) Last() string {
	return k.path[strings.LastIndex(k.path, KeySeparator)+1:]
}

// WithPrefix returns the key with prefix parts prepended.
func (k Key) WithPrefix(prefix ...string) (Key, error) {
	if len(prefix) == 0 {
		return k, nil
	}
	return NewKey(append(append([]string{}, prefix...), k.Parts()...)...)
}

// Compare orders keys by their text form, for stable output.
func (k Key) Compare(o Key) int { return strings.Compare(k.path, o.path) }

// MarshalJSON writes the key as an array of parts: ["a","b","c"].
func (k Key) MarshalJSON() ([]byte, error) {
	parts := k.Parts()
	if parts == nil {
		parts = []string{}
	}
	return json.Marshal(parts)
}

// UnmarshalJSON reads an array of parts, or the text form as a string.
func (k *Key) UnmarshalJSON(b []byte) error {
	var parts []string
	if err := json.Unmarshal(b, &parts); err == nil {
		key, err := NewKey(parts...)
		if err != nil {
			return err
		}
		*k = key
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("asset key must be an array of strings or \"a/b\" text: %s", b)
	}
	key, err := ParseKey(s)
	if err != nil {
		return err
	}
	*k = key
	return nil
}

// MarshalText writes the text form, so keys work as JSON object keys.
func (k Key) MarshalText() ([]byte, error) { return []byte(k.path), nil }

// SortKeys sorts keys by text form in place.
func SortKeys(keys []Key) {
	slicesSortFunc(keys)
}
