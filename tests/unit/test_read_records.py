"""Reading files: one row per record with its 1-based number, for both formats."""

from __future__ import annotations

from pathlib import Path

from jobs.ingest import describe_files, number_lines, read_records


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
    rows = read_records(spark, files).collect()
    got = sorted((Path(r.source_file).name, r.file_order, r.record_number, r.raw_json) for r in rows)
    assert got == [
        ("a.json", 0, 1, '{"id":1}'),
        ("a.json", 0, 2, '{"id":"two"}'),
        ("b.jsonl", 1, 1, '{"id": 3}'),
        ("b.jsonl", 1, 3, '{"id": 4}'),  # line 2 is blank: not a record, numbering keeps lines
    ]
