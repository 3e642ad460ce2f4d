"""Airflow 3 as local processes: API server (with the UI), scheduler, DAG processor, and the
triggerer when [airflow] triggerer is set (no DAG here defers a task).

LocalExecutor; metadata in its own database on the stack's PostgreSQL; DAGs from dags/.
Configuration is passed as AIRFLOW__* environment variables, so nothing in the repository
holds a secret and the same variables configure a deployed Airflow.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from lakehouse.secrets import write_private
from lakehouse.services import ServiceError, Status, pid_alive, read_pid, say, stop_pid, wait_until
from lakehouse.settings import REPO_ROOT, Settings

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
# Task logs are files under the runtime home, which the API server reads directly: no log server
# process beside the scheduler and the triggerer (about 140 MB each).
ARGS = {"scheduler": ["--skip-serve-logs"], "triggerer": ["--skip-serve-logs"]}


def airflow_env(settings: Settings, secrets: dict[str, str]) -> dict[str, str]:
    a, pg = settings["airflow"], settings["postgres"]
    home = settings.home / "airflow"
    db = (
        f"postgresql+psycopg2://{a['user']}:{secrets['AIRFLOW_DB_PASSWORD']}@{pg['host']}:{pg['port']}/"
        f"{a['database']}"
    )
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(home),
        LAKEHOUSE_HOME=str(settings.home),
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO_ROOT / "dags"),
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__PARALLELISM=str(a["parallelism"]),
        AIRFLOW__CORE__FERNET_KEY=secrets["AIRFLOW_FERNET_KEY"],
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{settings.airflow_url}/execution/",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(home / "passwords.json"),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=db,
        AIRFLOW__API__HOST=a["host"],
        AIRFLOW__API__PORT=str(a["port"]),
        AIRFLOW__API__BASE_URL=settings.airflow_url,
        AIRFLOW__API__SECRET_KEY=secrets["AIRFLOW_API_SECRET_KEY"],
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__API_AUTH__JWT_SECRET=secrets["AIRFLOW_JWT_SECRET"],
        AIRFLOW__LOGGING__BASE_LOG_FOLDER=str(home / "logs"),
        # health comes from /api/v2/monitor/health (heartbeats in the database): no health server
        # process beside the scheduler, and no fixed port 8974 shared by two stacks
        AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK="False",
        # a task whose process died (e.g. with a killed scheduler) is failed and retried after 90 s
        AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT="90",
        AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL="10",
        AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL="30",
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="30",
        # the DAG files here build the same DAGs until they are edited, and an edited file is parsed
        # again at once (by its modification time): no re-parse of the unchanged ones every 30 s, a
        # fork each (the idle DAG processor used 1.0 s of CPU a minute with them, 0.5 s without)
        AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="600",
        # each DAG file is parsed in a fork of the DAG processor (about 170 MB resident); three files
        # need no two parsers at once, and two cores have better use for them
        AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES="1",
    )
    env.update(trino_connection_env(settings, secrets))
    return env


def trino_connection_env(settings: Settings, secrets: dict[str, str]) -> dict[str, str]:
    """The Trino connection of the SQL check operators, as Airflow reads it from its environment
    (AIRFLOW_CONN_LAKEHOUSE_TRINO): the `pipeline` user over HTTPS, trusting the stack's certificate.
    The password comes from the secrets file; no DAG and no file in the repository holds it."""
    from lakehouse.quality_rules import TRINO_CONN_ID, trino_connection

    certificate = settings.tls_dir / "trino.crt"
    conn = trino_connection(
        host=settings["trino"]["host"],
        port=settings["trino"]["https_port"],
        user="pipeline",
        password=secrets["TRINO_PIPELINE_PASSWORD"],
        catalog=settings.catalog_name,
        certificate=str(certificate),
    )
    env = {f"AIRFLOW_CONN_{TRINO_CONN_ID.upper()}": json.dumps(conn)}
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace a session's own `verify` (the
    # provider's only way to trust our certificate): where they are set, Airflow gets a bundle of
    # the same authorities plus the stack's certificate instead.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        original = os.environ.get(name)
        if original and Path(original).is_file() and certificate.exists():
            bundle = settings.tls_dir / "ca-bundle-with-trino.pem"
            bundle.write_text(Path(original).read_text().rstrip("\n") + "\n" + certificate.read_text())
            env[name] = str(bundle)
    return env


def heartbeat_since(health: dict[str, Any] | None, part: str, since: dt.datetime) -> bool:
    """Whether /api/v2/monitor/health shows a heartbeat of `part` (scheduler, dag_processor,
    triggerer) at or after `since`. Its health is the newest job's heartbeat in the database: a
    killed scheduler's job still looks healthy for up to 30 s (scheduler_health_check_threshold)
    after it died, and stops looking healthy before a slow new scheduler has registered its own
    job; only a heartbeat after the start is the new process's."""
    beat = ((health or {}).get(part) or {}).get(f"latest_{part}_heartbeat")
    if not beat:
        return False
    when = dt.datetime.fromisoformat(beat)
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)) >= since


