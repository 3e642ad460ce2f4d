"""Deduplication by natural id and the accounting invariant, with hand-written outcomes."""

from __future__ import annotations

import pytest

from jobs.ingest import Account, account, classify, parse, validate
from jobs.sources import TRANSACTIONS
from tests.unit.helpers import records


def tx(tx_id: str, amount: float, customer: str = "A") -> str:
    return (
        f'{{"transaction_id": "{tx_id}", "customer_id": "{customer}", "amount": {amount},'
        ' "date": "2024-01-01"}'
    )


NO_ID = '{"customer_id": "A", "amount": 5, "date": "2024-01-01"}'


def run_classify(spark, raws, current_raws=(), small=False):
    batch = records(spark, list(raws))
    validated = validate(parse(batch, TRANSACTIONS), TRANSACTIONS)
    current = validate(parse(records(spark, list(current_raws)), TRANSACTIONS), TRANSACTIONS)
    # the small path's id range, computed here apart from the job (which observes it)
    ids = sorted(r.transaction_id for r in validated.select("transaction_id").collect() if r.transaction_id)
    id_range = (ids[0], ids[-1]) if ids else (None, None)
    classified = classify(validated, current, TRANSACTIONS, id_range if small else None)
    return batch, classified


def outcomes(classified):
    return sorted(
        (r.record_number, r.outcome, r.change, r.superseded)
        for r in classified.select("record_number", "outcome", "change", "superseded").collect()
    )


def test_exact_duplicate_counts_once(spark) -> None:
    batch, classified = run_classify(spark, [tx("1", 10), tx("1", 10), tx("2", 20)])
    assert outcomes(classified) == [
        (1, "duplicate", None, False),
        (2, "accepted", "insert", False),
        (3, "accepted", "insert", False),
    ]
    assert account(batch, classified) == Account(
        received=3, accepted=2, rejected=0, duplicates=1, inserted=2, updated=0, superseded=0
    )


def test_later_record_with_same_id_replaces_earlier(spark) -> None:
    batch, classified = run_classify(spark, [tx("1", 10), tx("1", 11)])
    assert outcomes(classified) == [(1, "duplicate", None, True), (2, "accepted", "insert", False)]
    winner = classified.where("outcome = 'accepted'").first()
    assert str(winner.amount) == "11.00"


@pytest.mark.parametrize("small", [False, True], ids=["shuffle-join", "broadcast-ids"])
def test_same_content_as_curated_is_a_duplicate_and_changed_content_an_update(spark, small) -> None:
    batch, classified = run_classify(
        spark,
        [tx("1", 10), tx("2", 99), tx("3", 30), tx("1", 10), NO_ID],
        current_raws=[tx("1", 10), tx("2", 20), tx("4", 40)],
        small=small,
    )
    assert outcomes(classified) == [
        (1, "duplicate", None, False),
        (2, "accepted", "update", False),
        (3, "accepted", "insert", False),
        (4, "duplicate", None, False),
        (5, "rejected", None, False),
    ]


@pytest.mark.parametrize("small", [False, True], ids=["shuffle-join", "broadcast-ids"])
def test_curated_rows_at_both_ends_of_the_batch_ids_are_compared(spark, small) -> None:
    # the small path bounds its scan of curated by the batch's lowest and highest id: both ends
    # are inside the bounds, ids outside them are not in the batch
    batch, classified = run_classify(
        spark,
        [tx("5", 50), tx("6", 60), tx("7", 71)],
        current_raws=[tx("4", 40), tx("5", 50), tx("7", 70), tx("8", 80)],
        small=small,
    )
    assert outcomes(classified) == [
        (1, "duplicate", None, False),
        (2, "accepted", "insert", False),
        (3, "accepted", "update", False),
    ]


@pytest.mark.parametrize("small", [False, True], ids=["shuffle-join", "broadcast-ids"])
def test_a_batch_without_any_id_is_all_rejected(spark, small) -> None:
    batch, classified = run_classify(spark, [NO_ID, NO_ID], current_raws=[tx("1", 10)], small=small)
    assert outcomes(classified) == [(1, "rejected", None, False), (2, "rejected", None, False)]


def test_rejected_records_never_win_over_valid_ones(spark) -> None:
    bad = '{"transaction_id": "1", "customer_id": "A", "amount": "abc", "date": "2024-01-01"}'
    batch, classified = run_classify(spark, [tx("1", 10), bad])
    assert outcomes(classified) == [(1, "accepted", "insert", False), (2, "rejected", None, False)]
    acc = account(batch, classified)
    assert (acc.received, acc.accepted, acc.rejected, acc.duplicates) == (2, 1, 1, 0)
    assert acc.balanced()


def test_invariant_detects_a_lost_record() -> None:
    assert not Account(received=5, accepted=2, rejected=1, duplicates=1).balanced()
    assert Account(received=4, accepted=2, rejected=1, duplicates=1).balanced()
