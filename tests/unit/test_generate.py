"""The synthetic data generator: deterministic, both formats, dirty records at the ratio."""

from __future__ import annotations

import json
from pathlib import Path

from lakehouse.generate import Options, generate


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    generate(Options(customers=50, out=tmp_path / "a", seed=3, dirty_ratio=0.1))
    generate(Options(customers=50, out=tmp_path / "b", seed=3, dirty_ratio=0.1))
    for name in ("transactions.jsonl", "payments.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_clean_v2_records_follow_the_contract(tmp_path: Path) -> None:
    counts = generate(Options(customers=30, out=tmp_path, schema="v2", dirty_ratio=0.0))
    txs, pays = lines(tmp_path / "transactions.jsonl"), lines(tmp_path / "payments.jsonl")
    assert counts["transactions"] == len(txs) and counts["payments"] == len(pays)
    assert 30 <= len(txs) <= 150  # 1 to 5 transactions per customer
    assert len({t["customer_id"] for t in txs}) == 30
    assert len({t["transaction_id"] for t in txs}) == len(txs)
    assert set(txs[0]) >= {
        "transaction_id",
        "customer_id",
        "amount",
        "currency",
        "transaction_date",
        "due_date",
        "payment_terms",
        "status",
        "metadata",
    }
    assert set(pays[0]["metadata"]) == {
        "processor",
        "fee_amount",
        "reference_number",
        "ip_address",
        "user_agent",
    }
    known = {t["transaction_id"] for t in txs}
    assert all(p["transaction_id"] in known and p["amount_paid"] > 0 for p in pays)


def test_v1_array_format_is_one_json_array(tmp_path: Path) -> None:
    generate(Options(customers=10, out=tmp_path, fmt="array", schema="v1"))
    txs = json.loads((tmp_path / "transactions.json").read_text())
    assert set(txs[0]) == {"transaction_id", "customer_id", "amount", "date"}
    pays = json.loads((tmp_path / "payments.json").read_text())
    assert set(pays[0]) == {"payment_id", "transaction_id", "amount_paid", "date_paid"}


def test_dirty_ratio_produces_the_listed_problems(tmp_path: Path) -> None:
    generate(Options(customers=400, out=tmp_path, dirty_ratio=0.2, seed=11))
    txs = lines(tmp_path / "transactions.jsonl")
    assert any("transaction_id" not in t for t in txs)
    assert any(t.get("amount") == "abc" for t in txs)
    assert any(t.get("transaction_date") == "invalid-date" for t in txs)
    assert any(t.get("customer_id") == "" for t in txs)
    ids = [t.get("transaction_id") for t in txs if "transaction_id" in t]
    assert len(ids) > len(set(ids))  # duplicates present


def is_dirty(t: dict) -> bool:
    """A record the generator spoiled, judged from the record alone."""
    amount = t.get("amount")
    return (
        "transaction_id" not in t
        or t.get("customer_id") == ""
        or isinstance(amount, str)  # "abc", or a numeric string (valid, but one of the kinds)
        or amount <= 0
        or t.get("transaction_date") == "invalid-date"
        or t.get("due_date") == "2024-13-45"
    )


def test_dirty_records_come_at_the_configured_ratio(tmp_path: Path) -> None:
    for ratio in (0.05, 0.2):
        generate(Options(customers=1000, out=tmp_path / str(ratio), dirty_ratio=ratio, seed=7))
        txs = lines(tmp_path / str(ratio) / "transactions.jsonl")
        seen: set[str] = set()
        extra = 0  # the second record of a duplicate pair
        for t in txs:
            extra += t.get("transaction_id") in seen
            seen.add(t.get("transaction_id", ""))
        spoiled = sum(map(is_dirty, txs)) + extra
        base = len(txs) - extra
        # ~3000 records: the binomial spread is under 1.5 points at 3 sigma
        assert abs(spoiled / base - ratio) < 0.025, (ratio, spoiled, base)
