package sling

import (
	"fmt"
	"maps"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// StreamConfig holds the settings of a stream or of defaults, with the
// keys of Sling's ReplicationStreamConfig plus meta (read by dagster-sling
// and elt, ignored by Sling).
type StreamConfig struct {
	ID            string
	Description   string
	Mode          string
	Object        string
	Select        []string
	Files         []string
	Where         string
	PrimaryKey    []string
	UpdateKey     string
	SQL           string
	Tags          []string
	SourceOptions map[string]any
	TargetOptions map[string]any
	Disabled      bool
	Single        *bool
	Transforms    any
	Columns       map[string]any
	Hooks         map[string]any
	Meta          map[string]any
	// Extra holds keys Sling may know but elt does not interpret.
	Extra map[string]any
	// Lines maps each key that was written to its line.
	Lines map[string]int
}

// Has reports whether key was written (for Config: in the stream or in
// defaults).
func (c *StreamConfig) Has(key string) bool { _, ok := c.Lines[key]; return ok }

// Line returns the line of key, or 0.
func (c *StreamConfig) Line(key string) int { return c.Lines[key] }

// Range returns source_options.range ("start,end") if set.
func (c *StreamConfig) Range() string {
	if c.SourceOptions == nil {
		return ""
	}
	switch v := c.SourceOptions["range"].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// MetaSection returns meta.<name> (dagster or elt) as a map, or nil.
func (c *StreamConfig) MetaSection(name string) map[string]any {
	if c.Meta == nil {
		return nil
	}
	m, _ := c.Meta[name].(map[string]any)
	return m
}

// knownKeys lists the stream keys elt reads; others go to Extra.
var knownKeys = map[string]bool{
	"id": true, "description": true, "mode": true, "object": true, "select": true,
	"files": true, "where": true, "primary_key": true, "update_key": true, "sql": true,
	"tags": true, "source_options": true, "target_options": true, "disabled": true,
	"single": true, "transforms": true, "columns": true, "hooks": true, "meta": true,
}

func decodeConfig(file string, n *yaml.Node) (StreamConfig, []string, error) {
	var c StreamConfig
	var warns []string
	if n.Kind != yaml.MappingNode {
		return c, nil, fmt.Errorf("%s:%d: stream settings must be a mapping (mode, object, primary_key, …)", file, n.Line)
	}
	c.Lines = map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		if _, dup := c.Lines[key]; dup {
			return c, nil, fmt.Errorf("%s:%d: key %q is set twice", file, k.Line, key)
		}
		c.Lines[key] = k.Line
		if isNull(v) {
			continue
		}
		var err error
		switch key {
		case "id":
			c.ID, err = scalarString(file, v)
		case "description":
			c.Description, err = scalarString(file, v)
		case "mode":
			c.Mode, err = scalarString(file, v)
		case "object":
			c.Object, err = scalarString(file, v)
		case "where":
			c.Where, err = scalarString(file, v)
		case "update_key":
			c.UpdateKey, err = scalarString(file, v)
		case "sql":
			c.SQL, err = scalarString(file, v)
		case "select":
			c.Select, err = stringList(file, key, v)
		case "files":
			c.Files, err = stringList(file, key, v)
		case "primary_key":
			c.PrimaryKey, err = stringList(file, key, v)
		case "tags":
			c.Tags, err = stringList(file, key, v)
		case "source_options":
			c.SourceOptions, err = anyMap(file, key, v)
		case "target_options":
			c.TargetOptions, err = anyMap(file, key, v)
		case "columns":
			c.Columns, err = anyMap(file, key, v)
		case "hooks":
			c.Hooks, err = anyMap(file, key, v)
		case "meta":
			c.Meta, err = anyMap(file, key, v)
		case "disabled":
			c.Disabled, err = boolValue(file, key, v)
		case "single":
			var b bool
			b, err = boolValue(file, key, v)
			c.Single = &b
		case "transforms":
			err = v.Decode(&c.Transforms)
			if err != nil {
				err = fmt.Errorf("%s:%d: transforms: %w", file, v.Line, yamlErr(err))
			}
		default:
			var x any
			if derr := v.Decode(&x); derr != nil {
				return c, nil, fmt.Errorf("%s:%d: %s: %w", file, v.Line, key, yamlErr(derr))
			}
			if c.Extra == nil {
				c.Extra = map[string]any{}
			}
			c.Extra[key] = x
			warns = append(warns, fmt.Sprintf("%s:%d: key %q is not one elt reads; kept as is", file, k.Line, key))
		}
		if err != nil {
			return c, nil, err
		}
	}
	return c, warns, nil
}

// stringList accepts a single value or a list of values.
func stringList(file, key string, n *yaml.Node) ([]string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		return []string{n.Value}, nil
	case yaml.SequenceNode:
		out := make([]string, 0, len(n.Content))
		for _, e := range n.Content {
			if e.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("%s:%d: %s: each entry must be a single value", file, e.Line, key)
			}
			out = append(out, e.Value)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s:%d: %s must be a value or a list of values", file, n.Line, key)
}

func anyMap(file, key string, n *yaml.Node) (map[string]any, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: %s must be a mapping", file, n.Line, key)
	}
	var m map[string]any
	if err := n.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s:%d: %s: %w", file, n.Line, key, yamlErr(err))
	}
	return m, nil
}

