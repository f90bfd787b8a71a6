"""The event feed: one JSON-lines file per day under sources/events, loaded by dlt into the
warehouse's `events` dataset. elt runs it per daily window: DLT_INTERVAL_START/END bound the
incremental cursor (allow_external_schedulers), and the script reports its load through
ELT_EVENTS_FILE."""

import glob
import json
import os
from datetime import datetime

import dlt

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


@dlt.resource(name="events", primary_key="event_id", write_disposition="merge")
def events(
    occurred_at=dlt.sources.incremental(
        "occurred_at",
        initial_value=datetime.fromisoformat("2024-01-01T00:00:00+00:00"),
        # elt runs a partition with DLT_INTERVAL_START/END: the window
        # bounds the cursor. Without them (a plain `elt run`) the cursor
        # simply continues from the last load.
        allow_external_schedulers="DLT_INTERVAL_START" in os.environ,
    ),
):
    for path in sorted(glob.glob(os.path.join(ROOT, "sources", "events", "*.jsonl"))):
        with open(path) as f:
            for line in f:
                row = json.loads(line)
                row["occurred_at"] = datetime.fromisoformat(row["occurred_at"].replace("Z", "+00:00"))
                yield row


@dlt.source(name="jaffle_events")
def feed():
    return events


def main():
    warehouse = os.environ.get("ELT_RESOURCE_WAREHOUSE_PATH", "data/jaffle.duckdb")
    if not os.path.isabs(warehouse):
        warehouse = os.path.join(os.environ.get("ELT_PROJECT_DIR", ROOT), warehouse)
    pipeline = dlt.pipeline(
        pipeline_name=os.environ.get("ELT_DLT_PIPELINE_NAME", "jaffle_events"),
        pipelines_dir=os.environ.get("ELT_DLT_PIPELINES_DIR"),
        destination=dlt.destinations.duckdb(warehouse),
        dataset_name="events",
    )
    selected = [r for r in os.environ.get("ELT_DLT_RESOURCES", "events").split(",") if r]
    info = pipeline.run(feed().with_resources(*selected))
    print(info)
    # The README's snippet: elt confirms the load in _dlt_loads and counts its rows.
    if "ELT_EVENTS_FILE" in os.environ:
        with open(os.environ["ELT_EVENTS_FILE"], "a") as f:
            f.write(json.dumps({"type": "dlt_load_info", "load_info": info.asdict(),
                "row_counts": pipeline.last_trace.last_normalize_info.row_counts}, default=str) + "\n")


if __name__ == "__main__":
    main()
