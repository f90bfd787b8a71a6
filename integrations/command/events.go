package command

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
)

// EventsFileEnv names the variable that tells a subprocess where to append
// its structured events, one JSON object per line:
//
//	{"type": "materialization", "asset": "raw/orders", "metadata": {"rows": 10}}
//	{"type": "check", "asset": "raw/orders", "check": "no_nulls", "passed": false,
//	 "severity": "warn", "message": "3 null ids", "metadata": {"failing_rows": 3}}
//	{"type": "log", "message": "fetched page 3"}
//	{"type": "failure", "asset": "raw/orders", "message": "API returned 500"}
//
// "asset" may be "a/b" text or ["a","b"], and may be left out when the step
// materializes a single asset. Lines of other types are handed to the
// caller as raw JSON (dlt's load info, for example).
const EventsFileEnv = "ELT_EVENTS_FILE"

// RawEvent is a line of the events file of a type this package does not
// interpret.
type RawEvent struct {
	Type string
	Line int
	JSON json.RawMessage
}

type fileEvent struct {
	Type     string          `json:"type"`
	Asset    json.RawMessage `json:"asset"`
	Check    string          `json:"check"`
	Passed   *bool           `json:"passed"`
	Severity string          `json:"severity"`
	Message  string          `json:"message"`
	Metadata map[string]any  `json:"metadata"`
}

// ReadEventsFile parses the events file at path and removes it. A missing
// file means no events. defaultAsset is used for lines without "asset"
// (zero when the step has several assets). Errors name the file and line.
//
// The file is removed once read because a step may have written secrets
// into it: its events reach the store and the output through the engine's
// redactor, the raw file must not stay behind under .elt/runs.
func ReadEventsFile(path string, defaultAsset asset.Key) ([]engine.Event, []RawEvent, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if err := os.Remove(path); err != nil {
		return nil, nil, fmt.Errorf("remove events file after reading it: %w", err)
	}
	return ParseEvents(path, b, defaultAsset)
}

// ParseEvents parses events-file content; name is used in errors.
func ParseEvents(name string, b []byte, defaultAsset asset.Key) ([]engine.Event, []RawEvent, error) {
	var evs []engine.Event
	var raws []RawEvent
	for n, line := range bytes.Split(b, []byte("\n")) {
		lineNo := n + 1
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var fe fileEvent
		if err := json.Unmarshal(line, &fe); err != nil {
			return evs, raws, fmt.Errorf("%s:%d: not a JSON object: %v", name, lineNo, err)
		}
		key := defaultAsset
		if len(fe.Asset) > 0 && string(fe.Asset) != "null" {
			if err := key.UnmarshalJSON(fe.Asset); err != nil {
				return evs, raws, fmt.Errorf("%s:%d: bad \"asset\": %v", name, lineNo, err)
			}
		}
		needAsset := func() error {
			if key.IsZero() {
				return fmt.Errorf("%s:%d: %q event needs \"asset\" because this step has several assets", name, lineNo, fe.Type)
			}
			return nil
		}
		switch fe.Type {
		case "materialization", "asset_materialized":
			if err := needAsset(); err != nil {
				return evs, raws, err
			}
			evs = append(evs, engine.Materialized(key, fe.Metadata))
		case "check", "check_evaluated":
			if err := needAsset(); err != nil {
				return evs, raws, err
			}
			if fe.Check == "" || fe.Passed == nil {
				return evs, raws, fmt.Errorf("%s:%d: check event needs \"check\" (its name) and \"passed\" (true or false)", name, lineNo)
			}
			// An empty severity is filled from the asset's CheckSpec.
			sev := fe.Severity
			if sev != "" && sev != "error" && sev != "warn" {
				return evs, raws, fmt.Errorf("%s:%d: severity must be \"error\" or \"warn\", not %q", name, lineNo, sev)
			}
			evs = append(evs, engine.Checked(key, fe.Check, engine.CheckResult{Passed: *fe.Passed, Severity: sev, Message: fe.Message, Metadata: fe.Metadata}))
		case "log":
			evs = append(evs, engine.Event{Type: engine.Log, Message: fe.Message, Metadata: fe.Metadata})
		case "failure", "asset_failed":
			if err := needAsset(); err != nil {
				return evs, raws, err
			}
			evs = append(evs, engine.Event{Type: engine.AssetFailed, Asset: key, Status: engine.StatusFailed, Message: fe.Message, Metadata: fe.Metadata})
		case "":
			return evs, raws, fmt.Errorf("%s:%d: event has no \"type\"", name, lineNo)
		default:
			raws = append(raws, RawEvent{Type: fe.Type, Line: lineNo, JSON: append(json.RawMessage(nil), line...)})
		}
	}
	return evs, raws, nil
}