func boolValue(file, key string, n *yaml.Node) (bool, error) {
	if n.Kind == yaml.ScalarNode {
		if b, err := strconv.ParseBool(n.Value); err == nil {
			return b, nil
		}
		switch n.Value {
		case "yes", "Yes", "on", "On":
			return true, nil
		case "no", "No", "off", "Off":
			return false, nil
		}
	}
	return false, fmt.Errorf("%s:%d: %s must be true or false, not %q", file, n.Line, key, n.Value)
}

// merge applies defaults under own: a key written in the stream replaces
// the default entirely (lists and maps are not merged), except meta.dagster
// and meta.elt, which merge key by key as dagster-sling does with
// defaults.meta.dagster.
func merge(def, own StreamConfig) StreamConfig {
	out := own
	out.Lines = map[string]int{}
	maps.Copy(out.Lines, def.Lines)
	maps.Copy(out.Lines, own.Lines)
	take := func(key string) bool { return !own.Has(key) && def.Has(key) }
	if take("id") {
		out.ID = def.ID
	}
	if take("description") {
		out.Description = def.Description
	}
	if take("mode") {
		out.Mode = def.Mode
	}
	if take("object") {
		out.Object = def.Object
	}
	if take("select") {
		out.Select = def.Select
	}
	if take("files") {
		out.Files = def.Files
	}
	if take("where") {
		out.Where = def.Where
	}
	if take("primary_key") {
		out.PrimaryKey = def.PrimaryKey
	}
	if take("update_key") {
		out.UpdateKey = def.UpdateKey
	}
	if take("sql") {
		out.SQL = def.SQL
	}
	if take("tags") {
		out.Tags = def.Tags
	}
	if take("source_options") {
		out.SourceOptions = def.SourceOptions
	}
	if take("target_options") {
		out.TargetOptions = def.TargetOptions
	}
	if take("disabled") {
		out.Disabled = def.Disabled
	}
	if take("single") {
		out.Single = def.Single
	}
	if take("transforms") {
		out.Transforms = def.Transforms
	}
	if take("columns") {
		out.Columns = def.Columns
	}
	if take("hooks") {
		out.Hooks = def.Hooks
	}
	if len(def.Extra) > 0 {
		extra := maps.Clone(def.Extra)
		maps.Copy(extra, own.Extra)
		out.Extra = extra
	}
	out.Meta = mergeMeta(def.Meta, own.Meta)
	return out
}

func mergeMeta(def, own map[string]any) map[string]any {
	if def == nil {
		return own
	}
	out := maps.Clone(def)
	for k, v := range own {
		dm, dok := def[k].(map[string]any)
		om, ook := v.(map[string]any)
		if (k == "dagster" || k == "elt") && dok && ook {
			m := maps.Clone(dm)
			maps.Copy(m, om)
			out[k] = m
			continue
		}
		out[k] = v
	}
	return out
}
