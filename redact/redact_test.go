package redact

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

const pw = "p@ss w/rd:ü"

func TestStringForms(t *testing.T) {
	r := New(Settings(map[string]string{
		"url":   "postgres://loader:" + url.PathEscape(pw) + "@db.internal:5432/wh",
		"token": "tok-123456",
		"plain": "not-secret",
	}, []string{"token"})...)
	u := url.URL{Scheme: "postgres", User: url.UserPassword("loader", pw), Host: "db"}
	for _, in := range []string{
		pw,
		url.QueryEscape(pw),
		url.PathEscape(pw),
		u.String(),
		"postgres://loader:" + url.PathEscape(pw) + "@db.internal:5432/wh",
		`{"password":` + mustJSON(pw) + `}`,
		"Bearer tok-123456",
	} {
		got := r.String(in)
		for _, f := range []string{pw, url.QueryEscape(pw), url.PathEscape(pw), "tok-123456"} {
			if strings.Contains(got, f) {
				t.Errorf("String(%q) = %q, still holds %q", in, got, f)
			}
		}
		if !strings.Contains(got, Placeholder) {
			t.Errorf("String(%q) = %q, no placeholder", in, got)
		}
	}
	if got := r.String("not-secret db.internal"); got != "not-secret db.internal" {
		t.Errorf("redacted a non-secret: %q", got)
	}
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestValueKeysAndNesting(t *testing.T) {
	r := New("hunter2")
	in := map[string]any{
		"hunter2":  "key is the secret",
		"nested":   []any{[]any{"a", "x-hunter2-x", map[string]any{"hunter2": []string{"hunter2"}}}},
		"ss":       map[string]string{"hunter2": "hunter2"},
		"n":        3,
		"unchaged": "fine",
	}
	out := r.Value(in)
	b, _ := json.Marshal(out)
	if bytes.Contains(b, []byte("hunter2")) {
		t.Fatalf("secret left: %s", b)
	}
	b0, _ := json.Marshal(in)
	if !bytes.Contains(b0, []byte("hunter2")) {
		t.Fatal("input was modified")
	}
}

func TestJSONStaysValid(t *testing.T) {
	r := New(`a"b\c`)
	b, _ := json.Marshal(map[string]string{`a"b\c`: `x a"b\c y`})
	got := r.JSON(b)
	var m map[string]string
	if err := json.Unmarshal(got, &m); err != nil {
		t.Fatalf("%s: %v", got, err)
	}
	if bytes.Contains(got, []byte(`a\"b\\c`)) {
		t.Fatalf("secret left: %s", got)
	}
}

func TestWriterSplitsAcrossWrites(t *testing.T) {
	var buf bytes.Buffer
	w := New("hunter2").Writer(&buf)
	for _, p := range []string{"pass=hun", "ter2\nnext hunt", "er2"} {
		if _, err := w.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := Flush(w); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), "pass=****\nnext ****"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestNilAndShort(t *testing.T) {
	var r *Redactor
	if r.String("x") != "x" || !r.Empty() {
		t.Fatal("nil redactor changed text")
	}
	if New("ab") != nil {
		t.Fatal("a two-character secret would redact ordinary text")
	}
	var buf bytes.Buffer
	if r.Writer(&buf) != &buf {
		t.Fatal("nil redactor should not wrap writers")
	}
}

func TestURLSecrets(t *testing.T) {
	for in, want := range map[string]string{
		"https://host/path":              "",
		"not a url":                      "",
		"s3://key:sec%2Fret@bucket/x":    "key:sec%2Fret|sec%2Fret|sec/ret|key:sec/ret",
		"postgres://user@host/db":        "user",
		"http://a:b@c@host/?q=x@y#frag@": "a:b@c|b@c|b@c",
	} {
		if got := strings.Join(URLSecrets(in), "|"); got != want {
			t.Errorf("URLSecrets(%q) = %q, want %q", in, got, want)
		}
	}
}
