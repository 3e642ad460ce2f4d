"""Governance on the running system: who sees what through Trino, what the object store allows.

Needs the sample, dirty v2 data (payments with network metadata, rejected records) and a
delinquency analysis: test_02..04 leave them; run alone, the module fixture loads the same.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import botocore.exceptions
import pytest
import requests

import trino
from lakehouse import policies, provision
from lakehouse import secrets as secret_store
from lakehouse.secrets import write_private
from lakehouse.sql import connect
from tests.integration.test_02_ingest_sample import ingest_sample

pytestmark = pytest.mark.integration


def pseudonym(value: str, key_hex: str) -> str:
    """The analysts' pseudonym, computed here independently of Trino."""
    digest = hmac.new(bytes.fromhex(key_hex), value.encode(), hashlib.sha256).hexdigest()
    return "anon_" + digest[:20]


def denied(cli, query: str, user: str) -> str:
    result = cli.run("sql", query, "--user", user, check=False)
    assert result.returncode != 0, f"{user} was allowed: {query}"
    return result.stderr


@pytest.fixture(scope="module", autouse=True)
def loaded(cli, tmp_path_factory) -> None:
    """What test_02..04 load (same files, same content: the ingest skips them after those)."""
    ingest_sample(cli)
    folder = tmp_path_factory.mktemp("governance-v2")
    cli.run(
        "generate", "--customers", "400", "--out", str(folder), "--schema", "v2",
        "--dirty-ratio", "0.08", "--seed", "5",
    )  # fmt: skip
    cli.run(
        "ingest", "--transactions", str(folder / "transactions.jsonl"),
        "--payments", str(folder / "payments.jsonl"),
    )  # fmt: skip
    if cli.run("sql", "SELECT count(*) FROM analytics.delinquency_summary", check=False).returncode:
        cli.run("delinquency", "--terms-days", "0")  # never analysed: everybody late, as test_03 leaves it


@pytest.fixture(scope="module")
def secrets(settings) -> dict[str, str]:
    return secret_store.read(settings.secrets_file)


def test_every_catalog_column_is_classified_and_nothing_else(cli) -> None:
    rows = cli.sql(
        "SELECT table_schema || '.' || table_name, column_name FROM information_schema.columns "
        "WHERE table_schema IN ('raw', 'curated', 'analytics', 'governance')"
    )[1:]
    in_catalog: dict[str, set[str]] = {}
    for table, column in rows:
        in_catalog.setdefault(table, set()).add(column)
    classified = {t: set(c) for t, c in policies.load_classification().items()}
    # every table that exists has exactly its classified columns; the governance tables appear
    # once something is audited or erased
    assert {"raw.transactions", "curated.transactions", "analytics.customer_delinquency"} <= set(in_catalog)
    assert in_catalog == {t: c for t, c in classified.items() if t in in_catalog}


def test_analyst_sees_pseudonyms_consistent_across_tables(cli, secrets) -> None:
    key = secrets["PSEUDONYM_KEY"]
    # sample transaction 1 belongs to customer "A" (data/sample/transactions.json)
    assert cli.sql("SELECT customer_id FROM curated.transactions WHERE transaction_id = '1'", user="analyst")[
        1
    ] == [pseudonym("A", key)]
    clear = cli.sql(
        "SELECT count(*) FROM curated.transactions WHERE customer_id NOT LIKE 'anon\\_%' ESCAPE '\\'",
        user="analyst",
    )[1]
    assert clear == ["0"]
    # same customer, same pseudonym in curated.payments (v2 payments carry customer_id) ...
    mismatched = cli.sql(
        "SELECT count(*), count_if(t.customer_id <> p.customer_id) FROM curated.payments p "
        "JOIN curated.transactions t ON t.transaction_id = p.transaction_id WHERE p.customer_id IS NOT NULL",
        user="analyst",
    )[1]
    assert int(mismatched[0]) > 0 and mismatched[1] == "0"
    # ... and in the analytics tables, so analysts can still join
    joined = cli.sql(
        "SELECT count(*) FROM analytics.customer_delinquency d JOIN curated.transactions t "
        "ON t.customer_id = d.customer_id AND t.transaction_id = '1'",
        user="analyst",
    )[1]
    assert int(joined[0]) >= 1


