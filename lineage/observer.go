package lineage

import (
	"context"
	"fmt"
	"os"
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
	o       Options
	in      chan engine.Event
	done    chan struct{}
	dropped atomic.Int64
	mu      sync.Mutex
	closed  bool
	steps   map[string]*stepState
	start   time.Time
	// problems explain a failed elt run when its event has no message.
	problems []string
	cache    *lineageCache
}

type stepState struct {
	id      string
	logPath string
	attempt int
	started bool
	ended   bool
	mats    map[asset.Key]map[string]any
	checks  map[asset.Key][]map[string]any
}

// NewObserver starts an observer.
func NewObserver(o Options) *Observer {
	if o.Parser == nil {
		o.Parser = &Parser{}
	}
	if o.Log == nil {
		o.Log = func(string, string) {}
	}
	ob := &Observer{o: o, in: make(chan engine.Event, DefaultQueue), done: make(chan struct{}), steps: map[string]*stepState{},
		cache: openCache(o.CacheFile)}
	go ob.loop()
	return ob
}

// Observe is the engine's Observe hook: it never blocks.
func (ob *Observer) Observe(ev engine.Event) {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	if ob.closed {
		return
	}
	select {
	case ob.in <- ev:
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
	for ev := range ob.in {
		ob.safeHandle(ev)
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

// inputs are the upstream assets of a step's assets outside the step.
func (ob *Observer) inputs(keys []asset.Key) []Dataset {
	in := map[asset.Key]bool{}
	for _, k := range keys {
		in[k] = true
	}
	seen := map[asset.Key]bool{}
	var out []Dataset
	for _, k := range keys {
		if ob.o.Deps == nil {
			break
		}
		for _, d := range ob.o.Deps(k) {
			if in[d] || seen[d] {
				continue
			}
			seen[d] = true
			out = append(out, ob.dataset(d, nil))
		}
	}
	return out
}

// dataset is an asset's dataset with its static facets; cols, when set,
// are the columns just materialized.
func (ob *Observer) dataset(k asset.Key, cols []Column) Dataset {
	a := ob.o.Assets[k]
	if a == nil {
		return Dataset{Namespace: ob.o.Namespace, Name: k.String()}
	}
	ds := Dataset{Namespace: a.Dataset.Namespace, Name: a.Dataset.Name, Facets: Facets{}}
	if cols == nil {
		cols = a.Columns
	}
	if len(cols) > 0 {
		fs := make([]map[string]any, len(cols))
		for i, c := range cols {
			fs[i] = map[string]any{"name": c.Name, "ordinal_position": i + 1}
			if c.Type != "" {
				fs[i]["type"] = c.Type
			}
		}
		ds.Facets["schema"] = newFacet("schema", map[string]any{"fields": fs})
	}
	if a.DataSourceURI != "" {
		ds.Facets["dataSource"] = newFacet("dataSource", map[string]any{"name": a.DataSourceName, "uri": a.DataSourceURI})
	}
	if len(ds.Facets) == 0 {
		ds.Facets = nil
	}
	return ds
}

func (ob *Observer) output(st *stepState, k asset.Key, done bool) Dataset {
	md := st.mats[k]
	cols := columnsOf(md)
	ds := ob.dataset(k, cols)
	if !done {
		return ds
	}
	if ds.Facets == nil {
		ds.Facets = Facets{}
	}
	if md != nil {
		stats := map[string]any{}
		if n, ok := intOf(md["rows"]); ok {
			stats["rowCount"] = n
		} else if n, ok := intOf(md["rows_inserted"]); ok {
			stats["rowCount"] = n
		}
		if n, ok := intOf(md["bytes"]); ok {
			stats["size"] = n
		}
		if len(stats) > 0 {
			ds.OutputFacets = Facets{"outputStatistics": newFacet("outputStatistics", stats)}
		}
	}
	if c := st.checks[k]; len(c) > 0 {
		ds.Facets["dataQualityAssertions"] = newFacet("dataQualityAssertions", map[string]any{"assertions": c})
	}
	if a := ob.o.Assets[k]; a != nil && md != nil {
		if cl := ob.columnLineage(st, a, cols); cl != nil {
			ds.Facets["columnLineage"] = cl
		}
	}
	if len(ds.Facets) == 0 {
		ds.Facets = nil
	}
	return ds
}

// columnLineage derives the columnLineage facet of a SQL asset, or logs
// why there is none.
func (ob *Observer) columnLineage(st *stepState, a *Asset, cols []Column) Facet {
	ob.loadCompiled(st, a)
	if a.SQL == "" || ob.o.Table == nil {
		return nil
	}
	if a.Script {
		ob.log(st, fmt.Sprintf("openlineage: no column lineage for %s: its SQL is a script (materialize: script), not one SELECT", a.Key))
		return nil
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	byName := make(map[string]*Asset, len(ob.o.Assets))
	for k, other := range ob.o.Assets {
		byName[k.String()] = other
	}
	key := cacheKey(a.SQL, names, byName)
	if e, ok := ob.cache.get(key); ok {
		if e.Err != "" {
			ob.log(st, fmt.Sprintf("openlineage: no column lineage for %s: %s", a.Key, e.Err))
			return nil
		}
		return columnLineageFacet(e.Lineage)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resolve := func(t TableRef) (DatasetID, []string) {
		ds := ob.o.Table(a.Key, t)
		for _, other := range ob.o.Assets {
			if other.Dataset == ds && other.Columns != nil && !other.Declared {
				cols := make([]string, len(other.Columns))
				for i, c := range other.Columns {
					cols[i] = c.Name
				}
				return ds, cols
			}
		}
		return ds, nil
	}
	cl, err := ob.o.Parser.ColumnLineage(ctx, a.SQL, resolve, names)
	if err != nil {
		if ctx.Err() == nil {
			ob.cache.put(key, cacheEntry{Err: err.Error()})
		}
		ob.log(st, fmt.Sprintf("openlineage: no column lineage for %s: %v", a.Key, err))
		return nil
	}
	ob.cache.put(key, cacheEntry{Lineage: cl})
	return columnLineageFacet(cl)
}

// loadCompiled reads the compiled SQL a tool wrote for a (once it exists).
func (ob *Observer) loadCompiled(st *stepState, a *Asset) {
	if a.CompiledFile == nil || st == nil {
		return
	}
	// The engine names an attempt's folder like its log, without .log.
	path := a.CompiledFile(strings.TrimSuffix(st.logPath, ".log"), st.attempt)
	if path == "" {
		return
	}
	if b, err := os.ReadFile(path); err == nil {
		a.SQL = strings.TrimSpace(string(b))
	}
}

// log notes msg in the step's log file and through Options.Log.
func (ob *Observer) log(st *stepState, msg string) {
	if st.logPath != "" {
		if f, err := os.OpenFile(st.logPath, os.O_APPEND|os.O_WRONLY, 0); err == nil {
			_, _ = f.WriteString(msg + "\n")
			_ = f.Close()
		}
	}
	ob.o.Log(st.id, msg)
}

func columnLineageFacet(cl *ColumnLineage) Facet {
	fields := map[string]any{}
	for name, in := range cl.Fields {
		fields[name] = map[string]any{"inputFields": in}
	}
	f := map[string]any{"fields": fields}
	if len(cl.Dataset) > 0 {
		f["dataset"] = cl.Dataset
	}
	return newFacet("columnLineage", f)
}

// jobFacets are a step's job facets: jobType, sql, sourceCodeLocation,
// ownership and documentation of its assets.
func (ob *Observer) jobFacets(st *stepState, keys []asset.Key) Facets {
	f := Facets{"jobType": jobTypeFacet("STEP")}
	var owners []map[string]any
	seenOwner := map[string]bool{}
	var sqls, docs []string
	dialect := ""
	for _, k := range keys {
		a := ob.o.Assets[k]
		if a == nil {
			continue
		}
		ob.loadCompiled(st, a)
		if a.SQL != "" {
			sqls = append(sqls, a.SQL)
			if strings.HasPrefix(a.Dataset.Namespace, "duckdb://") {
				dialect = "duckdb"
			}
		}
		if a.Description != "" {
			docs = append(docs, a.Description)
		}
		if a.SourceFile != "" && f["sourceCodeLocation"] == nil {
			f["sourceCodeLocation"] = newFacet("sourceCodeLocation", map[string]any{"type": "file", "url": "file://" + a.SourceFile, "path": a.SourceFile})
		}
		for _, o := range a.Owners {
			if !seenOwner[o] {
				seenOwner[o] = true
				owners = append(owners, map[string]any{"name": o})
			}
		}
	}
	if len(sqls) > 0 {
		sf := map[string]any{"query": strings.Join(sqls, ";\n")}
		if dialect != "" {
			sf["dialect"] = dialect
		}
		f["sql"] = newFacet("sql", sf)
	}
	if len(owners) > 0 {
		f["ownership"] = newFacet("jobOwnership", map[string]any{"owners": owners})
	}
	if len(docs) > 0 {
		f["documentation"] = newFacet("jobDocumentation", map[string]any{"description": strings.Join(docs, "\n"), "contentType": "text/plain"})
	}
	return f
}

// columnsOf reads the columns a materialization reported.
func columnsOf(md map[string]any) []Column {
	raw, _ := md["columns"].([]any)
	if raw == nil {
		if cs, ok := md["columns"].([]map[string]any); ok {
			for _, c := range cs {
				raw = append(raw, c)
			}
		}
	}
	var out []Column
	for _, r := range raw {
		m, ok := r.(map[string]any)
		if !ok {
			continue
		}
		n, _ := m["name"].(string)
		t, _ := m["type"].(string)
		if n != "" {
			out = append(out, Column{Name: n, Type: t})
		}
	}
	return out
}

func intOf(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int64:
		return n, true
	case float64:
		return int64(n), true
	case uint64:
		return int64(n), true
	}
	return 0, false
}
