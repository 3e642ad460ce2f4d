"""Records counted in Python, apart from Spark, for the accounting invariant: the same lines
Spark's text reader gives (LF, CR, CR LF; blank = spaces only), at any chunk boundary."""

from __future__ import annotations

import pytest

from jobs.ingest import count_records


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b'{"a":1}\n{"a":2}\n', 2),
        (b'{"a":1}\n{"a":2}', 2),  # no final newline
        (b'{"a":1}\r\n\r\n   \n{"a":2}\r{"a":3}\n', 3),  # CR LF, blank lines, a lone CR
        (b"\t\n", 1),  # a tab is not blank to the job (it trims spaces only): a rejected record
        (b"", 0),
    ],
)
def test_json_lines(text: bytes, expected: int) -> None:
    for size in (1, 2, 3, 7, len(text) or 1):  # every way the chunks can fall
        chunks = [text[i : i + size] for i in range(0, len(text), size)]
        assert count_records("ndjson", chunks) == expected, size


def test_arrays_count_their_elements_and_a_broken_one_is_unknown() -> None:
    assert count_records("array", [b'[{"a": 1}, ', b"null, 3]"]) == 3
    assert count_records("array", [b'[{"a": 1}, {"a"']) is None
