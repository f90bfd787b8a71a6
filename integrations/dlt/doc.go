// Package dlt runs dlt pipelines as elt steps.
//
// Each dlt: entry of elt.yaml (see Config) names a pipeline and the command
// that runs it. Load reads the pipeline's working folder through
// manifest/dlt, turns its resources (or root tables) into assets through
// translator/dlt, and returns one step family, dlt:<pipeline>. A run of
// the family:
//
//   - takes the pipeline's lock, so one pipeline name never runs twice at
//     once (dlt corrupts its state otherwise); with pipeline_per_partition
//     each partition uses <pipeline>_<partition key> instead;
//   - starts the command with the partition window as DLT_INTERVAL_START and
//     DLT_INTERVAL_END (UTC ISO 8601, what incrementals with
//     allow_external_schedulers=True read) plus ELT_PARTITION_*, the
//     selected resources in ELT_DLT_RESOURCES, the pipeline name in
//     ELT_DLT_PIPELINE_NAME, and ELT_EVENTS_FILE;
//   - after it exits, reads the load info the script wrote and, for a
//     DuckDB destination, confirms each load package in
//     <dataset>._dlt_loads (status 0) and counts the rows of each table
//     with the new _dlt_load_id. A package dlt aborted on failed jobs has
//     no _dlt_loads row, so its assets fail even when the script exits 0.
//     A non-zero exit fails the step with the script's last output lines.
//
// # The load-info snippet
//
// Add these lines to the pipeline script so it reports what it loaded:
//
//	import json, os
//	info = pipeline.run(source.with_resources(*os.environ["ELT_DLT_RESOURCES"].split(",")))
//	with open(os.environ["ELT_EVENTS_FILE"], "a") as f:
//	    f.write(json.dumps({"type": "dlt_load_info", "load_info": info.asdict(),
//	        "row_counts": pipeline.last_trace.last_normalize_info.row_counts}, default=str) + "\n")
//
// row_counts is optional (it gives row counts when the destination is not
// DuckDB). Without the snippet elt still judges a DuckDB destination by
// its _dlt_loads table, and any other destination by the exit code.
//
// dlt picks up the window only for incrementals declared with
// allow_external_schedulers=True; scripts that want it otherwise read
// DLT_INTERVAL_START / DLT_INTERVAL_END themselves. For a DuckDB
// destination elt sets DESTINATION__DUCKDB__CREDENTIALS to the resource's
// path unless the environment already sets it.
package dlt
