# A small real dlt pipeline for elt's integration tests, on local data only:
# orders.jsonl beside this file. elt sets the pipeline name, folder, dataset,
# the DuckDB file (DESTINATION__DUCKDB__CREDENTIALS), the selected resources
# (ELT_DLT_RESOURCES) and the window (DLT_INTERVAL_START/END, read by the
# incremental cursor through allow_external_schedulers). The script reports
# its load with the README's five lines. SHOP_FAIL_AFTER=N makes the orders
# resource raise after N rows: a pipeline that fails half-way.
# SHOP_CHECKED_CUSTOMERS=1 creates the customers table first with a CHECK
# that one row breaks: with LOAD__RAISE_ON_FAILED_JOBS=false dlt then ends
# with a failed job and exit status 0.
import json
import os
from datetime import datetime, timezone

import dlt

HERE = os.path.dirname(os.path.abspath(__file__))


@dlt.source
def shop():
    @dlt.resource(primary_key="id", write_disposition="merge")
    def orders(
        updated_at=dlt.sources.incremental(
            "updated_at",
            initial_value=datetime(2024, 1, 1, tzinfo=timezone.utc),
            allow_external_schedulers=True,
        )
    ):
        fail_after = int(os.environ.get("SHOP_FAIL_AFTER", "-1"))
        with open(os.path.join(HERE, "orders.jsonl")) as f:
            for i, line in enumerate(f):
                if i == fail_after:
                    raise RuntimeError("orders feed broke after %d rows" % i)
                row = json.loads(line)
                row["updated_at"] = datetime.fromisoformat(row["updated_at"])
                yield row

    @dlt.resource(primary_key="id", write_disposition="replace")
    def customers():
        yield [{"id": 1, "name": "ann"}, {"id": 2, "name": "bob"}, {"id": 3, "name": "cy"}]

    return orders, customers


pipeline = dlt.pipeline(
    pipeline_name=os.environ["ELT_DLT_PIPELINE_NAME"],
    pipelines_dir=os.environ["ELT_DLT_PIPELINES_DIR"],
    destination="duckdb",
    dataset_name=os.environ["ELT_DLT_DATASET"],
)
if os.environ.get("SHOP_CHECKED_CUSTOMERS") == "1":
    import duckdb

    con = duckdb.connect(os.environ["DESTINATION__DUCKDB__CREDENTIALS"])
    ds = os.environ["ELT_DLT_DATASET"]
    con.execute("create schema if not exists %s" % ds)
    con.execute("create table if not exists %s.customers (id bigint, name varchar check (name <> 'cy'),"
                " _dlt_load_id varchar not null, _dlt_id varchar not null)" % ds)
    con.close()

source = shop()
import json, os
info = pipeline.run(source.with_resources(*os.environ["ELT_DLT_RESOURCES"].split(",")))
with open(os.environ["ELT_EVENTS_FILE"], "a") as f:
    f.write(json.dumps({"type": "dlt_load_info", "load_info": info.asdict(),
        "row_counts": pipeline.last_trace.last_normalize_info.row_counts}, default=str) + "\n")
