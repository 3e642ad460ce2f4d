"""Input discovery and format detection: pure Python, no Spark."""

from pathlib import Path

import pytest

from jobs.ingest import describe_files, detect_format, expand_paths


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'[{"a": 1}]', "array"),
        (b'\n\n   [\n  {"a": 1}\n]', "array"),
        (b'\xef\xbb\xbf[{"a": 1}]', "array"),
        (b'{"a": 1}\n{"a": 2}\n', "ndjson"),
        (b'   {"a": 1}', "ndjson"),
        (b"", "ndjson"),
    ],
)
def test_detect_format(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "f.json"
    path.write_bytes(content)
    assert detect_format(str(path)) == expected


def test_expand_file_directory_and_glob(tmp_path: Path) -> None:
    for name in ("b.json", "a.jsonl", "c.ndjson", "notes.txt"):
        (tmp_path / name).write_text("{}\n")
    expected = [str(tmp_path / n) for n in ("a.jsonl", "b.json", "c.ndjson")]
    assert expand_paths(str(tmp_path)) == expected
    assert expand_paths(str(tmp_path / "*.json*")) == expected[:2]
    assert expand_paths(str(tmp_path / "b.json")) == [expected[1]]


def test_missing_input_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="No input file matches"):
        expand_paths(str(tmp_path / "nothing-*.json"))


def test_files_keep_batch_order_and_content_hash(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("[]")
    (tmp_path / "b.jsonl").write_text("")
    files = describe_files([str(tmp_path / "a.json"), str(tmp_path / "b.jsonl")])
    assert [(f.fmt, f.order) for f in files] == [("array", 0), ("ndjson", 1)]
    # sha256 of the two-byte text "[]", computed with a separate tool (sha256sum)
    assert files[0].sha256 == "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
