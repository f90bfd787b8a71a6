package dbt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	dbtmanifest "github.com/eltproject/elt/manifest/dbt"
	dbttranslator "github.com/eltproject/elt/translator/dbt"
	"go.yaml.in/yaml/v3"
)

// Load reads the tool's metadata and returns the asset specs and the step families that run them.
//
// It reads the dbt manifest (cfg.Manifest, by default
// <project_dir>/target/manifest.json), translates it into specs whose step
// family is "dbt:<name>", and returns that one family: a multi-asset,
// subsettable family run by a Runner. resources are not used by dbt,
// which reads its connections from profiles.yml; they reach dbt as
// ELT_RESOURCE_* variables that profiles can read with env_var().
func Load(ctx context.Context, cfg Config, projectDir string, resources map[string]engine.Resource) ([]asset.Spec, []engine.Family, error) {
	if err := cfg.validateErr(); err != nil {
		return nil, nil, err
	}
	rc, err := cfg.resolved(projectDir)
	if err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if st, err := os.Stat(rc.ProjectDir); err != nil || !st.IsDir() {
		return nil, nil, fmt.Errorf("dbt project_dir %s does not exist; point project_dir at the folder with dbt_project.yml", rc.ProjectDir)
	}
	if _, err := os.Stat(rc.Manifest); errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("dbt manifest %s not found: run `dbt parse` in %s, or `elt sync --prepare`", rc.Manifest, rc.ProjectDir)
	}
	m, err := dbtmanifest.ReadManifest(rc.Manifest)
	if err != nil {
		return nil, nil, fmt.Errorf("dbt project %s: %w", rc.ProjectDir, err)
	}
	name, err := familyName(cfg, rc, m)
	if err != nil {
		return nil, nil, err
	}
	family := "dbt:" + name
	specs, err := dbttranslator.Translate(m, dbttranslator.Options{
		ModelKeyPrefix:  cfg.ModelKeyPrefix,
		SourceKeyPrefix: cfg.SourceKeyPrefix,
		Family:          family,
		SourceTests:     cfg.SourceTests,
		Select:          cfg.Select,
		Exclude:         cfg.Exclude,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("dbt project %s: %w", rc.ProjectDir, err)
	}
	for i := range specs {
		enrich(&specs[i], m, family)
	}
	// Every node of the manifest, imported or not, can be reached by an fqn
	// selector's prefix, so all of them go into the index.
	known := make([]knownNode, 0, len(m.Nodes)+len(m.Sources))
	for _, id := range m.SortedNodeIDs() {
		known = append(known, knownNode{uid: id, fqn: m.Nodes[id].FQN})
	}
	for _, id := range m.SortedSourceIDs() {
		known = append(known, knownNode{uid: id, fqn: m.Sources[id].FQN})
	}
	// Unit tests sit under their model's fqn; listing them makes the
	// runner exclude them, so a `build` of a model runs only what elt asked.
	uts := make([]string, 0, len(m.UnitTests))
	for id := range m.UnitTests {
		uts = append(uts, id)
	}
	sort.Strings(uts)
	for _, id := range uts {
		known = append(known, knownNode{uid: id, fqn: m.UnitTests[id]})
	}
	runner := &Runner{cfg: rc, index: newFQNIndex(known)}
	if old := tooOld(m.DbtVersion); old != "" {
		// The metadata loads; running needs what older dbt lacks.
		runner.refuse = fmt.Errorf("dbt %s wrote %s; elt runs dbt 1.5 or newer (it relies on the DBT_TARGET_PATH variable and --indirect-selection modes of dbt's 1.5 command line): upgrade dbt and run dbt parse", old, rc.Manifest)
	}
	fam := engine.Family{
		Name:    family,
		Runner:  runner,
		Multi:   true,
		Subset:  true,
		Kind:    "dbt",
		Retry:   engine.RetryPolicy{MaxRetries: cfg.Retries},
		Timeout: cfg.Timeout,
	}
	if cfg.Pool != "" {
		fam.Pools = []string{cfg.Pool}
	}
	return specs, []engine.Family{fam}, nil
}

