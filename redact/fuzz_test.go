package redact

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// FuzzRedact: a secret written into text in any of its forms (plain,
// percent-encoded, JSON-escaped) never survives String, and text without
// secrets is left as it is.
func FuzzRedact(f *testing.F) {
	f.Add("hunter2", "pw=", "\n")
	f.Add("p@ss w/rd:ü", "postgres://u:", "@host/db")
	f.Add(`a"b\c`, `{"k":"`, `"}`)
	f.Fuzz(func(t *testing.T, secret, before, after string) {
		if len(secret) < MinLen || strings.Contains(secret, "*") {
			// A secret made of the placeholder's character could be
			// re-formed by the placeholder itself.
			return
		}
		r := New(secret)
		if got := r.String(before + after); !strings.Contains(before+after, Placeholder) &&
			!containsAnyForm(before+after, secret) && got != before+after {
			t.Fatalf("text without the secret changed: %q -> %q", before+after, got)
		}
		jb, _ := json.Marshal(secret)
		for _, form := range []string{secret, url.PathEscape(secret), url.QueryEscape(secret), string(jb[1 : len(jb)-1])} {
			got := r.String(before + form + after)
			if strings.Contains(got, form) {
				t.Fatalf("secret %q as %q survived in %q", secret, form, got)
			}
		}
		m := r.Map(map[string]any{secret: []any{[]any{before + secret + after}}})
		for k, v := range m {
			if strings.Contains(k, secret) {
				t.Fatalf("secret survived in key %q", k)
			}
			if inner := v.([]any)[0].([]any)[0].(string); strings.Contains(inner, secret) {
				t.Fatalf("secret survived in nested value %q", inner)
			}
		}
	})
}

func containsAnyForm(s, secret string) bool {
	for _, f := range forms(secret) {
		if strings.Contains(s, f) {
			return true
		}
	}
	return false
}

// FuzzURLSecrets: the parser never panics, and what it returns comes from
// the text (as written or decoded).
func FuzzURLSecrets(f *testing.F) {
	f.Add("postgres://u:p%40ss@host:5432/db")
	f.Add("s3://key@bucket")
	f.Add("://@")
	f.Fuzz(func(t *testing.T, s string) {
		secrets := URLSecrets(s)
		if len(s) > 200 {
			return // the oracle below is cubic in len(s)
		}
		for _, v := range secrets {
			if v == "" {
				t.Fatalf("empty secret from %q", s)
			}
			if !strings.Contains(s, v) {
				if dec, err := url.PathUnescape(s); err != nil || !strings.Contains(dec, v) {
					if !strings.Contains(s, url.PathEscape(v)) && !decodedPart(s, v) {
						t.Fatalf("secret %q is not in %q", v, s)
					}
				}
			}
		}
	})
}

// decodedPart reports whether v is the decoding of some part of s.
func decodedPart(s, v string) bool {
	for i := 0; i < len(s); i++ {
		for j := i + 1; j <= len(s); j++ {
			if d, err := url.PathUnescape(s[i:j]); err == nil && d == v {
				return true
			}
		}
	}
	return false
}
