// Package project loads elt.yaml: strict YAML with environment
// interpolation, resources, command/SQL/plugin assets, the dbt, Sling and
// dlt integrations, jobs, partitions, schedules and sensors, into one asset
// graph and the step families that materialize it.
package project

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/integrations/command"
	"github.com/eltproject/elt/integrations/duckdb"
	"github.com/eltproject/elt/internal/toolpath"
	"github.com/eltproject/elt/lineage"
	"github.com/eltproject/elt/redact"
)

// Project is a loaded elt.yaml.
type Project struct {
	// Dir is the folder holding elt.yaml; File its path.
	Dir, File string
	Config    Config
	Graph     *asset.Graph
	Families  map[string]*engine.Family
	// CheckRunners evaluate checks the engine runs (by CheckSpec.Runner).
	CheckRunners map[string]engine.CheckRunner
	Resources    map[string]engine.Resource
	Jobs         map[string]JobConfig
	// Methods are extra selection methods (state:modified with --state).
	Methods map[string]asset.MethodFunc
	// Automation holds partitions, schedules and sensors.
	Automation *Automation
	// Tools are the programs the integrations start (dbt, sling and the duckdb
	// it drives, dlt's python), in elt.yaml's order, as `elt validate` shows them.
	Tools []toolpath.Tool
	// Warn hears about selection expressions that match nothing.
	Warn func(msg string)
	// Unresolved lists the values left as written (with their ${VAR})
	// because a variable is unset, when loaded with Options.DeferUnset;
	// such a project is for reading definitions and the store, never for
	// running steps.
	Unresolved []Problem
	redactor   *redact.Redactor
	getenv     func(string) (string, bool)
	sqlConfigs map[asset.Key]duckdb.AssetConfig
	described  []pluginDescribe // plugin assets whose plugin says what it makes
	pools      *engine.PoolSet  // shared by every run of this process
}

// Options tune loading.
type Options struct {
	// Getenv looks up environment variables; os.LookupEnv when nil.
	Getenv func(string) (string, bool)
	// StateDir holds a previous dbt manifest for state:modified selection.
	StateDir string
	// DeferUnset leaves a value with an unset ${VAR} (no default) as
	// written, listed in Project.Unresolved, instead of a problem: read-only
	// commands (runs list, assets status, …) work without a secret that
	// only steps need. Commands that run steps or validate load strictly.
	DeferUnset bool
}

// Find returns the path of the nearest elt.yaml at or above dir.
func Find(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := abs; ; d = filepath.Dir(d) {
		p := filepath.Join(d, FileName)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	return "", &Error{Problems: []Problem{{Msg: fmt.Sprintf("no %s found in %s or any folder above it; create one (see examples/quickstart) or pass --project DIR", FileName, abs)}}}
}

// Resolve turns a --project value (a folder or a file; empty: search from
// the working directory) into the path of elt.yaml.
func Resolve(project string) (string, error) {
	if project == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		return Find(wd)
	}
	st, err := os.Stat(project)
	if err != nil {
		return "", &Error{Problems: []Problem{{Msg: fmt.Sprintf("project %s: %v", project, errors.Unwrap(err))}}}
	}
	if st.IsDir() {
		p := filepath.Join(project, FileName)
		if _, err := os.Stat(p); err != nil {
			return "", &Error{Problems: []Problem{{Msg: fmt.Sprintf("no %s in %s; create one or point --project at the folder that has it", FileName, project)}}}
		}
		return p, nil
	}
	return project, nil
}

