"""The cluster topology on the real stack: the same jobs on a Spark standalone master with two
workers and on a Trino coordinator with one worker, by configuration only (docs/cluster.md).

The expected tables come from a run of the same input in the single topology (local[2], one
Trino node) on the same stack, made first; the cluster runs must give the same rows, key by key,
content by content. Volatile bookkeeping (batch and run ids, timestamps, snapshot ids) differs
between any two runs and is left out of the content hash.

The module brings the session stack to the cluster topology, and stops it at the end: starting
it again in the single topology (both share the data) is left to the next command a later test
runs (`cli.restore`), so the last integration module does not pay for a restart nobody uses and
the unit tests after it run on an idle machine. It empties the data tables before each load, so
no later test sees its data either.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lakehouse import cluster, provision
from lakehouse import secrets as secret_store
from lakehouse.cluster_nodes import SparkMaster, SparkWorker, TrinoWorker, get_json
from lakehouse.spark_service import SparkService
from lakehouse.sql import connect, query

pytestmark = pytest.mark.integration

# (table, key columns) of every table the two jobs write; ingestion_log's batch id is volatile,
# one batch per source per load makes `source` its key
INGEST_TABLES = {
    "raw.transactions": ("file_sha256", "record_number"),
    "raw.payments": ("file_sha256", "record_number"),
    "curated.transactions": ("transaction_id",),
    "curated.payments": ("payment_id",),
    "curated.rejected_records": ("source", "file_sha256", "record_number"),
    "curated.ingestion_log": ("source",),
}
DELINQUENCY_TABLES = {
    "analytics.customer_delinquency": ("customer_id", "as_of"),
    "analytics.delinquency_violations": ("customer_id", "criterion", "transaction_id", "as_of"),
    "analytics.delinquency_summary": ("as_of",),
    "analytics.delinquency_by_cohort": ("as_of", "cohort_month"),
}
VOLATILE = {
    "batch_id",
    "ingested_at",
    "rejected_at",
    "started_at",
    "finished_at",
    "run_id",
    "computed_at",
    "raw_snapshot_id",
    "curated_snapshot_id",
    "rejected_snapshot_id",
    "transactions_snapshot_id",
    "payments_snapshot_id",
}
Snapshot = dict[str, dict[tuple[Any, ...], str]]


def table_rows(settings, table: str, key: tuple[str, ...]) -> dict[tuple[Any, ...], str]:
    """key -> sha256 of the row's non-volatile columns, read through Trino as admin."""
    columns, rows = query(settings, f"SELECT * FROM {table}")
    kept = [i for i, c in enumerate(columns) if c not in VOLATILE]
    keys = [columns.index(k) for k in key]
    out: dict[tuple[Any, ...], str] = {}
    for row in rows:
        content = json.dumps([row[i] for i in kept], default=str, sort_keys=True)
        k = tuple(str(row[i]) for i in keys)
        assert k not in out, f"{table}: key {k} twice"
        out[k] = hashlib.sha256(content.encode()).hexdigest()
    return out


def snapshot(settings, tables: dict[str, tuple[str, ...]]) -> Snapshot:
    return {table: table_rows(settings, table, key) for table, key in tables.items()}


def empty_data_tables(settings) -> None:
    """Every raw, curated and analytics table dropped: the next load starts from nothing."""
    catalog = provision.load_catalog(settings)
    for namespace in ("raw", "curated", "analytics"):
        for identifier in catalog.list_tables(namespace):
            catalog.drop_table(identifier)


def load(cli, settings, files: dict[str, Path], delinquency: bool = True) -> None:
    empty_data_tables(settings)
    cli.run("ingest", "--transactions", str(files["transactions"]), "--payments", str(files["payments"]))
    if delinquency:
        cli.run("delinquency", "--no-export")


def assert_same(actual: Snapshot, expected: Snapshot) -> None:
    for table, rows in expected.items():
        assert rows, f"{table} is empty in the reference run"
        missing = set(rows) - set(actual[table])
        extra = set(actual[table]) - set(rows)
        changed = [k for k in set(rows) & set(actual[table]) if rows[k] != actual[table][k]]
        assert not (missing or extra or changed), (
            f"{table}: {len(missing)} missing, {len(extra)} extra, {len(changed)} changed "
            f"(e.g. {sorted(missing)[:2]} {sorted(extra)[:2]} {changed[:2]})"
        )


