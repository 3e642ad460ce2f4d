"""The JVM behind a Spark session, for the Iceberg and Hadoop APIs PySpark does not wrap."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def jvm_of(spark: SparkSession) -> Any:
    """py4j's view of the session's JVM (py4j has no type information: its objects are Any)."""
    view = spark.sparkContext._jvm
    assert view is not None  # set as long as the session's context runs
    return view