// Load reads and validates the project file at path. Every problem found is
// returned together in an *Error.
func Load(ctx context.Context, path string, opts Options) (*Project, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.LookupEnv
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	doc, err := readYAML(abs)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, &Error{Problems: []Problem{{File: abs, Msg: "file not found; create it or pass --project DIR"}}}
		}
		var pe *Error
		if errors.As(err, &pe) {
			return nil, pe
		}
		return nil, &Error{Problems: []Problem{{File: abs, Msg: err.Error()}}}
	}
	p := &Project{Dir: filepath.Dir(abs), File: abs, getenv: getenv, Families: map[string]*engine.Family{}, pools: engine.NewPoolSet(),
		CheckRunners: map[string]engine.CheckRunner{}, Resources: map[string]engine.Resource{}, Methods: map[string]asset.MethodFunc{}}
	probs := &problems{file: abs, deferUnset: opts.DeferUnset}
	if len(doc.Content) == 0 {
		return nil, &Error{Problems: []Problem{{File: abs, Msg: "file is empty; it needs at least `name:` and some `assets:`"}}}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, &Error{Problems: []Problem{{File: abs, Line: root.Line, Msg: "the top level must be a mapping (name:, assets:, …)"}}}
	}
	interpolate(root, getenv, probs)
	p.Unresolved = probs.deferred
	checkKeys(root, reflect.TypeFor[Config](), "elt.yaml", probs)
	if !decodeNode(root, &p.Config, probs) || len(probs.list) > 0 {
		return nil, &Error{Problems: probs.list}
	}
	for i := range p.Config.Assets {
		p.Config.Assets[i].line = lineOfSeqItem(root, "assets", i)
	}
	p.loadResources(root, probs)
	p.loadPartitions(root, probs)
	var specs []asset.Spec
	specs = append(specs, p.loadAssets(probs)...)
	specs = p.describePlugins(ctx, specs, probs)
	specs = append(specs, p.loadIntegrations(ctx, root, probs)...)
	p.attachTopChecks(specs, probs)
	p.addCheckPools(specs)
	p.validateLimits(root, probs)
	p.validateNotifications(probs)
	if len(probs.list) > 0 {
		return nil, &Error{Problems: probs.list}
	}
	for i := range specs {
		specs[i].Normalize()
	}
	g, err := asset.NewGraph(specs, asset.GraphOptions{StrictDeps: p.Config.StrictDeps})
	if err != nil {
		for _, e := range unjoin(err) {
			// Graph errors name their origins (file:line) themselves.
			probs.list = append(probs.list, Problem{Msg: e.Error()})
		}
		return nil, &Error{Problems: probs.list}
	}
	p.Graph = g
	p.addDBTMethods(probs)
	p.loadJobs(root, probs)
	p.loadAutomation(root, probs)
	if opts.StateDir != "" {
		if err := p.loadState(opts.StateDir); err != nil {
			probs.add(0, "--state %s: %v", opts.StateDir, err)
		}
	} else {
		p.Methods["state"] = func(*asset.Graph, string) (asset.Set, error) {
			return asset.Set{}, fmt.Errorf("state: selection compares with a previous dbt manifest: pass --state DIR (the folder of production's manifest.json)")
		}
	}
	if len(probs.list) > 0 {
		return nil, &Error{Problems: probs.list}
	}
	return p, nil
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// lineageErrLine is the line of the openlineage: setting err is about:
// the key itself, else the nearest enclosing key that is written (a
// missing url: is reported at type: http), else the block's first line.
func lineageErrLine(root *yaml.Node, err error) int {
	block := valueOf(root, "openlineage")
	line := 0
	if block != nil {
		line = block.Line
	}
	var fe *lineage.FieldError
	if !errors.As(err, &fe) {
		return line
	}
	path := strings.Split(fe.Field, ".")
	if len(path) == 2 && path[0] == "transport" && path[1] != "type" {
		if tr := valueOf(block, "transport"); tr != nil && valueOf(tr, path[1]) == nil {
			path[1] = "type"
		}
	}
	n := block
	for _, k := range path {
		v := valueOf(n, k)
		if v == nil {
			break
		}
		line, n = v.Line, v
	}
	return line
}

// lineOfKey returns the line of key name in mapping m (0 if absent).
func lineOfKey(m *yaml.Node, name string) int {
	if v := valueOf(m, name); v != nil {
		return v.Line
	}
	return 0
}

func valueOf(m *yaml.Node, name string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == name {
			return m.Content[i+1]
		}
	}
	return nil
}

func lineOfSeqItem(root *yaml.Node, key string, i int) int {
	v := valueOf(root, key)
	if v == nil || v.Kind != yaml.SequenceNode || i >= len(v.Content) {
		return 0
	}
	return v.Content[i].Line
}

