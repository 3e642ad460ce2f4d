"""Small builders shared by the unit tests."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession


def records(spark: SparkSession, raws: list[str], file_order: int = 0) -> DataFrame:
    """Input records as read_records() would give them, one file, numbered from 1."""
    rows = [(file_order, i + 1, raw) for i, raw in enumerate(raws)]
    return spark.createDataFrame(rows, "file_order int, record_number long, raw_json string")
