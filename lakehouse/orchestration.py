"""What Airflow tasks call: the `lakehouse` CLI in its own process, and the failure alerts.

Spark work never runs inside a scheduler or worker's Python: a task starts the CLI, which
starts spark-submit. The CLI's exit code tells whether a retry can help.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from jobs.protocol import EXIT_INPUT_REFUSED, EXIT_LOCK_TIMEOUT, EXIT_NOTHING_TO_DO
from lakehouse.settings import REPO_ROOT, Settings


class RetryableFailure(RuntimeError):
    """A step failed in a way a retry may fix (a service hiccup, a conflict)."""


def run_lakehouse(*args: str) -> str:
    """Run `lakehouse ARGS`, streaming its output into the task log; return its stdout.

    Raises:
        AirflowFailException: the input was refused (malformed, missing, failed checks): no retry.
        AirflowSkipException: nothing to do (e.g. a curated table never loaded).
        RetryableFailure: any other failure; Airflow retries with backoff.
    """
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    cmd = [sys.executable, "-m", "lakehouse.cli", *args]
    print(f"$ lakehouse {' '.join(args)}", flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO_ROOT)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        print(line, end="", flush=True)
        lines.append(line)
    code = proc.wait()
    output = "".join(lines)
    last = lines[-1].strip() if lines else ""
    if code == 0:
        return output
    if code in (EXIT_INPUT_REFUSED, 2):  # refused input, or a usage error: retrying cannot help
        raise AirflowFailException(f"not retrying: {last}")
    if code == EXIT_NOTHING_TO_DO:
        raise AirflowSkipException(last)
    if code == EXIT_LOCK_TIMEOUT:  # another writer is busy with the same tables: try again later
        raise RetryableFailure(f"lakehouse {args[0]} gave up waiting for table locks (exit {code}): {last}")
    raise RetryableFailure(f"lakehouse {args[0]} failed (exit {code}): {last}")


def job_result(output: str) -> dict[str, Any]:
    """The JSON result a `lakehouse ... --json` command printed (its last JSON line)."""
    for line in reversed(output.splitlines()):
        if line.startswith("{"):
            return dict(json.loads(line))
    raise ValueError("the command printed no JSON result")


def default_args(retry_delay: dt.timedelta, execution_timeout: dt.timedelta) -> dict[str, Any]:
    """What every lakehouse task gets: an owner, retries with backoff, a timeout, the alert."""
    return {
        "owner": "data-platform",
        "retries": 2,
        "retry_delay": retry_delay,
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(minutes=5),
        "execution_timeout": execution_timeout,
        "on_failure_callback": record_failure,
    }


def alerts_file(settings: Settings | None = None) -> Path:
    settings = settings or Settings.load()
    return settings.home / "alerts.log"


def record_failure(context: dict[str, Any]) -> None:
    """on_failure_callback: one JSON line per failed task in $LAKEHOUSE_HOME/alerts.log."""
    ti = context.get("ti") or context.get("task_instance")
    alert = {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "dag_id": getattr(ti, "dag_id", None),
        "run_id": getattr(ti, "run_id", None),
        "task_id": getattr(ti, "task_id", None),
        "try_number": getattr(ti, "try_number", None),
        "error": str(context.get("exception") or "")[:2000],
    }
    path = alerts_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write(json.dumps(alert) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def recent_alerts(settings: Settings, limit: int = 5) -> list[dict[str, Any]]:
    path = alerts_file(settings)
    if not path.exists():
        return []
    lines = path.read_text().splitlines()[-limit:]
    return [json.loads(line) for line in lines if line.strip()]


def landing(source: str) -> str:
    """The landing folder of a source: files dropped here are picked up by the next run."""
    return str(Settings.load().home / "landing" / source)
