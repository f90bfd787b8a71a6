package project

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/integrations/command"
)

// loadAssets turns `assets:` entries into specs and step families.
func (p *Project) loadAssets(probs *problems) []asset.Spec {
	var specs []asset.Spec
	sqlAssets := map[asset.Key]*AssetConfig{}
	for i := range p.Config.Assets {
		a := &p.Config.Assets[i]
		line := a.line
		if a.Key.Key.IsZero() {
			probs.add(line, "asset needs a key, e.g. key: raw/orders")
			continue
		}
		origin := fmt.Sprintf("%s:%d", p.File, line)
		spec := asset.Spec{
			Key: a.Key.Key, Group: a.Group, Kinds: a.Kinds, Tags: a.Tags, Owners: a.Owners,
			Description: a.Description, Metadata: a.Metadata, Partitions: a.Partitions,
			External: a.External, Origin: origin,
		}
		for _, d := range a.Deps {
			spec.Deps = append(spec.Deps, d.Key)
		}
		for _, cn := range a.Checks {
			cs, err := p.buildCheck(&cn, a, "")
			if err != nil {
				line, msg := splitLineError(err)
				if line == 0 {
					line = cn.Line
				}
				if strings.HasPrefix(msg, "check ") || strings.HasPrefix(msg, "check:") {
					probs.add(line, "asset %s: %s", a.Key.Key, msg)
				} else {
					probs.add(line, "asset %s: check: %s", a.Key.Key, msg)
				}
				continue
			}
			if _, dup := spec.Check(cs.Name); dup {
				probs.add(cn.Line, "asset %s has two checks named %q; give one a name:", a.Key.Key, cs.Name)
				continue
			}
			spec.Checks = append(spec.Checks, cs)
		}
		kinds := 0
		for _, set := range []bool{!a.Command.IsZero(), len(a.Ops) > 0, a.SQL != "", a.Import.Kind != 0, a.Plugin != nil} {
			if set {
				kinds++
			}
		}
		if a.External {
			if kinds > 0 {
				probs.add(line, "asset %s is external, so it cannot also have command, ops, sql, import or plugin", a.Key.Key)
			}
			specs = append(specs, spec)
			continue
		}
		if kinds == 0 {
			probs.add(line, "asset %s needs one of command, ops, sql, import or plugin (or external: true)", a.Key.Key)
			continue
		}
		if kinds > 1 {
			probs.add(line, "asset %s has more than one of command, ops, sql, import and plugin; keep one", a.Key.Key)
			continue
		}
		fam := &engine.Family{Name: "asset:" + a.Key.Key.String(), Pools: a.Pool, NoStepDir: !a.Command.IsZero() || len(a.Ops) > 0}
		fam.Retry = p.retryPolicy(a.Retries)
		fam.Timeout = time.Duration(a.Timeout)
		if fam.Timeout == 0 {
			fam.Timeout = time.Duration(p.Config.Defaults.Timeout)
		}
		if a.WorkingDir != "" {
			if d := p.abs(a.WorkingDir); !isDir(d) {
				probs.add(line, "asset %s: working_dir %s does not exist", a.Key.Key, d)
				continue
			}
		}
		switch {
		case !a.Command.IsZero():
			fam.Kind = "command"
			spec.Kinds = append(spec.Kinds, "command")
			cs := p.commandSpec(a.Command, a.Env, a.WorkingDir)
			fam.Runner = &command.Runner{Step: command.Step{Command: &cs}}
			spec.CodeVersion = codeVersion(a.Command)
		case len(a.Ops) > 0:
			fam.Kind = "ops"
			spec.Kinds = append(spec.Kinds, "command")
			var ops []command.Op
			var ver []string
			for _, o := range a.Ops {
				if o.Command.IsZero() {
					probs.add(line, "asset %s: op %q needs a command", a.Key.Key, o.Name)
					continue
				}
				if o.WorkingDir != "" && !isDir(p.abs(o.WorkingDir)) {
					probs.add(line, "asset %s: op %q: working_dir %s does not exist", a.Key.Key, o.Name, p.abs(o.WorkingDir))
					continue
				}
				ops = append(ops, command.Op{Name: o.Name, Deps: o.Deps, Command: p.commandSpec(o.Command, mergeMaps(a.Env, o.Env), firstNonEmpty(o.WorkingDir, a.WorkingDir))})
				ver = append(ver, o.Name+"="+codeVersion(o.Command))
			}
			if err := command.ValidateOps(ops); err != nil {
				probs.add(line, "asset %s: %v", a.Key.Key, err)
				continue
			}
			fam.Runner = &command.Runner{Step: command.Step{Ops: ops}}
			spec.CodeVersion = strings.Join(ver, ";")
			md := map[string]any{}
			for k, v := range spec.Metadata {
				md[k] = v
			}
			names := make([]string, len(ops))
			for i, o := range ops {
				names[i] = o.Name
			}
			md["ops"] = names
			spec.Metadata = md
		case a.Plugin != nil:
			fam.Kind = "plugin"
			if err := p.pluginAsset(a, &spec, fam); err != nil {
				probs.add(line, "asset %s: %v", a.Key.Key, err)
				continue
			}
		default:
			fam.Kind = "duckdb"
			sqlAssets[a.Key.Key] = a
			if err := p.sqlAsset(a, &spec, fam); err != nil {
				if _, bare := err.(bareError); !bare {
					err = fmt.Errorf("asset %s: %w", a.Key.Key, err)
				}
				probs.addErr(line, err)
				continue
			}
		}
		spec.Step = fam.Name
		p.Families[fam.Name] = fam
		specs = append(specs, spec)
		// Outputs turn the step into a multi-asset: every output shares
		// the family and is materialized by the same command.
		for _, o := range a.Outputs {
			out := spec
			out.Key = o.Key
			out.Checks = nil
			out.Deps = append([]asset.Key{}, spec.Deps...)
			out.Origin = fmt.Sprintf("%s:%d", p.File, o.Line)
			specs = append(specs, out)
			fam.Multi = true
		}
	}
	p.finishSQLAssets(sqlAssets, probs)
	return specs
}

