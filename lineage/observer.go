package lineage

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
)

// Column is one column of a dataset.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Asset is what the observer knows about one asset before the run.
type Asset struct {
	Key     asset.Key
	Dataset DatasetID
	// DataSource names the system holding the dataset (dataSource facet).
	DataSourceName, DataSourceURI string
	// SQL is the asset's compiled SELECT (refs resolved), for the sql job
	// facet and column lineage; Script marks SQL that is a script of
	// several statements (no column lineage).
	SQL    string
	Script bool
	// CompiledFile returns where a tool writes the asset's compiled
	// SELECT during a step attempt (dbt's target/compiled), given the
	// attempt's folder and number; read when the step ends.
	CompiledFile func(stepDir string, attempt int) string
	// SourceFile is the absolute path of the file defining the asset.
	SourceFile  string
	Owners      []string
	Description string
	// Columns known from the last materialization (nil when unknown).
	Columns []Column
	// Declared marks Columns taken from a declaration (dbt's manifest),
	// which may be incomplete: they name the schema facet but never
	// expand a SELECT *.
	Declared bool
	// CheckColumns maps a check name to the column it tests.
	CheckColumns map[string]string
}

// Options configure an Observer for one elt run.
type Options struct {
	Namespace string
	// Job is the elt job's name, or the project's for ad-hoc runs.
	Job     string
	RunID   string
	Trigger string
	// Partition of a partitioned run (nil otherwise).
	Partition *engine.Partition
	// Steps maps step ids to the assets they materialize.
	Steps map[string][]asset.Key
	// Deps returns an asset's upstream assets.
	Deps   func(asset.Key) []asset.Key
	Assets map[asset.Key]*Asset
	// Table maps a table named in an asset's SQL to its dataset (for
	// column lineage).
	Table   func(from asset.Key, t TableRef) DatasetID
	Parser  *Parser
	Emitter *Emitter
	// Log writes a line to a step's log (why column lineage is missing).
	Log func(stepID, msg string)
	// Version is elt's version, for the processing_engine facet.
	Version string
	// CacheFile keeps derived column lineage between runs ("" for none).
	CacheFile string
	// Warn hears about events that could not be built.
	Warn func(string)
	// Catalog reads the columns of a finished step's assets from their
	// database's catalog (DuckDB's duckdb_columns()). It is called from
	// Observe on step_succeeded, while the step still holds its pools (so
	// no other writer has the file), once per step, for the assets whose
	// materialization reported no columns; it returns what it could read.
	Catalog func(ctx context.Context, stepID string, keys []asset.Key) (map[asset.Key][]Column, error)
}

// RunUUID derives the OpenLineage run id of an elt run (step "") or of
// one of its steps: a UUIDv5, so the same elt run always maps to the same
// OpenLineage run.
func RunUUID(eltRunID, step string) string {
	name := "elt-run:" + eltRunID
	if step != "" {
		name += "/step:" + step
	}
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte(name)).String()
}

// Observer turns engine events into OpenLineage events. Observe only
// queues; a goroutine builds and emits the events, so a run never waits
// for lineage.
type Observer struct {
	o Options
	// in holds pointers: a queue of DefaultQueue events by value would
	// allocate about a megabyte per run.
	in      chan *queued
	done    chan struct{}
	dropped atomic.Int64
	mu      sync.Mutex
	closed  bool
	steps   map[string]*stepState
	start   time.Time
	// problems explain a failed elt run when its event has no message.
	problems []string
	cache    *lineageCache
	// bare lists, per step, the assets materialized without columns (kept
	// by Observe, under mu, for Options.Catalog).
	bare map[string][]asset.Key
}

// queued is an engine event with the columns read from the catalog when
// its step ended.
type queued struct {
	ev      engine.Event
	catalog map[asset.Key][]Column
	catErr  error
}

type stepState struct {
	id      string
	logPath string
	attempt int
	started bool
	ended   bool
	mats    map[asset.Key]map[string]any
	checks  map[asset.Key][]map[string]any
	// catalog holds the columns read from the database after the step.
	catalog map[asset.Key][]Column
}

// NewObserver starts an observer.
func NewObserver(o Options) *Observer {
	if o.Parser == nil {
		o.Parser = &Parser{}
	}
	if o.Log == nil {
		o.Log = func(string, string) {}
	}
	ob := &Observer{o: o, in: make(chan *queued, DefaultQueue), done: make(chan struct{}), steps: map[string]*stepState{},
		cache: openCache(o.CacheFile), bare: map[string][]asset.Key{}}
	go ob.loop()
	return ob
}

