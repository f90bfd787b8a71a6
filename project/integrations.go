package project

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	dbtint "github.com/eltproject/elt/integrations/dbt"
	dltint "github.com/eltproject/elt/integrations/dlt"
	slingint "github.com/eltproject/elt/integrations/sling"
	"github.com/eltproject/elt/internal/toolpath"
)

// integration is one entry of a dbt:, sling: or dlt: list, decoded.
type integration struct {
	kind string
	line int
	node *yaml.Node
	load func(ctx context.Context) ([]asset.Spec, []engine.Family, error)
}

// decodeIntegration strictly decodes one list entry into cfg (a pointer to
// the integration's Config) and collects its Validate problems.
func decodeIntegration(n *yaml.Node, cfg any, kind string, probs *problems) bool {
	before := len(probs.list)
	checkKeys(n, reflect.TypeOf(cfg), kind, probs)
	if len(probs.list) > before {
		return false
	}
	return decodeNode(n, cfg, probs)
}

// loadIntegrations reads every dbt project, Sling replication and dlt
// pipeline, and registers their step families.
func (p *Project) loadIntegrations(ctx context.Context, root *yaml.Node, probs *problems) []asset.Spec {
	var list []integration
	list = append(list, decodeAll(p.Config.DBT, "dbt", probs, func(ctx context.Context, c dbtint.Config) ([]asset.Spec, []engine.Family, error) {
		p.Tools = append(p.Tools, toolpath.Find(p.Dir, c.Executable, "dbt"))
		if err := parseIfNoManifest(ctx, c, p.Dir); err != nil {
			return nil, nil, err
		}
		return dbtint.Load(ctx, c, p.Dir, p.Resources)
	})...)
	list = append(list, decodeAll(p.Config.Sling, "sling", probs, func(ctx context.Context, c slingint.Config) ([]asset.Spec, []engine.Family, error) {
		p.Tools = append(p.Tools, toolpath.Find(p.Dir, c.Executable, "sling"), toolpath.Find(p.Dir, os.Getenv("DUCKDB_PATH"), "duckdb"))
		return slingint.Load(ctx, c, p.Dir, p.Resources)
	})...)
	list = append(list, decodeAll(p.Config.DLT, "dlt", probs, func(ctx context.Context, c dltint.Config) ([]asset.Spec, []engine.Family, error) {
		if prog := toolpath.Program(c.Command.Argv, c.Command.Shell); prog != "" {
			p.Tools = append(p.Tools, toolpath.Find(p.Dir, "", prog))
		}
		return dltint.Load(ctx, c, p.Dir, p.Resources)
	})...)
	if len(probs.list) > 0 {
		return nil
	}
	var specs []asset.Spec
	for _, in := range list {
		s, fams, err := in.load(ctx)
		if err != nil {
			var us *slingint.UnknownStreamError
			if errors.As(err, &us) {
				for _, name := range us.Streams {
					probs.add(streamKeyLine(in.node, name, in.line), "%s", us.Message(name))
				}
				continue
			}
			if !strings.HasPrefix(err.Error(), in.kind+" ") {
				err = fmt.Errorf("%s: %w", in.kind, err)
			}
			probs.addErr(in.line, err)
			continue
		}
		for i := range fams {
			f := fams[i]
			if _, dup := p.Families[f.Name]; dup {
				probs.add(in.line, "%s: two integrations are both named %q; give one a name:", in.kind, f.Name)
				continue
			}
			p.Families[f.Name] = &f
		}
		specs = append(specs, s...)
	}
	return specs
}

// streamKeyLine is the line of key name in the streams: mapping of entry
// n, or def when it is not written there.
func streamKeyLine(n *yaml.Node, name string, def int) int {
	m := valueOf(n, "streams")
	if m == nil || m.Kind != yaml.MappingNode {
		return def
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == name {
			return m.Content[i].Line
		}
	}
	return def
}

// validator is an integration Config: decoded from YAML, then validated.
type validator[C any] interface {
	*C
	Validate() []error
}

// decodeAll decodes and validates the entries of one integration list.
func decodeAll[C any, PC validator[C]](nodes []yaml.Node, kind string, probs *problems,
	load func(context.Context, C) ([]asset.Spec, []engine.Family, error)) []integration {
	var out []integration
	for i := range nodes {
		n := &nodes[i]
		var cfg C
		if !decodeIntegration(n, &cfg, kind, probs) {
			continue
		}
		for _, e := range PC(&cfg).Validate() {
			probs.add(n.Line, "%s: %v", kind, e)
		}
		out = append(out, integration{kind: kind, line: n.Line, node: n, load: func(ctx context.Context) ([]asset.Spec, []engine.Family, error) {
			return load(ctx, cfg)
		}})
	}
	return out
}

// parseIfNoManifest runs `dbt parse` (through dbtint.Prepare) when a dbt
// project has no manifest yet, as on a fresh clone, so that the first
// `elt run` works without a separate `elt sync --prepare`. An existing
// manifest is left alone, however old: refreshing it is `elt sync`'s job.
func parseIfNoManifest(ctx context.Context, c dbtint.Config, dir string) error {
	manifest := c.Manifest
	if manifest == "" {
		manifest = filepath.Join(c.ProjectDir, "target", "manifest.json")
	}
	if !filepath.IsAbs(manifest) {
		manifest = filepath.Join(dir, manifest)
	}
	if _, err := os.Stat(manifest); !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if !toolpath.Find(dir, c.Executable, "dbt").Found() {
		return nil // Load explains the missing manifest
	}
	fmt.Fprintf(os.Stderr, "elt: %s does not exist yet; running dbt parse\n", manifest)
	if err := dbtint.Prepare(ctx, c, dir, io.Discard); err != nil {
		return fmt.Errorf("no manifest at %s, and dbt parse failed: %w", manifest, err)
	}
	return nil
}