def test_analyst_gets_null_for_restrito_and_admin_does_not(cli) -> None:
    query = (
        "SELECT count_if(ip_address IS NOT NULL), count_if(user_agent IS NOT NULL), "
        "count_if(reference_number IS NOT NULL) FROM curated.payments"
    )
    assert cli.sql(query, user="analyst")[1] == ["0", "0", "0"]
    assert all(int(n) > 0 for n in cli.sql(query, user="admin")[1])
    assert cli.sql("SELECT count_if(raw_json IS NOT NULL) FROM curated.rejected_records", user="analyst")[
        1
    ] == ["0"]


def test_analyst_cannot_read_raw(cli) -> None:
    assert "Access Denied" in denied(cli, "SELECT count(*) FROM raw.transactions", "analyst")


def test_collections_sees_exactly_the_delinquent_customers_in_clear(cli) -> None:
    admin = cli.sql("SELECT customer_id FROM analytics.customer_delinquency WHERE inadimplente ORDER BY 1")[
        1:
    ]
    seen = cli.sql("SELECT customer_id FROM analytics.customer_delinquency ORDER BY 1", user="collections")[
        1:
    ]
    assert seen == admin and len(seen) > 0
    assert not any(c.startswith("anon_") for (c,) in seen)
    violations = cli.sql("SELECT count(*) FROM analytics.delinquency_violations", user="collections")[1]
    assert violations == cli.sql("SELECT count(*) FROM analytics.delinquency_violations")[1]
    for table in ("curated.transactions", "analytics.delinquency_summary", "raw.payments"):
        assert "Access Denied" in denied(cli, f"SELECT count(*) FROM {table}", "collections")


def test_bi_sees_only_the_aggregate_tables(cli) -> None:
    assert cli.sql("SELECT count(*) > 0 FROM analytics.delinquency_summary", user="bi")[1] == ["true"]
    assert cli.sql("SELECT count(*) > 0 FROM analytics.delinquency_by_cohort", user="bi")[1] == ["true"]
    for table in ("analytics.customer_delinquency", "analytics.delinquency_violations", "curated.payments"):
        assert "Access Denied" in denied(cli, f"SELECT count(*) FROM {table}", "bi")
    tables = cli.sql("SHOW TABLES FROM analytics", user="bi")[1:]
    assert sorted(t for (t,) in tables) == ["delinquency_by_cohort", "delinquency_summary"]


def test_pipeline_reads_and_writes_where_jobs_write(cli) -> None:
    assert cli.sql("SELECT count(*) > 0 FROM raw.transactions", user="pipeline")[1] == ["true"]


@pytest.mark.parametrize("user", ["admin", "pipeline", "analyst", "collections", "bi"])
def test_wrong_password_fails_for_every_user(settings, user) -> None:
    with pytest.raises(trino.exceptions.HttpError, match="401"):
        connect(settings, user, password="wrong-" + user).cursor().execute("SELECT 1")


def test_a_login_cannot_assert_another_user(settings, secrets) -> None:
    session = requests.Session()
    session.trust_env = False
    session.verify = str(settings.tls_dir / "trino.crt")
    conn = trino.dbapi.connect(
        host="127.0.0.1",
        port=settings["trino"]["https_port"],
        http_scheme="https",
        user="admin",
        auth=trino.auth.BasicAuthentication("analyst", secrets["TRINO_ANALYST_PASSWORD"]),
        http_session=session,
        catalog="lakehouse",
    )
    with pytest.raises(trino.exceptions.TrinoUserError, match="cannot impersonate"):
        conn.cursor().execute("SELECT count(*) FROM raw.transactions")