// Observe is the engine's Observe hook: it never waits for the receiver.
// The one synchronous piece is Options.Catalog at a step's end (one
// read-only query per step whose assets reported no columns).
func (ob *Observer) Observe(ev engine.Event) {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	if ob.closed {
		return
	}
	q := &queued{ev: ev}
	switch ev.Type {
	case engine.AssetMaterialized:
		if ob.o.Catalog != nil && columnsOf(ev.Metadata) == nil {
			ob.bare[ev.StepID] = append(ob.bare[ev.StepID], ev.Asset)
		}
	case engine.StepSucceeded:
		if keys := ob.bare[ev.StepID]; len(keys) > 0 {
			delete(ob.bare, ev.StepID)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			q.catalog, q.catErr = ob.o.Catalog(ctx, ev.StepID, keys)
			cancel()
		}
	case engine.StepFailed, engine.StepStarted:
		delete(ob.bare, ev.StepID)
	}
	select {
	case ob.in <- q:
	default:
		ob.dropped.Add(1)
	}
}

// Close waits up to timeout for queued events to be built and sent.
func (ob *Observer) Close(timeout time.Duration) (sent, lost int64) {
	deadline := time.Now().Add(timeout)
	ob.mu.Lock()
	if !ob.closed {
		ob.closed = true
		close(ob.in)
	}
	ob.mu.Unlock()
	select {
	case <-ob.done:
		ob.cache.save()
	case <-time.After(timeout):
	}
	s, l := ob.o.Emitter.Close(time.Until(deadline))
	return s, l + ob.dropped.Load()
}

func (ob *Observer) loop() {
	defer close(ob.done)
	for q := range ob.in {
		if q.catalog != nil || q.catErr != nil {
			ob.setCatalog(*q)
		}
		ob.safeHandle(q.ev)
	}
}

// safeHandle keeps a bug in building lineage from ever stopping a run:
// the event is dropped and counted.
func (ob *Observer) safeHandle(ev engine.Event) {
	defer func() {
		if r := recover(); r != nil {
			ob.dropped.Add(1)
			if ob.o.Warn != nil {
				ob.o.Warn(fmt.Sprintf("openlineage: internal error building the event for %s %s: %v", ev.Type, ev.StepID, r))
			}
		}
	}()
	ob.handle(ev)
}

func (ob *Observer) rootJob() string { return ob.o.Job }

func (ob *Observer) handle(ev engine.Event) {
	switch ev.Type {
	case engine.RunStarted:
		ob.start = ev.Time
		ob.emitRoot(Start, ev)
	case engine.RunSucceeded:
		ob.emitRoot(Complete, ev)
	case engine.RunFailed:
		if ev.Message == "" && len(ob.problems) > 0 {
			ev.Message = strings.Join(ob.problems, "; ")
		}
		ob.abortOpen(ev)
		ob.emitRoot(Fail, ev)
	case engine.RunCanceled:
		ob.abortOpen(ev)
		ob.emitRoot(Abort, ev)
	case engine.StepStarted:
		st := ob.step(ev.StepID)
		if lp, ok := ev.Metadata["log_path"].(string); ok {
			st.logPath = lp
		}
		st.attempt = ev.Attempt
		if st.started {
			ob.emitStep(st, Running, ev)
			return
		}
		st.started = true
		ob.emitStep(st, Start, ev)
	case engine.AssetMaterialized:
		st := ob.step(ev.StepID)
		st.mats[ev.Asset] = ev.Metadata
		if a := ob.o.Assets[ev.Asset]; a != nil {
			if cols := columnsOf(ev.Metadata); cols != nil {
				a.Columns, a.Declared = cols, false
			}
		}
	case engine.CheckEvaluated:
		st := ob.step(ev.StepID)
		if ev.Passed != nil && !*ev.Passed && ev.Blocking {
			ob.problems = append(ob.problems, fmt.Sprintf("blocking check %s of %s failed: %s", ev.Check, ev.Asset, ev.Message))
		}
		if ev.Passed != nil {
			a := map[string]any{"assertion": ev.Check, "success": *ev.Passed}
			if ev.Severity != "" {
				a["severity"] = ev.Severity
			}
			if as := ob.o.Assets[ev.Asset]; as != nil && as.CheckColumns[ev.Check] != "" {
				a["column"] = as.CheckColumns[ev.Check]
			}
			st.checks[ev.Asset] = append(st.checks[ev.Asset], a)
		}
	case engine.StepSucceeded:
		st := ob.step(ev.StepID)
		st.ended = true
		ob.emitStep(st, Complete, ev)
	case engine.StepFailed:
		st := ob.step(ev.StepID)
		if !st.started {
			return
		}
		st.ended = true
		ob.problems = append(ob.problems, fmt.Sprintf("step %s %s: %s", st.id, ev.Status, ev.Message))
		if ev.Status == engine.StatusCanceled {
			ob.emitStep(st, Abort, ev)
			return
		}
		ob.emitStep(st, Fail, ev)
	}
}

