// Package dbt runs dbt for elt: it loads a dbt project's manifest into
// asset specs (Load), prepares the manifest for `elt sync --prepare`
// (Prepare), and runs one `dbt build|run|seed|snapshot|test` per step
// attempt (Runner), turning dbt's structured JSON log into asset
// materializations, failures, skips and check results as they happen.
//
// The runner depends only on the engine's step contract, the asset package
// and integrations/command; reading the manifest and translating it into
// specs happens in Load (load.go) alone.
package dbt

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/eltproject/elt/internal/toolpath"
)

// Commands the runner can run.
const (
	CommandBuild    = "build"
	CommandRun      = "run"
	CommandSeed     = "seed"
	CommandSnapshot = "snapshot"
	CommandTest     = "test"
)

var commands = []string{CommandBuild, CommandRun, CommandSeed, CommandSnapshot, CommandTest}

// Default names of the dbt vars that carry a partition's time window.
const (
	DefaultStartVar = "min_date"
	DefaultEndVar   = "max_date"
	// PartitionKeyVar is the dbt var that carries the partition key.
	PartitionKeyVar = "partition_key"
)

// Config is one entry of the `dbt:` list in elt.yaml.
type Config struct {
	// Name names the step family ("dbt:<name>"); the manifest's project
	// name when empty.
	Name string `yaml:"name"`
	// ProjectDir is the dbt project folder (the one with dbt_project.yml).
	ProjectDir string `yaml:"project_dir"`
	// ProfilesDir is the folder of profiles.yml; when empty, the project
	// folder if it has a profiles.yml, otherwise dbt's own default.
	ProfilesDir string `yaml:"profiles_dir"`
	// Target is the profile target (--target); dbt's default when empty.
	Target string `yaml:"target"`
	// Manifest is the manifest.json to load; <project_dir>/target/manifest.json
	// when empty.
	Manifest string `yaml:"manifest"`
	// ModelKeyPrefix and SourceKeyPrefix are prepended to the asset keys of
	// models (seeds, snapshots) and of sources.
	ModelKeyPrefix  []string `yaml:"model_key_prefix"`
	SourceKeyPrefix []string `yaml:"source_key_prefix"`
	// Select and Exclude import a subset of the project (dbt selection
	// syntax).
	Select  []string `yaml:"select"`
	Exclude []string `yaml:"exclude"`
	// SourceTests imports tests on sources as checks of the source assets.
	SourceTests bool `yaml:"source_tests"`
	// Command is build (default), run, seed, snapshot or test.
	Command string `yaml:"command"`
	// Executable is the dbt program; "dbt" (looked up on PATH) when empty.
	Executable string `yaml:"executable"`
	// Vars are passed to every invocation with --vars, beside the
	// partition vars.
	Vars map[string]any `yaml:"vars"`
	// PartitionVars names the vars that receive a partition's window.
	PartitionVars PartitionVars `yaml:"partition_vars"`
	// Retries is how many times a failed step is tried again.
	Retries int `yaml:"retries"`
	// Timeout ends a dbt invocation that runs longer ("2h"); none when 0.
	Timeout time.Duration `yaml:"timeout"`
	// Pool names a concurrency pool every dbt step holds a slot of.
	Pool string `yaml:"pool"`
	// Threads is dbt's --threads; the profile's value when 0.
	Threads int `yaml:"threads"`
}

// PartitionVars names the dbt vars that receive the start and end of a
// partition's time window (RFC 3339, end exclusive).
type PartitionVars struct {
	Start string `yaml:"start"`
	End   string `yaml:"end"`
	// Via is "vars" (the default: --vars carries the key and the window)
	// or "env": no partition vars, models read ELT_PARTITION_KEY,
	// ELT_PARTITION_START and ELT_PARTITION_END with env_var(). dbt 1.11
	// drops its partial parse whenever --vars change, so with "vars" every
	// partition re-parses the whole project; with "env" it re-parses only
	// the files that read the variables.
	Via string `yaml:"via"`
}

