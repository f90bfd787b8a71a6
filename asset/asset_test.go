package asset

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestParseKey(t *testing.T) {
	tests := []struct {
		in      string
		parts   []string
		wantErr string
	}{
		{"a", []string{"a"}, ""},
		{"raw/orders", []string{"raw", "orders"}, ""},
		{"a/b/c", []string{"a", "b", "c"}, ""},
		{"", nil, "empty"},
		{"/a", nil, "part 1 is empty"},
		{"a/", nil, "part 2 is empty"},
		{"a//b", nil, "part 2 is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			k, err := ParseKey(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseKey(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(k.Parts(), tt.parts) {
				t.Errorf("parts = %q, want %q", k.Parts(), tt.parts)
			}
			if k.String() != tt.in {
				t.Errorf("round trip %q -> %q", tt.in, k.String())
			}
		})
	}
}

func TestNewKeyRejectsSlashAndEmpty(t *testing.T) {
	if _, err := NewKey("a/b"); err == nil {
		t.Error("part with / accepted")
	}
	if _, err := NewKey("a", ""); err == nil {
		t.Error("empty part accepted")
	}
	if _, err := NewKey(); err == nil {
		t.Error("no parts accepted")
	}
}

func TestKeyJSON(t *testing.T) {
	k := MustKey("raw", "orders")
	b, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `["raw","orders"]` {
		t.Fatalf("json = %s", b)
	}
	var back Key
	if err := json.Unmarshal(b, &back); err != nil || back != k {
		t.Fatalf("unmarshal = %v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`"raw/orders"`), &back); err != nil || back != k {
		t.Fatalf("text unmarshal = %v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`["a",""]`), &back); err == nil {
		t.Fatal("empty part accepted from JSON")
	}
	m, _ := json.Marshal(map[Key]int{k: 1})
	if string(m) != `{"raw/orders":1}` {
		t.Fatalf("map key json = %s", m)
	}
}

func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"a", "a/b", "/", "a//b", "ü/ß", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseKey(s)
		if err != nil {
			return
		}
		if k.String() != s {
			t.Fatalf("round trip %q -> %q", s, k.String())
		}
		k2, err := NewKey(k.Parts()...)
		if err != nil || k2 != k {
			t.Fatalf("NewKey(Parts(%q)) = %v, %v", s, k2, err)
		}
		b, _ := json.Marshal(k)
		var k3 Key
		if err := json.Unmarshal(b, &k3); err != nil || k3 != k {
			t.Fatalf("json round trip %q: %v %v", s, k3, err)
		}
	})
}

func spec(key string, deps ...string) Spec {
	s := Spec{Key: mustParse(key), Origin: "test:" + key, Step: "x"}
	for _, d := range deps {
		s.Deps = append(s.Deps, mustParse(d))
	}
	return s
}

func mustParse(s string) Key {
	k, err := ParseKey(s)
	if err != nil {
		panic(err)
	}
	return k
}

func keysText(ks []Key) string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.String()
	}
	return strings.Join(out, " ")
}

