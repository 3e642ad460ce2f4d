"""Per-as_of replacement of the analytics tables (an Iceberg overwrite filter, applied to whole
files) keeps working after a compaction, and tables an older release created unpartitioned are
evolved to the contract's layout without losing a row."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from jobs import tables
from jobs.tables import TABLES

SUMMARY = TABLES["analytics.delinquency_summary"]
D1, D2 = dt.date(2024, 1, 31), dt.date(2024, 2, 29)


@pytest.fixture()
def summary(spark):
    spark.sql("CREATE NAMESPACE IF NOT EXISTS lakehouse.analytics")
    spark.sql(f"DROP TABLE IF EXISTS {SUMMARY.full_name('lakehouse')} PURGE")
    tables._ENSURED.clear()
    yield SUMMARY.full_name("lakehouse")
    spark.sql(f"DROP TABLE IF EXISTS {SUMMARY.full_name('lakehouse')} PURGE")
    tables._ENSURED.clear()


def day_rows(spark, *days: dt.date, customers: int = 7):
    row = {c: None for c in SUMMARY.column_names}
    data = [{**row, "as_of": d, "customers": customers} for d in days]
    return spark.createDataFrame(data, ", ".join(f"{c} {t}" for c, t in SUMMARY.columns))


def replace_day(spark, table: str, day: dt.date, customers: int) -> None:
    day_rows(spark, day, customers=customers).writeTo(table).overwrite(F.col("as_of") == F.lit(day))


def by_day(spark, table: str) -> dict[dt.date, int]:
    return {r.as_of: r.customers for r in spark.table(table).collect()}


def test_a_day_is_replaced_after_a_compaction_merged_the_files(spark, summary) -> None:
    tables.ensure(spark, "lakehouse", ["analytics.delinquency_summary"])
    replace_day(spark, summary, D1, 7)
    replace_day(spark, summary, D2, 7)
    spark.sql(
        "CALL lakehouse.system.rewrite_data_files(table => 'analytics.delinquency_summary', "
        "options => map('rewrite-all', 'true'))"
    )
    replace_day(spark, summary, D1, 9)
    assert by_day(spark, summary) == {D1: 9, D2: 7}


def test_an_unpartitioned_table_from_an_older_release_gains_the_contract_layout(spark, summary) -> None:
    cols = ", ".join(f"{c} {t}" for c, t in SUMMARY.columns)
    spark.sql(f"CREATE TABLE {summary} ({cols}) USING iceberg")
    day_rows(spark, D1, D2).coalesce(1).writeTo(summary).append()  # one file, two dates
    tables.ensure(spark, "lakehouse", ["analytics.delinquency_summary"])
    assert tables._partition_fields(spark, summary) == {"as_of"}
    replace_day(spark, summary, D2, 11)
    assert by_day(spark, summary) == {D1: 7, D2: 11}


def test_every_contract_layout_is_recognised_once_created(spark) -> None:
    """Otherwise every job start would try to add a partition field the table already has."""
    expected = {
        "raw.transactions": {"ingested_at_day"},
        "curated.transactions": {"transaction_date_month"},
        "analytics.delinquency_summary": {"as_of"},
    }
    tables._ENSURED.clear()
    tables.ensure(spark, "lakehouse", list(expected))
    for name, fields in expected.items():
        assert tables._partition_fields(spark, TABLES[name].full_name("lakehouse")) == fields
    tables._ENSURED.clear()
    assert tables.ensure(spark, "lakehouse", list(expected)) == {}
