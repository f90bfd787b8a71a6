package project

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/eltproject/elt/asset"
	dbtint "github.com/eltproject/elt/integrations/dbt"
	dbtmanifest "github.com/eltproject/elt/manifest/dbt"
)

// loadState enables state:modified and state:new selection (slim CI): each
// dbt project's current manifest is compared with the manifest in dir (or,
// with several dbt projects, dir/<dbt name>/manifest.json when present).
func (p *Project) loadState(dir string) error {
	if !filepath.IsAbs(dir) {
		wd, _ := os.Getwd()
		dir = filepath.Join(wd, dir)
	}
	if len(p.Config.DBT) == 0 {
		return fmt.Errorf("state: selection compares dbt manifests, but this project has no dbt: projects")
	}
	modified := map[string]map[string]bool{} // sub → unique_ids
	newIDs := map[string]bool{}
	for i := range p.Config.DBT {
		var cfg dbtint.Config
		if err := p.Config.DBT[i].Decode(&cfg); err != nil {
			return err
		}
		cur := cfg.Manifest
		if cur == "" {
			cur = filepath.Join(cfg.ProjectDir, "target", "manifest.json")
		}
		if !filepath.IsAbs(cur) {
			cur = filepath.Join(p.Dir, cur)
		}
		prevPath := filepath.Join(dir, "manifest.json")
		if cfg.Name != "" {
			if alt := filepath.Join(dir, cfg.Name, "manifest.json"); fileExists(alt) {
				prevPath = alt
			}
		}
		if st, err := os.Stat(dir); err == nil && !st.IsDir() {
			prevPath = dir
		}
		curM, err := dbtmanifest.ReadManifest(cur)
		if err != nil {
			return err
		}
		prevM, err := dbtmanifest.ReadManifest(prevPath)
		if err != nil {
			return fmt.Errorf("%w (put the production manifest.json there, e.g. from the last deploy's target/)", err)
		}
		diff := dbtmanifest.Compare(curM, prevM)
		for _, sub := range append([]string{""}, dbtmanifest.StateSubSelectors()...) {
			if modified[sub] == nil {
				modified[sub] = map[string]bool{}
			}
			for id := range diff.Modified(sub) {
				modified[sub][id] = true
			}
		}
		for id := range diff.New {
			newIDs[id] = true
		}
	}
	p.Methods["state"] = func(g *asset.Graph, value string) (asset.Set, error) {
		var ids map[string]bool
		switch {
		case value == "new":
			ids = newIDs
		case value == "modified" || strings.HasPrefix(value, "modified."):
			sub := strings.TrimPrefix(strings.TrimPrefix(value, "modified"), ".")
			var ok bool
			ids, ok = modified[sub]
			if !ok {
				return asset.Set{}, fmt.Errorf("unknown state selector %q; use new, modified or modified.{%s}", value, strings.Join(dbtmanifest.StateSubSelectors(), ","))
			}
		default:
			return asset.Set{}, fmt.Errorf("unknown state selector %q; use state:new or state:modified", value)
		}
		var keys []asset.Key
		for _, s := range g.Specs() {
			if id, _ := s.Metadata["unique_id"].(string); id != "" && ids[id] {
				keys = append(keys, s.Key)
				continue
			}
			// A new or changed test re-runs the asset it checks.
			for _, c := range s.Checks {
				if id, _ := c.Metadata["unique_id"].(string); id != "" && ids[id] {
					keys = append(keys, s.Key)
					break
				}
			}
		}
		return g.SetOf(keys...), nil
	}
	return nil
}
