#!/bin/sh
# Records the dbt output under testdata/recorded from real runs of the pinned
# dbt (dbt-core + dbt-duckdb from `make tools`) on testdata/real_project.
#
#   sh integrations/dbt/testdata/record.sh      (from the repository root)
#
# It writes:
#   recorded/manifest_v12.json   `dbt parse`, macros of dbt's own packages and docs removed
#   recorded/manifest_v20.json   the same manifest relabelled as schema v20, the layout
#                                dbt Fusion writes (no Fusion binary is installed here)
#   recorded/build.jsonl         `dbt build` with DBT_LOG_FORMAT=json and DBT_LOG_LEVEL=debug
#                                (the runner's settings): a failing model, a failing
#                                error test, a warn test, skipped children; the
#                                adapter's SQL and connection debug events left out
#   recorded/build_run_results.json   that build's target/run_results.json
#   recorded/profile_error.jsonl `dbt build --target missing`: dbt stops before any node (exit 2)
# Paths and timings in the files are those of the recording run; after recording, rewrite
# the golden events with `go test ./integrations/dbt -run TestRecordedBuild -update`.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
dbt=${DBT:-$root/.venv/bin/dbt}
py=${PYTHON:-$root/.venv/bin/python}
out=$here/recorded
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -R "$here/real_project" "$work/p"
cd "$work/p"
export DBT_PROFILES_DIR="$work/p" DBT_USE_COLORS=false DBT_SEND_ANONYMOUS_USAGE_STATS=false
"$dbt" deps >/dev/null
"$dbt" parse >/dev/null
"$py" - "$work/p/target/manifest.json" "$out" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["macros"] = {k: v for k, v in m["macros"].items() if v["package_name"] in ("elt_real", "elt_helpers")}
m["docs"] = {}
for k in ("user_id", "project_id", "invocation_id"):
    m["metadata"][k] = "recorded"
json.dump(m, open(sys.argv[2] + "/manifest_v12.json", "w"), indent=1, sort_keys=True)
m["metadata"]["dbt_schema_version"] = "https://schemas.getdbt.com/dbt/manifest/v20.json"
m["metadata"]["dbt_version"] = "2.0.0-preview.0"
json.dump(m, open(sys.argv[2] + "/manifest_v20.json", "w"), indent=1, sort_keys=True)
PY
export DBT_LOG_FORMAT=json DBT_LOG_LEVEL=debug
# The adapter's connection and SQL chatter (two thirds of the stream, and
# events the runner ignores) is left out to keep the file small.
"$dbt" build --exclude "source:*" "unit_test:*" eph > "$work/build.jsonl" || test $? -eq 1
grep -v -E '"name": "(SQLQuery|SQLQueryStatus|ConnectionUsed|NewConnectionOpening|ConnectionClosed|ConnectionReused|Rollback|SQLCommit|JinjaLogDebug)"' "$work/build.jsonl" > "$out/build.jsonl"
cp target/run_results.json "$out/build_run_results.json"
"$dbt" build --target missing > "$out/profile_error.jsonl" || test $? -eq 2
ls -l "$out"
