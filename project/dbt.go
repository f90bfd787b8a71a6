package project

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/eltproject/elt/asset"
	dbtint "github.com/eltproject/elt/integrations/dbt"
	dbttranslator "github.com/eltproject/elt/translator/dbt"
)

// leftOutWhy explains each reason a dbt test is not imported.
var leftOutWhy = []struct{ reason, text string }{
	{dbttranslator.LeftOutSourceTest, "on sources (set source_tests: true in the dbt entry to import them)"},
	{dbttranslator.LeftOutEphemeral, "on ephemeral models (never built, so never checked)"},
	{dbttranslator.LeftOutNoParent, "with no parent model, seed, snapshot or source"},
	{dbttranslator.LeftOutNotAsset, "on nodes that are not assets (analyses, operations)"},
}

// DBTLeftOutTests describes, per dbt project, the dbt tests that are not
// imported as checks and why, one paragraph per project that has any.
func (p *Project) DBTLeftOutTests(ctx context.Context) ([]string, error) {
	var out []string
	for i := range p.Config.DBT {
		var cfg dbtint.Config
		if err := p.Config.DBT[i].Decode(&cfg); err != nil {
			return nil, err
		}
		family, tests, err := dbtint.LeftOutTests(ctx, cfg, p.Dir)
		if err != nil {
			return nil, err
		}
		if len(tests) == 0 {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s: %d dbt tests are not imported as checks:", family, len(tests))
		for _, w := range leftOutWhy {
			var ids []string
			for _, t := range tests {
				if t.Reason == w.reason {
					ids = append(ids, t.UniqueID)
				}
			}
			if len(ids) == 0 {
				continue
			}
			shown := ids[:min(len(ids), 3)]
			more := ""
			if len(ids) > 3 {
				more = fmt.Sprintf(", and %d more", len(ids)-3)
			}
			fmt.Fprintf(&b, "\n  %d %s: %s%s", len(ids), w.text, strings.Join(shown, ", "), more)
		}
		out = append(out, b.String())
	}
	return out, nil
}

// addDBTMethods registers dbt's selection methods (path:, resource_type:,
// config.<key>:, …); without dbt projects they say that no asset comes
// from dbt.
func (p *Project) addDBTMethods(probs *problems) {
	var cfgs []dbtint.Config
	for i := range p.Config.DBT {
		var cfg dbtint.Config
		if err := p.Config.DBT[i].Decode(&cfg); err != nil {
			probs.add(0, "dbt: %v", err)
			return
		}
		cfgs = append(cfgs, cfg)
	}
	for name, f := range dbtint.SelectionMethods(cfgs, p.Dir) {
		if _, taken := p.Methods[name]; !taken {
			p.Methods[name] = f
		}
	}
}

// SelectDBTSelector evaluates dbt's --selector NAME: the selector of that
// name in the selectors.yml of the project's dbt projects, minus exclude.
func (p *Project) SelectDBTSelector(name string, exclude []string) (asset.Set, error) {
	fail := func(err error) (asset.Set, error) {
		return asset.Set{}, &Error{Problems: []Problem{{File: p.File, Msg: "--selector " + name + ": " + err.Error()}}}
	}
	if len(p.Config.DBT) == 0 {
		return fail(errors.New("selectors come from a dbt project's selectors.yml, and this project has no dbt: entry"))
	}
	var errs []error
	for i := range p.Config.DBT {
		var cfg dbtint.Config
		if err := p.Config.DBT[i].Decode(&cfg); err != nil {
			return fail(err)
		}
		set, err := dbtint.EvalSelector(cfg, p.Dir, name, p.Selector())
		if errors.Is(err, dbtint.ErrNoSelectorsFile) {
			errs = append(errs, err)
			continue
		}
		if err != nil {
			return fail(err)
		}
		sel := p.Selector()
		for _, text := range exclude {
			parsed, err := asset.ParseSelection(text)
			if err != nil {
				return asset.Set{}, err
			}
			ex, err := sel.Eval(parsed)
			if err != nil {
				return asset.Set{}, err
			}
			set = set.Minus(ex)
		}
		if set.Len() == 0 {
			return asset.Set{}, &asset.NoMatchError{Text: "--selector " + name}
		}
		return set, nil
	}
	return fail(errors.Join(errs...))
}

// StaleDBTManifests names, per dbt project, a source file edited after its
// manifest was written: a hint for `elt sync`, which reads the manifest as
// it is (`elt sync --prepare` re-parses first).
func (p *Project) StaleDBTManifests() []string {
	var out []string
	for i := range p.Config.DBT {
		var cfg dbtint.Config
		if err := p.Config.DBT[i].Decode(&cfg); err != nil {
			continue
		}
		if f := dbtint.StaleManifest(cfg, p.Dir); f != "" {
			out = append(out, fmt.Sprintf("dbt project %s: %s changed after its manifest was written; run `elt sync --prepare` to re-parse it", cfg.ProjectDir, f))
		}
	}
	return out
}
