"""Trigger and follow DAG runs through Airflow's REST API (v2), as any client would."""

from __future__ import annotations

import datetime as dt
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import requests

from lakehouse import secrets as secret_store
from lakehouse.settings import Settings

FINISHED = {"success", "failed"}


class AirflowApiError(RuntimeError):
    """Airflow answered with an error."""


@dataclass
class RunOutcome:
    dag_id: str
    run_id: str
    state: str
    tasks: dict[str, str]  # task_id -> final state
    logs: dict[str, Path]  # task_id -> log file of its last attempt


class AirflowClient:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.base = settings.airflow_url
        self.session = requests.Session()
        self.session.trust_env = False
        password = secret_store.load(settings.secrets_file)["AIRFLOW_ADMIN_PASSWORD"]
        token = self._call("POST", "/auth/token", json={"username": "admin", "password": password})
        self.session.headers["Authorization"] = f"Bearer {token['access_token']}"

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.session.request(method, self.base + path, timeout=30, **kwargs)
        except requests.ConnectionError as exc:
            raise AirflowApiError(f"Airflow is not reachable at {self.base}: run `lakehouse up`") from exc
        if response.status_code >= 400:
            raise AirflowApiError(f"{method} {path}: HTTP {response.status_code}: {response.text[:500]}")
        return response.json() if response.content else None

    def unpause(self, dag_id: str) -> None:
        """Lets the scheduler run `dag_id`. A DAG is paused until its first run; once unpaused, its
        schedule at once makes a run for the latest interval (catchup=False) beside any triggered one."""
        self._call("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        """Every run of `dag_id` (run_id, run_type, state, ...)."""
        listed: list[dict[str, Any]] = self._call("GET", f"/api/v2/dags/{dag_id}/dagRuns")["dag_runs"]
        return listed

    def trigger(
        self, dag_id: str, conf: dict[str, Any], run_id: str | None = None, note: str | None = None
    ) -> str:
        self.unpause(dag_id)
        now = dt.datetime.now(dt.UTC).isoformat()
        body: dict[str, Any] = {"logical_date": now, "conf": conf}
        if run_id:
            body["dag_run_id"] = run_id
        if note:
            body["note"] = note
        run = self._call("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)
        run_id_made: str = run["dag_run_id"]
        return run_id_made

    def rerun(self, dag_id: str, run_id: str) -> str:
        """Clear every task of an existing run, so the same interval runs again."""
        self.unpause(dag_id)
        self._call(
            "POST",
            f"/api/v2/dags/{dag_id}/clearTaskInstances",
            json={"dag_run_id": run_id, "only_failed": False, "reset_dag_runs": True, "dry_run": False},
        )
        return run_id

    def run_state(self, dag_id: str, run_id: str) -> str:
        state: str = self._call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]
        return state

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        instances: list[dict[str, Any]] = self._call(
            "GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances"
        )["task_instances"]
        return instances

    def log_path(self, dag_id: str, run_id: str, task_id: str, attempt: int) -> Path:
        base = self.settings.home / "airflow" / "logs"
        return (
            base / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}" / f"attempt={attempt}.log"
        )

    def follow(self, dag_id: str, run_id: str, timeout: float = 3600, out: TextIO = sys.stdout) -> RunOutcome:
        """Print each task's state changes until the run finishes."""
        seen: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        state = "queued"
        while time.monotonic() < deadline:
            state = self.run_state(dag_id, run_id)
            for ti in sorted(self.task_instances(dag_id, run_id), key=lambda t: t["task_id"]):
                current = ti["state"] or "scheduled"
                if seen.get(ti["task_id"]) != current:
                    seen[ti["task_id"]] = current
                    stamp = dt.datetime.now().strftime("%H:%M:%S")
                    attempt = f" (try {ti['try_number']})" if ti.get("try_number", 1) > 1 else ""
                    print(f"[{stamp}] {ti['task_id']:<22} {current}{attempt}", file=out, flush=True)
            if state in FINISHED:
                break
            time.sleep(2)
        else:
            raise AirflowApiError(f"run {run_id} did not finish within {timeout:.0f}s (state {state})")
        tis = self.task_instances(dag_id, run_id)
        return RunOutcome(
            dag_id,
            run_id,
            state,
            {t["task_id"]: t["state"] for t in tis},
            {t["task_id"]: self.log_path(dag_id, run_id, t["task_id"], max(t["try_number"], 1)) for t in tis},
        )
