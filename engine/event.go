package engine

import (
	"time"

	"github.com/eltproject/elt/asset"
)

// EventType names what an Event reports.
type EventType string

// Event types. Runners emit the asset, check and log types; the engine emits
// the run and step types.
const (
	RunStarted   EventType = "run_started"
	RunSucceeded EventType = "run_succeeded"
	RunFailed    EventType = "run_failed"
	RunCanceled  EventType = "run_canceled"

	StepStarted   EventType = "step_started"
	StepSucceeded EventType = "step_succeeded"
	StepFailed    EventType = "step_failed"
	StepRetrying  EventType = "step_retrying"
	StepSkipped   EventType = "step_skipped"

	AssetMaterialized EventType = "asset_materialized"
	AssetFailed       EventType = "asset_failed"
	AssetSkipped      EventType = "asset_skipped"
	CheckEvaluated    EventType = "check_evaluated"
	Log               EventType = "log"
)

// Status values of runs, steps and assets, as in Bruin and Airflow.
const (
	StatusPending        = "pending"
	StatusQueued         = "queued"
	StatusRunning        = "running"
	StatusSucceeded      = "succeeded"
	StatusFailed         = "failed"
	StatusUpstreamFailed = "upstream_failed"
	StatusBlockedByCheck = "blocked_by_check"
	StatusSkipped        = "skipped"
	StatusCanceled       = "canceled"
)

// Event is one thing that happened in a run. It is the unit the run store
// records and `-o json` prints, one JSON object per line.
type Event struct {
	Type      EventType `json:"type"`
	Time      time.Time `json:"time"`
	RunID     string    `json:"run_id"`
	StepID    string    `json:"step_id,omitempty"`
	Attempt   int       `json:"attempt,omitempty"`
	Asset     asset.Key `json:"asset,omitzero"`
	Check     string    `json:"check,omitempty"`
	Partition string    `json:"partition,omitempty"`
	// Status: for step and asset events the resulting status; for checks
	// "passed", "failed" (or "warn" for a failed non-blocking check).
	Status string `json:"status,omitempty"`
	// Passed is set on CheckEvaluated.
	Passed   *bool          `json:"passed,omitempty"`
	Severity string         `json:"severity,omitempty"`
	Blocking bool           `json:"blocking,omitempty"`
	Message  string         `json:"message,omitempty"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

// Materialized is a convenience constructor for AssetMaterialized.
func Materialized(k asset.Key, md map[string]any) Event {
	return Event{Type: AssetMaterialized, Asset: k, Status: StatusSucceeded, Metadata: md}
}

// Checked is a convenience constructor for CheckEvaluated.
func Checked(k asset.Key, check string, r CheckResult) Event {
	passed := r.Passed
	return Event{Type: CheckEvaluated, Asset: k, Check: check, Passed: &passed, Severity: r.Severity, Message: r.Message, Metadata: r.Metadata}
}

// LogLine is a convenience constructor for Log.
func LogLine(msg string) Event { return Event{Type: Log, Message: msg} }
