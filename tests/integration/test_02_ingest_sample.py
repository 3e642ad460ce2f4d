"""Ingestion of the challenge sample on the real stack, and re-running it.

Integration modules run in file order and build on each other's committed state, like a user.
"""

from __future__ import annotations

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


def ingest_sample(cli) -> str:
    sample = [
        "--transactions",
        str(SAMPLE / "transactions.json"),
        "--payments",
        str(SAMPLE / "payments.json"),
    ]
    return cli.run("ingest", *sample).stdout


def test_sample_lands_in_curated_queryable_through_trino(cli) -> None:
    out = ingest_sample(cli)
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
    out = ingest_sample(cli)
    assert out.count("skipped (already ingested, same content)") == 2
    assert table_state(cli) == before


def test_pyiceberg_reads_the_same_catalog(settings, cli) -> None:
    catalog = provision.load_catalog(settings)
    assert {ns[0] for ns in catalog.list_namespaces()} >= {"raw", "curated", "analytics"}
    table = catalog.load_table("curated.payments")
    assert table.scan().to_arrow().num_rows == 100
