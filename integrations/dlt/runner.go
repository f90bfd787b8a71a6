package dlt

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/integrations/command"
	mdlt "github.com/eltproject/elt/manifest/dlt"
	"github.com/eltproject/elt/process"
	tdlt "github.com/eltproject/elt/translator/dlt"

	"github.com/eltproject/elt/internal/toolpath"
)

// Environment the pipeline command gets besides the engine's (resources,
// ELT_RUN_ID, …) and the partition's ELT_PARTITION_* variables.
const (
	// EnvIntervalStart and EnvIntervalEnd carry the partition window in
	// UTC ISO 8601; dlt's incrementals with allow_external_schedulers=True
	// read them.
	EnvIntervalStart    = "DLT_INTERVAL_START"
	EnvIntervalEnd      = "DLT_INTERVAL_END"
	EnvIntervalTimezone = "DLT_INTERVAL_TIMEZONE"
	// EnvResources lists the selected resources, comma separated; the
	// script passes them to source.with_resources(...).
	EnvResources = "ELT_DLT_RESOURCES"
	// EnvTables lists the selected root tables (keys: table).
	EnvTables = "ELT_DLT_TABLES"
	// EnvPipelineName is the pipeline name to use; with
	// pipeline_per_partition it carries the partition suffix and is also
	// set as PIPELINE_NAME.
	EnvPipelineName = "ELT_DLT_PIPELINE_NAME"
	EnvPipelinesDir = "ELT_DLT_PIPELINES_DIR"
	EnvDataset      = "ELT_DLT_DATASET"
	// EnvDuckDBCredentials points dlt's duckdb destination at the file of
	// the destination resource, unless the environment already sets it.
	EnvDuckDBCredentials = "DESTINATION__DUCKDB__CREDENTIALS"
)

// runner runs one configured dlt pipeline.
type runner struct {
	cfg          Config
	projectDir   string
	pipelinesDir string
	dataset      string
	dest         destination
	assets       map[asset.Key]tdlt.Asset
	parents      map[string]string // nested table → parent table
}

// Run runs the pipeline command for the selected assets and reports, per
// asset, what the load info and the destination say.
func (r *runner) Run(ctx context.Context, req *engine.Request, emit engine.Emitter) error {
	selected := make([]tdlt.Asset, 0, len(req.Assets))
	for _, k := range req.Assets {
		a, ok := r.assets[k]
		if !ok {
			return fmt.Errorf("dlt pipeline %s: asset %s is not one of its assets", r.cfg.Pipeline, k)
		}
		selected = append(selected, a)
	}
	name := r.pipelineName(req.Partition)
	unlock, err := lockPipeline(ctx, r.pipelinesDir, name, func(msg string) { emit(engine.LogLine(msg)) })
	if err != nil {
		return fmt.Errorf("dlt pipeline %s: %w", name, err)
	}
	defer unlock()

	stepDir := req.StepDir
	if stepDir == "" {
		tmp, err := os.MkdirTemp("", "elt-dlt-")
		if err != nil {
			return fmt.Errorf("dlt pipeline %s: %w", name, err)
		}
		defer os.RemoveAll(tmp)
		stepDir = tmp
	}
	eventsPath := filepath.Join(stepDir, "dlt_events.jsonl")
	if err := os.Remove(eventsPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("dlt pipeline %s: %w", name, err)
	}

	redact := engine.ResourceRedactor(req.Resources).String
	dir := r.projectDir
	if r.cfg.WorkingDir != "" {
		dir = resolvePath(r.cfg.WorkingDir, r.projectDir)
	}
	start := time.Now()
	_, err = process.Run(ctx, &process.Proc{
		Argv:   toolpath.Argv(r.projectDir, r.cfg.Command.Argv),
		Shell:  toolpath.Shell(r.projectDir, r.cfg.Command.Shell),
		Dir:    dir,
		Env:    r.env(req, name, selected, eventsPath),
		Output: req.Log,
	})
	if err != nil {
		var ee *process.ExitError
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("dlt pipeline %s: %w", name, err)
		case errors.As(err, &ee):
			return fmt.Errorf("dlt pipeline %s: %s exited with status %d; last output:\n  %s",
				name, redact(r.cfg.Command.String()), ee.Code, redact(strings.Join(ee.Tail, "\n  ")))
		}
		return fmt.Errorf("dlt pipeline %s: run %s: %w", name, redact(r.cfg.Command.String()), err)
	}

	var defaultKey asset.Key
	if len(selected) == 1 {
		defaultKey = selected[0].Spec.Key
	}
	evs, raws, err := command.ReadEventsFile(eventsPath, defaultKey)
	if err != nil {
		return fmt.Errorf("dlt pipeline %s: events file: %w", name, err)
	}
	script := scriptEvents{metadata: map[asset.Key]map[string]any{}, failures: map[asset.Key][]string{}}
	for _, ev := range evs {
		switch ev.Type {
		case engine.AssetMaterialized:
			// The script's own metadata joins elt's in report.
			script.metadata[ev.Asset] = ev.Metadata
		case engine.AssetFailed:
			// Reported once, with elt's findings, in report.
			script.failures[ev.Asset] = append(script.failures[ev.Asset], "the script reported: "+ev.Message)
		default:
			ev.Message = redact(ev.Message)
			emit(ev)
		}
	}
	var infos []*mdlt.LoadInfo
	for _, raw := range raws {
		if raw.Type != mdlt.LoadInfoEventType {
			emit(engine.LogLine(fmt.Sprintf("%s:%d: ignored event of type %q", eventsPath, raw.Line, raw.Type)))
			continue
		}
		li, err := mdlt.ParseLoadInfoEvent(raw.JSON)
		if err != nil {
			return fmt.Errorf("dlt pipeline %s: %s:%d: %w", name, eventsPath, raw.Line, err)
		}
		infos = append(infos, li)
	}
	return r.report(ctx, name, start, selected, infos, script, redact, emit)
}

