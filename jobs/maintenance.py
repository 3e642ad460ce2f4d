"""Iceberg table maintenance: compact small files, expire old snapshots, remove orphan files.

Streaming micro-batches and repeated runs leave many small files and snapshots behind; this
keeps query planning and scans fast. History kept: snapshots younger than --max-age-days, and
at least the last --retain-last of every table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from pyspark.sql import SparkSession

from jobs.context import catalog_name
from jobs.protocol import DEFAULT_WAIT, EXIT_LOCK_TIMEOUT
from jobs.session import run_job
from jobs.tables import namespaces
from jobs.timing import step
from jobs.writes import LockTimeout, Writer


def tables(spark: SparkSession, catalog: str) -> list[str]:
    found = []
    for ns in namespaces():
        if spark.sql(f"SHOW NAMESPACES IN {catalog} LIKE '{ns}'").count():
            found += [f"{ns}.{t.tableName}" for t in spark.sql(f"SHOW TABLES IN {catalog}.{ns}").collect()]
    return found


def maintain(
    spark: SparkSession, catalog: str, table: str, retain_last: int, max_age_days: int, orphan_age_days: int
) -> dict[str, int]:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    expire_before = (now - dt.timedelta(days=max_age_days)).isoformat(sep=" ", timespec="seconds")
    orphan_before = (now - dt.timedelta(days=orphan_age_days)).isoformat(sep=" ", timespec="seconds")
    call = f"CALL {catalog}.system"
    # small files (streaming, many batches) and files with position deletes (merged updates)
    options = "map('min-input-files', '5', 'delete-file-threshold', '1')"
    with step(f"{table}: compact"):
        rewritten = spark.sql(f"{call}.rewrite_data_files(table => '{table}', options => {options})").first()
    with step(f"{table}: expire snapshots"):
        expired = spark.sql(
            f"{call}.expire_snapshots(table => '{table}', older_than => TIMESTAMP '{expire_before}', "
            f"retain_last => {retain_last})"
        ).first()
    assert rewritten is not None and expired is not None  # a procedure call answers one row
    with step(f"{table}: remove orphan files"):
        orphans = spark.sql(
            f"{call}.remove_orphan_files(table => '{table}', older_than => TIMESTAMP '{orphan_before}')"
        ).count()
    return {
        "rewritten_data_files": int(rewritten["rewritten_data_files_count"]),
        "added_data_files": int(rewritten["added_data_files_count"]),
        "expired_snapshot_files": int(sum(v for k, v in expired.asDict().items() if k.startswith("deleted"))),
        "orphan_files_removed": orphans,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--retain-last", type=int, default=20)
    parser.add_argument("--max-age-days", type=int, default=7)
    parser.add_argument("--orphan-age-days", type=int, default=3)
    parser.add_argument("--catalog", default=catalog_name())
    parser.add_argument(
        "--wait", type=float, default=DEFAULT_WAIT, help="seconds to wait for each table's lock"
    )
    args = parser.parse_args(argv)

    def body(spark: SparkSession) -> dict[str, dict[str, int]]:
        result = {}
        for table in tables(spark, args.catalog):
            # one table at a time: its writers wait only while it is compacted
            with Writer.open(spark, args.catalog, "maintenance", [f"{args.catalog}.{table}"], args.wait):
                result[table] = maintain(
                    spark, args.catalog, table, args.retain_last, args.max_age_days, args.orphan_age_days
                )
        return result

    return run_job("maintenance", body, {LockTimeout: EXIT_LOCK_TIMEOUT})


if __name__ == "__main__":
    sys.exit(main())