@pytest.fixture(scope="module")
def dataset(cli, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("cluster-data")
    cli.run(
        "generate", "--customers", "300", "--out", str(out), "--schema", "v2", "--dirty-ratio", "0.08",
        "--seed", "11",
    )  # fmt: skip
    return {"transactions": out / "transactions.jsonl", "payments": out / "payments.jsonl"}


@pytest.fixture(scope="module")
def reference(cli, settings, dataset) -> Snapshot:
    """The tables of a single-topology (local[2], one Trino node) run of the data set."""
    if cluster.topology(settings) != cluster.SINGLE:
        cli.run("up", "--single")
    load(cli, settings, dataset)
    return snapshot(settings, INGEST_TABLES | DELINQUENCY_TABLES)


@pytest.fixture(scope="module")
def on_cluster(cli, settings, reference) -> Iterator[None]:
    """The stack in the cluster topology for the module's tests; stopped afterwards, and started
    again in the single topology before whatever command comes next."""
    cli.run("up", "--cluster")
    yield
    cli.run("down")
    cli.restore.append(("up", "--single"))


@pytest.fixture(scope="module")
def command_lines() -> list[str]:
    """`ps` listings sampled while the cluster loads (its daemons and executors start then)."""
    return []


@pytest.fixture(scope="module")
def cluster_run(cli, settings, dataset, on_cluster, command_lines) -> Snapshot:
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            command_lines.append(
                subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True).stdout
            )
            time.sleep(0.2)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        load(cli, settings, dataset)
    finally:
        stop.set()
        thread.join()
    return snapshot(settings, INGEST_TABLES | DELINQUENCY_TABLES)


def service_app(settings) -> tuple[str, str]:
    """(application id, driver UI) of the Spark service, the application every command uses."""
    state = SparkMaster(settings).state() or {}
    apps = [a for a in state.get("activeapps", []) if a.get("name") == "lakehouse-service"]
    assert len(apps) == 1, f"one lakehouse-service application expected on the master: {apps}"
    service = SparkService(settings).state() or {}
    assert service.get("ui"), f"the Spark service reports no UI: {service}"
    return apps[0]["id"], service["ui"]


def test_status_lists_every_node_healthy(cli, settings, on_cluster) -> None:
    out = cli.run("status").stdout
    for node in ("spark-master", "spark-worker-1", "spark-worker-2", "trino-worker-1", "trino"):
        assert any(line.split()[:2] == [node, "healthy"] for line in out.splitlines()), out
    assert cluster.spark_master_ui(settings) in out and cluster.trino_ui(settings) in out


def test_cluster_tables_equal_the_local_run(cluster_run, reference) -> None:
    assert_same(cluster_run, reference)


def test_no_secret_on_a_command_line(settings, cluster_run, command_lines) -> None:
    secrets = [v for v in secret_store.read(settings.secrets_file).values() if len(v) >= 8]
    executors = [
        line
        for listing in command_lines
        for line in listing.splitlines()
        if "CoarseGrainedExecutorBackend" in line
    ]
    assert executors, "no executor seen: the sampling missed the cluster"
    assert {s[:4] + "…" for s in secrets for listing in command_lines if s in listing} == set()


def test_executors_ran_on_both_workers(settings, cluster_run) -> None:
    master = SparkMaster(settings).state() or {}
    alive = [w for w in master.get("workers", []) if w.get("state") == "ALIVE"]
    assert len(alive) == 2, master.get("workers")
    app, ui = service_app(settings)
    tasks = {e["id"]: e["totalTasks"] for e in get_json(f"{ui}/api/v1/applications/{app}/allexecutors")}
    for index in (1, 2):
        worker = SparkWorker(settings, index).state() or {}
        mine = [
            str(e["id"])
            for e in worker.get("executors", []) + worker.get("finishedexecutors", [])
            if e.get("appid") == app
        ]
        assert mine, f"worker {index} ran no executor of {app}"
        assert sum(tasks.get(i, 0) for i in mine) > 0, f"worker {index}'s executors ran no task"


