"""Daily Iceberg maintenance of every table in raw, curated and analytics.

Compacts small files, expires snapshots older than 7 days (keeping the last 20 of each table),
removes orphan files older than 3 days. All three are idempotent: a retry or a re-run only
finds less to do.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, task

from lakehouse.orchestration import default_args, run_lakehouse

with DAG(
    dag_id="lakehouse_maintenance",
    description="Compact files, expire snapshots, remove orphan files in every Iceberg table",
    schedule="@daily",
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(dt.timedelta(minutes=1), dt.timedelta(hours=2)),
    tags=["lakehouse", "maintenance"],
    doc_md=__doc__,
) as dag:

    @task
    def maintain_tables() -> str:
        return run_lakehouse("maintenance")

    maintain_tables()
