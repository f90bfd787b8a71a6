package project

import (
	"go.yaml.in/yaml/v3"

	"github.com/eltproject/elt/lineage"
)

// FileName is the project file elt looks for.
const FileName = "elt.yaml"

// Config is the decoded elt.yaml.
type Config struct {
	Name string `yaml:"name"`
	// StrictDeps makes a dep on an undefined asset an error instead of an
	// implicit external asset.
	StrictDeps  bool                      `yaml:"strict_deps"`
	Concurrency int                       `yaml:"concurrency"`
	Pools       map[string]int            `yaml:"pools"`
	SecretEnv   []string                  `yaml:"secret_env"`
	Resources   map[string]ResourceConfig `yaml:"resources"`
	Assets      []AssetConfig             `yaml:"assets"`
	// Checks attach checks to assets defined elsewhere (dbt models, Sling
	// streams): each entry names its asset.
	Checks        []yaml.Node           `yaml:"checks"`
	Jobs          map[string]JobConfig  `yaml:"jobs"`
	Partitions    map[string]yaml.Node  `yaml:"partitions"`
	Schedules     map[string]yaml.Node  `yaml:"schedules"`
	Sensors       map[string]yaml.Node  `yaml:"sensors"`
	Notifications []NotificationConfig  `yaml:"notifications"`
	Plugins       map[string]PluginDecl `yaml:"plugins"`
	DBT           []yaml.Node           `yaml:"dbt"`
	Sling         []yaml.Node           `yaml:"sling"`
	DLT           []yaml.Node           `yaml:"dlt"`
	Defaults      DefaultsConfig        `yaml:"defaults"`
	Vars          map[string]string     `yaml:"vars"`
	// OpenLineage sends run and dataset lineage to a catalog.
	OpenLineage *lineage.Config `yaml:"openlineage"`
}

// DefaultsConfig applies to every asset that does not say otherwise.
type DefaultsConfig struct {
	Retries *RetryValue `yaml:"retries"`
	Timeout Duration    `yaml:"timeout"`
}

// ResourceConfig is a named external system. Keys other than type and
// secret are the resource's settings; `secret` lists the settings whose
// values must never be shown.
type ResourceConfig struct {
	Type   string            `yaml:"type"`
	Secret []string          `yaml:"secret"`
	Config map[string]string `yaml:",inline"`
}

// AssetConfig is one entry of `assets:`.
type AssetConfig struct {
	Key         KeyValue          `yaml:"key"`
	Deps        []KeyValue        `yaml:"deps"`
	Group       string            `yaml:"group"`
	Kinds       StringList        `yaml:"kinds"`
	Tags        StringList        `yaml:"tags"`
	Owners      StringList        `yaml:"owners"`
	Description string            `yaml:"description"`
	Metadata    map[string]any    `yaml:"metadata"`
	Partitions  string            `yaml:"partitions"`
	Retries     *RetryValue       `yaml:"retries"`
	Timeout     Duration          `yaml:"timeout"`
	Pool        StringList        `yaml:"pool"`
	Checks      []yaml.Node       `yaml:"checks"`
	Command     CommandValue      `yaml:"command"`
	Env         map[string]string `yaml:"env"`
	WorkingDir  string            `yaml:"working_dir"`
	Ops         []OpConfig        `yaml:"ops"`
	// Outputs makes a command or op graph a multi-asset: it materializes
	// these keys as well as Key.
	Outputs []KeyValue `yaml:"outputs"`
	// External declares an asset elt knows but does not materialize.
	External bool `yaml:"external"`
	// DuckDB SQL and file assets.
	SQL             string      `yaml:"sql"`
	Materialize     string      `yaml:"materialize"`
	PartitionColumn string      `yaml:"partition_column"`
	Import          yaml.Node   `yaml:"import"` // Kind 0 when absent (yaml.v3 leaves *yaml.Node fields empty)
	Resource        string      `yaml:"resource"`
	Relation        string      `yaml:"relation"`
	Plugin          *PluginStep `yaml:"plugin"`

	line int
}

// OpConfig is one op of a graph-asset.
type OpConfig struct {
	Name       string            `yaml:"name"`
	Command    CommandValue      `yaml:"command"`
	Deps       []string          `yaml:"deps"`
	Env        map[string]string `yaml:"env"`
	WorkingDir string            `yaml:"working_dir"`
}

// JobConfig is a named selection: `jobs: {nightly: "tag:nightly"}` or a
// mapping with select/exclude.
type JobConfig struct {
	Select      StringList `yaml:"select"`
	Exclude     StringList `yaml:"exclude"`
	Partitions  string     `yaml:"partitions"`
	Description string     `yaml:"description"`
	Line        int        `yaml:"-"`
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (j *JobConfig) UnmarshalYAML(n *yaml.Node) error {
	j.Line = n.Line
	if n.Kind == yaml.ScalarNode {
		j.Select = StringList{n.Value}
		return nil
	}
	type plain JobConfig
	var p plain
	if err := strictDecode(n, &p, "job"); err != nil {
		return err
	}
	*j = JobConfig(p)
	j.Line = n.Line
	return nil
}

// NotificationConfig sends failure notifications.
type NotificationConfig struct {
	Type    string       `yaml:"type"` // webhook | command
	URL     string       `yaml:"url"`
	Command CommandValue `yaml:"command"`
	// On lists the run outcomes that notify: failure (default), success.
	On []string `yaml:"on"`
	// Headers are added to webhook requests.
	Headers map[string]string `yaml:"headers"`
	Timeout Duration          `yaml:"timeout"`
}

// PluginDecl declares an external plugin binary.
type PluginDecl struct {
	Path string `yaml:"path"`
}

// PluginStep makes an asset materialized by a plugin.
type PluginStep struct {
	Name   string         `yaml:"name"`
	Config map[string]any `yaml:"config"`
}
