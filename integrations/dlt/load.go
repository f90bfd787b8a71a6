package dlt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/integrations/duckdb"
	mdlt "github.com/eltproject/elt/manifest/dlt"
	tdlt "github.com/eltproject/elt/translator/dlt"
)

// Load reads the tool's metadata and returns the asset specs and the step families that run them.
//
// It reads the pipeline's working folder (<pipelines_dir>/<pipeline>/),
// translates its schemas (or the configured resources: when the pipeline
// has never run) into specs, and returns one family, dlt:<pipeline>, that
// runs the configured command. Unless pipeline_per_partition is set the
// family holds the pool dlt:<pipeline>, so two runs of one pipeline never
// overlap in an elt process (a file lock covers separate processes).
func Load(ctx context.Context, cfg Config, projectDir string, resources map[string]engine.Resource) ([]asset.Spec, []engine.Family, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	pipelinesDir := mdlt.DefaultPipelinesDir()
	if cfg.PipelinesDir != "" {
		pipelinesDir = resolvePath(cfg.PipelinesDir, projectDir)
	}
	p, err := readPipeline(pipelinesDir, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("dlt pipeline %s: %w", cfg.Pipeline, err)
	}
	if cfg.ExportSchemaPath != "" {
		exported, err := mdlt.ReadSchemas(resolvePath(cfg.ExportSchemaPath, projectDir))
		if err != nil {
			return nil, nil, fmt.Errorf("dlt pipeline %s: export_schema_path: %w", cfg.Pipeline, err)
		}
		have := map[string]bool{}
		for _, s := range p.Schemas {
			have[s.Name] = true
		}
		for _, s := range exported {
			if !have[s.Name] {
				p.Schemas = append(p.Schemas, s)
			}
		}
	}
	if !p.HasRun() && len(cfg.Resources) == 0 {
		return nil, nil, fmt.Errorf("dlt pipeline %s: no state.json or schemas/ in %s: run the pipeline once (%s) so dlt writes its schema, set pipelines_dir if it lives elsewhere, or list its resources under resources: in elt.yaml",
			cfg.Pipeline, p.Dir, cfg.Command)
	}

	dest, err := destinationOf(cfg, projectDir, resources)
	if err != nil {
		return nil, nil, err
	}
	opts := cfg.translatorOptions()
	opts.Destination = dest.kind
	res, err := tdlt.Translate(p, opts)
	if err != nil {
		return nil, nil, err
	}

	r := &runner{
		cfg:          cfg,
		projectDir:   projectDir,
		pipelinesDir: pipelinesDir,
		dataset:      res.Dataset,
		dest:         dest,
		assets:       map[asset.Key]tdlt.Asset{},
		parents:      map[string]string{},
	}
	for _, a := range res.Assets {
		r.assets[a.Spec.Key] = a
	}
	for _, s := range p.Schemas {
		for _, t := range s.DataTables() {
			if t.Parent != "" {
				r.parents[t.Name] = t.Parent
			}
		}
	}
	fam := engine.Family{
		Name:    cfg.FamilyName(),
		Runner:  r,
		Multi:   true,
		Subset:  true,
		Retry:   engine.RetryPolicy{MaxRetries: cfg.Retries},
		Timeout: cfg.Timeout,
		Kind:    "dlt",
	}
	if !cfg.PipelinePerPartition {
		fam.Pools = []string{cfg.FamilyName()}
	}
	if dest.duckdbPath != "" {
		// One writing process per DuckDB file: take turns with elt's own
		// steps and checks on it.
		fam.Pools = append(fam.Pools, duckdb.PoolName(dest.duckdbPath))
	}
	specs := res.Specs()
	version := codeVersion(cfg)
	for i := range specs {
		if !specs[i].External {
			specs[i].CodeVersion = version
			// Typed checks on the asset read the destination's file.
			if dest.kind == "duckdb" && specs[i].Metadata != nil {
				specs[i].Metadata["duckdb_resource"] = cfg.Destination
			}
		}
	}
	return specs, []engine.Family{fam}, nil
}

// codeVersion changes when what runs the pipeline changes: the command,
// its folder or its extra environment.
func codeVersion(cfg Config) string {
	h := sha256.New()
	fmt.Fprintf(h, "%q\x00%q\x00%q\x00", cfg.Command.Shell, cfg.Command.Argv, cfg.WorkingDir)
	for _, k := range slices.Sorted(maps.Keys(cfg.Env)) {
		fmt.Fprintf(h, "%s=%s\x00", k, cfg.Env[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// readPipeline reads the pipeline's folder. With pipeline_per_partition
// the base name may never have run; the newest <pipeline>_<key> folder
// stands in for it.
func readPipeline(pipelinesDir string, cfg Config) (*mdlt.Pipeline, error) {
	p, err := mdlt.ReadPipeline(filepath.Join(pipelinesDir, cfg.Pipeline), cfg.Pipeline)
	if err != nil || p.HasRun() || !cfg.PipelinePerPartition {
		return p, err
	}
	dirs, _ := filepath.Glob(filepath.Join(pipelinesDir, cfg.Pipeline+"_*"))
	sort.Slice(dirs, func(i, j int) bool { return modTime(dirs[i]) > modTime(dirs[j]) })
	for _, d := range dirs {
		pp, err := mdlt.ReadPipeline(d, cfg.Pipeline)
		if err == nil && pp.HasRun() {
			return pp, nil
		}
	}
	return p, nil
}

func modTime(dir string) int64 {
	st, err := os.Stat(filepath.Join(dir, mdlt.StateFile))
	if err != nil {
		return 0
	}
	return st.ModTime().UnixNano()
}

// destination is what the runner knows of the pipeline's destination.
type destination struct {
	resource string // elt resource name
	kind     string // resource type: duckdb, postgres, …
	// duckdbPath is the DuckDB file to confirm loads in; "" when the
	// destination is not DuckDB or not configured.
	duckdbPath string
}

func destinationOf(cfg Config, projectDir string, resources map[string]engine.Resource) (destination, error) {
	if cfg.Destination == "" {
		return destination{}, nil
	}
	res, ok := resources[cfg.Destination]
	if !ok {
		names := make([]string, 0, len(resources))
		for n := range resources {
			names = append(names, n)
		}
		sort.Strings(names)
		return destination{}, fmt.Errorf("dlt pipeline %s: destination %q is not a resource in elt.yaml (resources: %s)",
			cfg.Pipeline, cfg.Destination, strings.Join(names, ", "))
	}
	d := destination{resource: cfg.Destination, kind: res.Type}
	if res.Type == "duckdb" {
		path := res.Config["path"]
		if path == "" {
			return destination{}, fmt.Errorf("dlt pipeline %s: destination resource %s (duckdb) has no path; set path: to the DuckDB file the pipeline loads to", cfg.Pipeline, cfg.Destination)
		}
		if path != ":memory:" {
			d.duckdbPath = resolvePath(path, projectDir)
		}
	}
	return d, nil
}
