// Package sling runs Sling replications as elt steps. Load reads a
// replication file (one entry of elt.yaml's sling: list) into asset specs,
// one per stream, and a step family whose Runner calls
// `sling run -r FILE --streams a,b` for exactly the planned streams, with
// connection URLs taken from elt resources as environment variables.
// Per-stream results come from Sling's runtime state, written by an end
// hook added to a copy of the file; the text log is a live progress source
// and the fallback when the state is missing.
package sling

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/integrations/duckdb"
	manifest "github.com/eltproject/elt/manifest/sling"
	translator "github.com/eltproject/elt/translator/sling"

	"github.com/eltproject/elt/internal/toolpath"
)

// Config is one entry of the sling: list in elt.yaml.
type Config struct {
	// Replication is the replication file, relative to the project folder.
	Replication string `yaml:"replication"`
	// Name names the step family (sling:<name>); the file path by default.
	Name string `yaml:"name"`
	// Connections maps a Sling connection name (as used in source/target)
	// to an elt resource; the resource's url (or its whole config as JSON)
	// becomes the environment variable named after the connection.
	Connections map[string]string `yaml:"connections"`
	// KeyPrefix is prepended to default asset keys ("raw" or [raw, pg]).
	KeyPrefix KeyPrefix `yaml:"key_prefix"`
	// ExpandWildcards turns a wildcard stream into one asset per table,
	// found with `sling conns discover` at load time.
	ExpandWildcards bool `yaml:"expand_wildcards"`
	// Executable is the sling binary; "sling" (from PATH) by default.
	Executable string `yaml:"executable"`
	// Retries of a failed step (only failed streams run again).
	Retries int `yaml:"retries"`
	// Timeout of one step attempt, such as "30m".
	Timeout string `yaml:"timeout"`
	// Pool limits concurrency across steps.
	Pool string `yaml:"pool"`
	// Group is the asset group when meta sets none.
	Group string `yaml:"group"`
	// Partitions names the partitions definition of every stream's asset
	// (meta.elt.partitions in the file, or streams: here, win).
	Partitions string `yaml:"partitions"`
	// Tags are added to every stream's asset.
	Tags []string `yaml:"tags"`
	// Owners of every stream's asset when meta sets none.
	Owners []string `yaml:"owners"`
	// Streams sets asset settings per stream, keyed by the stream name as
	// written in the file (or a table a wildcard stream was expanded to).
	// Pool, retries and timeout are settings of the step, which runs all
	// the entry's streams in one `sling run`, so they stay on the entry.
	Streams map[string]StreamSettings `yaml:"streams"`
}

// StreamSettings are the asset settings of one stream in elt.yaml.
type StreamSettings struct {
	Partitions  string   `yaml:"partitions"`
	Group       string   `yaml:"group"`
	Tags        []string `yaml:"tags"`
	Owners      []string `yaml:"owners"`
	Description string   `yaml:"description"`
}

// KeyPrefix is a key prefix written as "a/b" or as a list of parts.
type KeyPrefix []string

// UnmarshalYAML accepts a string ("raw" or "raw/pg") or a list.
func (k *KeyPrefix) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Value == "" {
			*k = nil
			return nil
		}
		*k = strings.Split(n.Value, "/")
		return nil
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		*k = l
		return nil
	}
	return fmt.Errorf("line %d: key_prefix is \"a/b\" or a list of parts", n.Line)
}

// FamilyName returns the step family name: sling:<name or replication>.
func (c *Config) FamilyName() string {
	if c.Name != "" {
		return "sling:" + c.Name
	}
	return "sling:" + c.Replication
}

// executable returns the sling binary (package toolpath: executable:, then
// .venv/bin of the project or repository, then PATH).
func (c *Config) executable(projectDir string) string {
	return toolpath.Find(projectDir, c.Executable, "sling").Path
}

