package project

import (
	"errors"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestLoadMessages pins every message the strict loader writes for bad
// YAML: the file, the exact line and the words.
func TestLoadMessages(t *testing.T) {
	tests := []struct {
		name string
		body string
		line int
		msg  string // the whole message after "elt.yaml:LINE: "
	}{
		{"syntax error", "name: x\nassets:\n  - key: a\n   command: [", 2,
			"malformed YAML: did not find expected '-' indicator"},
		{"syntax error without a line", "name: x\nassets: []\ndescription: a: b\nconcurrency: 2\n", 3,
			"malformed YAML: mapping values are not allowed in this context"},
		{"unterminated quote", "name: x\nassets: []\ndescription: 'abc\n", 3,
			"malformed YAML: found unexpected end of stream"},
		{"tab indentation", "name: x\nassets:\n\t- key: a\n", 3,
			"malformed YAML: found character that cannot start any token"},
		{"unknown key", "name: x\nassets:\n  - key: a\n    comand: echo\n", 4,
			`unknown key "comand" in elt.yaml.assets[0] (did you mean "command"?); allowed keys: `},
		{"string for a number", "name: x\nconcurrency: lots\n", 2,
			"concurrency: found a string `lots` where a whole number belongs"},
		{"float for a number", "name: x\nconcurrency: 2.5\n", 2,
			"concurrency: found a number `2.5` where a whole number belongs"},
		{"list for a string", "name: [x]\n", 1,
			"name: found a list where a single value belongs"},
		{"string for a bool", "name: x\nstrict_deps: maybe\n", 2,
			"strict_deps: found a string `maybe` where true or false belongs"},
		{"string for a list", "name: x\nassets:\n  - {key: a, command: echo, kinds: {a: b}}\n", 3,
			"found a mapping where a list of names (or one name) belongs"},
		{"scalar for a mapping", "name: x\nassets: many\n", 2,
			`assets must be a list ("- item" lines or [a, b]), found "many"`},
		{"long value is cut", "name: x\nconcurrency: abcdefghijklmnopqrstuvwxyz\n", 2,
			"concurrency: found a string `abcdefghijklmnopq...` where a whole number belongs"},
		{"bad duration", "name: x\nassets:\n  - key: a\n    command: echo\n    timeout: soon\n", 5,
			`bad duration "soon": write it like 90s, 10m, 2h or 1d`},
		{"negative duration", "name: x\nassets:\n  - key: a\n    command: echo\n    timeout: -1s\n", 5,
			`"-1s" is negative; durations are 0 (none) or more`},
		{"empty command", "name: x\nassets:\n  - key: a\n    command: ' '\n", 4, "command is empty"},
		{"command mapping", "name: x\nassets:\n  - key: a\n    command: {a: b}\n", 4,
			"command is a string (run by /bin/sh) or a list (argv)"},
		{"bad retries", "name: x\nassets:\n  - key: a\n    command: echo\n    retries: lots\n", 5,
			"retries is a number of retries or a mapping {max, delay, backoff, max_delay, jitter}"},
		{"unknown retries key", "name: x\nassets:\n  - key: a\n    command: echo\n    retries:\n      max: 1\n      backof: linear\n", 7,
			`unknown key "backof" in retries (did you mean "backoff"?); allowed keys: backoff, delay, jitter, max, max_delay`},
		{"retries type error", "name: x\nassets:\n  - key: a\n    command: echo\n    retries:\n      max: lots\n", 6,
			"retries.max: found a string `lots` where a whole number belongs"},
		{"bad backoff", "name: x\nassets:\n  - key: a\n    command: echo\n    retries: {max: 1, backoff: fast}\n", 5,
			`backoff must be exponential, linear or constant, not "fast"`},
		{"bad key", "name: x\nassets:\n  - key: {a: b}\n    command: echo\n", 3, `an asset key is "a/b" or a list of parts`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.body, nil)
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v (%T), want *project.Error", err, err)
			}
			if len(pe.Problems) != 1 {
				t.Fatalf("%d problems, want 1: %v", len(pe.Problems), err)
			}
			p := pe.Problems[0]
			if !strings.HasSuffix(p.File, FileName) || p.Line != tt.line || !strings.HasPrefix(p.Msg, tt.msg) {
				t.Errorf("problem = %s:%d: %s\nwant      %s:%d: %s", p.File, p.Line, p.Msg, FileName, tt.line, tt.msg)
			}
		})
	}
}

// TestLibraryTypeErrorFallback decodes with the YAML library alone and
// checks that its type error text still reads as a line and words (the
// loader's fallback for mismatches valueFits does not know).
func TestLibraryTypeErrorFallback(t *testing.T) {
	var v struct {
		N int      `yaml:"n"`
		L []string `yaml:"l"`
	}
	err := yaml.Unmarshal([]byte("n: x\nl: y\n"), &v)
	var te *yaml.TypeError
	if !errors.As(err, &te) || len(te.Errors) != 2 {
		t.Fatalf("err = %v, want a *yaml.TypeError with 2 errors", err)
	}
	want := []struct {
		line int
		msg  string
	}{
		{1, "found a string `x` where a whole number belongs"},
		{2, "found a string `y` where a list of strings belongs"},
	}
	for i, e := range te.Errors {
		line, msg := lineOf(e)
		if line != want[i].line || friendlyTypeError(msg) != want[i].msg {
			t.Errorf("%q -> %d %q, want %d %q", e, line, friendlyTypeError(msg), want[i].line, want[i].msg)
		}
	}
}

func TestLineOf(t *testing.T) {
	tests := []struct {
		in   string
		line int
		msg  string
	}{
		{"yaml: line 4: did not find expected key", 4, "did not find expected key"},
		{"line 12: bad", 12, "bad"},
		{"yaml: line 3 column 5: mapping values are not allowed", 3, "mapping values are not allowed"},
		{"yaml: while parsing a block mapping at line 2: did not find expected key", 2, "while parsing a block mapping at did not find expected key"},
		{"yaml: control characters are not allowed", 0, "control characters are not allowed"},
		{"no line here", 0, "no line here"},
	}
	for _, tt := range tests {
		line, msg := lineOf(tt.in)
		if line != tt.line || msg != tt.msg {
			t.Errorf("lineOf(%q) = %d, %q; want %d, %q", tt.in, line, msg, tt.line, tt.msg)
		}
	}
}

func TestSplitLineError(t *testing.T) {
	line, msg := splitLineError(errAt(&yaml.Node{Line: 7}, "x %d", 1))
	if line != 7 || msg != "x 1" {
		t.Errorf("got %d %q", line, msg)
	}
}