func (ob *Observer) step(id string) *stepState {
	st := ob.steps[id]
	if st == nil {
		st = &stepState{id: id, mats: map[asset.Key]map[string]any{}, checks: map[asset.Key][]map[string]any{}}
		ob.steps[id] = st
	}
	return st
}

// abortOpen ends the step runs the engine left open.
func (ob *Observer) abortOpen(ev engine.Event) {
	for _, st := range ob.steps {
		if st.started && !st.ended {
			st.ended = true
			ob.emitStep(st, Abort, engine.Event{Time: ev.Time, Message: ev.Message})
		}
	}
}

func (ob *Observer) emitRoot(typ string, ev engine.Event) {
	re := RunEvent{EventType: typ, EventTime: ev.Time, Producer: Producer, SchemaURL: SchemaURL + "#/$defs/RunEvent",
		Run: Run{RunID: RunUUID(ob.o.RunID, ""), Facets: ob.runFacets(typ, ev)},
		Job: Job{Namespace: ob.o.Namespace, Name: ob.rootJob(), Facets: Facets{"jobType": jobTypeFacet("JOB")}}}
	ob.o.Emitter.Emit(re)
}

func (ob *Observer) runFacets(typ string, ev engine.Event) Facets {
	f := Facets{}
	if p := ob.o.Partition; p.HasWindow() {
		nt := map[string]any{"nominalStartTime": p.Start.UTC().Format(time.RFC3339)}
		if !p.End.IsZero() {
			nt["nominalEndTime"] = p.End.UTC().Format(time.RFC3339)
		}
		f["nominalTime"] = newFacet("nominalTime", nt)
	} else if strings.HasPrefix(ob.o.Trigger, "schedule:") && !ob.start.IsZero() {
		f["nominalTime"] = newFacet("nominalTime", map[string]any{"nominalStartTime": ob.start.UTC().Truncate(time.Minute).Format(time.RFC3339)})
	}
	params := []map[string]any{{"key": "elt.run_id", "value": ob.o.RunID}}
	if ob.o.Trigger != "" {
		params = append(params, map[string]any{"key": "elt.trigger", "value": ob.o.Trigger})
	}
	if p := ob.o.Partition; p != nil {
		params = append(params, map[string]any{"key": "elt.partition", "name": "partition key", "value": p.Key})
		if len(p.Keys) > 1 {
			params = append(params, map[string]any{"key": "elt.partition_range", "name": "partition range",
				"value": p.Keys[0] + ".." + p.Keys[len(p.Keys)-1]})
		}
	}
	f["executionParameters"] = newFacet("executionParameters", map[string]any{"parameters": params})
	if typ == Start {
		f["processing_engine"] = newFacet("processing_engine", map[string]any{"name": "elt", "version": orUnknown(ob.o.Version)})
	}
	if typ == Fail && ev.Message != "" {
		f["errorMessage"] = newFacet("errorMessage", map[string]any{"message": ev.Message, "programmingLanguage": "elt"})
	}
	return f
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func jobTypeFacet(jobType string) Facet {
	return newFacet("jobType", map[string]any{"processingType": "BATCH", "integration": "ELT", "jobType": jobType})
}

func (ob *Observer) emitStep(st *stepState, typ string, ev engine.Event) {
	rf := ob.runFacets(typ, ev)
	delete(rf, "processing_engine")
	rf["parent"] = newFacet("parent", map[string]any{
		"run":  map[string]any{"runId": RunUUID(ob.o.RunID, "")},
		"job":  map[string]any{"namespace": ob.o.Namespace, "name": ob.rootJob()},
		"root": map[string]any{"run": map[string]any{"runId": RunUUID(ob.o.RunID, "")}, "job": map[string]any{"namespace": ob.o.Namespace, "name": ob.rootJob()}},
	})
	keys := ob.o.Steps[st.id]
	re := RunEvent{EventType: typ, EventTime: ev.Time, Producer: Producer, SchemaURL: SchemaURL + "#/$defs/RunEvent",
		Run: Run{RunID: RunUUID(ob.o.RunID, st.id), Facets: rf},
		Job: Job{Namespace: ob.o.Namespace, Name: st.id, Facets: ob.jobFacets(st, keys)}}
	re.Inputs = ob.inputs(keys)
	done := typ == Complete || typ == Fail
	for _, k := range keys {
		re.Outputs = append(re.Outputs, ob.output(st, k, done))
	}
	ob.o.Emitter.Emit(re)
}