def test_trino_query_runs_on_the_worker(settings, cluster_run) -> None:
    _, nodes = query(settings, "SELECT node_id, coordinator FROM system.runtime.nodes WHERE state = 'active'")
    worker_id = TrinoWorker(settings, 1).node_id()
    assert len([n for n, coordinator in nodes if coordinator]) == 1, nodes
    assert [str(n) for n, coordinator in nodes if not coordinator] == [worker_id], nodes
    conn = connect(settings)
    try:
        cur = conn.cursor()
        cur.execute(
            "SELECT count(*), count(DISTINCT customer_id) FROM analytics.customer_delinquency d "
            "JOIN analytics.delinquency_violations v USING (customer_id, as_of)"
        )
        cur.fetchall()
        query_id = cur.query_id
        cur.execute("SELECT count(*) FROM analytics.customer_delinquency")
        (customers,) = cur.fetchone()
    finally:
        conn.close()
    assert customers == len(cluster_run["analytics.customer_delinquency"])
    _, work = query(
        settings,
        "SELECT node_id, sum(completed_splits), sum(processed_input_rows) FROM system.runtime.tasks "
        f"WHERE query_id = '{query_id}' GROUP BY node_id",
    )
    by_node = {str(n): (int(s), int(r)) for n, s, r in work}
    assert set(by_node) == {worker_id}, f"tasks ran on {by_node}, expected only the worker {worker_id}"
    assert by_node[worker_id][0] > 0 and by_node[worker_id][1] > 0


def pseudonym(value: str, key_hex: str) -> str:
    """The analysts' pseudonym, computed here independently of Trino (as in test_05)."""
    return "anon_" + hmac.new(bytes.fromhex(key_hex), value.encode(), hashlib.sha256).hexdigest()[:20]


def test_access_rules_hold_on_the_cluster(cli, settings, cluster_run) -> None:
    key = secret_store.read(settings.secrets_file)["PSEUDONYM_KEY"]
    clear = {row[0] for row in cli.sql("SELECT customer_id FROM analytics.customer_delinquency")[1:]}
    seen = {
        row[0] for row in cli.sql("SELECT customer_id FROM analytics.customer_delinquency", "analyst")[1:]
    }
    assert clear and seen == {pseudonym(c, key) for c in clear}
    result = cli.run(
        "sql", "SELECT count(*) FROM analytics.customer_delinquency", "--user", "bi", check=False
    )
    assert result.returncode != 0 and "Access Denied" in result.stderr
    assert cli.sql("SELECT count(*) > 0 FROM analytics.delinquency_summary", user="bi")[1] == ["true"]


def succeeded_jobs(ui: str, app: str) -> int:
    jobs = get_json(f"{ui}/api/v1/applications/{app}/jobs?status=succeeded") or []
    return len(jobs)


def test_ingest_survives_a_lost_worker(cli, settings, dataset, reference, cluster_run) -> None:
    app, ui = service_app(settings)
    empty_data_tables(settings)
    before = succeeded_jobs(ui, app)
    ingest = cli.start(
        "ingest", "--transactions", str(dataset["transactions"]), "--payments", str(dataset["payments"])
    )
    # mid-ingest: after a few of its Spark jobs (checkpoints among them) and before its end
    deadline = time.monotonic() + 300
    while succeeded_jobs(ui, app) < before + 4 and ingest.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert ingest.poll() is None, "the ingest ended before the worker could be killed"
    victim = SparkWorker(settings, 2)
    pid = victim.pid()
    assert pid
    os.killpg(pid, signal.SIGKILL)  # the worker and its executors, as a lost machine
    out, err = ingest.communicate(timeout=600)
    assert ingest.returncode == 0, f"ingest failed after the worker was lost:\n{out}\n{err[-4000:]}"
    master = SparkMaster(settings).state() or {}
    assert sum(1 for w in master.get("workers", []) if w.get("state") == "ALIVE") == 1
    assert_same(snapshot(settings, INGEST_TABLES), {t: reference[t] for t in INGEST_TABLES})