def test_rules_reload_without_restart(cli, settings, secrets) -> None:
    rules_file = settings.conf_dir / "trino" / "rules.json"
    original = rules_file.read_text()
    rules = json.loads(original)
    rules["tables"] = [r for r in rules["tables"] if r.get("group") != "bi"]
    try:
        write_private(rules_file, json.dumps(rules))
        deadline = time.monotonic() + 30
        while (
            cli.run(
                "sql", "SELECT 1 FROM analytics.delinquency_summary LIMIT 1", "--user", "bi", check=False
            ).returncode
            == 0
        ):
            assert time.monotonic() < deadline, "Trino did not reload rules.json within 30 s"
            time.sleep(1)
    finally:
        write_private(rules_file, original)
    deadline = time.monotonic() + 30
    while (
        cli.run(
            "sql", "SELECT 1 FROM analytics.delinquency_summary LIMIT 1", "--user", "bi", check=False
        ).returncode
        != 0
    ):
        assert time.monotonic() < deadline, "restored rules.json was not reloaded within 30 s"
        time.sleep(1)


# ---- object store ------------------------------------------------------------------------
def s3_as(settings, secrets, engine: str):
    return provision.s3_client(
        settings, secrets[f"{engine}_S3_ACCESS_KEY_ID"], secrets[f"{engine}_S3_SECRET_ACCESS_KEY"]
    )


def code_of(call) -> str:
    try:
        call()
    except botocore.exceptions.ClientError as exc:
        return exc.response["Error"]["Code"]
    return "allowed"


def test_anonymous_requests_are_denied(settings) -> None:
    for bucket in settings.buckets:
        listing = requests.get(f"{settings.minio_endpoint}/{bucket}/", timeout=10)
        assert listing.status_code == 403, bucket
    key = requests.get(f"{settings.minio_endpoint}/lakehouse-warehouse/warehouse/", timeout=10)
    assert key.status_code == 403


def test_engine_keys_are_limited_to_their_buckets(settings, secrets) -> None:
    trino_s3, spark_s3 = s3_as(settings, secrets, "TRINO"), s3_as(settings, secrets, "SPARK")
    assert code_of(lambda: trino_s3.list_objects_v2(Bucket="lakehouse-warehouse", MaxKeys=1)) == "allowed"
    assert code_of(lambda: trino_s3.list_objects_v2(Bucket="lakehouse-exports", MaxKeys=1)) == "AccessDenied"
    assert (
        code_of(lambda: trino_s3.put_object(Bucket="lakehouse-landing", Key="x", Body=b"x")) == "AccessDenied"
    )
    assert (
        code_of(lambda: spark_s3.put_object(Bucket="lakehouse-landing", Key="x", Body=b"x")) == "AccessDenied"
    )
    assert code_of(lambda: spark_s3.create_bucket(Bucket="lakehouse-new")) == "AccessDenied"
    assert code_of(lambda: spark_s3.delete_bucket_encryption(Bucket="lakehouse-warehouse")) == "AccessDenied"


def test_every_object_is_encrypted_at_rest(settings, secrets) -> None:
    root = provision.s3_client(settings, secrets["MINIO_ROOT_USER"], secrets["MINIO_ROOT_PASSWORD"])
    seen = 0
    for bucket in ("lakehouse-warehouse", "lakehouse-exports"):
        for page in root.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                head = root.head_object(Bucket=bucket, Key=obj["Key"])
                assert head.get("ServerSideEncryption") == "AES256", obj["Key"]
                seen += 1
    assert seen > 50
    # and on disk, MinIO's files hold no plaintext Iceberg metadata
    on_disk = [
        p for p in (settings.home / "minio" / "data" / "lakehouse-warehouse").rglob("*") if p.is_file()
    ]
    assert on_disk and not any(b'"format-version"' in p.read_bytes() for p in on_disk)


def test_cli_output_never_shows_secrets(cli, secrets) -> None:
    out = cli.run("status")
    text = out.stdout + out.stderr
    for name in (
        "MINIO_ROOT_PASSWORD",
        "TRINO_ADMIN_PASSWORD",
        "PSEUDONYM_KEY",
        "SPARK_S3_SECRET_ACCESS_KEY",
    ):
        assert secrets[name] not in text
