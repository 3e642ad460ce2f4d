"""Delinquency on the streamed tables, every 15 minutes.

The stream (`lakehouse stream start`) is not a task: it runs on its own and commits a
micro-batch every few seconds. This DAG analyses the latest committed snapshots of both curated
tables on a schedule; a run whose inputs did not change since the last one rewrites nothing.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, task

from lakehouse.orchestration import default_args, run_lakehouse

with DAG(
    dag_id="lakehouse_stream_analysis",
    description="Delinquency analysis of the streamed curated tables, on their latest snapshots",
    schedule=dt.timedelta(minutes=15),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(dt.timedelta(seconds=30), dt.timedelta(minutes=20)),
    tags=["lakehouse", "streaming", "delinquency"],
    doc_md=__doc__,
) as dag:

    @task
    def delinquency() -> str:
        return run_lakehouse("delinquency", "--no-export")

    delinquency()
