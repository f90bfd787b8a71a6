// Package sling reads Sling replication files (the YAML a user passes to
// `sling run -r`) into typed Go values: connections, defaults, streams with
// the defaults applied, env, hooks and the meta blocks Sling ignores but
// dagster-sling and elt read. It keeps line numbers so that every problem
// names file:line, substitutes ${VAR}/$VAR from the environment and the
// file's env block, and renders the object templates that are known before
// a run.
package sling

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

// Replication is one replication file.
type Replication struct {
	// File is the name used in messages (the path as given).
	File   string
	Source string
	Target string
	// SourceLine and TargetLine locate the connection names.
	SourceLine, TargetLine int
	// Defaults apply to every stream that does not set the same key.
	Defaults StreamConfig
	// Streams in file order, disabled ones included (Disabled set).
	Streams []Stream
	// Env is the file's env block after substitution, in file order.
	Env []EnvVar
	// Hooks is the replication-level hooks block (start, end) as decoded.
	Hooks map[string]any
	// Unresolved lists ${VAR}/$VAR references that neither the environment
	// nor the env block defined; they are left as written.
	Unresolved []string
	// Warnings are problems that do not stop the file from loading, such as
	// keys Sling does not know.
	Warnings []string
}

// EnvVar is one entry of the env block.
type EnvVar struct {
	Name, Value string
	Line        int
}

// Stream is one entry of the streams block.
type Stream struct {
	// Name is the stream name exactly as written (the map key).
	Name string
	Line int
	// Own holds the keys written under the stream; Config is Own with the
	// defaults applied (stream values win; lists and maps replace).
	Own    StreamConfig
	Config StreamConfig
	// Ref is the parsed stream name (schema, table, file parts).
	Ref StreamRef
}

// Enabled reports whether the stream takes part in a run.
func (s *Stream) Enabled() bool { return !s.Config.Disabled }

// EnvValue returns the env block's value for name.
func (r *Replication) EnvValue(name string) (string, bool) {
	for _, e := range r.Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

// Stream returns the stream named name (as written) and whether it exists.
func (r *Replication) Stream(name string) (*Stream, bool) {
	for i := range r.Streams {
		if r.Streams[i].Name == name {
			return &r.Streams[i], true
		}
	}
	return nil, false
}

// Lookup finds environment variables; os.LookupEnv fits.
type Lookup func(name string) (string, bool)

// ReadFile reads and parses the replication file at path. Variables are
// looked up with lookup (os.LookupEnv when nil).
func ReadFile(path string, lookup Lookup) (*Replication, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read sling replication: %w", err)
	}
	return Parse(path, b, lookup)
}

// Parse parses replication YAML; name is used in messages. It fails on
// YAML that is not a replication (syntax errors, wrong shapes); semantic
// problems are reported by Validate.
func Parse(name string, data []byte, lookup Lookup) (*Replication, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s:1: file is empty; a replication needs source, target and streams", name)
		}
		return nil, fmt.Errorf("%s: %w", name, yamlErr(err))
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s:1: file is empty; a replication needs source, target and streams", name)
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: a replication is a mapping with source, target, defaults and streams", name, root.Line)
	}
	r := &Replication{File: name}

	// The env block is substituted from the process environment first; the
	// rest of the file then sees both (env block first).
	sub := &substituter{lookup: lookup}
	if n := mapValue(root, "env"); n != nil {
		if err := r.readEnv(n, sub); err != nil {
			return nil, err
		}
	}
	sub.env = r.Env
	sub.walk(root, "env")
	r.Unresolved = sub.unresolved

	var defaultsNode, streamsNode *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "source":
			s, err := scalarString(name, v)
			if err != nil {
				return nil, err
			}
			r.Source, r.SourceLine = s, v.Line
		case "target":
			s, err := scalarString(name, v)
			if err != nil {
				return nil, err
			}
			r.Target, r.TargetLine = s, v.Line
		case "defaults":
			defaultsNode = v
		case "streams":
			streamsNode = v
		case "env":
		case "hooks":
			if !isNull(v) {
				if err := v.Decode(&r.Hooks); err != nil {
					return nil, fmt.Errorf("%s:%d: hooks: %w", name, v.Line, yamlErr(err))
				}
			}
		default:
			r.Warnings = append(r.Warnings, fmt.Sprintf("%s:%d: unknown top-level key %q (Sling ignores or rejects it)", name, k.Line, k.Value))
		}
	}
	if defaultsNode != nil && !isNull(defaultsNode) {
		cfg, warns, err := decodeConfig(name, defaultsNode)
		if err != nil {
			return nil, err
		}
		r.Defaults = cfg
		r.Warnings = append(r.Warnings, warns...)
	}
	if streamsNode != nil && !isNull(streamsNode) {
		if streamsNode.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s:%d: streams must be a mapping of stream name to its settings", name, streamsNode.Line)
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(streamsNode.Content); i += 2 {
			k, v := streamsNode.Content[i], streamsNode.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("%s:%d: a stream name must be text", name, k.Line)
			}
			if k.Value == "" {
				return nil, fmt.Errorf("%s:%d: empty stream name", name, k.Line)
			}
			if prev, dup := seen[k.Value]; dup {
				return nil, fmt.Errorf("%s:%d: stream %q is listed twice (first at line %d)", name, k.Line, k.Value, prev)
			}
			seen[k.Value] = k.Line
			st := Stream{Name: k.Value, Line: k.Line, Ref: ParseStreamName(k.Value)}
			if !isNull(v) {
				cfg, warns, err := decodeConfig(name, v)
				if err != nil {
					return nil, err
				}
				st.Own = cfg
				r.Warnings = append(r.Warnings, warns...)
			}
			st.Config = merge(r.Defaults, st.Own)
			r.Streams = append(r.Streams, st)
		}
	}
	return r, nil
}

func (r *Replication) readEnv(n *yaml.Node, sub *substituter) error {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("%s:%d: env must be a mapping of NAME: value", r.File, n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			return fmt.Errorf("%s:%d: env %s must be a single value", r.File, v.Line, k.Value)
		}
		val := v.Value
		if v.Tag == "!!null" {
			val = ""
		}
		val = sub.expand(val)
		v.Value = val
		r.Env = append(r.Env, EnvVar{Name: k.Value, Value: val, Line: k.Line})
	}
	return nil
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func scalarString(file string, n *yaml.Node) (string, error) {
	if isNull(n) {
		return "", nil
	}
	if n.Kind != yaml.ScalarNode {
		return "", fmt.Errorf("%s:%d: expected a single value", file, n.Line)
	}
	return n.Value, nil
}

// yamlErr keeps yaml's message (it carries "line N") without its prefix.
func yamlErr(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return fmt.Errorf("%v", te.Errors)
	}
	return err
}
