package sling

import (
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// substituter replaces ${VAR} and $VAR in scalars. The env block wins over
// the process environment because it is what the file asks for (and an
// entry like `YEAR: $YEAR` already took its value from the environment).
// A reference nobody defines is left as written, so `$1` in SQL or a
// literal dollar survives.
type substituter struct {
	lookup     Lookup
	env        []EnvVar
	unresolved []string
}

func (s *substituter) get(name string) (string, bool) {
	for _, e := range s.env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return s.lookup(name)
}

// walk substitutes every scalar (keys included, so stream names may use
// variables) except under the top-level key skip.
func (s *substituter) walk(n *yaml.Node, skip string) {
	if n.Kind == yaml.MappingNode && skip != "" {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == skip {
				continue
			}
			s.walk(n.Content[i], "")
			s.walk(n.Content[i+1], "")
		}
		return
	}
	if n.Kind == yaml.ScalarNode {
		if strings.Contains(n.Value, "$") {
			n.Value = s.expand(n.Value)
		}
		return
	}
	for _, c := range n.Content {
		s.walk(c, "")
	}
}

func (s *substituter) expand(v string) string {
	if !strings.Contains(v, "$") {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); {
		c := v[i]
		if c != '$' || i+1 >= len(v) {
			b.WriteByte(c)
			i++
			continue
		}
		var name string
		var end int
		if v[i+1] == '{' {
			j := strings.IndexByte(v[i+2:], '}')
			if j < 0 || !isVarName(v[i+2:i+2+j]) {
				b.WriteByte(c)
				i++
				continue
			}
			name, end = v[i+2:i+2+j], i+3+j
		} else {
			j := i + 1
			for j < len(v) && isVarChar(v[j], j == i+1) {
				j++
			}
			if j == i+1 {
				b.WriteByte(c)
				i++
				continue
			}
			name, end = v[i+1:j], j
		}
		if val, ok := s.get(name); ok {
			b.WriteString(val)
		} else {
			b.WriteString(v[i:end])
			if !slices.Contains(s.unresolved, name) {
				s.unresolved = append(s.unresolved, name)
			}
		}
		i = end
	}
	return b.String()
}

func isVarChar(c byte, first bool) bool {
	switch {
	case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		return true
	case c >= '0' && c <= '9':
		return !first
	}
	return false
}

func isVarName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isVarChar(s[i], i == 0) {
			return false
		}
	}
	return true
}