func (p *Project) loadResources(root *yaml.Node, probs *problems) {
	names := make([]string, 0, len(p.Config.Resources))
	for n := range p.Config.Resources {
		names = append(names, n)
	}
	sort.Strings(names)
	rnode := valueOf(root, "resources")
	var secrets []string
	for _, name := range names {
		rc := p.Config.Resources[name]
		line := lineOfKey(rnode, name)
		if rc.Type == "" {
			probs.add(line, "resource %q needs a type (duckdb, postgres, http, …)", name)
			continue
		}
		for _, s := range rc.Secret {
			if _, ok := rc.Config[s]; !ok {
				probs.add(line, "resource %q lists secret %q, but has no such setting", name, s)
			}
		}
		cfg := map[string]string{}
		for k, v := range rc.Config {
			cfg[k] = v
		}
		if rc.Type == "duckdb" {
			if path := cfg["path"]; path != "" && path != ":memory:" && !filepath.IsAbs(path) {
				cfg["path"] = filepath.Join(p.Dir, path)
			}
			if cfg["path"] == "" {
				probs.add(line, "resource %q of type duckdb needs a path (e.g. data/warehouse.duckdb)", name)
			}
		}
		p.Resources[name] = engine.Resource{Name: name, Type: rc.Type, Config: cfg, Secret: rc.Secret}
		secrets = append(secrets, redact.Settings(cfg, rc.Secret)...)
	}
	for _, e := range p.Config.SecretEnv {
		if v, ok := p.getenv(e); ok && v != "" {
			secrets = append(secrets, v)
		}
	}
	if _, err := p.LineageConfig(); err != nil {
		probs.add(lineageErrLine(root, err), "%v", err)
	}
	secrets = append(secrets, p.lineageSecrets()...)
	p.redactor = redact.New(secrets...)
}

// Env is the environment every step gets: the process environment plus
// each resource's settings as ELT_RESOURCE_<NAME>_<SETTING>.
func (p *Project) Env() []string {
	var extra []string
	names := make([]string, 0, len(p.Resources))
	for n := range p.Resources {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r := p.Resources[n]
		keys := make([]string, 0, len(r.Config))
		for k := range r.Config {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			extra = append(extra, "ELT_RESOURCE_"+envName(n)+"_"+envName(k)+"="+r.Config[k])
		}
	}
	extra = append(extra, "ELT_PROJECT_DIR="+p.Dir)
	return command.Environ(nil, extra...)
}

func envName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Redact replaces every secret in s (in any of its encoded forms) with
// redact.Placeholder.
func (p *Project) Redact(s string) string { return p.redactor.String(s) }

// Redactor returns the project's redactor: the values of `secret:`
// resource settings, the userinfo of URL-valued settings and `secret_env`.
// It is nil when there is nothing to redact.
func (p *Project) Redactor() *redact.Redactor { return p.redactor }

// HasSecrets reports whether anything needs redacting.
func (p *Project) HasSecrets() bool { return !p.redactor.Empty() }

func (p *Project) loadJobs(root *yaml.Node, probs *problems) {
	p.Jobs = p.Config.Jobs
	sel := p.Selector()
	jnode := valueOf(root, "jobs")
	names := make([]string, 0, len(p.Jobs))
	for n := range p.Jobs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		j := p.Jobs[name]
		line := lineOfKey(jnode, name)
		if len(j.Select) == 0 {
			probs.add(line, "job %q needs select: (a selection such as \"tag:nightly\")", name)
			continue
		}
		if _, err := sel.Select(j.Select, j.Exclude); err != nil {
			probs.add(line, "job %q: %v", name, err)
		}
	}
}

// Selector returns a selector over the project's graph with its methods.
func (p *Project) Selector() *asset.Selector {
	return &asset.Selector{Graph: p.Graph, Methods: p.Methods, Warn: p.Warn}
}

// Select evaluates --select/--exclude (and --job) on the project's graph.
func (p *Project) Select(job string, include, exclude []string) (asset.Set, error) {
	if job != "" {
		j, ok := p.Jobs[job]
		if !ok {
			names := make([]string, 0, len(p.Jobs))
			for n := range p.Jobs {
				names = append(names, n)
			}
			sort.Strings(names)
			list := "this project defines no jobs"
			if len(names) > 0 {
				list = "jobs: " + strings.Join(names, ", ")
			}
			return asset.Set{}, &Error{Problems: []Problem{{File: p.File, Msg: fmt.Sprintf("no job %q; %s", job, list)}}}
		}
		include = append(slices.Clone([]string(j.Select)), include...)
		exclude = append(slices.Clone([]string(j.Exclude)), exclude...)
	}
	set, err := p.Selector().Select(include, exclude)
	var nm *asset.NoMatchError
	if errors.As(err, &nm) && usesState(include) {
		// Slim CI on a change that touches no dbt node: nothing to do,
		// which is not an error.
		return p.Graph.NewSet(), nil
	}
	return set, err
}

// usesState reports whether a selection uses the state: method, whose
// empty result (nothing changed) is a valid answer.
func usesState(include []string) bool {
	for _, s := range include {
		if strings.Contains(s, "state:") {
			return true
		}
	}
	return false
}
