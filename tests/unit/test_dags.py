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
    assert down == {
        "ingest_transactions": ["check_transactions"],
        "ingest_payments": ["check_payments"],
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