def airflow_bin() -> str:
    return str(Path(sys.executable).parent / "airflow")


class Airflow:
    name = "airflow"

    def __init__(self, settings: Settings):
        self.settings = settings
        self.home = settings.home / "airflow"
        self.logs = settings.logs

    def pidfile(self, component: str) -> Path:
        return self.settings.run_dir / f"airflow-{component}.pid"

    def log(self, component: str) -> Path:
        return self.logs / f"airflow-{component}.log"

    def health(self) -> dict[str, Any] | None:
        try:
            url = f"{self.settings.airflow_url}/api/v2/monitor/health"
            with urllib.request.urlopen(url, timeout=3) as response:
                answer: dict[str, Any] = json.loads(response.read())
                return answer
        except (urllib.error.URLError, OSError, ValueError):
            return None

    @property
    def components(self) -> tuple[str, ...]:
        """The processes this stack runs: the triggerer only when DAGs need it."""
        wanted = bool(self.settings["airflow"].get("triggerer"))
        return tuple(c for c in COMPONENTS if c != "triggerer" or wanted)

    def _checked(self) -> tuple[str, ...]:
        """The parts of /api/v2/monitor/health that must be healthy."""
        return tuple(c.replace("-", "_") for c in self.components if c != "api-server")

    def healthy(self) -> bool:
        return self._all_healthy(self.health())

    def _all_healthy(self, health: dict[str, Any] | None) -> bool:
        if not health:
            return False
        parts = ("metadatabase", *self._checked())
        return all((health.get(p) or {}).get("status") == "healthy" for p in parts)

    def running(self) -> list[str]:
        return [c for c in COMPONENTS if read_pid(self.pidfile(c))]

    def start(self, secrets: dict[str, str]) -> None:
        env = airflow_env(self.settings, secrets)
        self.home.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.settings.run_dir.mkdir(parents=True, exist_ok=True)
        write_private(self.home / "passwords.json", json.dumps({"admin": secrets["AIRFLOW_ADMIN_PASSWORD"]}))
        missing = [c for c in self.components if not read_pid(self.pidfile(c))]
        if not missing:
            return
        say("migrating the Airflow metadata database")
        migrate = subprocess.run([airflow_bin(), "db", "migrate"], env=env, capture_output=True, text=True)
        if migrate.returncode != 0:
            (self.logs / "airflow-migrate.log").write_text(migrate.stdout + migrate.stderr)
            raise ServiceError(self.name, "airflow db migrate failed", self.logs / "airflow-migrate.log")
        started = dt.datetime.now(dt.UTC)
        for component in missing:
            say(f"starting Airflow {component}")
            with self.log(component).open("ab") as log:
                proc = subprocess.Popen(
                    [airflow_bin(), component, *ARGS.get(component, [])],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    cwd=REPO_ROOT,
                )
            self.pidfile(component).write_text(str(proc.pid))

        def alive() -> bool:
            return all(pid_alive(read_pid(self.pidfile(c)) or -1) for c in self.components)

        restarted = tuple(c.replace("-", "_") for c in missing if c != "api-server")

        def ready() -> bool:
            health = self.health()
            return self._all_healthy(health) and all(
                heartbeat_since(health, part, started) for part in restarted
            )

        wait_until(ready, 180, self.name, self.log("api-server"), alive=alive)

    def stop(self) -> None:
        for component in COMPONENTS:
            pid = read_pid(self.pidfile(component))
            if pid:
                stop_pid(pid, timeout=20)
            self.pidfile(component).unlink(missing_ok=True)

    def status(self) -> Status:
        health = self.health() or {}
        unhealthy = [p for p in self._checked() if (health.get(p) or {}).get("status") != "healthy"]
        detail = "UI and REST API; login admin (AIRFLOW_ADMIN_PASSWORD)"
        if health and unhealthy:
            detail += f"; not healthy: {', '.join(unhealthy)}"
        return Status(self.name, self.healthy(), self.settings.airflow_url, detail)

    def purge(self) -> None:
        import shutil

        shutil.rmtree(self.home, ignore_errors=True)
