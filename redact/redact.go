// Package redact hides secrets in everything elt shows or keeps: console
// output, step logs, the run store, JSON output, reports and notifications.
//
// A Redactor knows a set of secret values and the forms they take in text:
// as written, percent-encoded (query and path escaping, the userinfo of a
// URL) and JSON-escaped. Every form is replaced by Placeholder. The one
// Redactor of a project is built from its resources (settings listed under
// `secret:`, the userinfo of every URL-valued setting) and `secret_env`.
package redact

import (
	"encoding/json"
	"net/url"
	"sort"
	"strings"
)

// Placeholder replaces every secret.
const Placeholder = "****"

// MinLen is the shortest value treated as a secret: shorter values would
// turn ordinary text into placeholders.
const MinLen = 3

// Redactor replaces secret values in strings, nested values and streams.
// The zero value and nil redact nothing. A Redactor is safe for concurrent
// use once built.
type Redactor struct {
	secrets []string // every form, longest first
	rep     *strings.Replacer
}

// New returns a Redactor for the given secret values and their encoded
// forms. Values shorter than MinLen are ignored.
func New(values ...string) *Redactor {
	seen := map[string]bool{}
	var all []string
	for _, v := range values {
		for _, f := range forms(v) {
			if len(f) >= MinLen && !seen[f] {
				seen[f] = true
				all = append(all, f)
			}
		}
	}
	if len(all) == 0 {
		return nil
	}
	// Longest first: the replacer tries old strings in argument order, so
	// a secret containing another is hidden whole.
	sort.Slice(all, func(i, j int) bool {
		if len(all[i]) != len(all[j]) {
			return len(all[i]) > len(all[j])
		}
		return all[i] < all[j]
	})
	pairs := make([]string, 0, 2*len(all))
	for _, s := range all {
		pairs = append(pairs, s, Placeholder)
	}
	return &Redactor{secrets: all, rep: strings.NewReplacer(pairs...)}
}

// forms lists how v may appear in text.
func forms(v string) []string {
	if len(v) < MinLen {
		return nil
	}
	out := []string{v, url.QueryEscape(v), url.PathEscape(v)}
	// The userinfo form: url.UserPassword escapes differently again.
	if s := url.UserPassword("u", v).String(); strings.HasPrefix(s, "u:") {
		out = append(out, s[2:])
	}
	if b, err := json.Marshal(v); err == nil && len(b) >= 2 {
		out = append(out, string(b[1:len(b)-1]))
	}
	return out
}

// Settings returns the secret values of one resource's settings: the
// values of the settings named in secretKeys, and for every setting whose
// value is a URL with userinfo, the password and the whole userinfo.
func Settings(config map[string]string, secretKeys []string) []string {
	var out []string
	for _, k := range secretKeys {
		if v := config[k]; v != "" {
			out = append(out, v)
		}
	}
	for _, v := range config {
		out = append(out, URLSecrets(v)...)
	}
	return out
}

// URLSecrets returns the credentials of a URL-valued string: its password
// (decoded and as written) and its whole userinfo. A string that is not a
// URL with userinfo has none.
func URLSecrets(v string) []string {
	i := strings.Index(v, "://")
	if i <= 0 {
		return nil
	}
	rest := v[i+3:]
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		rest = rest[:j]
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return nil
	}
	raw := rest[:at] // userinfo as written
	if raw == "" {
		return nil
	}
	out := []string{raw}
	if _, pw, ok := strings.Cut(raw, ":"); ok && pw != "" {
		out = append(out, pw)
		if dec, err := url.PathUnescape(pw); err == nil {
			out = append(out, dec)
		}
	}
	if dec, err := url.PathUnescape(raw); err == nil && dec != raw {
		out = append(out, dec)
	}
	return out
}

// With returns a Redactor that also hides values.
func (r *Redactor) With(values ...string) *Redactor {
	if r == nil {
		return New(values...)
	}
	return New(append(append([]string(nil), r.secrets...), values...)...)
}

// Empty reports whether r redacts nothing.
func (r *Redactor) Empty() bool { return r == nil || len(r.secrets) == 0 }

// String returns s with every secret replaced by Placeholder.
func (r *Redactor) String(s string) string {
	if r == nil || r.rep == nil || s == "" {
		return s
	}
	return r.rep.Replace(s)
}

// Error returns err's text redacted, or "" for nil.
func (r *Redactor) Error(err error) string {
	if err == nil {
		return ""
	}
	return r.String(err.Error())
}

// Value returns a redacted copy of v: strings are redacted, and maps and
// slices are copied with their keys and elements redacted at any depth.
// Other values are returned as they are.
func (r *Redactor) Value(v any) any {
	if r.Empty() {
		return v
	}
	switch t := v.(type) {
	case string:
		return r.String(t)
	case map[string]any:
		return r.Map(t)
	case map[string]string:
		out := make(map[string]string, len(t))
		for k, x := range t {
			out[r.String(k)] = r.String(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = r.Value(x)
		}
		return out
	case []string:
		out := make([]string, len(t))
		for i, x := range t {
			out[i] = r.String(x)
		}
		return out
	case []map[string]any:
		out := make([]map[string]any, len(t))
		for i, x := range t {
			out[i] = r.Map(x)
		}
		return out
	case json.RawMessage:
		return json.RawMessage(r.JSON(t))
	}
	return v
}

// Map returns a redacted copy of m (keys and values, at any depth).
func (r *Redactor) Map(m map[string]any) map[string]any {
	if m == nil || r.Empty() {
		return m
	}
	out := make(map[string]any, len(m))
	for k, x := range m {
		out[r.String(k)] = r.Value(x)
	}
	return out
}

// JSON redacts encoded JSON. The secrets' JSON-escaped forms are among
// those replaced, so the result stays valid JSON.
func (r *Redactor) JSON(b []byte) []byte {
	if r.Empty() || len(b) == 0 {
		return b
	}
	return []byte(r.String(string(b)))
}

// URL shortens a URL to its scheme and host, for URLs whose path or query
// may hold a token (webhooks). Userinfo is dropped too.
func URL(u string) string {
	i := strings.Index(u, "://")
	if i < 0 {
		return u
	}
	rest := u[i+3:]
	if at := strings.LastIndexByte(strings.SplitN(rest, "/", 2)[0], '@'); at >= 0 {
		rest = rest[at+1:]
	}
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		return u[:i+3] + rest[:j] + "/" + Placeholder
	}
	return u[:i+3] + rest
}
