"""Reading files: one row per record with its 1-based number, for both formats."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pyspark.errors import AnalysisException
from pyspark.sql import Column
from pyspark.sql import functions as F

from jobs.ingest import (
    InputChanged,
    Layouts,
    batch_time,
    describe_files,
    file_columns,
    line_layout,
    lines_in_place,
    number_lines,
    read_records,
)
from jobs.jvm import jvm_of


@contextmanager
def small_splits(spark) -> Iterator[None]:
    """Spark reads files in 4 KB pieces: a few KB of lines make many partitions."""
    spark.conf.set("spark.sql.files.maxPartitionBytes", "4096")
    try:
        yield
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")


def test_line_numbers_are_exact_across_many_partitions(spark, tmp_path: Path) -> None:
    path = tmp_path / "lines.jsonl"
    path.write_text("".join(f'{{"n": {i}}}\n' for i in range(1, 2001)))
    with small_splits(spark):
        lines = spark.read.text(path.as_uri())
        assert lines.rdd.getNumPartitions() > 1  # the case that needs partition offsets
        layout = line_layout(lines)
        rows = number_lines(lines, layout).collect()
    assert len(layout) > 1 and sum(layout) == 2000
    assert sorted((r.record_number, r.value) for r in rows) == [(i, f'{{"n": {i}}}') for i in range(1, 2001)]


def lines_of(path: Path, count: int, padded: int = 0) -> None:
    """`count` JSON Lines, the first one `padded` spaces longer."""
    path.write_text("".join(f'{{"n": {i}{" " * (padded if i == 1 else 0)}}}\n' for i in range(1, count + 1)))


def test_a_second_read_reuses_the_layout_and_finds_the_same_records(spark, tmp_path: Path) -> None:
    path = tmp_path / "lines.jsonl"
    lines_of(path, 2000)
    (f,) = describe_files([str(path)])
    layouts = Layouts()
    with small_splits(spark):
        first = sorted(tuple(r) for r in read_records(spark, [f], layouts).collect())
        assert len(layouts.lines[f.order]) > 1 and not layouts.checks  # measured, nothing to check
        second = sorted(tuple(r) for r in read_records(spark, [f], layouts).collect())
    assert len(layouts.checks) == 1
    layouts.verify("transactions")  # every partition held the lines it held in the first read
    assert second == first == [(0, i, f'{{"n": {i}}}') for i in range(1, 2001)]


@pytest.mark.parametrize(
    "padded, count, refused",
    [
        (300, 2000, "its lines moved"),  # a piece holds more lines: its task fails
        (0, 1990, "it had 1,990 lines, 2,000 when first read"),  # fewer in all: the check after
        (0, 2010, "its lines moved"),
    ],
    ids=["lines moved", "fewer lines", "more lines"],
)
def test_a_second_read_of_a_file_whose_lines_moved_fails(
    spark, tmp_path: Path, padded: int, count: int, refused: str
) -> None:
    """Numbered with the first read's layout, lines that are no longer where it counted them would
    get wrong numbers: a partition with more lines fails the read, fewer lines in all fail its check."""
    path = tmp_path / "lines.jsonl"
    lines_of(path, 2000)
    (f,) = describe_files([str(path)])
    layouts = Layouts()
    with small_splits(spark):
        read_records(spark, [f], layouts).collect()
        lines_of(path, count, padded)
        with pytest.raises(
            InputChanged,
            match=f"transactions: an input file changed while it was being ingested: .*{refused}",
        ):
            with lines_in_place("transactions"):
                read_records(spark, [f], layouts).collect()
            layouts.verify("transactions")


def test_an_analysis_error_is_not_taken_for_moved_lines(spark, tmp_path: Path) -> None:
    """The text of an analysis error holds the plan, the numbering's marker included: it stays the
    error it is."""
    path = tmp_path / "lines.jsonl"
    lines_of(path, 10)
    (f,) = describe_files([str(path)])
    layouts = Layouts()
    read_records(spark, [f], layouts).collect()
    with pytest.raises(AnalysisException, match="no_such_column"), lines_in_place("transactions"):
        read_records(spark, [f], layouts).select("no_such_column").collect()


def test_array_and_ndjson_files(spark, tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('[\n  {"id": 1},\n  {"id": "two"}\n]\n')
    (tmp_path / "b.jsonl").write_text('{"id": 3}\n\n{"id": 4}\n')
    files = describe_files([str(tmp_path / "a.json"), str(tmp_path / "b.jsonl")])
    rows = read_records(spark, files).select("*", *file_columns(files).values()).collect()
    assert {r.file_sha256 for r in rows} == {f.sha256 for f in files}
    got = sorted((Path(r.source_file).name, r.file_order, r.record_number, r.raw_json) for r in rows)
    assert got == [
        ("a.json", 0, 1, '{"id":1}'),
        ("a.json", 0, 2, '{"id":"two"}'),
        ("b.jsonl", 1, 1, '{"id": 3}'),
        ("b.jsonl", 1, 3, '{"id": 4}'),  # line 2 is blank: not a record, numbering keeps lines
    ]


def test_a_batch_time_leaves_the_generated_code_as_it_was(spark, tmp_path: Path) -> None:
    """Each record gets its batch's time, and a batch started at another time runs the same
    generated code: Spark compiles no class for it (a literal time would be written into the code)."""
    (tmp_path / "a.jsonl").write_text('{"id": 1}\n{"id": 2}\n')
    (tmp_path / "b.jsonl").write_text('{"id": 3}\n')
    files = describe_files([str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")])
    compiled = jvm_of(spark).org.apache.spark.metrics.source.CodegenMetrics.METRIC_COMPILATION_TIME()

    def times(at: Column) -> set[tuple[int, dt.datetime]]:
        rows = read_records(spark, files).select("file_order", at.alias("at")).collect()
        return {(r.file_order, r.at) for r in rows}

    first, second = dt.datetime(2026, 1, 2, 3, 4, 5), dt.datetime(2026, 6, 7, 8, 9, 10, 11)
    assert times(batch_time(first)) == {(0, first), (1, first)}
    classes = compiled.getCount()
    assert times(batch_time(second)) == {(0, second), (1, second)}
    assert compiled.getCount() == classes
    # the control: the same time as a literal is new code (so the count above can move)
    third = dt.datetime(2026, 9, 10, 11, 12, 13)
    assert times(F.lit(third).cast("timestamp")) == {(0, third), (1, third)}
    assert compiled.getCount() > classes


def test_a_fetched_object_reads_as_spark_reads_the_same_file(spark, tmp_path: Path) -> None:
    """The stream's small objects become rows from their bytes; the rows must be exactly those
    Spark's text reader gives for the same content (line ends, blank lines, BOM, non-ASCII)."""
    content = (
        b'\xef\xbb\xbf{"id": 1}\r\n'
        b"   \n"
        b'{"id": "s\xc3\xa3o", "x": " spaced "}\r'  # a lone CR ends a line too
        b'{"id": 3}  \n'
        b"not json\n"
        b'{"id": 5}'
    )
    path = tmp_path / "object.jsonl"
    path.write_bytes(content)
    (by_spark,) = describe_files([str(path)])
    assert by_spark.content is None  # a local file: read by Spark
    (fetched,) = describe_files(["s3://landing/stream/object.jsonl"], fetch=lambda _: content)
    assert fetched.content == content and fetched.records == by_spark.records == 5

    def rows(f) -> list[tuple]:
        return sorted((r.record_number, r.raw_json) for r in read_records(spark, [f]).collect())

    assert rows(fetched) == rows(by_spark)
    assert [n for n, _ in rows(fetched)] == [1, 3, 4, 5, 6]