// Validate reports problems found without reading files.
func (c *Config) Validate() []error {
	var errs []error
	if c.Replication == "" {
		errs = append(errs, errors.New("sling: replication is required (path of the replication YAML)"))
	}
	if c.Retries < 0 {
		errs = append(errs, fmt.Errorf("sling %s: retries must be 0 or more, not %d", c.Replication, c.Retries))
	}
	if c.Timeout != "" {
		if d, err := time.ParseDuration(c.Timeout); err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("sling %s: timeout %q is not a positive duration such as 30m", c.Replication, c.Timeout))
		}
	}
	for conn, res := range c.Connections {
		if conn == "" || res == "" {
			errs = append(errs, fmt.Errorf("sling %s: connections maps a connection name to a resource name; got %q: %q", c.Replication, conn, res))
		}
	}
	for _, p := range c.KeyPrefix {
		if p == "" {
			errs = append(errs, fmt.Errorf("sling %s: key_prefix has an empty part", c.Replication))
		}
	}
	return errs
}

// Load reads the tool's metadata and returns the asset specs and the step
// families that run them: one spec per enabled stream (plus external specs
// for the source tables they read) and one family for the file.
func Load(ctx context.Context, cfg Config, projectDir string, resources map[string]engine.Resource) ([]asset.Spec, []engine.Family, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	path := cfg.Replication
	if !filepath.IsAbs(path) {
		path = filepath.Join(projectDir, path)
	}
	rep, err := manifest.ReadFile(path, os.LookupEnv)
	if err != nil {
		return nil, nil, err
	}
	if errs := rep.Validate(); len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	for conn, res := range cfg.Connections {
		if _, ok := resources[res]; !ok {
			return nil, nil, fmt.Errorf("sling %s: connection %s maps to resource %q, which elt.yaml does not define", cfg.Replication, conn, res)
		}
	}
	family := cfg.FamilyName()
	opts := translator.Options{
		Replication: cfg.Replication,
		Step:        family,
		KeyPrefix:   cfg.KeyPrefix,
		Group:       cfg.Group,
		Lookup:      os.LookupEnv,
	}
	if cfg.ExpandWildcards {
		opts.Expand, err = discoverWildcards(ctx, &cfg, rep, projectDir, resources)
		if err != nil {
			return nil, nil, err
		}
	}
	specs, err := translator.Translate(rep, opts)
	if err != nil {
		return nil, nil, err
	}
	setRelations(specs, &cfg, rep, resources)
	if err := applySettings(specs, &cfg); err != nil {
		return nil, nil, err
	}
	if err := checkPartitionedFiles(rep, specs); err != nil {
		return nil, nil, err
	}
	r := &Runner{cfg: cfg, path: path, exe: cfg.executable(projectDir), streams: translator.Streams(specs, cfg.Replication)}
	fam := engine.Family{
		Name:   family,
		Runner: r,
		Multi:  true,
		Subset: true,
		Retry:  engine.RetryPolicy{MaxRetries: cfg.Retries},
		Kind:   "sling",
	}
	if cfg.Pool != "" {
		fam.Pools = []string{cfg.Pool}
	}
	fam.Pools = append(fam.Pools, duckdbPools(&cfg, rep, projectDir, resources)...)
	if cfg.Timeout != "" {
		fam.Timeout, _ = time.ParseDuration(cfg.Timeout)
	}
	return specs, []engine.Family{fam}, nil
}