// scriptEvents are the asset events the script wrote to ELT_EVENTS_FILE.
type scriptEvents struct {
	metadata map[asset.Key]map[string]any
	failures map[asset.Key][]string
}

// pipelineName is the configured name, with _<partition key> when each
// partition gets its own pipeline.
func (r *runner) pipelineName(p *engine.Partition) string {
	if !r.cfg.PipelinePerPartition || p == nil || p.Key == "" {
		return r.cfg.Pipeline
	}
	return r.cfg.Pipeline + "_" + sanitizeName(p.Key)
}

// sanitizeName keeps a partition key usable in a folder name.
func sanitizeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			return r
		}
		return '_'
	}, s)
}

func (r *runner) env(req *engine.Request, name string, selected []tdlt.Asset, eventsPath string) []string {
	base := req.Env
	if base == nil {
		base = os.Environ()
	}
	var extra []string
	for _, k := range slices.Sorted(maps.Keys(r.cfg.Env)) {
		extra = append(extra, k+"="+r.cfg.Env[k])
	}
	extra = append(extra, req.Partition.Env()...)
	if p := req.Partition; p.HasWindow() {
		extra = append(extra,
			EnvIntervalStart+"="+p.Start.UTC().Format(time.RFC3339),
			EnvIntervalEnd+"="+p.End.UTC().Format(time.RFC3339))
		// dlt re-applies an IANA zone to the UTC window; fixed offsets and
		// Local have no IANA name to pass.
		if loc := p.Start.Location().String(); loc != "UTC" && loc != "Local" && loc != "" {
			if _, err := time.LoadLocation(loc); err == nil {
				extra = append(extra, EnvIntervalTimezone+"="+loc)
			}
		}
	}
	var resources, tables []string
	for _, a := range selected {
		if !slices.Contains(resources, a.Resource) {
			resources = append(resources, a.Resource)
		}
		if r.cfg.Keys == tdlt.KeysByTable && len(a.Tables) > 0 {
			tables = append(tables, a.Tables[0])
		}
	}
	extra = append(extra,
		command.EventsFileEnv+"="+eventsPath,
		EnvResources+"="+strings.Join(resources, ","),
		EnvPipelineName+"="+name,
		EnvPipelinesDir+"="+r.pipelinesDir,
	)
	if len(tables) > 0 {
		extra = append(extra, EnvTables+"="+strings.Join(tables, ","))
	}
	if r.cfg.PipelinePerPartition {
		extra = append(extra, "PIPELINE_NAME="+name)
	}
	if r.dataset != "" {
		extra = append(extra, EnvDataset+"="+r.dataset)
	}
	env := command.MergeEnv(base, extra...)
	// dlt reports usage over the network unless told not to; a step sends
	// nothing anywhere it was not asked to (set it yourself to keep it).
	if !hasEnv(env, "RUNTIME__DLTHUB_TELEMETRY") {
		env = append(env, "RUNTIME__DLTHUB_TELEMETRY=false")
	}
	if r.dest.duckdbPath != "" && !hasEnv(env, EnvDuckDBCredentials) {
		env = append(env, EnvDuckDBCredentials+"="+r.dest.duckdbPath)
	}
	return env
}

func hasEnv(env []string, name string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, name+"=") {
			return true
		}
	}
	return false
}
