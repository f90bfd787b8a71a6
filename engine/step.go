// Package engine plans a selection of the asset graph into steps and
// executes them: in dependency order, in parallel up to a limit and within
// named pools, with retries, timeouts, cancellation and asset checks,
// reporting every event as it happens.
//
// This file is the step contract between the engine and the integrations
// that run tools (command, dbt, Sling, dlt, DuckDB, plugins).
package engine

import (
	"context"
	"io"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/redact"
)

// Runner materializes the assets of one step family. Run is called once per
// step attempt. It reports what happened through emit: AssetMaterialized,
// AssetFailed, AssetSkipped, CheckEvaluated and Log events (the engine adds
// run, step and attempt ids and the time). Run returns an error when the
// step failed; per-asset events say which assets succeeded anyway.
//
// When Run returns nil, requested assets it said nothing about count as
// materialized. When it returns an error, those assets count as failed.
type Runner interface {
	Run(ctx context.Context, req *Request, emit Emitter) error
}

// RunnerFunc adapts a function to Runner.
type RunnerFunc func(ctx context.Context, req *Request, emit Emitter) error

// Run calls f.
func (f RunnerFunc) Run(ctx context.Context, req *Request, emit Emitter) error {
	return f(ctx, req, emit)
}

// Emitter receives a runner's events. It is safe for concurrent use.
type Emitter func(Event)

// Request is what a step attempt gets.
type Request struct {
	RunID   string
	StepID  string
	Attempt int // 1-based
	// Assets are the assets this attempt must materialize (a subset of the
	// family's assets for subsettable families), in topological order.
	Assets []asset.Key
	// Specs holds the spec of every key in Assets.
	Specs map[asset.Key]*asset.Spec
	// Partition is nil for an unpartitioned run.
	Partition *Partition
	// ProjectDir is the folder of elt.yaml; relative paths resolve from it.
	ProjectDir string
	// StepDir is a scratch folder for this attempt under the run's folder
	// (.elt/runs/<run>/<step>.<attempt>/); created by the engine unless the
	// family sets NoStepDir (the run's folder, its parent, always exists).
	StepDir string
	// Env is the environment for subprocesses: the process environment,
	// resources as ELT_RESOURCE_* variables and ELT_RUN_ID / ELT_STEP_ID.
	// Partition variables are added by the runner (see Partition.Env).
	Env []string
	// Log receives the step's output (a subprocess's stdout and stderr).
	// The engine writes it to the attempt's log file with secrets redacted.
	Log io.Writer
	// Resources are the project's resources, by name.
	Resources map[string]Resource

	// emitAll, set by the engine, records a batch of events in one commit.
	emitAll func([]Event)
}

// EmitAll hands evs to the step as emit would one by one, but lets the
// engine record them together (one store commit instead of one each): for
// runners that replay many events at once, such as an events file.
func (r *Request) EmitAll(emit Emitter, evs []Event) {
	if r.emitAll != nil {
		r.emitAll(evs)
		return
	}
	for _, ev := range evs {
		emit(ev)
	}
}

// Partition is the slice of data a run materializes: one key, or for a
// single-run backfill a range of keys, with its time window when the
// partitioning is time-based.
type Partition struct {
	// Key is the partition key; for a range it is the first key.
	Key string
	// Keys lists every key of a range run (single-run backfill); nil for
	// one key.
	Keys []string
	// Start and End bound the window [Start, End); both zero for static
	// and dynamic partitions.
	Start, End time.Time
}

// IsRange reports whether the partition spans several keys.
func (p *Partition) IsRange() bool { return p != nil && len(p.Keys) > 1 }

// HasWindow reports whether the partition has a time window.
func (p *Partition) HasWindow() bool { return p != nil && !p.Start.IsZero() }

// Env returns ELT_PARTITION_KEY, ELT_PARTITION_KEYS (ranges),
// ELT_PARTITION_START and ELT_PARTITION_END (RFC 3339, end exclusive).
func (p *Partition) Env() []string {
	if p == nil {
		return nil
	}
	env := []string{"ELT_PARTITION_KEY=" + p.Key}
	if len(p.Keys) > 1 {
		env = append(env, "ELT_PARTITION_KEYS="+joinComma(p.Keys))
	}
	if p.HasWindow() {
		env = append(env,
			"ELT_PARTITION_START="+p.Start.Format(time.RFC3339),
			"ELT_PARTITION_END="+p.End.Format(time.RFC3339))
	}
	return env
}

func joinComma(s []string) string {
	n := 0
	for _, x := range s {
		n += len(x) + 1
	}
	b := make([]byte, 0, n)
	for i, x := range s {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, x...)
	}
	return string(b)
}

// Resource is a named external system: a DuckDB file, a database URL, an
// HTTP API with its auth. Values named in Secret are redacted everywhere.
type Resource struct {
	Name   string
	Type   string            // duckdb, postgres, http, env, …
	Config map[string]string // resolved values (env interpolated)
	Secret []string          // config keys whose values are secret
}

// ResourceRedactor returns a redactor for the secrets of resources: the
// values of their Secret settings and the userinfo of URL-valued settings.
// Runners use it where the step runs, since secrets are never shipped.
func ResourceRedactor(resources map[string]Resource, extra ...string) *redact.Redactor {
	secrets := append([]string(nil), extra...)
	for _, r := range resources {
		secrets = append(secrets, redact.Settings(r.Config, r.Secret)...)
	}
	return redact.New(secrets...)
}

// Family describes how the assets whose Spec.Step equals Name are run.
type Family struct {
	Name   string
	Runner Runner
	// Multi: the family's selected assets run together as one step
	// (a dbt build, a Sling replication, a dlt pipeline).
	Multi bool
	// Subset: the runner can materialize any subset of the family's
	// assets, so a retry or --from-failure runs only what failed.
	Subset bool
	// Pools limit concurrency across steps: a step holds one slot of each.
	Pools   []string
	Retry   RetryPolicy
	Timeout time.Duration
	// Kind is shown in plans: command, dbt, sling, dlt, duckdb, plugin.
	Kind string
	// NoStepDir: the runner needs no scratch folder, so the engine does
	// not create one (creating files is the costliest part of a trivial
	// step on some file systems).
	NoStepDir bool
}

// RetryPolicy says how often and when a failed step is tried again.
type RetryPolicy struct {
	MaxRetries int           // retries after the first attempt
	Delay      time.Duration // before the first retry
	Backoff    string        // "exponential" (default), "linear" or "constant"
	MaxDelay   time.Duration // cap; 0 means no cap
	Jitter     float64       // 0..1: each delay is scaled by 1 ± Jitter·rand
}

// CheckRunner evaluates checks the engine runs after a materialization
// (CheckSpec.Runner names it), such as DuckDB SQL checks.
type CheckRunner interface {
	RunCheck(ctx context.Context, req *CheckRequest) (CheckResult, error)
}

// CheckRequest asks for one check of one asset.
type CheckRequest struct {
	RunID      string
	Asset      *asset.Spec
	Check      asset.CheckSpec
	Partition  *Partition
	ProjectDir string
	Resources  map[string]Resource
	// LastMaterialized is when the asset was last materialized, if known
	// (freshness checks).
	LastMaterialized time.Time
}

// CheckResult is the outcome of one check.
type CheckResult struct {
	Passed   bool
	Severity string // "error" or "warn"
	Message  string
	Metadata map[string]any
}
