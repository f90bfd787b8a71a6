package dlt

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/eltproject/elt/asset"
	tdlt "github.com/eltproject/elt/translator/dlt"
)

// Config is one entry of the dlt: list in elt.yaml.
//
//	dlt:
//	  - pipeline: github_pipeline
//	    command: python pipelines/github.py      # or [python, pipelines/github.py]
//	    working_dir: pipelines
//	    dataset: github_data
//	    destination: warehouse                   # an elt resource; type duckdb is confirmed
//	    keys: resource                           # or table
//	    pipeline_per_partition: false
type Config struct {
	// Pipeline is the dlt pipeline name (required).
	Pipeline string `yaml:"pipeline"`
	// PipelinesDir holds the pipeline's working folder. Default: where dlt
	// puts it ($DLT_DATA_DIR/pipelines, ~/.dlt/pipelines, /var/dlt/pipelines
	// for root).
	PipelinesDir string `yaml:"pipelines_dir"`
	// ExportSchemaPath is the folder dlt exports schemas to
	// (export_schema_path in dlt.pipeline); its schemas are used when the
	// pipeline folder has none of that name, for example in CI where the
	// pipeline never ran.
	ExportSchemaPath string `yaml:"export_schema_path"`
	// Command runs the pipeline: a shell string or an argv list.
	Command Command `yaml:"command"`
	// WorkingDir is where the command runs (default: the project folder).
	WorkingDir string `yaml:"working_dir"`
	// Dataset is the destination dataset (default: from the pipeline state).
	Dataset string `yaml:"dataset"`
	// Destination names the elt resource the pipeline loads to. For a
	// resource of type duckdb its path config is used to confirm loads.
	Destination string `yaml:"destination"`
	// Keys is "resource" (default, dagster-dlt keys) or "table".
	Keys string `yaml:"keys"`
	// KeyPrefix ("a/b") goes before every generated asset key.
	KeyPrefix string `yaml:"key_prefix"`
	// AssetKeys overrides the key ("a/b") of a resource (or table, with
	// keys: table).
	AssetKeys map[string]string `yaml:"asset_keys"`
	// Deps overrides the deps ("a/b" keys) of a resource or table.
	Deps map[string][]string `yaml:"deps"`
	// Resources lists resources to expose before the pipeline has run once
	// (no schema yet), or that its schema does not show yet.
	Resources []string `yaml:"resources"`
	// Source names the dlt source of Resources when no schema says it.
	Source string `yaml:"source"`
	// PipelinePerPartition gives each partition its own pipeline name
	// (<pipeline>_<partition key>) so partitions can run at once; the
	// script must use ELT_DLT_PIPELINE_NAME (also set as PIPELINE_NAME).
	PipelinePerPartition bool `yaml:"pipeline_per_partition"`
	// Env is extra environment for the command.
	Env        map[string]string `yaml:"env"`
	Retries    int               `yaml:"retries"`
	Timeout    time.Duration     `yaml:"timeout"`
	Group      string            `yaml:"group"`
	Partitions string            `yaml:"partitions"`
}

// Command is how the pipeline script is started: Argv when elt.yaml gives
// a list, Shell when it gives a string (run with /bin/sh -c).
type Command struct {
	Argv  []string
	Shell string
}

// UnmarshalYAML accepts a string or a list of strings.
func (c *Command) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*c = Command{Shell: n.Value}
		return nil
	case yaml.SequenceNode:
		var argv []string
		if err := n.Decode(&argv); err != nil {
			return fmt.Errorf("line %d: command list must hold strings: %w", n.Line, err)
		}
		*c = Command{Argv: argv}
		return nil
	}
	return fmt.Errorf("line %d: command must be a string or a list of strings", n.Line)
}

// IsZero reports whether no command is set.
func (c Command) IsZero() bool { return strings.TrimSpace(c.Shell) == "" && len(c.Argv) == 0 }

// String shows the command for plans and errors.
func (c Command) String() string {
	if c.Shell != "" {
		return c.Shell
	}
	return strings.Join(c.Argv, " ")
}

