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
        assert rejected > 0 and duplicates > 0
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
    assert result.returncode != 0
    assert f"{truncated}: line " in result.stderr
    assert table_state(cli) == before


def test_missing_file_is_a_clear_error(cli, tmp_path: Path) -> None:
    result = cli.run("ingest", "--payments", str(tmp_path / "nope.json"), check=False)
    assert result.returncode != 0
    assert "No input file matches" in result.stderr
