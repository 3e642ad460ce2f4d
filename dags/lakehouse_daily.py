"""End to end, daily: ingest both sources, check them, analyse delinquency, export.

The two sources are independent branches: if one fails (a bad file, a failed check) the other
still loads, and the delinquency analysis still runs on the last committed snapshots of both
curated tables, recording the stale input in its summary. If a curated table has never been
loaded, the analysis is skipped with that reason.

Conf (all optional): {"transactions": PATH, "payments": PATH, "as_of": "YYYY-MM-DD"}. Without
paths, each source reads its landing folder ($LAKEHOUSE_HOME/landing/<source>); files already
ingested (same content hash) are skipped, so retries and re-runs change nothing.

Data-quality gates: after each ingest, Airflow's SQL check operators run the rules of
lakehouse/quality_rules.py through the Trino provider (connection `lakehouse_trino`, the
`pipeline` user, defined by `lakehouse up` from the secrets file), one task per rule:
`check_<source>_row_count_accounting`, `_unique_keys`, `_not_null`, `_value_ranges`. A failed rule
fails at once (no retry) and only its branch; `check_<source>` passes when every rule did.
"""

from __future__ import annotations

import datetime as dt

from airflow.providers.common.sql.operators.sql import (
    SQLCheckOperator,
    SQLColumnCheckOperator,
    SQLTableCheckOperator,
)
from airflow.sdk import DAG, Asset, TaskGroup, TriggerRule, get_current_context, task

from jobs.sources import SOURCES
from lakehouse import quality_rules as rules
from lakehouse.orchestration import default_args, job_result, landing, run_lakehouse
from lakehouse.settings import Settings

SETTINGS = Settings.load()
CATALOG = SETTINGS.catalog_name
CURATED = {source: Asset(f"lakehouse://{CATALOG}/curated/{source}") for source in SOURCES}
DELINQUENCY = Asset(f"lakehouse://{CATALOG}/analytics/delinquency")
EXPORT = Asset(f"{SETTINGS.export_uri}/delinquency")


def _conf() -> dict:
    return get_current_context()["dag_run"].conf or {}


def _ingest(source: str) -> str:
    path = _conf().get(source) or landing(source)
    return run_lakehouse("ingest", f"--{source}", path, "--allow-empty")


def quality_gates(source: str) -> TaskGroup:
    """One SQL check task per rule on curated.<source>, through the Trino provider. A failed rule
    is a refused input: retry_on_failure=False fails it at once (AirflowFailException)."""
    common = {"conn_id": rules.TRINO_CONN_ID, "retry_on_failure": False}
    table = rules.RULES[source].table
    with TaskGroup(group_id=f"quality_{source}", prefix_group_id=False, tooltip=f"rules on {table}") as group:
        SQLCheckOperator(
            task_id=f"check_{source}_row_count_accounting",
            sql=rules.accounting_check_sql(source),
            doc_md="received = accepted + rejected + duplicates = raw rows of the batch's files; "
            "rejected = rows in curated.rejected_records (latest batch)",
            **common,
        )
        SQLColumnCheckOperator(
            task_id=f"check_{source}_unique_keys",
            table=table,
            column_mapping=rules.unique_keys_mapping(source),
            **common,
        )
        SQLColumnCheckOperator(
            task_id=f"check_{source}_not_null",
            table=table,
            column_mapping=rules.not_null_mapping(source),
            **common,
        )
        SQLTableCheckOperator(
            task_id=f"check_{source}_value_ranges",
            table=table,
            checks=rules.value_range_checks(source),
            **common,
        )
    return group


with DAG(
    dag_id="lakehouse_daily",
    description="Ingest transactions and payments, check them, analyse delinquency, export Parquet",
    schedule="@daily",
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(dt.timedelta(seconds=15), dt.timedelta(minutes=45)),
    tags=["lakehouse", "ingestion", "delinquency"],
    doc_md=__doc__,
) as dag:

    @task(outlets=[CURATED["transactions"]])
    def ingest_transactions() -> str:
        return _ingest("transactions")

    @task(outlets=[CURATED["payments"]])
    def ingest_payments() -> str:
        return _ingest("payments")

    @task
    def check_transactions() -> str:
        """Runs only when every rule on curated.transactions passed."""
        return "ok"

    @task
    def check_payments() -> str:
        """Runs only when every rule on curated.payments passed."""
        return "ok"

    @task(trigger_rule=TriggerRule.ALL_DONE, outlets=[DELINQUENCY])
    def delinquency() -> str:
        """Runs whatever happened upstream; a source whose check did not pass is stale."""
        ti = get_current_context()["ti"]
        stale = [
            source
            for source in ("transactions", "payments")
            if ti.xcom_pull(task_ids=f"check_{source}") != "ok"
        ]
        args = ["delinquency", "--no-export", "--json"]
        if stale:
            args += ["--stale", ",".join(stale)]
        if _conf().get("as_of"):
            args += ["--as-of", _conf()["as_of"]]
        return str(job_result(run_lakehouse(*args))["as_of"])

    @task(outlets=[EXPORT])
    def export_parquet(as_of: str) -> str:
        run_lakehouse("delinquency", "--export-only", "--as-of", as_of)
        return as_of

    @task
    def all_sources_loaded() -> None:
        """Fails the run (after everything that could run has run) when a source did not load."""

    checks = [
        ingest_transactions() >> quality_gates("transactions") >> check_transactions(),
        ingest_payments() >> quality_gates("payments") >> check_payments(),
    ]
    analysed = delinquency()
    checks >> analysed
    export_parquet(analysed)
    checks >> all_sources_loaded()
