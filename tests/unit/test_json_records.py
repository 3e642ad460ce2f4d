"""The jobs' JSON parser (lakehouse.spark.JsonRecords, jobs/java) gives exactly what Spark's
from_json gives for every kind of record the sources carry: the oracle is from_json itself, run
on the same rows in the same session."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.ingest import parse
from jobs.jvm import with_parsed_json
from jobs.sources import CORRUPT, PAYMENTS, TRANSACTIONS, Source
from tests.unit.helpers import records

OPTIONS = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT, "allowSingleQuotes": "false"}

TX = '"transaction_id": "T1", "customer_id": "C1"'
CASES = [
    # plain records, both schema versions
    '{"transaction_id": "T1", "customer_id": "C1", "amount": 100.0, "date": "2024-01-01"}',
    '{"transaction_id":"T2","customer_id":"C2","amount":"150.50","transaction_date":"2024-01-01",'
    '"currency":"BRL","metadata":{"channel":"online","installments":3,"discount_applied":true}}',
    # numbers read as strings: from_json's text for each (through a double where it has a fraction)
    f'{{{TX}, "amount": 150.50}}',
    f'{{{TX}, "amount": 1e3}}',
    f'{{{TX}, "amount": -0}}',
    f'{{{TX}, "amount": 12345678901234567890.123}}',
    f'{{{TX}, "amount": 0.1000000000000000055511151231257827}}',
    f'{{{TX}, "amount": 99999999999999999999999999999}}',
    f'{{{TX}, "amount": 1E400}}',
    f'{{{TX}, "amount": NaN}}',
    f'{{{TX}, "amount": true, "status": false, "currency": null}}',
    # objects and arrays in a string field: their JSON text
    f'{{{TX}, "status": {{"code" :  "paid", "at": [1, 2.50, {{"x": null}}]}}}}',
    f'{{{TX}, "status": []}}',
    # metadata of the wrong JSON type: a corrupt record
    f'{{{TX}, "metadata": "x"}}',
    f'{{{TX}, "metadata": [1]}}',
    f'{{{TX}, "metadata": null}}',
    f'{{{TX}, "metadata": {{}}}}',
    f'{{{TX}, "metadata": {{"sales_rep": "Zé", "installments": 3, "fee_amount": 1.50, "x": {{}}}}}}',
    # repeated and differently cased keys, unknown fields, whitespace between tokens
    f'{{{TX}, "amount": 1, "amount": 2, "Amount": 3, "extra": {{"deep": [1, {{"a": 2}}]}}}}',
    f'{{\t{TX} ,\t"amount" : 5 }}',
    # text beyond ASCII, escapes, control characters (read the way from_json reads them)
    f'{{{TX}, "status": "João Araújo", "channel": "☕ loja"}}',
    f'{{{TX}, "status": "Jo\\u00e3o \\"Zé\\" \\\\ \\n"}}',
    f'{{{TX}, "status": "tab\there"}}',
    f'{{{TX}, "status": "nul\x00byte"}}',
    f'{{{TX}, "status": "del\x7fchar"}}',
    f"\ufeff{{{TX}}}",
    # a record longer than the reader's buffers
    f'{{{TX}, "status": "{"x" * 20_000}", "amount": 7}}',
    # not one JSON object
    '{"transaction_id": "T1", "amount": 1',
    f"{{{TX}}}{{{TX}}}",
    f"{{{TX}}} trailing",
    "{'transaction_id': 'T1'}",
    "{transaction_id: 1}",
    '{"a": 01}',
    "{}",
    "[1, 2]",
    f"[{{{TX}}}]",
    "42",
    '"text"',
    "null",
    "   ",
    "",
]


def both(frame: DataFrame, source: Source) -> tuple[list, list]:
    """The rows with `rec` parsed by from_json, and by the jobs' parser, in record order."""
    expected = frame.withColumn("rec", F.from_json("raw_json", source.schema, OPTIONS))
    actual = with_parsed_json(frame, "raw_json", "rec", source.schema, OPTIONS)
    return expected.orderBy("record_number").collect(), actual.orderBy("record_number").collect()


@pytest.mark.parametrize("source", [TRANSACTIONS, PAYMENTS], ids=lambda s: s.name)
def test_same_rows_as_from_json(spark: SparkSession, source: Source) -> None:
    expected, actual = both(records(spark, CASES), source)
    assert len(actual) == len(CASES)
    for want, got in zip(expected, actual, strict=True):
        assert got.asDict(recursive=True) == want.asDict(recursive=True), want.raw_json[:200]


def test_corrupt_records_are_marked_as_from_json_marks_them(spark: SparkSession) -> None:
    """Written by hand, so a parser that agrees with from_json only by both being wrong fails here."""
    rows = {r.raw_json: r.rec for r in both(records(spark, CASES), TRANSACTIONS)[1]}
    assert rows[f'{{{TX}, "metadata": "x"}}'][CORRUPT] == f'{{{TX}, "metadata": "x"}}'
    assert rows['{"transaction_id": "T1", "amount": 1'][CORRUPT] is not None
    assert rows[f'{{{TX}, "metadata": null}}'][CORRUPT] is None
    assert rows[f'{{{TX}, "amount": 150.50}}'].amount == "150.5"
    assert rows[f'{{{TX}, "status": "João Araújo", "channel": "☕ loja"}}'].status == "João Araújo"
    repeated = f'{{{TX}, "amount": 1, "amount": 2, "Amount": 3, "extra": {{"deep": [1, {{"a": 2}}]}}}}'
    assert rows[repeated].amount == "2"


def test_bytes_that_are_not_utf8(spark: SparkSession, tmp_path: Path) -> None:
    """A file's bytes, invalid UTF-8 included, read by Spark's text reader as the ingest reads them."""
    path = tmp_path / "dirty.jsonl"
    path.write_bytes(
        b'{"transaction_id": "T1", "status": "\xff\xfe broken"}\n'
        b'{"transaction_id": "T2", "status": "Jo\xc3\xa3o"}\n'
        b'{"transaction_id": "T3", "status": "ok"}\n'
    )
    lines = spark.read.text(str(path)).select(
        F.monotonically_increasing_id().alias("record_number"), F.col("value").alias("raw_json")
    )
    expected, actual = both(lines, TRANSACTIONS)
    assert [r.asDict(recursive=True) for r in actual] == [r.asDict(recursive=True) for r in expected]
    assert [r.rec.transaction_id for r in actual] == ["T1", "T2", "T3"]


def test_parse_keeps_every_input_column(spark: SparkSession) -> None:
    parsed = parse(records(spark, CASES[:2], file_order=3), TRANSACTIONS)
    assert parsed.columns[:3] == ["file_order", "record_number", "raw_json"]
    assert [(r.file_order, r.record_number, r.rec.transaction_id) for r in parsed.collect()] == [
        (3, 1, "T1"),
        (3, 2, "T2"),
    ]
