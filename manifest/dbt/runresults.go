package dbt

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// Supported run_results schema versions. v2 and v3 (dbt 0.19–0.21) are
// read too: their result entries have the same shape.
const (
	MinRunResultsVersion = 2
	MaxRunResultsVersion = 6
)

// RunResults is a parsed dbt run_results.json.
type RunResults struct {
	Name          string // file, for messages
	SchemaVersion int
	DbtVersion    string
	GeneratedAt   string
	InvocationID  string
	ElapsedTime   float64
	// Args are the invocation's arguments (which, select, …) as JSON values.
	Args    map[string]any
	Results []Result
}

// Result is the outcome of one node in a dbt invocation.
type Result struct {
	UniqueID string
	// Status is what dbt wrote: success, error, skipped for models, seeds
	// and snapshots; pass, fail, warn, error, skipped for tests; runtime
	// error, and others, for source freshness.
	Status        string
	Timing        []Timing
	ThreadID      string
	ExecutionTime float64
	Message       string
	// Failures is the number of failing rows of a test; nil when null.
	Failures        *int
	AdapterResponse map[string]any
	// RelationName is set from run_results v5 on.
	RelationName string
	CompiledCode string
}

// Timing is one phase (compile, execute) of a result.
type Timing struct {
	Name        string
	StartedAt   string
	CompletedAt string
}

// RowsAffected returns adapter_response.rows_affected and whether it was
// reported.
func (r *Result) RowsAffected() (int64, bool) {
	v, ok := r.AdapterResponse["rows_affected"].(float64)
	return int64(v), ok
}

// ReadRunResults reads and parses the run_results.json at path.
func ReadRunResults(path string) (*RunResults, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read dbt run results: %w", err)
	}
	return ParseRunResults(data, path)
}

// ParseRunResults parses run_results.json content; name labels errors.
func ParseRunResults(data []byte, name string) (*RunResults, error) {
	if !gjson.ValidBytes(data) {
		return nil, fmt.Errorf("%s: not a dbt run_results.json: the file is not valid JSON; pass the target/run_results.json written by dbt", name)
	}
	doc := gjson.ParseBytes(data)
	if !doc.IsObject() {
		return nil, fmt.Errorf("%s: not a dbt run_results.json: expected a JSON object; pass the target/run_results.json written by dbt", name)
	}
	sv := doc.Get("metadata.dbt_schema_version").String()
	i := strings.Index(sv, "/run-results/v")
	if i < 0 {
		return nil, fmt.Errorf("%s: not a dbt run_results.json: metadata.dbt_schema_version is %q; expected \".../run-results/vN.json\"", name, sv)
	}
	v, err := strconv.Atoi(strings.TrimSuffix(sv[i+len("/run-results/v"):], ".json"))
	if err != nil {
		return nil, fmt.Errorf("%s: not a dbt run_results.json: metadata.dbt_schema_version %q has no version number", name, sv)
	}
	if v < MinRunResultsVersion || v > MaxRunResultsVersion {
		return nil, fmt.Errorf("%s: dbt run_results schema v%d is not supported (elt reads v%d to v%d)", name, v, MinRunResultsVersion, MaxRunResultsVersion)
	}
	rr := &RunResults{
		Name:          name,
		SchemaVersion: v,
		DbtVersion:    doc.Get("metadata.dbt_version").String(),
		GeneratedAt:   doc.Get("metadata.generated_at").String(),
		InvocationID:  doc.Get("metadata.invocation_id").String(),
		ElapsedTime:   doc.Get("elapsed_time").Float(),
	}
	rr.Args, _ = toAny(doc.Get("args")).(map[string]any)
	results := doc.Get("results")
	if results.Exists() && !results.IsArray() {
		return nil, fmt.Errorf("%s: results must be a list", name)
	}
	var bad error
	results.ForEach(func(k, r gjson.Result) bool {
		res, err := parseResult(r)
		if err != nil {
			bad = fmt.Errorf("%s: results[%d]: %w", name, int(k.Num), err)
			return false
		}
		rr.Results = append(rr.Results, res)
		return true
	})
	if bad != nil {
		return nil, bad
	}
	return rr, nil
}

func parseResult(r gjson.Result) (Result, error) {
	if !r.IsObject() {
		return Result{}, fmt.Errorf("a result must be an object")
	}
	res := Result{
		UniqueID:      r.Get("unique_id").String(),
		Status:        r.Get("status").String(),
		ThreadID:      r.Get("thread_id").String(),
		ExecutionTime: r.Get("execution_time").Float(),
		Message:       r.Get("message").String(),
		RelationName:  r.Get("relation_name").String(),
		CompiledCode:  r.Get("compiled_code").String(),
	}
	if res.UniqueID == "" {
		return res, fmt.Errorf("result has no unique_id")
	}
	if f := r.Get("failures"); f.Type == gjson.Number {
		n := int(f.Int())
		res.Failures = &n
	}
	res.AdapterResponse, _ = toAny(r.Get("adapter_response")).(map[string]any)
	r.Get("timing").ForEach(func(_, t gjson.Result) bool {
		res.Timing = append(res.Timing, Timing{
			Name:        t.Get("name").String(),
			StartedAt:   t.Get("started_at").String(),
			CompletedAt: t.Get("completed_at").String(),
		})
		return true
	})
	return res, nil
}
