"""The Spark service as a managed process, and the client every job command uses.

`lakehouse up` starts one long-lived Spark application (jobs/service.py) next to the other
services; `lakehouse ingest`, `delinquency`, `maintenance` and the DAG tasks send it their job
over a Unix socket and stream its output back. The service runs the code it was started with:
when jobs/ or the Spark configuration change, the next command restarts it (once it is idle).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import subprocess
import time
from collections.abc import Callable
from typing import Any

from lakehouse import render
from lakehouse.services import ServiceError, Status, pid_alive, read_pid, say, stop_pid, wait_until
from lakehouse.settings import REPO_ROOT, Settings


def ping(path: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """The service's state, or None if nothing answers on `path`."""
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(b'{"ping": true}\n')
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        return json.loads(data) if data else None
    except (OSError, ValueError):
        return None


def fingerprint(settings: Settings) -> str:
    """What the service runs: the jobs' code and the rendered Spark configuration."""
    digest = hashlib.sha256()
    for path in sorted((REPO_ROOT / "jobs").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(REPO_ROOT)).encode())
            digest.update(path.read_bytes())
    conf = render.spark_conf_dir(settings) / "spark-defaults.conf"
    if conf.exists():
        digest.update(conf.read_bytes())
    return digest.hexdigest()[:16]


class SparkService:
    name = "spark"

    def __init__(self, settings: Settings):
        self.settings = settings
        self.socket = settings.run_dir / "spark-service.sock"
        self.pidfile = settings.run_dir / "spark-service.pid"
        self.log = settings.logs / "spark-service.log"

    # ---- lifecycle -------------------------------------------------------------------
    def state(self) -> dict[str, Any] | None:
        return ping(str(self.socket)) if self.socket.exists() else None

    def healthy(self) -> bool:
        return self.state() is not None

    def start(self, secrets: dict[str, str] | None = None) -> None:
        if self.healthy():
            return
        pid = read_pid(self.pidfile)
        if pid:  # starting, or hung: give a starting service its time, else replace it
            with contextlib.suppress(ServiceError):
                wait_until(self.healthy, 60, self.name, self.log, alive=lambda: pid_alive(pid))
                return
            stop_pid(pid, timeout=10)
        from lakehouse.spark import jobs_zip_for, spark_env, spark_submit_binary

        self.settings.run_dir.mkdir(parents=True, exist_ok=True)
        self.settings.logs.mkdir(parents=True, exist_ok=True)
        stamp = fingerprint(self.settings)
        cmd = [
            spark_submit_binary(),
            "--name",
            "lakehouse-service",
            "--py-files",
            str(jobs_zip_for(self.settings, stamp)),
            str(REPO_ROOT / "jobs" / "service.py"),
            "--socket",
            str(self.socket),
            "--fingerprint",
            stamp,
        ]
        say("starting the Spark service (one JVM for every job)")
        with self.log.open("ab") as log:
            proc = subprocess.Popen(
                cmd,
                env=spark_env(self.settings),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=REPO_ROOT,
            )
        self.pidfile.write_text(str(proc.pid))
        wait_until(self.healthy, 180, self.name, self.log, alive=lambda: proc.poll() is None)

    def stop(self) -> None:
        pid = read_pid(self.pidfile)
        if pid:
            stop_pid(pid, timeout=20)
        self.pidfile.unlink(missing_ok=True)
        self.socket.unlink(missing_ok=True)

    def status(self) -> Status:
        state = self.state()
        detail = ""
        if state:
            running = len(state["running"])
            detail = f"{running} job(s) running; Spark UI {state['ui']}" if state.get("ui") else ""
        return Status(self.name, state is not None, f"unix:{self.socket}", detail)

    def purge(self) -> None:
        self.socket.unlink(missing_ok=True)

    def ensure_current(self) -> None:
        """Start the service, or restart it when it runs older code and nothing is running."""
        state = self.state()
        if state is None:
            self.start()
            return
        if state["fingerprint"] != fingerprint(self.settings):
            if state["running"]:
                say("the Spark service runs older job code but is busy: using it as it is")
                return
            say("jobs or Spark configuration changed: restarting the Spark service")
            self.stop()
            self.start()

    # ---- running a job ---------------------------------------------------------------
    def run(self, job: str, argv: list[str], env: dict[str, str], on_line: Callable[[str, str], None]) -> int:
        """Run `job` in the service; every output line goes to on_line(kind, line); returns the
        job's exit code. Closing the connection (this process ending) cancels the job."""
        request = {"job": job, "argv": argv, "env": env}
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(self.socket))
            sock.sendall((json.dumps(request) + "\n").encode())
            reader = sock.makefile("r", encoding="utf-8")
            for raw in reader:
                message = json.loads(raw)
                if "exit" in message:
                    return int(message["exit"])
                for kind in ("out", "err"):
                    if kind in message:
                        on_line(kind, message[kind])
        raise ServiceError(self.name, "the service closed the connection before the job ended", self.log)


def wait_for_idle(service: SparkService, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = service.state()
        if not state or not state["running"]:
            return
        time.sleep(0.5)