// StreamSelection returns the keys of the assets of replication (as
// configured), limited to streams when given (names as written in the
// file, or a discovered table of a wildcard stream). An unknown stream is
// an error that lists the known ones.
func StreamSelection(specs []asset.Spec, replication string, streams []string) ([]asset.Key, error) {
	var keys []asset.Key
	byStream := map[string][]asset.Key{}
	found := false
	for i := range specs {
		s := &specs[i]
		if s.External || s.Metadata["replication"] != replication {
			continue
		}
		found = true
		name, _ := s.Metadata["stream"].(string)
		byStream[name] = append(byStream[name], s.Key)
		if p, ok := s.Metadata["stream_pattern"].(string); ok {
			byStream[p] = append(byStream[p], s.Key)
		}
		if len(streams) == 0 {
			keys = append(keys, s.Key)
		}
	}
	if !found {
		return nil, fmt.Errorf("no sling replication %q is configured; check the sling: entries of elt.yaml", replication)
	}
	if len(streams) == 0 {
		return keys, nil
	}
	var unknown []string
	for _, st := range streams {
		ks, ok := byStream[st]
		if !ok {
			unknown = append(unknown, st)
			continue
		}
		for _, k := range ks {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("replication %s has no stream %s; known streams: %s", replication, strings.Join(unknown, ", "), strings.Join(translator.Streams(specs, replication), ", "))
	}
	return keys, nil
}

// setRelations records, on each stream's asset, the table Sling loads (its
// target object, when known before running) as "relation" metadata, and
// the elt resource of a DuckDB target as "duckdb_resource", so typed
// checks on the asset query that table rather than one named after the
// asset key.
func setRelations(specs []asset.Spec, cfg *Config, rep *manifest.Replication, resources map[string]engine.Resource) {
	target := cfg.Connections[rep.Target]
	if target == "" {
		target = rep.Target
	}
	res, duck := resources[target]
	duck = duck && res.Type == "duckdb"
	for i := range specs {
		s := &specs[i]
		if s.External || s.Metadata == nil {
			continue
		}
		obj, _ := s.Metadata["object"].(string)
		if _, runtime := s.Metadata["runtime_vars"]; obj != "" && !runtime && !strings.Contains(obj, "://") && !strings.ContainsAny(obj, "{}") {
			if _, ok := s.Metadata["relation"]; !ok {
				s.Metadata["relation"] = obj
			}
		}
		if duck {
			if _, ok := s.Metadata["duckdb_resource"]; !ok {
				s.Metadata["duckdb_resource"] = target
			}
		}
	}
}

// applySettings applies the entry's asset settings (partitions, tags,
// owners) and the per-stream ones of streams: to the stream assets. A
// stream's own settings win over the entry's; the entry's partitions and
// owners fill in what the file's meta leaves unset, and tags add up.
func applySettings(specs []asset.Spec, cfg *Config) error {
	used := map[string]bool{}
	for i := range specs {
		s := &specs[i]
		if s.External {
			continue
		}
		if s.Partitions == "" {
			s.Partitions = cfg.Partitions
		}
		if len(s.Owners) == 0 {
			s.Owners = slices.Clone(cfg.Owners)
		}
		s.Tags = append(s.Tags, cfg.Tags...)
		name, _ := s.Metadata["stream"].(string)
		st, ok := cfg.Streams[name]
		if !ok {
			pattern, _ := s.Metadata["stream_pattern"].(string)
			if st, ok = cfg.Streams[pattern]; ok {
				name = pattern
			}
		}
		if !ok {
			s.Normalize()
			continue
		}
		used[name] = true
		if st.Partitions != "" {
			s.Partitions = st.Partitions
		}
		if st.Group != "" {
			s.Group = st.Group
		}
		if len(st.Owners) > 0 {
			s.Owners = slices.Clone(st.Owners)
		}
		s.Tags = append(s.Tags, st.Tags...)
		if st.Description != "" {
			s.Description = st.Description
		}
		s.Normalize()
	}
	var unknown []string
	for name := range cfg.Streams {
		if !used[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return &UnknownStreamError{Replication: cfg.Replication, Streams: unknown, Known: translator.Streams(specs, cfg.Replication)}
	}
	return nil
}

// UnknownStreamError is a streams: setting of an entry naming streams the
// replication file does not have; Streams are those names, sorted, so that
// callers can point at each one's line.
type UnknownStreamError struct {
	Replication string
	Streams     []string
	Known       []string
}

func (e *UnknownStreamError) Error() string {
	return e.Message(e.Streams...)
}

// Message is the error about the given unknown streams only.
func (e *UnknownStreamError) Message(streams ...string) string {
	return fmt.Sprintf("sling %s: streams: %s is not a stream of the file; known streams: %s", e.Replication, strings.Join(streams, ", "), strings.Join(e.Known, ", "))
}

// duckdbPools returns the engine pools of the DuckDB files the replication
// reads or writes (its source and target when they are type: duckdb
// resources): DuckDB allows one writing process per file, so the step
// takes turns with elt's own steps and checks on that file.
func duckdbPools(cfg *Config, rep *manifest.Replication, projectDir string, resources map[string]engine.Resource) []string {
	var pools []string
	for _, conn := range []string{rep.Source, rep.Target} {
		name := cfg.Connections[conn]
		if name == "" {
			name = conn
		}
		res, ok := resources[name]
		if !ok || res.Type != duckdb.ResourceType {
			continue
		}
		rc, err := duckdb.ResourceFromEngine(res)
		if err != nil || rc.Path == "" {
			continue
		}
		if p := duckdb.PoolName(rc.AbsPath(projectDir)); !slices.Contains(pools, p) {
			pools = append(pools, p)
		}
	}
	return pools
}
