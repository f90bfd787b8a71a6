package sling

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
)

// RuntimeState is the part of Sling's runtime state ({runtime_state}, the
// ReplicationState struct of core/sling/task_state.go in sling-cli) that
// elt reads. Fields are decoded leniently: unknown fields are ignored and
// numbers may arrive as numbers or strings.
type RuntimeState struct {
	Execution ExecutionState       `json:"execution"`
	Runs      map[string]*RunState `json:"runs"`
}

// ExecutionState sums up the whole replication.
type ExecutionState struct {
	ID         string         `json:"id"`
	TotalBytes flexInt        `json:"total_bytes"`
	TotalRows  flexInt        `json:"total_rows"`
	Status     map[string]int `json:"status"` // count, success, error, skipped, …
	Duration   flexInt        `json:"duration"`
	Error      *string        `json:"error"`
}

// RunState is one stream run, keyed in Runs by Sling's run id (the cleaned
// stream name, such as public_run_state_test).
type RunState struct {
	ID         string       `json:"id"`
	Stream     *StreamState `json:"stream"`
	Object     *ObjectState `json:"object"`
	TotalBytes flexInt      `json:"total_bytes"`
	TotalRows  flexInt      `json:"total_rows"`
	Status     string       `json:"status"`
	Duration   flexInt      `json:"duration"`
	Error      *string      `json:"error"`
	StartTime  string       `json:"start_time"`
	EndTime    string       `json:"end_time"`
	Range      string       `json:"range"`
	// IncrementalValue is the value the incremental run started from.
	IncrementalValue any `json:"incremental_value"`
}

// StreamState names the stream of a run.
type StreamState struct {
	Name     string `json:"name"`
	Schema   string `json:"schema"`
	Table    string `json:"table"`
	FullName string `json:"full_name"`
	FilePath string `json:"file_path"`
}

// ObjectState names the target object of a run.
type ObjectState struct {
	Name     string `json:"name"`
	Schema   string `json:"schema"`
	Table    string `json:"table"`
	FullName string `json:"full_name"`
}

// flexInt decodes a JSON number or numeric string; anything else is 0.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		var s string
		if json.Unmarshal(b, &s) == nil {
			n = json.Number(s)
		} else {
			*f = 0
			return nil
		}
	}
	if i, err := n.Int64(); err == nil {
		*f = flexInt(i)
	} else if fl, err := n.Float64(); err == nil {
		*f = flexInt(fl)
	}
	return nil
}

// ParseRuntimeState decodes the JSON the state hook writes. Sling may wrap
// it in quotes when the hook content is quoted; both forms are accepted.
func ParseRuntimeState(b []byte) (*RuntimeState, error) {
	b = []byte(strings.TrimSpace(string(b)))
	if len(b) == 0 {
		return nil, errors.New("runtime state is empty")
	}
	if b[0] == '\'' && len(b) > 1 && b[len(b)-1] == '\'' {
		b = b[1 : len(b)-1]
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, fmt.Errorf("runtime state: %w", err)
		}
		b = []byte(s)
	}
	var st RuntimeState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("runtime state: %w", err)
	}
	return &st, nil
}

type outcomeStatus int

const (
	outcomeUnknown outcomeStatus = iota
	outcomeOK
	outcomeFailed
	outcomeSkipped
)

// outcome is what happened to one planned stream (summed over the tables
// of a wildcard stream).
type outcome struct {
	status   outcomeStatus
	rows     int64
	bytes    int64
	duration int64
	tables   []string
	err      string
	source   string // "runtime_state" or "log"
}

func (o *outcome) metadata() map[string]any {
	md := map[string]any{}
	if o.source != "" {
		md["source"] = o.source
		md["rows"] = o.rows
	}
	if o.bytes > 0 {
		md["bytes"] = o.bytes
	}
	if o.duration > 0 {
		md["duration_s"] = o.duration
	}
	if len(o.tables) == 1 {
		md["table"] = o.tables[0]
	} else if len(o.tables) > 1 {
		md["tables"] = o.tables
	}
	return md
}

// normName is the form stream names are compared in: quotes dropped,
// lower case.
func normName(s string) string { return strings.ToLower(strings.ReplaceAll(s, `"`, "")) }

// cleanID mirrors Sling's run id: non-alphanumerics become "_".
func cleanID(s string) string {
	b := []byte(normName(s))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// matchRun reports whether run belongs to the planned stream name.
func matchRun(stream, id string, run *RunState) bool {
	want := normName(stream)
	if run.Stream != nil && run.Stream.Name != "" {
		got := normName(run.Stream.Name)
		if got == want {
			return true
		}
		if ok, _ := path.Match(want, got); ok && strings.ContainsAny(want, "*?") {
			return true
		}
	}
	return cleanID(stream) == strings.ToLower(id)
}

// claimedElsewhere reports whether a run a wildcard stream matched is the
// exact name of another planned stream (Sling runs an explicit stream with
// its own settings, not as part of the wildcard).
func claimedElsewhere(plan []planned, stream string, run *RunState) bool {
	if !strings.ContainsAny(stream, "*?") || run.Stream == nil {
		return false
	}
	got := normName(run.Stream.Name)
	for _, p := range plan {
		if p.stream != stream && normName(p.stream) == got {
			return true
		}
	}
	return false
}

// collect decides each planned stream's outcome: the runtime state when it
// mentions the stream, else the log, else the exit status (success with a
// zero exit means Sling ran it without a word, such as an empty wildcard).
func collect(plan []planned, st *RuntimeState, lp *logProgress, exitOK bool) map[string]*outcome {
	out := map[string]*outcome{}
	var ids []string
	if st != nil {
		for id := range st.Runs {
			ids = append(ids, id)
		}
		sort.Strings(ids)
	}
	for _, p := range plan {
		o := &outcome{}
		out[p.stream] = o
		for _, id := range ids {
			run := st.Runs[id]
			if run == nil || !matchRun(p.stream, id, run) || claimedElsewhere(plan, p.stream, run) {
				continue
			}
			o.source = "runtime_state"
			o.rows += int64(run.TotalRows)
			o.bytes += int64(run.TotalBytes)
			o.duration += int64(run.Duration)
			if run.Object != nil && run.Object.FullName != "" {
				o.tables = append(o.tables, run.Object.FullName)
			}
			switch strings.ToLower(run.Status) {
			case "success", "warning":
				if o.status == outcomeUnknown || o.status == outcomeSkipped {
					o.status = outcomeOK
				}
			case "skipped":
				if o.status == outcomeUnknown {
					o.status = outcomeSkipped
				}
			default: // error, timed-out, interrupted, terminated, stalled, running…
				o.status = outcomeFailed
				msg := "stream ended with status " + run.Status
				if run.Error != nil && *run.Error != "" {
					msg = *run.Error
				}
				if o.err != "" {
					o.err += "; "
				}
				o.err += msg
			}
		}
		if o.status != outcomeUnknown {
			continue
		}
		if lo, ok := lp.result(p.stream); ok {
			*o = lo
			o.source = "log"
			continue
		}
		// Sling exits non-zero when any stream fails, so a clean exit
		// vouches for streams neither the state nor the log mentioned.
		if exitOK {
			o.status = outcomeOK
		} else {
			o.status = outcomeFailed
		}
	}
	return out
}
