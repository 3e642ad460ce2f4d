"""Dirty v2 data, truncated and missing files on the real stack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SAMPLE
from tests.integration.test_02_ingest_sample import table_state

pytestmark = pytest.mark.integration


def nonblank_lines(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip())


def test_dirty_v2_data_is_fully_accounted_for(cli, tmp_path: Path) -> None:
    cli.run(
        "generate",
        "--customers",
        "400",
        "--out",
        str(tmp_path),
        "--schema",
        "v2",
        "--dirty-ratio",
        "0.08",
        "--seed",
        "5",
    )
    files = {"transactions": tmp_path / "transactions.jsonl", "payments": tmp_path / "payments.jsonl"}
    cli.run("ingest", "--transactions", str(files["transactions"]), "--payments", str(files["payments"]))
    for source, path in files.items():
        log = cli.sql(
            "SELECT batch_id, received, accepted, rejected, duplicates FROM curated.ingestion_log "
            f"WHERE source = '{source}' ORDER BY started_at DESC LIMIT 1"
        )[1]
        batch_id, received, accepted, rejected, duplicates = log[0], *map(int, log[1:])
        assert received == nonblank_lines(path)  # counted here, independently of the job
        assert received == accepted + rejected + duplicates
        # the generator makes ~8% of records dirty, some of them duplicates (tests/unit/test_generate)
        assert 0.02 * received < rejected + duplicates < 0.2 * received
        raw_count = cli.sql(f"SELECT count(*) FROM raw.{source} WHERE batch_id = '{batch_id}'")[1][0]
        assert int(raw_count) == received
        stored = cli.sql(
            "SELECT count(*), count_if(cardinality(reasons) = 0) FROM curated.rejected_records "
            f"WHERE batch_id = '{batch_id}'"
        )[1]
        assert stored == [str(rejected), "0"]

    # each bad record the file holds is rejected with its reason: spot-check two rules
    bad_dates = [
        json.loads(line)
        for line in files["transactions"].read_text().splitlines()
        if '"invalid-date"' in line
    ]
    rejected_dates = cli.sql(
        "SELECT count(*) FROM curated.rejected_records WHERE source = 'transactions' "
        "AND contains(reasons, 'invalid_transaction_date')"
    )[1][0]
    assert int(rejected_dates) == len(bad_dates) > 0
    texts = [line for line in files["payments"].read_text().splitlines() if '"amount_paid": "abc"' in line]
    rejected_amounts = cli.sql(
        "SELECT count(*) FROM curated.rejected_records WHERE source = 'payments' "
        "AND contains(reasons, 'amount_paid_not_numeric')"
    )[1][0]
    assert int(rejected_amounts) == len(texts) > 0


# Ten records whose fate is known by reading them (ids `hc-*` exist nowhere else in the suite).
HAND_MADE = [
    ('{"transaction_id": "hc-1", "customer_id": "HC1", "amount": 100.0, "date": "2024-01-01"}', "duplicate"),
    ('{"transaction_id": "hc-2", "customer_id": "HC1", "amount": 50.5, "date": "2024-01-02"}', "duplicate"),
    ('{"transaction_id": "hc-1", "customer_id": "HC1", "amount": 100.0, "date": "2024-01-01"}', "accepted"),
    (
        '{"transaction_id": "hc-3", "customer_id": "HC2", "amount": "abc", "date": "2024-01-03"}',
        "amount_not_numeric",
    ),
    (
        '{"transaction_id": "hc-4", "customer_id": "HC2", "amount": 10.0, "date": "2024-13-45"}',
        "invalid_transaction_date",
    ),
    (
        '{"transaction_id": "hc-5", "customer_id": "HC2", "amount": -5.0, "date": "2024-01-04"}',
        "amount_not_positive",
    ),
    ('{"customer_id": "HC3", "amount": 1.0, "date": "2024-01-05"}', "missing_transaction_id"),
    (
        '{"transaction_id": "hc-6", "customer_id": "HC3", "amount": 1.234, "date": "2024-01-05"}',
        "amount_too_precise",
    ),
    ("[1, 2]", "not_a_json_object"),
    ('{"transaction_id": "hc-2", "customer_id": "HC1", "amount": 60.0, "date": "2024-01-02"}', "accepted"),
]


def test_each_hand_made_record_gets_the_outcome_read_off_it(cli, tmp_path: Path) -> None:
    path = tmp_path / "hand-made.jsonl"
    path.write_text("\n".join(line for line, _ in HAND_MADE) + "\n")
    cli.run("ingest", "--transactions", str(path))
    counts = cli.sql(
        "SELECT received, accepted, rejected, duplicates, inserted FROM curated.ingestion_log "
        "WHERE source = 'transactions' ORDER BY started_at DESC LIMIT 1"
    )[1]
    assert counts == ["10", "2", "6", "2", "2"]
    reasons = cli.sql(
        "SELECT record_number, array_join(reasons, ',') FROM curated.rejected_records "
        f"WHERE source_file LIKE '%{path.name}' ORDER BY record_number"
    )[1:]
    expected = [
        [str(n), fate] for n, (_, fate) in enumerate(HAND_MADE, 1) if fate not in ("accepted", "duplicate")
    ]
    assert reasons == expected
    curated = cli.sql(
        "SELECT transaction_id, amount, record_number FROM curated.transactions "
        "WHERE transaction_id LIKE 'hc-%' ORDER BY transaction_id"
    )[1:]
    assert curated == [["hc-1", "100.00", "3"], ["hc-2", "60.00", "10"]]  # the last version wins


def test_truncated_file_fails_the_batch_and_changes_nothing(cli, tmp_path: Path) -> None:
    before = table_state(cli)
    truncated = tmp_path / "payments.json"
    truncated.write_text((SAMPLE / "payments.json").read_text()[:4000])
    result = cli.run(
        "ingest",
        "--transactions",
        str(SAMPLE / "transactions.json"),
        "--payments",
        str(truncated),
        check=False,
    )
    assert result.returncode == 3  # refused input: Airflow must not retry it
    assert f"{truncated}: line " in result.stderr
    assert table_state(cli) == before


def test_missing_file_is_a_clear_error(cli, tmp_path: Path) -> None:
    result = cli.run("ingest", "--payments", str(tmp_path / "nope.json"), check=False)
    assert result.returncode == 3
    assert "No input file matches" in result.stderr