// diamond: raw -> a, raw -> b, a+b -> mart; plus an island.
func diamond(t testing.TB) *Graph {
	t.Helper()
	specs := []Spec{
		spec("raw/orders", "source/orders"),
		spec("stg/a", "raw/orders"),
		spec("stg/b", "raw/orders"),
		spec("mart/m", "stg/a", "stg/b"),
		spec("island"),
	}
	specs[1].Tags = []string{"nightly"}
	specs[3].Tags = []string{"nightly", "finance"}
	specs[3].Group = "marts"
	specs[3].Owners = []string{"team:finance"}
	specs[0].Kinds = []string{"sling"}
	g, err := NewGraph(specs, GraphOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestGraphExternalTopoLevels(t *testing.T) {
	g := diamond(t)
	src, ok := g.Spec(mustParse("source/orders"))
	if !ok || !src.External {
		t.Fatalf("unknown dep should become an external asset: %+v", src)
	}
	order := g.Keys()
	pos := map[Key]int{}
	for i, k := range order {
		pos[k] = i
	}
	for _, s := range g.Specs() {
		for _, d := range s.Deps {
			if pos[d] >= pos[s.Key] {
				t.Errorf("%s before its dep %s in %v", s.Key, d, keysText(order))
			}
		}
	}
	if got := g.Level(mustParse("mart/m")); got != 3 {
		t.Errorf("level(mart/m) = %d, want 3", got)
	}
	if got := keysText(g.Upstream(mustParse("mart/m"), -1)); got != "source/orders raw/orders stg/a stg/b" {
		t.Errorf("upstream = %s", got)
	}
	if got := keysText(g.Upstream(mustParse("mart/m"), 1)); got != "stg/a stg/b" {
		t.Errorf("upstream depth 1 = %s", got)
	}
	if got := keysText(g.Downstream(mustParse("raw/orders"), -1)); got != "stg/a stg/b mart/m" {
		t.Errorf("downstream = %s", got)
	}
	lv := g.Levels()
	if len(lv) != 4 || len(lv[0]) != 2 {
		t.Errorf("levels = %v", lv)
	}
}

func TestGraphErrors(t *testing.T) {
	t.Run("duplicate names both origins", func(t *testing.T) {
		_, err := NewGraph([]Spec{spec("a"), spec("a")}, GraphOptions{})
		var de *DuplicateKeyError
		if !errors.As(err, &de) || !strings.Contains(err.Error(), "test:a and test:a") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("cycle is printed", func(t *testing.T) {
		_, err := NewGraph([]Spec{spec("a", "c"), spec("b", "a"), spec("c", "b"), spec("d", "a")}, GraphOptions{})
		var ce *CycleError
		if !errors.As(err, &ce) {
			t.Fatalf("err = %v", err)
		}
		msg := err.Error()
		// Some rotation of a -> c -> b -> a (each depends on the next).
		ok := false
		for _, want := range []string{"a -> c -> b -> a", "c -> b -> a -> c", "b -> a -> c -> b"} {
			if strings.Contains(msg, want) {
				ok = true
			}
		}
		if !ok {
			t.Fatalf("cycle message %q", msg)
		}
	})
	t.Run("self dep", func(t *testing.T) {
		_, err := NewGraph([]Spec{spec("a", "a")}, GraphOptions{})
		if err == nil || !strings.Contains(err.Error(), "a -> a") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("strict deps", func(t *testing.T) {
		_, err := NewGraph([]Spec{spec("a", "missing")}, GraphOptions{StrictDeps: true})
		var ue *UnknownDepError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "missing") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("external yields to definition", func(t *testing.T) {
		ext := Spec{Key: mustParse("a"), External: true}
		g, err := NewGraph([]Spec{ext, spec("a"), spec("b", "a")}, GraphOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if s, _ := g.Spec(mustParse("a")); s.External {
			t.Fatal("external placeholder won over definition")
		}
	})
}

func TestSelection(t *testing.T) {
	g := diamond(t)
	sel := &Selector{Graph: g}
	tests := []struct {
		include, exclude []string
		want             string
	}{
		{nil, nil, "island source/orders raw/orders stg/a stg/b mart/m"},
		{[]string{"stg/a"}, nil, "stg/a"},
		{[]string{"m"}, nil, "mart/m"}, // bare name matches last part
		{[]string{"stg/*"}, nil, "stg/a stg/b"},
		{[]string{"**"}, []string{"key:stg/*"}, "island source/orders raw/orders mart/m"},
		{[]string{"+stg/a"}, nil, "source/orders raw/orders stg/a"},
		{[]string{"1+stg/a"}, nil, "raw/orders stg/a"},
		{[]string{"stg/a+"}, nil, "stg/a mart/m"},
		{[]string{"raw/orders+1"}, nil, "raw/orders stg/a stg/b"},
		{[]string{"+stg/a+"}, nil, "source/orders raw/orders stg/a mart/m"},
		{[]string{"@stg/a"}, nil, "source/orders raw/orders stg/a stg/b mart/m"},
		{[]string{"tag:nightly"}, nil, "stg/a mart/m"},
		{[]string{"tag:nightly,tag:finance"}, nil, "mart/m"},
		{[]string{"tag:finance island"}, nil, "island mart/m"},
		{[]string{"group:marts"}, nil, "mart/m"},
		{[]string{"owner:team:*"}, nil, "mart/m"},
		{[]string{"kind:sling+"}, nil, "raw/orders stg/a stg/b mart/m"},
		{[]string{"+mart/m"}, []string{"tag:nightly"}, "source/orders raw/orders stg/b"},
		{[]string{"stg/a", "island"}, nil, "island stg/a"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.include, "|")+" -"+strings.Join(tt.exclude, "|"), func(t *testing.T) {
			set, err := sel.Select(tt.include, tt.exclude)
			if err != nil {
				t.Fatal(err)
			}
			got := g.SetKeys(set)
			if keysText(got) != tt.want {
				t.Errorf("got %q, want %q", keysText(got), tt.want)
			}
		})
	}
}

func TestSelectionErrors(t *testing.T) {
	g := diamond(t)
	sel := &Selector{Graph: g}
	tests := []struct {
		expr    string
		col     int
		wantMsg string
	}{
		{"", 1, "empty"},
		{"   ", 1, "empty"},
		{"a,,b", 3, "empty selector"},
		{"stg/a +", 7, "missing asset key"},
		{"@+x", 1, "'@' cannot be combined"},
		{"stg/a foo:bar", 7, "unknown method"},
		{"tag:", 1, "method:value"},
		{"a//b", 1, "empty part"},
		{"x[", 1, "bad glob"},
		{"a+b", 2, "unexpected '+'"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			_, err := sel.Select([]string{tt.expr}, nil)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want SyntaxError", err)
			}
			if se.Col != tt.col || !strings.Contains(se.Msg, tt.wantMsg) {
				t.Errorf("col %d msg %q, want col %d containing %q", se.Col, se.Msg, tt.col, tt.wantMsg)
			}
			if !strings.Contains(err.Error(), "^") {
				t.Errorf("error does not point at the column: %s", err)
			}
		})
	}
	t.Run("no match lists near matches", func(t *testing.T) {
		_, err := sel.Select([]string{"stg/c"}, nil)
		var nm *NoMatchError
		if !errors.As(err, &nm) {
			t.Fatalf("err = %v", err)
		}
		if !slices.Contains(nm.NearMatches, "stg/a") {
			t.Errorf("near matches = %v", nm.NearMatches)
		}
	})
	t.Run("near matches keep the digits of a name", func(t *testing.T) {
		g2, _ := NewGraph([]Spec{spec("model_5000"), spec("model_0")}, GraphOptions{})
		_, err := (&Selector{Graph: g2}).Select([]string{"2+model_05000+1"}, nil)
		var nm *NoMatchError
		if !errors.As(err, &nm) || len(nm.NearMatches) == 0 || nm.NearMatches[0] != "model_5000" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("exclude everything", func(t *testing.T) {
		_, err := sel.Select([]string{"stg/a"}, []string{"stg/*"})
		var nm *NoMatchError
		if !errors.As(err, &nm) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("custom method", func(t *testing.T) {
		s := &Selector{Graph: g, Methods: map[string]MethodFunc{
			"state": func(g *Graph, v string) (Set, error) {
				if v != "modified" {
					return Set{}, fmt.Errorf("state:%s is not supported", v)
				}
				return g.SetOf(mustParse("stg/b")), nil
			},
		}}
		set, err := s.Select([]string{"state:modified+"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := keysText(g.SetKeys(set)); got != "stg/b mart/m" {
			t.Errorf("got %s", got)
		}
		if _, err := s.Select([]string{"state:bogus"}, nil); err == nil {
			t.Error("method error not reported")
		}
	})
	t.Run("method family", func(t *testing.T) {
		var got []string
		s := &Selector{Graph: g, Methods: map[string]MethodFunc{
			"config.": func(g *Graph, v string) (Set, error) {
				got = append(got, v)
				return g.SetOf(mustParse("stg/b")), nil
			},
		}}
		set, err := s.Select([]string{"config.materialized:table+"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if keysText(g.SetKeys(set)) != "stg/b mart/m" || len(got) != 1 || got[0] != "materialized:table" {
			t.Errorf("got %s from %v", keysText(g.SetKeys(set)), got)
		}
		_, err = s.Select([]string{"config:x"}, nil)
		if err == nil || !strings.Contains(err.Error(), "config.<key>") {
			t.Errorf("config without a key: %v", err)
		}
	})
}

func FuzzParseSelection(f *testing.F) {
	for _, s := range []string{"a", "+a+", "2+a+3", "@a", "tag:x,group:y z", "a//b", "+", "@", ",", "a,", "key:**"} {
		f.Add(s)
	}
	g := diamond(f)
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := ParseSelection(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("non-syntax error %T: %v", err, err)
			}
			if se.Col < 1 || se.Col > len(s)+1 {
				t.Fatalf("column %d out of range for %q", se.Col, s)
			}
			return
		}
		// Evaluation must never panic.
		_, _ = (&Selector{Graph: g}).Eval(sel)
	})
}

func TestKeyRefusesNonUTF8(t *testing.T) {
	for _, make := range []func() (Key, error){
		func() (Key, error) { return ParseKey("\xac") },
		func() (Key, error) { return ParseKey("raw/cust\xacomers") },
		func() (Key, error) { return NewKey("raw", "cust\xacomers") },
	} {
		if k, err := make(); err == nil || !strings.Contains(err.Error(), "not valid UTF-8") {
			t.Errorf("key %q: err = %v", k.String(), err)
		}
	}
	if _, err := NewKey("ü", "ß", "日本"); err != nil {
		t.Errorf("valid UTF-8 refused: %v", err)
	}
}
