package dbt

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

// runResultsFile is the part of dbt's run_results.json (schema v1–v6) the
// runner falls back on when the log stream misses a node.
type runResultsFile struct {
	Results []struct {
		UniqueID        string         `json:"unique_id"`
		Status          any            `json:"status"`
		ExecutionTime   any            `json:"execution_time"`
		Message         any            `json:"message"`
		Failures        any            `json:"failures"`
		AdapterResponse map[string]any `json:"adapter_response"`
		RelationName    any            `json:"relation_name"`
	} `json:"results"`
}

// readRunResults reads path; a missing file yields no results and no
// error, since dbt writes none when it stops before running any node.
func readRunResults(path string) ([]nodeResult, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read dbt run results: %w", err)
	}
	rs, err := parseRunResults(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rs, nil
}

// parseRunResults decodes run_results.json content.
func parseRunResults(b []byte) ([]nodeResult, error) {
	var f runResultsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("not a dbt run_results.json: %w", err)
	}
	out := make([]nodeResult, 0, len(f.Results))
	for _, r := range f.Results {
		if r.UniqueID == "" {
			continue
		}
		rtype, _, _ := strings.Cut(r.UniqueID, ".")
		out = append(out, nodeResult{
			UniqueID:        r.UniqueID,
			ResourceType:    rtype,
			Status:          str(r.Status),
			Message:         str(r.Message),
			ExecutionTime:   num(r.ExecutionTime),
			Failures:        intPtr(r.Failures),
			AdapterResponse: r.AdapterResponse,
			Relation:        str(r.RelationName),
		})
	}
	return out, nil
}
