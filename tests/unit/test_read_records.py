"""Reading files: one row per record with its 1-based number, for both formats."""

from __future__ import annotations

from pathlib import Path

from jobs.ingest import describe_files, file_columns, number_lines, read_records


def test_line_numbers_are_exact_across_many_partitions(spark, tmp_path: Path) -> None:
    path = tmp_path / "lines.jsonl"
    path.write_text("".join(f'{{"n": {i}}}\n' for i in range(1, 2001)))
    spark.conf.set("spark.sql.files.maxPartitionBytes", "4096")
    try:
        lines = spark.read.text(path.as_uri())
        assert lines.rdd.getNumPartitions() > 1  # the case that needs partition offsets
        rows = number_lines(lines).collect()
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
    assert sorted((r.record_number, r.value) for r in rows) == [(i, f'{{"n": {i}}}') for i in range(1, 2001)]


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