// enrich adds what the runner needs and the translator may leave out: the
// step family, a model's materialization (ephemeral models are never run
// on their own) and the fqn of each test, so tests are selected exactly.
func enrich(s *asset.Spec, m *dbtmanifest.Manifest, family string) {
	if s.Step == "" && !s.External {
		s.Step = family
	}
	if s.Metadata == nil {
		s.Metadata = map[string]any{}
	}
	if n := m.Nodes[metaString(s.Metadata, MetaUniqueID)]; n != nil {
		if _, ok := s.Metadata[MetaMaterialization]; !ok && n.Config.Materialized != "" {
			s.Metadata[MetaMaterialization] = n.Config.Materialized
		}
		if _, ok := s.Metadata[MetaFQN]; !ok && len(n.FQN) > 0 {
			s.Metadata[MetaFQN] = n.FQN
		}
	}
	for i := range s.Checks {
		c := &s.Checks[i]
		n := m.Nodes[metaString(c.Metadata, MetaUniqueID)]
		if n == nil || len(n.FQN) == 0 {
			continue
		}
		if _, ok := c.Metadata[MetaFQN]; !ok {
			c.Metadata[MetaFQN] = n.FQN
		}
	}
}

// familyName is the step family's name: name: in elt.yaml, else the
// manifest's project name, else dbt_project.yml's.
func familyName(cfg, rc Config, m *dbtmanifest.Manifest) (string, error) {
	name := cfg.Name
	if name == "" {
		name = m.ProjectName
		if m.ProjectName == "" || m.ProjectNameGuessed {
			// Older manifests (v4–v9) have no metadata.project_name: the
			// root project is the one in dbt_project.yml, not the package
			// of whichever model comes first (often a dependency).
			if root, err := rootProjectName(rc.ProjectDir); err == nil && root != "" {
				name = root
			}
		}
	}
	if name == "" {
		return "", fmt.Errorf("%s has no metadata.project_name and %s has no name: set name: in the dbt entry of elt.yaml", rc.Manifest, filepath.Join(rc.ProjectDir, "dbt_project.yml"))
	}
	return name, nil
}

// LeftOutTests reads the manifest of cfg and returns the step family's name
// and the dbt tests that Load does not import as checks, with the reason
// (source tests without source_tests: true, tests of ephemeral models,
// tests with no parent), for `elt validate`.
func LeftOutTests(ctx context.Context, cfg Config, projectDir string) (string, []dbttranslator.LeftOut, error) {
	if err := cfg.validateErr(); err != nil {
		return "", nil, err
	}
	rc, err := cfg.resolved(projectDir)
	if err != nil {
		return "", nil, err
	}
	if err := ctx.Err(); err != nil {
		return "", nil, err
	}
	m, err := dbtmanifest.ReadManifest(rc.Manifest)
	if err != nil {
		return "", nil, fmt.Errorf("dbt project %s: %w", rc.ProjectDir, err)
	}
	name, err := familyName(cfg, rc, m)
	if err != nil {
		return "", nil, err
	}
	return "dbt:" + name, dbttranslator.LeftOutTests(m, dbttranslator.Options{SourceTests: cfg.SourceTests}), nil
}

// rootProjectName is the name: of the project's dbt_project.yml.
func rootProjectName(projectDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(projectDir, "dbt_project.yml"))
	if err != nil {
		return "", err
	}
	var p struct {
		Name string `yaml:"name"`
	}
	if err := yaml.Unmarshal(b, &p); err != nil {
		return "", fmt.Errorf("%s: %w", filepath.Join(projectDir, "dbt_project.yml"), err)
	}
	return p.Name, nil
}

// tooOld returns the version when a manifest's dbt_version is older than
// 1.5, else "".
func tooOld(v string) string {
	var major, minor int
	if _, err := fmt.Sscanf(v, "%d.%d", &major, &minor); err != nil {
		return "" // unknown: let dbt itself say
	}
	if major == 0 || (major == 1 && minor < 5) {
		return v
	}
	return ""
}

// SelectionMethods returns dbt's selection methods (path:, resource_type:,
// config.<key>:, source:, fqn:, test_type:, test_name:, package:,
// exposure:) over the manifests of cfgs, which are read again on first use
// only.
func SelectionMethods(cfgs []Config, projectDir string) map[string]asset.MethodFunc {
	return dbttranslator.SelectionMethods(func() ([]dbttranslator.LoadedManifest, error) {
		var out []dbttranslator.LoadedManifest
		for _, cfg := range cfgs {
			rc, err := cfg.resolved(projectDir)
			if err != nil {
				return nil, err
			}
			b, err := os.ReadFile(rc.Manifest)
			if err != nil {
				return nil, fmt.Errorf("dbt selection: %w", err)
			}
			m, err := dbtmanifest.ParseManifest(b, rc.Manifest)
			if err != nil {
				return nil, err
			}
			out = append(out, dbttranslator.LoadedManifest{Manifest: m, Raw: b})
		}
		return out, nil
	})
}
