package dlt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// LoadInfoEventType is the "type" of the events-file line that carries
// dlt's load info (see the integrations/dlt package for the snippet that
// writes it).
const LoadInfoEventType = "dlt_load_info"

// LoadInfo is dlt's LoadInfo as LoadInfo.asdict() returns it, serialized
// with json.dumps(..., default=str). Only what elt uses is kept; credentials
// shown by dlt (destination_displayable_credentials) are dropped.
type LoadInfo struct {
	PipelineName    string
	DestinationType string
	DestinationName string
	DatasetName     string
	// LoadIDs lists the packages of this run (loads_ids).
	LoadIDs   []string
	Packages  []LoadPackage
	StartedAt string
	FirstRun  bool
	// RowCounts is the optional "row_counts" object the snippet adds beside
	// load_info (normalize step row counts by table); nil when absent.
	RowCounts map[string]int64
}

// LoadPackage is one load package of a LoadInfo.
type LoadPackage struct {
	LoadID string
	// State is the package status: new, extracted, normalized, loaded or
	// aborted.
	State       string
	SchemaName  string
	SchemaHash  string
	CompletedAt string
	Jobs        []LoadJob
}

// LoadJob is one job (one file for one table) of a package.
type LoadJob struct {
	// State is new_jobs, started_jobs, completed_jobs or failed_jobs.
	State         string
	TableName     string
	JobID         string
	FileFormat    string
	FailedMessage string
}

// Failed reports whether the job ended in failed_jobs.
func (j LoadJob) Failed() bool { return j.State == "failed_jobs" }

// FailedJobs returns the package's failed jobs.
func (p LoadPackage) FailedJobs() []LoadJob {
	var out []LoadJob
	for _, j := range p.Jobs {
		if j.Failed() {
			out = append(out, j)
		}
	}
	return out
}

// HasFailedJobs reports whether any package has a failed job.
func (li *LoadInfo) HasFailedJobs() bool {
	for _, p := range li.Packages {
		if len(p.FailedJobs()) > 0 {
			return true
		}
	}
	return false
}

// text accepts what json.dumps(default=str) may write where dlt has a
// string, a datetime or None.
type text string

// UnmarshalJSON takes a string, null (as "") or a scalar's text.
func (t *text) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*t = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = text(s)
	case len(b) > 0 && (b[0] == '{' || b[0] == '['):
		return fmt.Errorf("want a string, got %s", b[:1])
	default:
		*t = text(b)
	}
	return nil
}

type rawLoadInfo struct {
	Pipeline struct {
		PipelineName text `json:"pipeline_name"`
	} `json:"pipeline"`
	DestinationType text   `json:"destination_type"`
	DestinationName text   `json:"destination_name"`
	DatasetName     text   `json:"dataset_name"`
	LoadsIDs        []text `json:"loads_ids"`
	LoadPackages    []struct {
		LoadID      text `json:"load_id"`
		State       text `json:"state"`
		SchemaName  text `json:"schema_name"`
		SchemaHash  text `json:"schema_hash"`
		CompletedAt text `json:"completed_at"`
		Jobs        []struct {
			State         text `json:"state"`
			TableName     text `json:"table_name"`
			JobID         text `json:"job_id"`
			FileFormat    text `json:"file_format"`
			FailedMessage text `json:"failed_message"`
		} `json:"jobs"`
	} `json:"load_packages"`
	StartedAt text  `json:"started_at"`
	FirstRun  *bool `json:"first_run"`
}

// ParseLoadInfo parses the JSON of LoadInfo.asdict().
func ParseLoadInfo(b []byte) (*LoadInfo, error) {
	var r rawLoadInfo
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("not dlt load info (LoadInfo.asdict()): %w", err)
	}
	li := &LoadInfo{
		PipelineName:    string(r.Pipeline.PipelineName),
		DestinationType: string(r.DestinationType),
		DestinationName: string(r.DestinationName),
		DatasetName:     string(r.DatasetName),
		StartedAt:       string(r.StartedAt),
		FirstRun:        r.FirstRun != nil && *r.FirstRun,
	}
	for _, id := range r.LoadsIDs {
		li.LoadIDs = append(li.LoadIDs, string(id))
	}
	for _, rp := range r.LoadPackages {
		p := LoadPackage{
			LoadID:      string(rp.LoadID),
			State:       string(rp.State),
			SchemaName:  string(rp.SchemaName),
			SchemaHash:  string(rp.SchemaHash),
			CompletedAt: string(rp.CompletedAt),
		}
		for _, rj := range rp.Jobs {
			p.Jobs = append(p.Jobs, LoadJob{
				State:         string(rj.State),
				TableName:     string(rj.TableName),
				JobID:         string(rj.JobID),
				FileFormat:    string(rj.FileFormat),
				FailedMessage: string(rj.FailedMessage),
			})
		}
		li.Packages = append(li.Packages, p)
	}
	if len(li.LoadIDs) == 0 {
		for _, p := range li.Packages {
			li.LoadIDs = append(li.LoadIDs, p.LoadID)
		}
	}
	return li, nil
}

// ParseLoadInfoEvent parses one events-file line of type dlt_load_info:
// {"type": "dlt_load_info", "load_info": {...}, "row_counts": {...}}.
func ParseLoadInfoEvent(b []byte) (*LoadInfo, error) {
	var ev struct {
		Type      string                     `json:"type"`
		LoadInfo  json.RawMessage            `json:"load_info"`
		RowCounts map[string]json.RawMessage `json:"row_counts"`
	}
	if err := json.Unmarshal(b, &ev); err != nil {
		return nil, fmt.Errorf("not a %s event: %w", LoadInfoEventType, err)
	}
	if ev.Type != LoadInfoEventType {
		return nil, fmt.Errorf("event type is %q, want %q", ev.Type, LoadInfoEventType)
	}
	if len(bytes.TrimSpace(ev.LoadInfo)) == 0 || bytes.Equal(bytes.TrimSpace(ev.LoadInfo), []byte("null")) {
		return nil, fmt.Errorf("%s event has no \"load_info\" (write info.asdict() there)", LoadInfoEventType)
	}
	li, err := ParseLoadInfo(ev.LoadInfo)
	if err != nil {
		return nil, err
	}
	for table, raw := range ev.RowCounts {
		n, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s event: row_counts[%q] is %s, want an integer", LoadInfoEventType, table, raw)
		}
		if li.RowCounts == nil {
			li.RowCounts = map[string]int64{}
		}
		li.RowCounts[table] = n
	}
	return li, nil
}
