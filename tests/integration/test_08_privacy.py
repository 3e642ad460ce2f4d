"""Privacy against a curious insider, on the real stack: no key anywhere Trino can show, pseudonyms
computed by the pipeline and rotated, fail-closed rules for new columns, erasure (LGPD art. 18)
down to every object in the store, and an audit of who read what.

The module loads the sample itself (a re-run skips it), so it runs alone or after the others.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import shutil
import subprocess
import threading
import time

import pytest
import requests

from lakehouse import provision
from lakehouse import secrets as secret_store
from lakehouse.settings import REPO_ROOT
from lakehouse.sql import connect
from tests.conftest import SAMPLE
from tests.integration.objects import objects_holding

pytestmark = pytest.mark.integration

READABLE = {  # non-admin user -> tables it may read (access_policies/roles.toml)
    "analyst": [
        "curated.transactions",
        "curated.payments",
        "curated.rejected_records",
        "curated.ingestion_log",
        "analytics.customer_delinquency",
        "analytics.delinquency_violations",
        "analytics.delinquency_summary",
        "analytics.delinquency_by_cohort",
    ],
    "collections": ["analytics.customer_delinquency", "analytics.delinquency_violations"],
    "bi": ["analytics.delinquency_summary", "analytics.delinquency_by_cohort"],
}


def pseudonym(value: str, key_hex: str) -> str:
    """Computed here, independently of the pipeline: anon_ + 20 hex digits of HMAC-SHA256."""
    return "anon_" + hmac.new(bytes.fromhex(key_hex), value.encode(), hashlib.sha256).hexdigest()[:20]


@pytest.fixture(scope="module")
def loaded(cli) -> None:
    cli.run(
        "ingest",
        "--transactions",
        str(SAMPLE / "transactions.json"),
        "--payments",
        str(SAMPLE / "payments.json"),
    )
    cli.run("delinquency", "--terms-days", "0")  # everybody delinquent: collections sees rows too


def secrets_of(settings) -> dict[str, str]:
    return secret_store.load(settings.secrets_file)


def run_as(settings, user: str, statement: str) -> tuple[str, list]:
    conn = connect(settings, user)
    try:
        cur = conn.cursor()
        cur.execute(statement)
        rows = cur.fetchall()
        return cur.query_id, rows
    finally:
        conn.close()


def forms_of(key_hex: str) -> list[str]:
    raw = bytes.fromhex(key_hex)
    return [key_hex.lower(), key_hex.upper(), base64.b64encode(raw).decode(), raw.decode("latin-1")]


def test_no_plan_or_query_detail_shows_the_pseudonym_key(cli, settings, loaded) -> None:
    secrets = secrets_of(settings)
    key = secrets["PSEUDONYM_KEY"]
    shown = []
    for user, tables in READABLE.items():
        password = secrets[f"TRINO_{user.upper()}_PASSWORD"]
        for table in tables:
            select = f"SELECT * FROM {table} LIMIT 5"
            for explain in (
                "EXPLAIN (TYPE LOGICAL)",
                "EXPLAIN (TYPE DISTRIBUTED)",
                "EXPLAIN (TYPE IO, FORMAT JSON)",
                "EXPLAIN (FORMAT JSON)",
                "EXPLAIN ANALYZE",
            ):
                _, rows = run_as(settings, user, f"{explain} {select}")
                shown.append(json.dumps(rows, default=str))
            query_id, _ = run_as(settings, user, select)
            detail = requests.get(
                f"{settings.trino_url}/v1/query/{query_id}",
                auth=(user, password),
                verify=str(settings.tls_dir / "trino.crt"),
                timeout=30,
            )
            assert detail.status_code == 200, detail.text
            shown.append(detail.text)
    assert shown and "customer_id_pseudonym" in "".join(shown)  # the masks are in the plans...
    for text in shown:
        for form in forms_of(key):  # ...the key is not
            assert form not in text
    # nor in any file Trino reads or writes
    for folder in (settings.conf_dir / "trino", settings.home / "trino"):
        for path in folder.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                for form in forms_of(key):
                    assert form.encode("latin-1") not in data, path


def analyst_ids(cli) -> tuple[str, str]:
    """(customer_id of transaction 1 in curated, the same customer in analytics) as analyst."""
    curated = cli.sql(
        "SELECT customer_id FROM curated.transactions WHERE transaction_id = '1'", user="analyst"
    )[1][0]
    analytics = cli.sql(
        "SELECT d.customer_id FROM analytics.customer_delinquency d JOIN analytics.delinquency_violations v "
        "ON v.customer_id = d.customer_id AND v.as_of = d.as_of WHERE v.transaction_id = '1' LIMIT 1",
        user="analyst",
    )[1][0]
    return curated, analytics


def test_pseudonyms_are_the_same_everywhere_and_change_on_rotation(cli, settings, loaded) -> None:
    old_key = secrets_of(settings)["PSEUDONYM_KEY"]
    assert analyst_ids(cli) == (pseudonym("A", old_key), pseudonym("A", old_key))  # transaction 1 is A's
    joined = (
        "SELECT count(*) FROM curated.transactions t "
        "JOIN analytics.customer_delinquency d ON d.customer_id = t.customer_id"
    )
    matches = cli.sql(joined, user="analyst")[1]

    out = cli.run("policies", "rotate-key").stdout
    assert "analytics.customer_delinquency" in out and "curated.transactions" in out
    new_key = secrets_of(settings)["PSEUDONYM_KEY"]
    assert new_key != old_key and "PSEUDONYM_KEY_NEXT" not in secrets_of(settings)
    assert analyst_ids(cli) == (pseudonym("A", new_key), pseudonym("A", new_key))
    assert cli.sql(joined, user="analyst")[1] == matches  # joins across tables still work
    stale = cli.sql(
        "SELECT count(*) FROM curated.transactions WHERE customer_id = '" + pseudonym("A", old_key) + "'",
        user="analyst",
    )[1]
    assert stale == ["0"]


def test_a_column_nobody_classified_is_null_for_analysts_until_classified(cli, loaded) -> None:
    cli.sql("ALTER TABLE curated.transactions ADD COLUMN internal_note varchar")
    try:
        cli.sql("UPDATE curated.transactions SET internal_note = 'visible' WHERE transaction_id = '1'")
        assert cli.sql("SELECT internal_note FROM curated.transactions WHERE transaction_id = '1'")[1] == [
            "visible"
        ]
        deadline = time.monotonic() + 30  # the agent sees the change within 1 s, Trino reloads within 5 s
        seen = None
        while time.monotonic() < deadline:
            seen = cli.sql(
                "SELECT internal_note FROM curated.transactions WHERE transaction_id = '1'", user="analyst"
            )[1]
            if seen == [""]:
                break
            time.sleep(1)
        assert seen == [""]  # NULL (CSV prints it empty)
        assert cli.sql("SELECT internal_note FROM curated.transactions WHERE transaction_id = '1'")[1] == [
            "visible"
        ]
    finally:
        cli.sql("ALTER TABLE curated.transactions DROP COLUMN internal_note")


def test_a_classification_mistake_fails_the_build_naming_the_column(cli, tmp_path) -> None:
    copy = tmp_path / "access_policies"
    shutil.copytree(REPO_ROOT / "access_policies", copy)
    text = (copy / "classification.toml").read_text()
    (copy / "classification.toml").write_text(text.replace('channel = "Geral"', 'channel = "Gerall"', 1))
    result = cli.run("policies", "build", check=False, LAKEHOUSE_POLICIES_DIR=str(copy))
    assert result.returncode == 1
    assert "curated.transactions.channel: unknown class 'Gerall'" in result.stderr
    (copy / "classification.toml").write_text(text.replace('channel = "Geral"\n', "", 1))
    result = cli.run("policies", "build", check=False, LAKEHOUSE_POLICIES_DIR=str(copy))
    assert result.returncode == 1
    assert "curated.transactions.channel: not classified" in result.stderr


def test_the_audit_shows_who_read_which_columns_and_analysts_cannot_read_it(cli, loaded) -> None:
    cli.sql(
        "SELECT transaction_id, amount FROM curated.transactions WHERE transaction_id = '3'", user="analyst"
    )
    cli.run("audit")  # moves the events so far into governance.query_log (admins may read it)
    denied = cli.run("sql", "SELECT count(*) FROM governance.query_log", "--user", "analyst", check=False)
    assert denied.returncode == 1
    assert "Access Denied: Cannot select from table lakehouse.governance.query_log" in denied.stderr
    deadline = time.monotonic() + 60
    # the read, with its columns (and the pseudonym columns the analyst's masks read instead)
    read = re.compile(
        r"curated\.transactions\(amount,customer_id_pseudonym,sales_rep_pseudonym,transaction_id\)"
    )
    while True:  # Trino posts each event when its query completes: wait for both
        out = cli.run("audit", "--user", "analyst").stdout
        if read.search(out) and "PERMISSION_DENIED" in out:
            break
        assert time.monotonic() < deadline, out
        time.sleep(2)
    lines = [line for line in out.splitlines()[1:] if line.strip()]
    assert all(line.split()[2] == "analyst" for line in lines), out  # only the analyst's queries
    assert any(line.split()[3] == "FAILED" and "PERMISSION_DENIED" in line for line in lines), out


def test_forget_erases_a_customer_everywhere_and_nothing_else(cli, settings, loaded) -> None:
    customer = "CV"
    tables = {
        "raw.transactions": "SELECT count(*) FROM raw.transactions",
        "raw.payments": "SELECT count(*) FROM raw.payments",
        "curated.transactions": "SELECT count(*) FROM curated.transactions",
        "curated.payments": "SELECT count(*) FROM curated.payments",
        "analytics.customer_delinquency": "SELECT count(*) FROM analytics.customer_delinquency",
        "analytics.delinquency_violations": "SELECT count(*) FROM analytics.delinquency_violations",
    }
    (txid,) = [
        t["transaction_id"]
        for t in json.loads((SAMPLE / "transactions.json").read_text())
        if t["customer_id"] == customer
    ]
    before = {t: int(cli.sql(q)[1][0]) for t, q in tables.items()}
    dates = [
        r[0]
        for r in cli.sql(
            f"SELECT as_of FROM analytics.customer_delinquency WHERE customer_id = '{customer}'"
        )[1:]
    ]
    as_ofs = len(dates)
    assert as_ofs >= 1
    summary_before = dict(cli.sql("SELECT as_of, customers FROM analytics.delinquency_summary")[1:])

    out = cli.run("forget", "--customer", customer, "--reason", "titular request 2026-11").stdout
    assert "recorded in governance.erasure_log" in out

    removed = {  # by hand: the sample has one transaction and one payment per customer
        "raw.transactions": 1,
        "raw.payments": 1,
        "curated.transactions": 1,
        "curated.payments": 1,
        "analytics.customer_delinquency": as_ofs,
        "analytics.delinquency_violations": as_ofs,
    }
    assert {t: int(cli.sql(q)[1][0]) for t, q in tables.items()} == {
        t: before[t] - removed[t] for t in tables
    }
    leftovers = [
        "SELECT count(*) FROM curated.transactions WHERE customer_id = 'CV' OR transaction_id = '{t}'",
        "SELECT count(*) FROM curated.payments WHERE transaction_id = '{t}'",
        "SELECT count(*) FROM raw.transactions WHERE json_extract_scalar(raw_json, '$.customer_id') = 'CV'",
        "SELECT count(*) FROM raw.payments WHERE json_extract_scalar(raw_json, '$.transaction_id') = '{t}'",
        "SELECT count(*) FROM analytics.customer_delinquency WHERE customer_id = 'CV'",
    ]
    for statement in leftovers:
        assert cli.sql(statement.format(t=txid))[1] == ["0"], statement
    # the figures of each as_of the customer was in lost exactly that customer, and say so
    summary_after = {
        a: (int(c), e)
        for a, c, e in cli.sql(
            "SELECT as_of, customers, erased_customers FROM analytics.delinquency_summary"
        )[1:]
    }
    for as_of in dates:
        assert summary_after[as_of] == (int(summary_before[as_of]) - 1, "1")
    secrets = secrets_of(settings)
    logged = cli.sql(
        "SELECT subject_hash, reason, rows_removed['curated.transactions'] FROM governance.erasure_log"
    )[1:]
    expected_hash = hmac.new(bytes.fromhex(secrets["ERASURE_LOG_KEY"]), b"CV", hashlib.sha256).hexdigest()
    assert [expected_hash, "titular request 2026-11", "1"] in logged

    # no object anywhere (tables, metadata, manifests, exports, landing) holds the id
    s3 = provision.s3_client(settings, secrets["MINIO_ROOT_USER"], secrets["MINIO_ROOT_PASSWORD"])
    assert objects_holding(s3, settings.buckets, customer) == []
    # the analyst's erasure log is out of reach
    assert (
        cli.run("sql", "SELECT * FROM governance.erasure_log", "--user", "analyst", check=False).returncode
        == 1
    )

    again = cli.run("forget", "--customer", customer)
    assert "nothing to erase" in again.stdout
    assert {t: int(cli.sql(q)[1][0]) for t, q in tables.items()} == {
        t: before[t] - removed[t] for t in tables
    }


def test_no_secret_on_any_command_line_while_the_stack_starts(cli, settings) -> None:
    # user names (`lakehouse-spark`, `lakehouse-root`) are identities, not secrets: mc and
    # MinIO's admin API take them as arguments
    secrets = {
        k: v
        for k, v in secrets_of(settings).items()
        if len(v) >= 8 and not k.endswith(("_USER", "_ACCESS_KEY_ID"))
    }
    seen: list[str] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            seen.append(subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True).stdout)
            time.sleep(0.05)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        cli.run("up")  # re-provisions the object-store users, re-renders every configuration
        job = cli.run("delinquency", "--no-export", check=False)  # a job, with its keys
        assert job.returncode in (0, 4), job.stderr  # 4: nothing loaded yet (the module run alone)
    finally:
        stop.set()
        thread.join()
    assert len(seen) > 20
    leaks = {name for name, value in secrets.items() for listing in seen if value in listing}
    assert leaks == set()
