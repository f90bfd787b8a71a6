package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/eltproject/elt/asset"
)

// unixNano stores a time; the zero time is 0.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromUnixNano reads a stored time in UTC; 0 is the zero time.
func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// metadataJSON encodes event or materialization metadata. Values JSON
// cannot encode (NaN, channels, …) are stored as their printed form rather
// than losing the whole event.
func metadataJSON(md map[string]any) string {
	if len(md) == 0 {
		return "{}"
	}
	b, err := json.Marshal(md)
	if err == nil {
		return string(b)
	}
	b, _ = json.Marshal(printable(md))
	return string(b)
}

// printable returns md with every value that fails to encode replaced by
// its fmt form.
func printable(md map[string]any) map[string]any {
	if md == nil {
		return nil
	}
	out := make(map[string]any, len(md))
	for k, v := range md {
		if _, err := json.Marshal(v); err != nil {
			out[k] = fmt.Sprint(v)
			continue
		}
		out[k] = v
	}
	return out
}

// decodeMetadata reads metadata written by metadataJSON; nil when empty.
func decodeMetadata(s string) (map[string]any, error) {
	if s == "" || s == "{}" || s == "null" {
		return nil, nil
	}
	var md map[string]any
	if err := json.Unmarshal([]byte(s), &md); err != nil {
		return nil, fmt.Errorf("decode metadata: %w", err)
	}
	return md, nil
}

// keysJSON encodes asset keys as a JSON list of "a/b" strings.
func keysJSON(keys []asset.Key) string {
	if len(keys) == 0 {
		return "[]"
	}
	s := make([]string, len(keys))
	for i, k := range keys {
		s[i] = k.String()
	}
	b, _ := json.Marshal(s)
	return string(b)
}

func decodeKeys(s string) ([]asset.Key, error) {
	if s == "" || s == "[]" {
		return nil, nil
	}
	var texts []string
	if err := json.Unmarshal([]byte(s), &texts); err != nil {
		return nil, fmt.Errorf("decode asset keys: %w", err)
	}
	keys := make([]asset.Key, 0, len(texts))
	for _, t := range texts {
		k, err := asset.ParseKey(t)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// keysFrom reads the "assets" metadata the engine may put on step events:
// []asset.Key, []string of "a/b" text, or the []any a JSON round trip
// makes of either.
func keysFrom(v any) []asset.Key {
	var out []asset.Key
	add := func(x any) {
		switch x := x.(type) {
		case asset.Key:
			if !x.IsZero() {
				out = append(out, x)
			}
		case string:
			if k, err := asset.ParseKey(x); err == nil {
				out = append(out, k)
			}
		case []string:
			if k, err := asset.NewKey(x...); err == nil {
				out = append(out, k)
			}
		case []any:
			parts := make([]string, 0, len(x))
			for _, p := range x {
				s, ok := p.(string)
				if !ok {
					return
				}
				parts = append(parts, s)
			}
			if k, err := asset.NewKey(parts...); err == nil {
				out = append(out, k)
			}
		}
	}
	switch v := v.(type) {
	case []asset.Key:
		for _, k := range v {
			add(k)
		}
	case []string:
		for _, k := range v {
			add(k)
		}
	case []any:
		for _, k := range v {
			add(k)
		}
	case asset.Key, string:
		add(v)
	}
	return out
}

func parseKey(s string) (asset.Key, error) {
	k, err := asset.ParseKey(s)
	if err != nil {
		return asset.Key{}, fmt.Errorf("stored asset key: %w", err)
	}
	return k, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// isConstraint reports whether err is an SQLite constraint violation of the
// given extended kind.
func isConstraint(err error, code sqlite3.ErrNoExtended) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.ExtendedCode == code
}

// shortList prints the first few ids for ambiguity errors.
func shortList(ids []string) string {
	if len(ids) > 3 {
		return strings.Join(ids[:3], ", ") + ", …"
	}
	return strings.Join(ids, ", ")
}
