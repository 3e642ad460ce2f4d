"""Audit events into governance.query_log: who read which tables and columns through Trino.

Reads the spool files the governance agent closed (JSON lines, one per completed query) and
merges them by query id, so ingesting a file twice changes nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.context import catalog_name
from jobs.protocol import DEFAULT_WAIT, EXIT_LOCK_TIMEOUT
from jobs.session import run_job
from jobs.tables import TABLES, ensure
from jobs.writes import LockTimeout, Writer, new_run_id

QUERY_LOG = "governance.query_log"


def timestamp(value: object) -> dt.datetime | None:
    """Trino's event times: ISO-8601 text or epoch seconds."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC).replace(tzinfo=None)
    return (
        dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(dt.UTC).replace(tzinfo=None)
    )


def read_events(paths: list[str]) -> list[dict[str, Any]]:
    """Spool lines (small: one per query) as rows; a line cut short by a crash is skipped."""
    rows = []
    for path in paths:
        for line in Path(path).read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                print(f"[lakehouse] skipped an unreadable audit line in {path}", file=sys.stderr)
                continue
            event["created_at"] = timestamp(event.get("created_at"))
            event["ended_at"] = timestamp(event.get("ended_at"))
            rows.append(event)
    return rows


def run(spark: SparkSession, catalog: str, paths: list[str], wait: float) -> dict[str, Any]:
    contract = TABLES[QUERY_LOG]
    target = contract.full_name(catalog)
    events = read_events(paths)
    with Writer.open(spark, catalog, "audit", [target], wait) as writer:
        ensure(spark, catalog, [QUERY_LOG])
        if not events:
            return {"events": 0}
        schema = ", ".join(f"`{n}` {t}" for n, t in contract.columns if n != "recorded_at")
        batch = (
            spark.createDataFrame(events, schema)
            .dropDuplicates(["query_id"])
            .withColumn("recorded_at", F.current_timestamp())
        )
        batch.createOrReplaceTempView("_audit_events")
        with writer.run(new_run_id("aud"), {target: list(contract.key)}):
            spark.sql(f"""MERGE INTO {target} t USING _audit_events s ON t.query_id = s.query_id
                          WHEN NOT MATCHED THEN INSERT *""")
    return {"events": len(events)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", nargs="+", required=True)
    parser.add_argument("--catalog", default=catalog_name())
    parser.add_argument("--wait", type=float, default=DEFAULT_WAIT)
    args = parser.parse_args(argv)
    return run_job(
        "audit",
        lambda spark: run(spark, args.catalog, args.files, args.wait),
        {LockTimeout: EXIT_LOCK_TIMEOUT},
    )


if __name__ == "__main__":
    sys.exit(main())
