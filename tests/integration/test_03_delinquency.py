"""Delinquency on the real stack over the challenge sample (loaded by test_02, or here when the
module runs alone).

Every sample payment settles its transaction in full 28 to 31 days after the transaction:
with 30 days to pay nobody is more than 1 day late (0% delinquent); with 0 days every
customer is 28-31 days late inside the 6-month window (100%, all ever15mob6).
"""

from __future__ import annotations

import datetime as dt
import io
import json

import pyarrow.parquet as pq
import pytest

from lakehouse import provision
from lakehouse import secrets as secret_store
from tests.conftest import SAMPLE
from tests.integration.test_02_ingest_sample import ingest_sample

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", autouse=True)
def sample_loaded(cli) -> None:
    """The sample in curated (after test_02 it is there already: the ingest skips both files)."""
    ingest_sample(cli)


def sample_facts() -> tuple[str, dict[str, tuple[str, str, int]]]:
    """(latest date in the files, customer -> (transaction, payment, days from purchase to payment))."""
    txs = {t["transaction_id"]: t for t in json.loads((SAMPLE / "transactions.json").read_text())}
    pays = json.loads((SAMPLE / "payments.json").read_text())
    latest = max([t["date"] for t in txs.values()] + [p["date_paid"] for p in pays])
    late = {}
    for p in pays:
        t = txs[p["transaction_id"]]
        days = (dt.date.fromisoformat(p["date_paid"]) - dt.date.fromisoformat(t["date"])).days
        late[t["customer_id"]] = (t["transaction_id"], str(p["payment_id"]), days)
    return latest, late


def test_terms_30_days_nobody_is_delinquent(cli) -> None:
    latest, _ = sample_facts()
    out = cli.run("delinquency", "--terms-days", "30").stdout
    assert out.startswith(f"0.00% of customers are delinquent (inadimplentes) as of {latest}: 0 of 100")
    rows = cli.sql(
        f"SELECT count(*), count_if(inadimplente) FROM analytics.customer_delinquency "
        f"WHERE as_of = DATE '{latest}'"
    )
    assert rows[1] == ["100", "0"]


def test_terms_0_days_everybody_is_delinquent(cli, settings) -> None:
    latest, late = sample_facts()
    out = cli.run("delinquency", "--terms-days", "0").stdout
    assert out.startswith(f"100.00% of customers are delinquent (inadimplentes) as of {latest}: 100 of 100")
    assert f"export: s3://lakehouse-exports/delinquency/as_of={latest}" in out

    # the same as_of was replaced, not appended
    assert cli.sql(
        f"SELECT count(*), count_if(inadimplente), count_if(ever15mob6), count_if(over30mob3) "
        f"FROM analytics.customer_delinquency WHERE as_of = DATE '{latest}'"
    )[1] == ["100", "100", "100", "0"]
    assert cli.sql(f"SELECT count(*) FROM analytics.delinquency_summary WHERE as_of = DATE '{latest}'")[
        1
    ] == ["1"]

    violations = cli.sql(
        "SELECT customer_id, criterion, transaction_id, payment_id, days_past_due "
        f"FROM analytics.delinquency_violations WHERE as_of = DATE '{latest}'"
    )[1:]
    assert sorted(violations) == sorted(
        [c, "ever15mob6", t, p, str(days)] for c, (t, p, days) in late.items()
    )
    assert {int(v[4]) for v in violations} <= {28, 29, 30, 31}

    summary = cli.sql(
        "SELECT customers, delinquent, pct_delinquent, transactions_snapshot_id, "
        f"payments_snapshot_id FROM analytics.delinquency_summary WHERE as_of = DATE '{latest}'"
    )[1]
    current = [
        cli.sql(f'SELECT max_by(snapshot_id, committed_at) FROM curated."{t}$snapshots"')[1][0]
        for t in ("transactions", "payments")
    ]
    assert summary == ["100", "100", "100.00", *current]

    cohorts = cli.sql(
        "SELECT sum(customers), sum(delinquent) FROM analytics.delinquency_by_cohort "
        f"WHERE as_of = DATE '{latest}'"
    )[1]
    assert cohorts == ["100", "100"]


def test_customer_table_is_partitioned_by_inadimplente(cli) -> None:
    rows = cli.sql('SELECT partition.inadimplente FROM analytics."customer_delinquency$partitions"')
    assert rows[0] == ["inadimplente"]
    assert {r[0] for r in rows[1:]} == {"true"}  # the 0% run's rows were replaced for that as_of


def test_parquet_export_is_partitioned_and_complete(settings) -> None:
    latest, _ = sample_facts()
    secrets = secret_store.read(settings.secrets_file)
    s3 = provision.s3_client(settings, secrets["MINIO_ROOT_USER"], secrets["MINIO_ROOT_PASSWORD"])
    base = f"delinquency/as_of={latest}/"
    # readers follow the pointer to the published run's folder
    published = json.loads(s3.get_object(Bucket="lakehouse-exports", Key=base + "_LATEST")["Body"].read())
    assert published["location"] == f"s3://lakehouse-exports/{base}run={published['run_id']}"
    prefix = f"{base}run={published['run_id']}/"
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="lakehouse-exports", Prefix=prefix)
        for o in page.get("Contents", [])
    ]
    customer_files = [
        k for k in keys if k.startswith(prefix + "customers/inadimplente=true/") and k.endswith(".parquet")
    ]
    assert customer_files
    assert not [k for k in keys if "inadimplente=false" in k]
    assert {
        prefix + "customers/_SUCCESS",
        prefix + "violations/_SUCCESS",
        prefix + "summary/_SUCCESS",
    } <= set(keys)
    rows = sum(
        pq.read_table(io.BytesIO(s3.get_object(Bucket="lakehouse-exports", Key=k)["Body"].read())).num_rows
        for k in customer_files
    )
    assert rows == 100
