"""DAG integrity: every DAG in dags/ imports without the stack, with owners, tags, retries, no cycles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lakehouse.settings import REPO_ROOT


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory: pytest.TempPathFactory):
    # a throwaway Airflow home: parsing needs no database, no services and no secrets
    os.environ["AIRFLOW_HOME"] = str(tmp_path_factory.mktemp("airflow"))
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO_ROOT / "dags"))


def test_every_dag_file_imports(dagbag) -> None:
    assert dagbag.import_errors == {}
    dag_files = {Path(d.fileloc).name for d in dagbag.dags.values()}
    assert dag_files == {p.name for p in (REPO_ROOT / "dags").glob("*.py")}


def test_expected_dags(dagbag) -> None:
    assert set(dagbag.dag_ids) == {"lakehouse_daily", "lakehouse_maintenance", "lakehouse_stream_analysis"}


@pytest.mark.parametrize("dag_id", ["lakehouse_daily", "lakehouse_maintenance", "lakehouse_stream_analysis"])
def test_dag_hygiene(dagbag, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    assert dag.tags and dag.max_active_runs == 1
    for t in dag.tasks:
        assert t.owner not in ("", "airflow"), t.task_id
        assert t.retries >= 2, t.task_id
        assert t.execution_timeout is not None, t.task_id
        assert t.retry_exponential_backoff, t.task_id
    dag.topological_sort()  # raises on a cycle


def test_daily_dag_shape(dagbag) -> None:
    dag = dagbag.dags["lakehouse_daily"]
    down = {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks}
    rules = ["not_null", "row_count_accounting", "unique_keys", "value_ranges"]
    assert down == {
        "ingest_transactions": [f"check_transactions_{r}" for r in rules],
        "ingest_payments": [f"check_payments_{r}" for r in rules],
        **{f"check_{s}_{r}": [f"check_{s}"] for s in ("transactions", "payments") for r in rules},
        "check_transactions": ["all_sources_loaded", "delinquency"],
        "check_payments": ["all_sources_loaded", "delinquency"],
        "delinquency": ["export_parquet"],
        "export_parquet": [],
        "all_sources_loaded": [],
    }
    assert dag.get_task("delinquency").trigger_rule == "all_done"
    assert {a.uri for a in dag.get_task("ingest_payments").outlets} == {
        "lakehouse://lakehouse/curated/payments"
    }


def test_quality_gates_are_sql_check_operators_on_the_trino_connection(dagbag) -> None:
    from airflow.providers.common.sql.operators.sql import (
        SQLCheckOperator,
        SQLColumnCheckOperator,
        SQLTableCheckOperator,
    )

    dag = dagbag.dags["lakehouse_daily"]
    expected = {
        "row_count_accounting": SQLCheckOperator,
        "unique_keys": SQLColumnCheckOperator,
        "not_null": SQLColumnCheckOperator,
        "value_ranges": SQLTableCheckOperator,
    }
    for source, key in (("transactions", "transaction_id"), ("payments", "payment_id")):
        for rule, operator in expected.items():
            task = dag.get_task(f"check_{source}_{rule}")
            assert type(task) is operator, task.task_id
            assert task.conn_id == "lakehouse_trino"
            assert task.retry_on_failure is False  # a failed rule is refused input: no retry
        unique = dag.get_task(f"check_{source}_unique_keys")
        assert unique.column_mapping == {key: {"unique_check": {"equal_to": 0}}}
        assert f"curated.{source}" in unique.sql
        accounting = dag.get_task(f"check_{source}_row_count_accounting").sql
        assert "curated.ingestion_log" in accounting and f"raw.{source}" in accounting


def test_no_dag_holds_a_connection_or_a_password() -> None:
    for path in (REPO_ROOT / "dags").glob("*.py"):
        text = path.read_text()
        assert "password" not in text.lower(), path
        assert "Connection(" not in text, path
