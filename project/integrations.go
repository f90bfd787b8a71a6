package project

import (
	"context"
	"fmt"
	"reflect"

	"gopkg.in/yaml.v3"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	dbtint "github.com/eltproject/elt/integrations/dbt"
	dltint "github.com/eltproject/elt/integrations/dlt"
	slingint "github.com/eltproject/elt/integrations/sling"
)

// integration is one entry of a dbt:, sling: or dlt: list, decoded.
type integration struct {
	kind string
	line int
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
	for i := range p.Config.DBT {
		n := &p.Config.DBT[i]
		var cfg dbtint.Config
		if !decodeIntegration(n, &cfg, "dbt", probs) {
			continue
		}
		for _, e := range cfg.Validate() {
			probs.add(n.Line, "dbt: %v", e)
		}
		list = append(list, integration{kind: "dbt", line: n.Line, load: func(ctx context.Context) ([]asset.Spec, []engine.Family, error) {
			return dbtint.Load(ctx, cfg, p.Dir, p.Resources)
		}})
	}
	for i := range p.Config.Sling {
		n := &p.Config.Sling[i]
		var cfg slingint.Config
		if !decodeIntegration(n, &cfg, "sling", probs) {
			continue
		}
		for _, e := range cfg.Validate() {
			probs.add(n.Line, "sling: %v", e)
		}
		list = append(list, integration{kind: "sling", line: n.Line, load: func(ctx context.Context) ([]asset.Spec, []engine.Family, error) {
			return slingint.Load(ctx, cfg, p.Dir, p.Resources)
		}})
	}
	for i := range p.Config.DLT {
		n := &p.Config.DLT[i]
		var cfg dltint.Config
		if !decodeIntegration(n, &cfg, "dlt", probs) {
			continue
		}
		for _, e := range cfg.Validate() {
			probs.add(n.Line, "dlt: %v", e)
		}
		list = append(list, integration{kind: "dlt", line: n.Line, load: func(ctx context.Context) ([]asset.Spec, []engine.Family, error) {
			return dltint.Load(ctx, cfg, p.Dir, p.Resources)
		}})
	}
	if len(probs.list) > 0 {
		return nil
	}
	var specs []asset.Spec
	for _, in := range list {
		s, fams, err := in.load(ctx)
		if err != nil {
			probs.addErr(in.line, fmt.Errorf("%s: %w", in.kind, err))
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
