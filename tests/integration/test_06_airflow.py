"""Airflow on the real stack, driven through `lakehouse run-dag` (its REST API).

Each test stands alone (`pytest path::test` works): the ones that need a loaded lake share one
DAG run through a module fixture. They load more data on top of what test_02..05 checked.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from lakehouse.airflow_api import AirflowClient
from tests.integration.test_02_ingest_sample import table_state

pytestmark = pytest.mark.integration

ANALYTICS = [
    "analytics.customer_delinquency",
    "analytics.delinquency_violations",
    "analytics.delinquency_summary",
    "analytics.delinquency_by_cohort",
]


def analytics_state(cli) -> dict[str, tuple[str, str]]:
    state = {}
    for table in ANALYTICS:
        ns, name = table.split(".")
        state[table] = tuple(
            cli.sql(
                f"SELECT (SELECT count(*) FROM {table}), "
                f'(SELECT max_by(snapshot_id, committed_at) FROM {ns}."{name}$snapshots")'
            )[1]
        )
    return state


def latest_summary(cli) -> list[str]:
    return cli.sql(
        "SELECT stale_inputs, transactions_snapshot_id, payments_snapshot_id "
        "FROM analytics.delinquency_summary ORDER BY computed_at DESC LIMIT 1"
    )[1]


def snapshot_of(cli, table: str) -> str:
    return cli.sql(f'SELECT max_by(snapshot_id, committed_at) FROM curated."{table}$snapshots"')[1][0]


@pytest.fixture(scope="module")
def data(cli, tmp_path_factory) -> dict[str, Path]:
    out = {}
    for seed in (21, 22, 23):
        folder = tmp_path_factory.mktemp(f"gen{seed}")
        cli.run(
            "generate", "--customers", "40", "--out", str(folder), "--seed", str(seed), "--dirty-ratio", "0"
        )
        out[f"t{seed}"] = folder / "transactions.jsonl"
        out[f"p{seed}"] = folder / "payments.jsonl"
    return out


def run_dag(cli, conf: dict | None = None, rerun: str | None = None):
    args = ["run-dag", "lakehouse_daily", "--timeout", "900"]
    args += ["--rerun", rerun] if rerun else ["--conf", json.dumps(conf or {})]
    return cli.run(*args, check=False)


BY_HAND = 25  # transactions a user ingests with the CLI while the first DAG run starts


def settle_schedule(client: AirflowClient, dag_id: str, timeout: float = 600) -> None:
    """Unpauses `dag_id` and waits for the run its schedule then makes for the latest interval
    (catchup=False) to end. Otherwise that run, older than any run triggered beside it, would go
    first (max_active_runs=1) and a triggered run could start a minute or more later."""
    client.unpause(dag_id)
    deadline = time.monotonic() + timeout
    while True:
        runs = client.runs(dag_id)
        if any(r["run_type"] == "scheduled" for r in runs) and all(
            r["state"] in ("success", "failed") for r in runs
        ):
            return
        assert time.monotonic() < deadline, f"{dag_id}: its scheduled run did not end: {runs}"
        time.sleep(2)


@pytest.fixture(scope="module")
def first_run(cli, data, settings, tmp_path_factory) -> str:
    """The DAG run that loads the first generated day, started while a user's `lakehouse ingest`
    holds the tables (its job is held at a fault point once it has its locks, until the run's
    ingest is seen waiting for them); its run id. The schedule's own first run has ended before:
    the triggered run is the only one."""
    client = AirflowClient(settings)
    settle_schedule(client, "lakehouse_daily")
    folder = tmp_path_factory.mktemp("by-hand")
    mine, release = folder / "by-hand.jsonl", folder / "release"
    mine.write_text(
        "".join(
            json.dumps(
                {"transaction_id": f"CLI-{i}", "customer_id": "CLI", "amount": 10.0, "date": "2024-05-01"}
            )
            + "\n"
            for i in range(BY_HAND)
        )
    )
    holder = cli.start(
        "ingest", "--transactions", str(mine), LAKEHOUSE_FAULTS=f"ingest.locked=until:{release}"
    )
    try:
        assert holder.stderr is not None
        for line in holder.stderr:  # the CLI's job holds its locks once it reaches this point
            if "fault injected at ingest.locked" in line:
                break
        else:
            raise AssertionError(f"the CLI ingest ended before taking its locks (exit {holder.wait()})")
        conf = {"transactions": str(data["t21"]), "payments": str(data["p21"])}
        dag = cli.start("run-dag", "lakehouse_daily", "--timeout", "900", "--conf", json.dumps(conf))
        assert dag.stdout is not None
        triggered = re.search(r"triggered lakehouse_daily run (\S+)", dag.stdout.readline())
        assert triggered, dag.communicate()
        run_id = triggered.group(1)
        ingest_log = client.log_path("lakehouse_daily", run_id, "ingest_transactions", 1)
        deadline = time.monotonic() + 300
        while not (ingest_log.exists() and "waiting for the write lock on" in ingest_log.read_text()):
            assert dag.poll() is None, dag.communicate()
            assert time.monotonic() < deadline, f"the run's ingest did not wait for the CLI's: {ingest_log}"
            time.sleep(1)
    finally:
        release.touch()  # the CLI's ingest goes on, then the run's (or frees the tables if this failed)
    out, err = dag.communicate(timeout=900)
    holder.stderr.read()
    assert holder.wait(timeout=300) == 0
    assert dag.returncode == 0, out + err
    return run_id


def test_full_run_loads_and_analyses(cli, data, first_run) -> None:
    stale, t_snap, p_snap = latest_summary(cli)
    assert stale == ""
    assert (t_snap, p_snap) == (snapshot_of(cli, "transactions"), snapshot_of(cli, "payments"))
    lines = sum(1 for _ in data["p21"].open())
    logged = cli.sql(
        "SELECT sum(received) FROM curated.ingestion_log CROSS JOIN UNNEST(files) AS f(path, sha256, fmt) "
        f"WHERE f.path = '{data['p21']}'"
    )[1][0]
    assert int(logged) == lines


def test_rerun_of_a_successful_interval_changes_nothing(cli, first_run) -> None:
    before = table_state(cli) | analytics_state(cli)
    result = run_dag(cli, rerun=first_run)
    assert result.returncode == 0, result.stdout + result.stderr
    assert table_state(cli) | analytics_state(cli) == before


def test_corrupt_payments_fail_their_branch_only(cli, data, first_run, settings, tmp_path) -> None:
    payments_before = snapshot_of(cli, "payments")
    corrupt = tmp_path / "payments.jsonl"
    corrupt.write_text(data["p22"].read_text()[:3000])
    result = run_dag(cli, {"transactions": str(data["t22"]), "payments": str(corrupt)})
    assert result.returncode == 1
    not_succeeded = dict(re.findall(r"^  (\w+): (\w+); log: ", result.stdout, re.MULTILINE))
    rules = ("row_count_accounting", "unique_keys", "not_null", "value_ranges")
    assert not_succeeded == {
        "ingest_payments": "failed",
        **{f"check_payments_{rule}": "upstream_failed" for rule in rules},
        "check_payments": "upstream_failed",
        "all_sources_loaded": "upstream_failed",
    }
    # refused input fails at once: no retries
    assert "ingest_payments        up_for_retry" not in result.stdout
    # transactions loaded
    loaded = cli.sql(
        "SELECT count(*) FROM curated.ingestion_log CROSS JOIN UNNEST(files) AS f(path, sha256, fmt) "
        f"WHERE f.path = '{data['t22']}'"
    )[1][0]
    assert loaded == "1"
    # delinquency ran on the last committed payments snapshot, and says payments are stale
    stale, t_snap, p_snap = latest_summary(cli)
    assert stale == "payments"
    assert p_snap == payments_before == snapshot_of(cli, "payments")
    assert t_snap == snapshot_of(cli, "transactions")
    # the failure is in the alerts log and in `lakehouse status`
    alerts = [json.loads(line) for line in (settings.home / "alerts.log").read_text().splitlines()]
    assert any(a["task_id"] == "ingest_payments" and "not retrying" in a["error"] for a in alerts)
    assert "lakehouse_daily/ingest_payments" in cli.run("status", check=False).stdout


def test_killed_scheduler_finishes_the_run_without_duplicates(cli, data, settings) -> None:
    client = AirflowClient(settings)
    run_id = client.trigger(
        "lakehouse_daily", {"transactions": str(data["t23"]), "payments": str(data["p23"])}
    )
    deadline = time.monotonic() + 300
    while not (running := running_ingests(client, run_id)):
        assert time.monotonic() < deadline, "no ingest task started"
        time.sleep(1)
    pid = int((settings.run_dir / "airflow-scheduler.pid").read_text())
    os.killpg(pid, signal.SIGKILL)  # the scheduler, its executor and the running tasks
    killed = dt.datetime.now(dt.UTC)
    time.sleep(3)
    cli.run("up")  # restarts what is missing
    # `up` returned once the new scheduler beat, not on the killed one's last heartbeat (which
    # looks healthy for 30 s, and then unhealthy until a slow new scheduler has registered)
    with urllib.request.urlopen(f"{settings.airflow_url}/api/v2/monitor/health", timeout=10) as r:
        beat = json.loads(r.read())["scheduler"]["latest_scheduler_heartbeat"]
    assert dt.datetime.fromisoformat(beat) > killed, beat
    outcome = client.follow("lakehouse_daily", run_id, timeout=900)
    assert outcome.state == "success", outcome.tasks
    tries = {t["task_id"]: t["try_number"] for t in client.task_instances("lakehouse_daily", run_id)}
    # the kill hit these tasks mid-run: each finished on a later attempt
    assert all(tries[task] >= 2 for task in running), (running, tries)
    for source, path in (("transactions", data["t23"]), ("payments", data["p23"])):
        lines = sum(1 for _ in path.open())
        rows = cli.sql(
            f"SELECT count(*) FROM raw.{source} r JOIN curated.ingestion_log l ON l.batch_id = r.batch_id "
            f"CROSS JOIN UNNEST(l.files) AS f(path, sha256, fmt) WHERE f.path = '{path}'"
        )[1][0]
        assert int(rows) == lines
        logged = cli.sql(
            "SELECT count(*) FROM curated.ingestion_log CROSS JOIN UNNEST(files) AS f(path, sha256, fmt) "
            f"WHERE f.path = '{path}'"
        )[1][0]
        assert logged == "1"
    for table, key in (("transactions", "transaction_id"), ("payments", "payment_id")):
        total, distinct = cli.sql(f"SELECT count(*), count(DISTINCT {key}) FROM curated.{table}")[1]
        assert total == distinct


def test_a_dag_ingest_waits_for_a_cli_ingest_and_both_land(cli, data, settings, first_run) -> None:
    """The first run's ingest found the tables held by a user's CLI ingest: it waited, said for
    whom in its log, and both loads are complete."""
    log = AirflowClient(settings).log_path("lakehouse_daily", first_run, "ingest_transactions", 1).read_text()
    assert "waiting for the write lock on" in log and "held by `lakehouse ingest`" in log
    by_hand = cli.sql("SELECT count(*) FROM curated.transactions WHERE transaction_id LIKE 'CLI-%'")[1]
    assert by_hand == [str(BY_HAND)]
    for path in (data["t21"], data["p21"]):
        logged = cli.sql(
            "SELECT received FROM curated.ingestion_log CROSS JOIN UNNEST(files) AS f(path, sha256, fmt) "
            f"WHERE f.path = '{path}'"
        )[1:]
        assert logged == [[str(sum(1 for _ in path.open()))]], path


def running_ingests(client: AirflowClient, run_id: str) -> list[str]:
    return [
        t["task_id"]
        for t in client.task_instances("lakehouse_daily", run_id)
        if t["state"] == "running" and t["task_id"].startswith("ingest_")
    ]


def test_maintenance_dag_keeps_every_row(cli, first_run) -> None:
    before = {table: rows for table, (rows, _) in (table_state(cli) | analytics_state(cli)).items()}
    result = cli.run("run-dag", "lakehouse_maintenance", "--timeout", "900", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    after = {table: rows for table, (rows, _) in (table_state(cli) | analytics_state(cli)).items()}
    assert after == before