// FamilyName returns the step family name of the pipeline: dlt:<pipeline>.
func (c *Config) FamilyName() string { return "dlt:" + c.Pipeline }

// Validate reports problems found without reading files.
func (c *Config) Validate() []error {
	var errs []error
	where := "dlt pipeline " + c.Pipeline
	if c.Pipeline == "" {
		where = "dlt entry"
		errs = append(errs, fmt.Errorf("dlt entry: pipeline (the dlt pipeline name) is required"))
	} else if strings.ContainsAny(c.Pipeline, `/\`) || c.Pipeline == "." || c.Pipeline == ".." {
		errs = append(errs, fmt.Errorf("%s: pipeline must be a plain name, not a path", where))
	}
	if c.Command.IsZero() {
		errs = append(errs, fmt.Errorf("%s: command is required (for example: command: python pipelines/github.py)", where))
	}
	for _, a := range c.Command.Argv {
		if a == "" {
			errs = append(errs, fmt.Errorf("%s: command list has an empty argument", where))
			break
		}
	}
	if c.Keys != "" && c.Keys != tdlt.KeysByResource && c.Keys != tdlt.KeysByTable {
		errs = append(errs, fmt.Errorf("%s: keys is %q; use %q or %q", where, c.Keys, tdlt.KeysByResource, tdlt.KeysByTable))
	}
	if c.KeyPrefix != "" {
		if _, err := asset.ParseKey(c.KeyPrefix); err != nil {
			errs = append(errs, fmt.Errorf("%s: key_prefix: %w", where, err))
		}
	}
	for name, k := range c.AssetKeys {
		if _, err := asset.ParseKey(k); err != nil {
			errs = append(errs, fmt.Errorf("%s: asset_keys[%s]: %w", where, name, err))
		}
	}
	for name, ks := range c.Deps {
		for _, k := range ks {
			if _, err := asset.ParseKey(k); err != nil {
				errs = append(errs, fmt.Errorf("%s: deps[%s]: %w", where, name, err))
			}
		}
	}
	for _, r := range c.Resources {
		if r == "" || strings.Contains(r, ",") {
			errs = append(errs, fmt.Errorf("%s: resources: %q is not a resource name", where, r))
		}
	}
	for k := range c.Env {
		if k == "" || strings.ContainsAny(k, "= \t\n") {
			errs = append(errs, fmt.Errorf("%s: env: %q is not a variable name", where, k))
		}
	}
	if c.Retries < 0 {
		errs = append(errs, fmt.Errorf("%s: retries must not be negative", where))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("%s: timeout must not be negative", where))
	}
	return errs
}

// translatorOptions turns the config into translator options; Validate
// has checked the keys.
func (c *Config) translatorOptions() tdlt.Options {
	o := tdlt.Options{
		Keys:       c.Keys,
		Dataset:    c.Dataset,
		Resources:  c.Resources,
		Source:     c.Source,
		Step:       c.FamilyName(),
		Group:      c.Group,
		Partitions: c.Partitions,
	}
	if c.KeyPrefix != "" {
		k, _ := asset.ParseKey(c.KeyPrefix)
		o.KeyPrefix = k.Parts()
	}
	if len(c.AssetKeys) > 0 {
		o.AssetKeys = map[string]asset.Key{}
		for n, s := range c.AssetKeys {
			o.AssetKeys[n], _ = asset.ParseKey(s)
		}
	}
	if len(c.Deps) > 0 {
		o.Deps = map[string][]asset.Key{}
		for n, ks := range c.Deps {
			deps := []asset.Key{}
			for _, s := range ks {
				k, _ := asset.ParseKey(s)
				deps = append(deps, k)
			}
			o.Deps[n] = deps
		}
	}
	return o
}

// resolvePath expands a leading ~ and makes p absolute against base.
func resolvePath(p, base string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, strings.TrimPrefix(p, "~"))
		}
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(base, p)
	}
	return filepath.Clean(p)
}
