#!/bin/sh
# Records what the real Sling (from `make tools`: .venv/bin/sling 1.4.11 and
# the DuckDB 1.5.6 CLI) prints, for the tests that replay it without Sling:
#   replication.log     `sling run` of three streams into DuckDB, one failing
#   discover_files.txt  `sling conns discover LOCAL --pattern DIR/*.csv`
#   discover_db.txt     `sling conns discover SRC --pattern main.*` on DuckDB
# Run it from anywhere: sh integrations/sling/testdata/real/regenerate.sh
# The data lives in a fixed folder (/tmp/elt-sling-record) so that the paths
# in the recordings are stable.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
bin="$root/.venv/bin"
work=/tmp/elt-sling-record
rm -rf "$work" && mkdir -p "$work/data"
printf 'id,name\n1,ana\n2,bo\n3,cy\n' > "$work/data/customers.csv"
printf 'id,amount\n1,5\n2,6\n' > "$work/data/payments.csv"
printf '[{"id": 1, "amount": 10.5}, {"id": 2, "amount": 3}]\n' > "$work/data/orders.json"
cat > "$work/r.yaml" <<YAML
source: LOCAL
target: WAREHOUSE
defaults:
  mode: full-refresh
streams:
  file://$work/data/customers.csv:
    object: raw.customers
  file://$work/data/orders.json:
    object: raw.orders
    source_options: {flatten: true}
  file://$work/data/missing.csv:
    object: raw.missing
YAML
# What elt sets for a type: duckdb resource (see toolenv.go).
export SLING_HOME_DIR="$work/home" SLING_TEMP_DIR="$work/tmp" SLING_DISABLE_TELEMETRY=true
export DUCKDB_PATH="$bin/duckdb" DUCKDB_USE_INSTALLED_EXTENSIONS=true
export WAREHOUSE="duckdb://$work/wh.duckdb?copy_method=csv_files"
export SRC="duckdb://$work/src.duckdb?copy_method=csv_files"
# Timestamps and durations vary from run to run; the tests do not read them.
"$bin/sling" run -r "$work/r.yaml" > "$here/replication.log" 2>&1 || true
"$bin/sling" conns discover LOCAL --pattern "$work/data/*.csv" > "$here/discover_files.txt" 2>&1
"$bin/duckdb" "$work/src.duckdb" -c "create table main.customers as select 1 as id; create table main.orders as select 1 as id"
"$bin/sling" conns discover SRC --pattern 'main.*' > "$here/discover_db.txt" 2>&1
rm -rf "$work"
