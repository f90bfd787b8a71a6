package dbt

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"

	"github.com/tidwall/gjson"
)

// logLine is one line of dbt's structured log (--log-format json):
//
//	{"data": {...}, "info": {"name": "NodeFinished", "level": "debug", "msg": "...", ...}}
//
// Only the parts the runner uses are kept.
type logLine struct {
	Name  string // info.name: NodeStart, LogModelResult, NodeFinished, …
	Level string // debug, info, warn, error
	Msg   string // the human text dbt would have printed
	// Node is data.node_info, when the event is about one node.
	Node *nodeInfo
	// Result is set for NodeFinished (from data.run_result) and for the
	// Log*Result events (from data.status, execution_time, num_failures).
	Result *nodeResult
	// Exc is the error text of MainEncounteredError and similar events.
	Exc string
	// Success is CommandCompleted's data.success.
	Success *bool
}

// nodeInfo is data.node_info.
type nodeInfo struct {
	UniqueID     string `json:"unique_id"`
	ResourceType string `json:"resource_type"`
	NodeStatus   string `json:"node_status"`
	NodeName     string `json:"node_name"`
	Relation     struct {
		RelationName string `json:"relation_name"`
	} `json:"node_relation"`
}

// nodeResult is what dbt reports about one finished node, from the log or
// from run_results.json.
type nodeResult struct {
	UniqueID     string
	ResourceType string
	// Status is dbt's result status: success, error, skipped (models,
	// seeds, snapshots); pass, warn, fail, error, skipped (tests); also
	// "partial success" and "no-op" in newer versions.
	Status          string
	Message         string
	ExecutionTime   float64
	Failures        *int64
	AdapterResponse map[string]any
	Relation        string
	// Summary is the short result text of a Log*Result line ("CREATE VIEW",
	// "INSERT 100").
	Summary string
}

// resultEvents are the per-node result lines printed at info level; the
// NodeFinished line that follows (debug) carries the full run_result.
var resultEvents = map[string]bool{
	"LogModelResult":    true,
	"LogSeedResult":     true,
	"LogSnapshotResult": true,
	"LogTestResult":     true,
}

type rawData struct {
	NodeInfo      *nodeInfo     `json:"node_info"`
	RunResult     *rawRunResult `json:"run_result"`
	Status        any           `json:"status"`
	ExecutionTime any           `json:"execution_time"`
	NumFailures   any           `json:"num_failures"`
	ResultMessage any           `json:"result_message"`
	Exc           any           `json:"exc"`
	Success       any           `json:"success"`
}

type rawRunResult struct {
	Status          any            `json:"status"`
	Message         any            `json:"message"`
	ExecutionTime   any            `json:"execution_time"`
	NumFailures     any            `json:"num_failures"`
	AdapterResponse map[string]any `json:"adapter_response"`
}

var errNotJSONLog = errors.New("not a dbt JSON log line")

// parseLogLine parses one line of dbt's JSON log. It fails for lines that
// are not JSON objects with an "info" name (plain text, Python
// tracebacks); fields of unexpected types are ignored rather than failing
// the line, since dbt's event payloads vary across versions.
func parseLogLine(b []byte) (logLine, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return logLine{}, errNotJSONLog
	}
	// Most lines (SQL, connections) only go to the log: read their info
	// with gjson and decode data only for the events that matter.
	if !gjson.ValidBytes(b) {
		return logLine{}, errNotJSONLog
	}
	f := gjson.GetManyBytes(b, "info.name", "info.level", "info.msg", "data", "data.node_info.unique_id")
	if f[0].Type != gjson.String || f[0].Str == "" {
		return logLine{}, errNotJSONLog
	}
	l := logLine{Name: f[0].Str, Level: f[1].String(), Msg: f[2].String()}
	if f[1].Type != gjson.String {
		l.Level = ""
	}
	if f[2].Type != gjson.String {
		l.Msg = ""
	}
	if !interesting(l.Name) || !f[3].IsObject() {
		// Keep which node the line is about (LogSkipBecauseError, …).
		if f[4].Type == gjson.String && f[4].Str != "" {
			l.Node = &nodeInfo{UniqueID: f[4].Str}
		}
		return l, nil
	}
	var d rawData
	if err := json.Unmarshal([]byte(f[3].Raw), &d); err != nil {
		// An unexpected payload shape still leaves a usable log line.
		return l, nil
	}
	if d.NodeInfo != nil && d.NodeInfo.UniqueID != "" {
		l.Node = d.NodeInfo
	}
	l.Exc = str(d.Exc)
	if b, ok := d.Success.(bool); ok {
		l.Success = &b
	}
	if l.Node == nil {
		return l, nil
	}
	switch {
	case l.Name == "NodeFinished" && d.RunResult != nil:
		rr := d.RunResult
		r := &nodeResult{
			UniqueID:        l.Node.UniqueID,
			ResourceType:    l.Node.ResourceType,
			Status:          str(rr.Status),
			Message:         str(rr.Message),
			ExecutionTime:   num(rr.ExecutionTime),
			Failures:        intPtr(rr.NumFailures),
			AdapterResponse: rr.AdapterResponse,
			Relation:        l.Node.Relation.RelationName,
		}
		if r.Status == "" {
			r.Status = l.Node.NodeStatus
		}
		l.Result = r
	case resultEvents[l.Name]:
		r := &nodeResult{
			UniqueID:      l.Node.UniqueID,
			ResourceType:  l.Node.ResourceType,
			Status:        l.Node.NodeStatus,
			ExecutionTime: num(d.ExecutionTime),
			Failures:      intPtr(d.NumFailures),
			Relation:      l.Node.Relation.RelationName,
		}
		// LogModelResult's data.status is the adapter's message ("CREATE
		// VIEW") on success and "error" on failure; seeds and snapshots
		// put the message in result_message.
		st := str(d.Status)
		if msg := str(d.ResultMessage); msg != "" {
			r.Summary = msg
		} else if st != "" && st != r.Status {
			r.Summary = st
		}
		if r.Status == "" {
			r.Status = st
		}
		l.Result = r
	}
	return l, nil
}

func interesting(name string) bool {
	switch name {
	case "NodeStart", "NodeFinished", "MainEncounteredError", "CommandCompleted", "RunResultError", "CatchableExceptionOnRun":
		return true
	}
	return resultEvents[name]
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func num(v any) float64 {
	f, _ := v.(float64)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

// intPtr converts a JSON number to an int64; nil for null, non-numbers and
// values out of range.
func intPtr(v any) *int64 {
	f, ok := v.(float64)
	if !ok || math.IsNaN(f) || f > math.MaxInt64/2 || f < math.MinInt64/2 {
		return nil
	}
	n := int64(f)
	return &n
}

// summary shortens a dbt message for an error line: its first non-empty
// line, and the second too when the first only names the node ("Database
// Error in model orders (models/orders.sql)").
func summary(s string) string {
	var lines []string
	for l := range strings.SplitSeq(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
			if len(lines) == 2 {
				break
			}
		}
	}
	switch {
	case len(lines) == 0:
		return ""
	case len(lines) == 2 && strings.Contains(lines[0], " in ") && strings.HasSuffix(lines[0], ")"):
		return lines[0] + ": " + lines[1]
	}
	return lines[0]
}
