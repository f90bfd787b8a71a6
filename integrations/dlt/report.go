package dlt

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/eltproject/elt/engine"
	mdlt "github.com/eltproject/elt/manifest/dlt"
	tdlt "github.com/eltproject/elt/translator/dlt"
)

// report turns the script's load info and the destination's _dlt_loads
// into one event per selected asset. A load package without a completed
// row in _dlt_loads, an aborted package or a failed job fails the assets
// even though the script exited 0.
func (r *runner) report(ctx context.Context, name string, start time.Time, selected []tdlt.Asset, infos []*mdlt.LoadInfo,
	script scriptEvents, redact func(string) string, emit engine.Emitter) error {
	covered := map[string]bool{}
	for _, a := range selected {
		for _, t := range a.Tables {
			covered[t] = true
		}
	}
	dataset := r.dataset
	var loadIDs, problems []string
	failedJobs := map[string][]string{}
	var rowCounts map[string]int64
	for _, li := range infos {
		if li.DatasetName != "" {
			dataset = li.DatasetName
		}
		for _, id := range li.LoadIDs {
			if !slices.Contains(loadIDs, id) {
				loadIDs = append(loadIDs, id)
			}
		}
		for _, p := range li.Packages {
			if p.State == "aborted" {
				problems = append(problems, fmt.Sprintf("load package %s was aborted", p.LoadID))
			}
			for _, j := range p.FailedJobs() {
				msg := fmt.Sprintf("job %s of load package %s failed", j.JobID, p.LoadID)
				if m := lastLine(j.FailedMessage); m != "" {
					msg += ": " + m
				}
				if covered[j.TableName] {
					failedJobs[j.TableName] = append(failedJobs[j.TableName], msg)
				} else {
					problems = append(problems, msg)
				}
			}
		}
		for t, n := range li.RowCounts {
			if rowCounts == nil {
				rowCounts = map[string]int64{}
			}
			rowCounts[t] += n
		}
	}

	if r.dest.duckdbPath != "" {
		var refs []tableRef
		var schemas []string
		for _, a := range selected {
			if !slices.Contains(schemas, a.Source) {
				schemas = append(schemas, a.Source)
			}
			for _, t := range a.Tables {
				refs = append(refs, tableRef{name: t, chain: r.chain(t)})
			}
		}
		c, err := checkDuckDB(ctx, r.dest.duckdbPath, dataset, loadIDs, len(infos) == 0, start, schemas, refs)
		if err != nil {
			return fmt.Errorf("dlt pipeline %s: confirm the load in destination %s: %w", name, r.dest.resource, err)
		}
		loadIDs = c.loadIDs
		for _, id := range loadIDs {
			if !c.completed[id] {
				problems = append(problems, fmt.Sprintf("load package %s has no completed row (status 0) in %s._dlt_loads: dlt did not finish it (packages with failed jobs are aborted; see dlt pipeline %s failed-jobs)", id, dataset, name))
			}
		}
		if len(loadIDs) == 0 {
			emit(engine.LogLine(fmt.Sprintf("dlt pipeline %s: no new load package in %s._dlt_loads (nothing to load?)", name, dataset)))
		}
		rowCounts = c.rows
	} else if len(infos) == 0 {
		emit(engine.LogLine(fmt.Sprintf("dlt pipeline %s: no %s event in %s and no DuckDB destination to check: success is taken from the exit code (see the integrations/dlt docs for the snippet)",
			name, mdlt.LoadInfoEventType, "ELT_EVENTS_FILE")))
	}

	var failed []string
	for _, a := range selected {
		md := map[string]any{"dlt_pipeline": name, "dataset": dataset}
		if r.dest.kind != "" {
			md["destination"] = r.dest.kind
			md["destination_resource"] = r.dest.resource
		}
		switch len(loadIDs) {
		case 0:
		case 1:
			md["load_id"] = loadIDs[0]
		default:
			md["load_ids"] = slices.Clone(loadIDs)
		}
		if rowCounts != nil {
			byTable := map[string]int64{}
			var total int64
			for _, t := range a.Tables {
				if n, ok := rowCounts[t]; ok {
					byTable[t] = n
					total += n
				}
			}
			md["rows"] = total
			md["rows_by_table"] = byTable
		}
		for k, v := range script.metadata[a.Spec.Key] {
			if _, ok := md[k]; !ok {
				md[k] = v
			}
		}
		msgs := slices.Clone(script.failures[a.Spec.Key])
		for _, t := range a.Tables {
			msgs = append(msgs, failedJobs[t]...)
		}
		msgs = append(msgs, problems...)
		if len(msgs) > 0 {
			msg := redact(strings.Join(msgs, "; "))
			emit(engine.Event{Type: engine.AssetFailed, Asset: a.Spec.Key, Status: engine.StatusFailed, Message: msg, Metadata: md})
			failed = append(failed, a.Spec.Key.String()+": "+msg)
			continue
		}
		emit(engine.Materialized(a.Spec.Key, md))
	}
	if len(failed) > 0 {
		return fmt.Errorf("dlt pipeline %s: %d of %d assets failed although the command exited 0:\n  %s",
			name, len(failed), len(selected), strings.Join(failed, "\n  "))
	}
	return nil
}

// chain returns the parents of table up to its root.
func (r *runner) chain(table string) []string {
	var out []string
	seen := map[string]bool{table: true}
	for p, ok := r.parents[table]; ok && !seen[p]; p, ok = r.parents[p] {
		seen[p] = true
		out = append(out, p)
	}
	return out
}

// lastLine returns the last non-empty line of a job's failed message: dlt
// 1.31 stores the whole Python traceback there, whose last line is the
// error (dlt.destinations.exceptions.DatabaseTerminalException: …).
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
