"""`lakehouse backfill`: one DAG run per day, `as_of` = that day, through Airflow's REST API.

Each run is triggered, then followed task by task (as `lakehouse run-dag` does), one day after
the other (the DAG allows one active run); a failed day does not stop the next. The summary
table at the end gives each day's run state and the % delinquent the analysis recorded for it.
"""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass
from typing import TextIO

from lakehouse.settings import Settings


@dataclass
class DayResult:
    day: dt.date
    run_id: str
    state: str
    failed_tasks: dict[str, str]
    pct_delinquent: str = "-"
    delinquent: str = "-"
    customers: str = "-"


def days(start: dt.date, end: dt.date) -> list[dt.date]:
    if end < start:
        raise ValueError(f"--to {end} is before --from {start}")
    return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]


def run_id_for(day: dt.date, now: dt.datetime | None = None) -> str:
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%S")
    return f"lakehouse_backfill__as_of_{day.isoformat()}__{stamp}"


def figures(settings: Settings, day_list: list[dt.date]) -> dict[dt.date, tuple[str, str, str]]:
    """(pct_delinquent, delinquent, customers) per as_of from analytics.delinquency_summary."""
    from lakehouse.sql import query

    listed = ", ".join(f"DATE '{d.isoformat()}'" for d in day_list)
    _, rows = query(
        settings,
        "SELECT as_of, pct_delinquent, delinquent, customers FROM analytics.delinquency_summary "
        f"WHERE as_of IN ({listed})",
    )
    return {
        row[0]: (
            "n/a" if row[1] is None else f"{float(row[1]):.2f}%",
            str(row[2]),
            str(row[3]),
        )
        for row in rows
    }


def summary_table(results: list[DayResult]) -> str:
    lines = [f"{'as_of':<10}  {'state':<8} {'% delinquent':>12} {'delinquent':>10} {'customers':>9}  run"]
    for r in results:
        lines.append(
            f"{r.day.isoformat():<10}  {r.state:<8} {r.pct_delinquent:>12} {r.delinquent:>10} "
            f"{r.customers:>9}  {r.run_id}"
        )
    return "\n".join(lines)


def backfill(
    settings: Settings,
    dag_id: str,
    start: dt.date,
    end: dt.date,
    timeout: float = 3600,
    out: TextIO = sys.stdout,
) -> list[DayResult]:
    from lakehouse.airflow_api import AirflowClient

    client = AirflowClient(settings)
    results = []
    day_list = days(start, end)
    for n, day in enumerate(day_list, 1):
        run_id = client.trigger(
            dag_id,
            {"as_of": day.isoformat()},
            run_id=run_id_for(day),
            note=f"lakehouse backfill {start}..{end}: as_of {day}",
        )
        print(
            f"== day {n}/{len(day_list)}: as_of {day}, triggered {dag_id} run {run_id}", file=out, flush=True
        )
        outcome = client.follow(dag_id, run_id, timeout=timeout, out=out)
        failed = {t: s for t, s in outcome.tasks.items() if s not in ("success", "skipped")}
        print(f"run {run_id}: {outcome.state}", file=out, flush=True)
        for task_id, state in sorted(failed.items()):
            print(f"  {task_id}: {state}; log: {outcome.logs[task_id]}", file=out, flush=True)
        results.append(DayResult(day, run_id, outcome.state, failed))
    try:
        found = figures(settings, day_list)
    except Exception as exc:  # the runs' outcome stands; the figures are a convenience
        print(f"(could not read analytics.delinquency_summary: {exc})", file=out)
        found = {}
    for r in results:
        if r.day in found:
            r.pct_delinquent, r.delinquent, r.customers = found[r.day]
    return results
