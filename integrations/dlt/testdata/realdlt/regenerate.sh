#!/bin/sh
# Records what the real dlt (from `make tools`: .venv/bin/python with dlt
# 1.31.0) reports through the README's five lines, for the tests that read
# it without Python: load_info.jsonl is one run of shop_pipeline.py (both
# resources, the window 2024-05-01) into a DuckDB file, and
# load_info_failed_job.jsonl a run whose customers job fails (a CHECK
# constraint) with LOAD__RAISE_ON_FAILED_JOBS=false.
# Run it from anywhere: sh integrations/dlt/testdata/realdlt/regenerate.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run() {
  out=$1; shift
  rm -rf "$work/pipelines" "$work/w.duckdb" "$work/events.jsonl"
  env DLT_DATA_DIR="$work/dlt" RUNTIME__DLTHUB_TELEMETRY=false RUNTIME__LOG_LEVEL=WARNING \
    ELT_DLT_PIPELINE_NAME=shop ELT_DLT_PIPELINES_DIR="$work/pipelines" ELT_DLT_DATASET=shop_data \
    DESTINATION__DUCKDB__CREDENTIALS="$work/w.duckdb" ELT_EVENTS_FILE="$work/events.jsonl" \
    ELT_DLT_RESOURCES=orders,customers \
    DLT_INTERVAL_START=2024-05-01T00:00:00Z DLT_INTERVAL_END=2024-05-02T00:00:00Z \
    "$@" "$root/.venv/bin/python" "$here/shop_pipeline.py"
  # Paths of the temporary folder are replaced by a fixed one.
  sed -e "s#$work#/tmp/elt-dlt-record#g" -e "s#$root#/repo#g" "$work/events.jsonl" > "$here/$out"
}
run load_info.jsonl
run load_info_failed_job.jsonl SHOP_CHECKED_CUSTOMERS=1 LOAD__RAISE_ON_FAILED_JOBS=false
