# A small real dlt pipeline for elt's integration test. It loads two
# resources to DuckDB (the file comes from DESTINATION__DUCKDB__CREDENTIALS,
# set by elt), takes its window from DLT_INTERVAL_START/END through
# allow_external_schedulers, and reports its load info with elt's snippet.
import json
import os
from datetime import datetime, timedelta, timezone

import dlt


@dlt.source
def demo():
    @dlt.resource(primary_key="id", write_disposition="append")
    def events(
        updated_at=dlt.sources.incremental(
            "updated_at",
            initial_value=datetime(2024, 1, 1, tzinfo=timezone.utc),
            allow_external_schedulers=True,
        )
    ):
        start = datetime(2024, 5, 1, tzinfo=timezone.utc)
        for i in range(48):
            yield {"id": i, "updated_at": start + timedelta(hours=i), "tags": ["a", "b"]}

    @dlt.resource(write_disposition="replace")
    def users():
        yield [{"id": 1, "name": "ann"}, {"id": 2, "name": "bob"}]

    return events, users


pipeline = dlt.pipeline(
    pipeline_name=os.environ["ELT_DLT_PIPELINE_NAME"],
    pipelines_dir=os.environ["ELT_DLT_PIPELINES_DIR"],
    destination="duckdb",
    dataset_name=os.environ["ELT_DLT_DATASET"],
)
info = pipeline.run(demo().with_resources(*os.environ["ELT_DLT_RESOURCES"].split(",")))
with open(os.environ["ELT_EVENTS_FILE"], "a") as f:
    f.write(json.dumps({"type": "dlt_load_info", "load_info": info.asdict(),
        "row_counts": pipeline.last_trace.last_normalize_info.row_counts}, default=str) + "\n")