// Ways partition windows reach dbt.
const (
	PartitionViaVars = "vars"
	PartitionViaEnv  = "env"
)

// Validate reports problems found without reading any file.
func (c *Config) Validate() []error {
	var errs []error
	where := "dbt"
	if c.Name != "" {
		where = fmt.Sprintf("dbt %q", c.Name)
	}
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(where+": "+format, args...))
	}
	if strings.TrimSpace(c.ProjectDir) == "" {
		bad("project_dir is required: the folder that holds dbt_project.yml")
	}
	if c.Name != "" && (strings.ContainsAny(c.Name, "/ \t\n") || strings.TrimSpace(c.Name) != c.Name) {
		bad("name %q must not contain spaces or \"/\"", c.Name)
	}
	if c.Command != "" && !slices.Contains(commands, c.Command) {
		bad("command %q is not one of %s", c.Command, strings.Join(commands, ", "))
	}
	for field, prefix := range map[string][]string{"model_key_prefix": c.ModelKeyPrefix, "source_key_prefix": c.SourceKeyPrefix} {
		for i, p := range prefix {
			if p == "" || strings.Contains(p, "/") {
				bad("%s[%d] %q must be a non-empty key part without \"/\"", field, i, p)
			}
		}
	}
	for field, list := range map[string][]string{"select": c.Select, "exclude": c.Exclude} {
		for i, s := range list {
			if strings.TrimSpace(s) == "" {
				bad("%s[%d] is empty", field, i)
			}
		}
	}
	if v := c.PartitionVars.Via; v != "" && v != PartitionViaVars && v != PartitionViaEnv {
		bad("partition_vars.via %q must be vars (--vars) or env (ELT_PARTITION_* read with env_var())", v)
	}
	if c.Retries < 0 {
		bad("retries must be 0 or more, not %d", c.Retries)
	}
	if c.Timeout < 0 {
		bad("timeout must be positive, not %s", c.Timeout)
	}
	if c.Threads < 0 {
		bad("threads must be 0 (the profile's value) or more, not %d", c.Threads)
	}
	start, end := c.windowVars()
	if start == end {
		bad("partition_vars start and end are both %q; give them different names", start)
	}
	for _, v := range []string{start, end} {
		if v == PartitionKeyVar {
			bad("partition_vars may not use %q: elt sets it to the partition key", v)
		}
		if _, ok := c.Vars[v]; ok {
			bad("vars sets %q, which partition_vars fills from the partition window; rename one of them", v)
		}
	}
	if _, ok := c.Vars[PartitionKeyVar]; ok {
		bad("vars sets %q, which elt fills with the partition key", PartitionKeyVar)
	}
	return errs
}

// validateErr joins Validate's problems into one error, or nil.
func (c *Config) validateErr() error { return errors.Join(c.Validate()...) }

func (c *Config) command() string {
	if c.Command == "" {
		return CommandBuild
	}
	return c.Command
}

func (c *Config) windowVars() (start, end string) {
	start, end = c.PartitionVars.Start, c.PartitionVars.End
	if start == "" {
		start = DefaultStartVar
	}
	if end == "" {
		end = DefaultEndVar
	}
	return start, end
}

// resolved returns a copy with every path absolute (relative paths resolve
// against projectDir, the folder of elt.yaml) and defaults filled in.
func (c Config) resolved(projectDir string) (Config, error) {
	base, err := filepath.Abs(projectDir)
	if err != nil {
		return c, fmt.Errorf("dbt: resolve project folder %q: %w", projectDir, err)
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	c.ProjectDir = abs(c.ProjectDir)
	c.ProfilesDir = abs(c.ProfilesDir)
	if c.Manifest == "" {
		c.Manifest = filepath.Join(c.ProjectDir, "target", "manifest.json")
	} else {
		c.Manifest = abs(c.Manifest)
	}
	// executable: wins, then .venv/bin of the project or repository, then PATH.
	c.Executable = toolpath.Find(base, c.Executable, "dbt").Path
	c.Command = c.command()
	return c, nil
}