func (p *Project) retryPolicy(r *RetryValue) engine.RetryPolicy {
	if r == nil {
		r = p.Config.Defaults.Retries
	}
	if r == nil {
		return engine.RetryPolicy{}
	}
	pol := engine.RetryPolicy{MaxRetries: r.Max, Delay: time.Duration(r.Delay), Backoff: r.Backoff, MaxDelay: time.Duration(r.MaxDelay), Jitter: r.Jitter}
	if pol.MaxRetries > 0 && pol.Delay == 0 {
		pol.Delay = time.Second
	}
	return pol
}

func (p *Project) commandSpec(c CommandValue, env map[string]string, dir string) command.Spec {
	s := command.Spec{Argv: c.Argv, Shell: c.Shell, Dir: dir}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s.Env = append(s.Env, k+"="+env[k])
	}
	return s
}

func codeVersion(c CommandValue) string {
	if c.Shell != "" {
		return c.Shell
	}
	return strings.Join(c.Argv, " ")
}

func mergeMaps(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// checkHeader holds the keys every check has, whoever runs it.
type checkHeader struct {
	Name        string `yaml:"name"`
	Type        string `yaml:"type"`
	Blocking    *bool  `yaml:"blocking"`
	Severity    string `yaml:"severity"`
	Description string `yaml:"description"`
}

// buildCheck decodes one check. A check with a type is a built-in check
// the engine runs with DuckDB; one without a type is reported by the
// asset's own step (dbt tests, a script writing ELT_EVENTS_FILE).
// assetRes is the DuckDB resource holding the asset's data when its
// integration says so (a Sling target, a dlt destination), else "".
func (p *Project) buildCheck(n *yaml.Node, a *AssetConfig, assetRes string) (asset.CheckSpec, error) {
	var h checkHeader
	if n.Kind != yaml.MappingNode {
		return asset.CheckSpec{}, fmt.Errorf("a check is a mapping with name/type/blocking/severity")
	}
	if err := n.Decode(&h); err != nil {
		return asset.CheckSpec{}, err
	}
	if h.Type != "" {
		return p.builtinCheck(n, assetRes)
	}
	var probs problems
	checkKeys(n, typeOfCheckHeader, "check", &probs)
	if len(probs.list) > 0 {
		return asset.CheckSpec{}, fmt.Errorf("%s", probs.list[0].Msg)
	}
	if h.Name == "" {
		return asset.CheckSpec{}, fmt.Errorf("a check reported by the step needs a name (or a type: not_null, unique, accepted_values, row_count, freshness, expression, sql)")
	}
	sev := strings.ToLower(h.Severity)
	if sev == "" {
		sev = "error"
	}
	if sev != "error" && sev != "warn" {
		return asset.CheckSpec{}, fmt.Errorf("severity must be error or warn, not %q", h.Severity)
	}
	blocking := h.Blocking != nil && *h.Blocking
	if sev == "warn" {
		blocking = false
	}
	return asset.CheckSpec{Name: h.Name, Blocking: blocking, Severity: sev, Description: h.Description}, nil
}

// attachTopChecks adds `checks:` entries (checks declared apart from their
// asset, for dbt models or Sling streams) to their assets.
func (p *Project) attachTopChecks(specs []asset.Spec, probs *problems) {
	if len(p.Config.Checks) == 0 {
		return
	}
	idx := map[asset.Key]int{}
	for i := range specs {
		idx[specs[i].Key] = i
	}
	for ci := range p.Config.Checks {
		n := &p.Config.Checks[ci]
		if n.Kind != yaml.MappingNode {
			probs.add(n.Line, "a check is a mapping with asset:, name:, type: …")
			continue
		}
		// Split off the asset key before decoding the check itself.
		body := &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column}
		var tc struct{ Asset KeyValue }
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "asset" {
				if err := n.Content[i+1].Decode(&tc.Asset); err != nil {
					probs.addErr(n.Line, err)
				}
				continue
			}
			body.Content = append(body.Content, n.Content[i], n.Content[i+1])
		}
		if tc.Asset.Key.IsZero() {
			probs.add(n.Line, "a check under checks: needs asset: (the key it checks)")
			continue
		}
		i, ok := idx[tc.Asset.Key]
		if !ok {
			probs.add(tc.Asset.Line, "check on unknown asset %s; list assets with 'elt assets list'", tc.Asset.Key)
			continue
		}
		assetRes, _ := specs[i].Metadata["duckdb_resource"].(string)
		cs, err := p.buildCheck(body, nil, assetRes)
		if err != nil {
			probs.addErr(n.Line, fmt.Errorf("check on %s: %w", tc.Asset.Key, err))
			continue
		}
		if _, dup := specs[i].Check(cs.Name); dup {
			probs.add(n.Line, "asset %s already has a check named %q", tc.Asset.Key, cs.Name)
			continue
		}
		specs[i].Checks = append(specs[i].Checks, cs)
	}
}

var typeOfCheckHeader = reflect.TypeFor[checkHeader]()

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// abs resolves a path of elt.yaml against the project folder.
func (p *Project) abs(path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(p.Dir, path)
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}
