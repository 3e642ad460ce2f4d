"""The replay's timeline: event-time order, disorder within its window, per-record version order."""

from __future__ import annotations

import json
from pathlib import Path

from lakehouse.replay import Options, timeline


def write(path: Path, records: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def test_records_go_out_in_event_time_order_at_the_rate(tmp_path: Path) -> None:
    tx = write(
        tmp_path / "t.jsonl",
        [
            {"transaction_id": "T2", "transaction_date": "2024-01-03"},
            {"transaction_id": "T1", "date": "2024-01-01"},
        ],
    )
    pay = write(tmp_path / "p.jsonl", [{"payment_id": "P1", "payment_date": "2024-01-02"}])
    sends = timeline(Options({"transactions": tx, "payments": pay}, rate=10))
    assert [json.loads(s.line).get("transaction_id") or json.loads(s.line)["payment_id"] for s in sends] == [
        "T1",
        "P1",
        "T2",
    ]
    assert [round(s.at, 3) for s in sends] == [0.0, 0.1, 0.2]


def test_disorder_never_reorders_versions_of_one_record_and_copies_come_before_the_next(
    tmp_path: Path,
) -> None:
    records = []
    for day in range(1, 29):
        records.append(
            {"transaction_id": f"T{day % 4}", "amount": day, "transaction_date": f"2024-02-{day:02d}"}
        )
    tx = write(tmp_path / "t.jsonl", records)
    sends = timeline(Options({"transactions": tx}, rate=50, disorder=3, duplicates=0.5, seed=7))
    assert len(sends) > len(records)  # some were re-sent
    assert any(
        a.at > b.at for a, b in zip(sends, sorted(sends, key=lambda s: s.order), strict=True)
    )  # disorder
    by_id: dict[str, list[int]] = {}
    for s in sends:
        record = json.loads(s.line)
        by_id.setdefault(record["transaction_id"], []).append(record["amount"])
    for amounts in by_id.values():
        assert amounts == sorted(amounts)  # each version, and its copies, before the next version
