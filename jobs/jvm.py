"""The JVM behind a Spark session, for the Iceberg and Hadoop APIs PySpark does not wrap."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType


def jvm_of(spark: SparkSession) -> Any:
    """py4j's view of the session's JVM (py4j has no type information: its objects are Any)."""
    view = spark.sparkContext._jvm
    assert view is not None  # set as long as the session's context runs
    return view


def with_parsed_json(
    df: DataFrame, column: str, output: str, schema: StructType, options: dict[str, str]
) -> DataFrame:
    """`df` with `output`: its string `column` parsed against `schema` exactly as
    `F.from_json(column, schema, options)` would, by the jobs' JVM class lakehouse.spark.JsonRecords
    (jobs/java), which has Jackson read each record's bytes instead of decoding them to characters
    first: the ingest's parsing in half the time (see its documentation).

    The plan is cut here (the rows above come from an RDD): an `observe()` placed before this call
    is never reported, and a shuffle before it would run when this is called; put both after.
    `schema` must be all nullable, as the sources' reader schemas are (from_json makes it so)."""
    from pyspark.sql import DataFrame as Frame

    spark = df.sparkSession
    java_options = jvm_of(spark).java.util.HashMap()
    for key, value in options.items():
        java_options.put(key, value)
    parsed = jobs_class(spark, "JsonRecords").parse(df._jdf, column, output, schema.json(), java_options)
    return Frame(parsed, spark)


def jobs_class(spark: SparkSession, name: str) -> Any:
    """The class lakehouse.spark.<name> of the jobs' own jar (jobs/java).

    Raises:
        RuntimeError: the session's classpath lacks the jar; says what to list.
    """
    found = getattr(jvm_of(spark).lakehouse.spark, name)
    if not callable(found):  # py4j's name for a class the JVM does not have
        raise RuntimeError(
            f"lakehouse.spark.{name} is not on the Spark classpath: spark.jars must list the jobs' "
            "jar (settings.jobs_jar, which `lakehouse up` builds and renders into spark-defaults.conf: "
            "run it again after jobs/java changed)"
        )
    return found
