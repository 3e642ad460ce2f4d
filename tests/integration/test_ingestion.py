"""Ingestion on the real stack: sample, re-run, dirty v2 data, truncated file.

The tests run in file order and build on each other's committed state, like a user would.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lakehouse import provision
from tests.conftest import SAMPLE

pytestmark = pytest.mark.integration

TABLES = [
    "raw.transactions",
    "raw.payments",
    "curated.transactions",
    "curated.payments",
    "curated.rejected_records",
    "curated.ingestion_log",
]


def table_state(cli) -> dict[str, tuple[str, str]]:
    """Row count and current snapshot id of every table, read through Trino."""
    state = {}
    for table in TABLES:
        ns, name = table.split(".")
        rows = cli.sql(
            f"SELECT (SELECT count(*) FROM {table}), "
            f'(SELECT max_by(snapshot_id, committed_at) FROM {ns}."{name}$snapshots")'
        )
        state[table] = tuple(rows[1])
    return state


def test_sample_lands_in_curated_queryable_through_trino(cli) -> None:
    out = cli.run(
        "ingest",
        "--transactions",
        str(SAMPLE / "transactions.json"),
        "--payments",
        str(SAMPLE / "payments.json"),
    ).stdout
    assert [line.split()[:5] for line in out.splitlines()[1:3]] == [
        ["transactions", "100", "100", "0", "0"],
        ["payments", "100", "100", "0", "0"],
    ]
    # amounts in the sample run 100, 150, ..., 5050: 100 * 100 + 50 * (0 + ... + 99) = 257500
    assert cli.sql("SELECT count(*), sum(amount), count(DISTINCT customer_id) FROM curated.transactions") == [
        ["_col0", "_col1", "_col2"],
        ["100", "257500.00", "100"],
    ]
    assert cli.sql("SELECT count(*), sum(amount_paid) FROM curated.payments")[1] == ["100", "257500.00"]
    assert cli.sql(
        "SELECT payment_id, transaction_id, amount_paid, payment_date FROM curated.payments "
        "WHERE payment_id = '10'"
    )[1] == ["10", "10", "550.00", "2024-03-20"]
    assert cli.sql('SELECT count(*) FROM raw.transactions WHERE raw_json LIKE \'%"customer_id":"CV"%\'')[
        1
    ] == ["1"]


def test_column_types_are_the_contract(cli) -> None:
    rows = cli.sql(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'curated' AND table_name = 'transactions'"
    )
    types = dict(rows[1:])
    assert types["amount"] == "decimal(18,2)"
    assert types["transaction_date"] == "date"
    assert types["due_date"] == "date"
    assert types["transaction_id"] == "varchar"


def test_reingesting_the_same_input_changes_nothing(cli) -> None:
    before = table_state(cli)
    out = cli.run(
        "ingest",
        "--transactions",
        str(SAMPLE / "transactions.json"),
        "--payments",
        str(SAMPLE / "payments.json"),
    ).stdout
    assert out.count("skipped (already ingested, same content)") == 2
    assert table_state(cli) == before


def test_pyiceberg_reads_the_same_catalog(settings, cli) -> None:
    catalog = provision.load_catalog(settings)
    assert {ns[0] for ns in catalog.list_namespaces()} >= {"raw", "curated", "analytics"}
    table = catalog.load_table("curated.payments")
    assert table.scan().to_arrow().num_rows == 100


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
