"""Iceberg helpers shared by the jobs: snapshots and all-or-nothing writes across tables."""

from __future__ import annotations

import sys

from pyspark.sql import SparkSession


def current_snapshot(spark: SparkSession, table: str) -> int | None:
    """The table's current snapshot id (None for a table never written)."""
    row = spark.sql(
        f"SELECT snapshot_id FROM {table}.history WHERE is_current_ancestor "
        "ORDER BY made_current_at DESC LIMIT 1"
    ).first()
    return int(row[0]) if row else None


def rollback(spark: SparkSession, before: dict[str, int | None]) -> None:
    """Put every table back to the snapshot it had in `before` (a failed multi-table write)."""
    for table, snap in before.items():
        if current_snapshot(spark, table) == snap:
            continue
        catalog, name = table.split(".", 1)
        if snap is None:
            spark.sql(f"DELETE FROM {table}")
        else:
            spark.sql(f"CALL {catalog}.system.rollback_to_snapshot('{name}', {snap})")
        print(f"[lakehouse] rolled back {table}", file=sys.stderr)
