"""The local stack as plain processes: PostgreSQL, MinIO and Trino, with real health checks.

Each service keeps its data and log under $LAKEHOUSE_HOME; `up` is idempotent (a healthy
service is left alone) and a failure names the service and the log file to read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lakehouse import artifacts, render
from lakehouse.secrets import write_private
from lakehouse.settings import Settings, find_java_home


class Service(Protocol):
    """What `lakehouse down` and `lakehouse status` need of every service."""

    name: str

    def stop(self) -> None: ...

    def status(self) -> Status: ...


class ServiceError(RuntimeError):
    """A service failed to start or become healthy."""

    def __init__(self, service: str, problem: str, log: Path | None = None):
        hint = f"\n  read its log: {log}" if log else ""
        super().__init__(f"{service}: {problem}{hint}")


def say(message: str) -> None:
    sys.stderr.write(f"[lakehouse] {message}\n")  # one write per line, even from several threads
    sys.stderr.flush()


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    service: str,
    log: Path,
    alive: Callable[[], bool] | None = None,
) -> None:
    """Poll `check` until it is true; fail early if the process died."""
    deadline = time.monotonic() + timeout
    delay = 0.2
    while time.monotonic() < deadline:
        if check():
            return
        if alive is not None and not alive():
            raise ServiceError(service, "the process exited during start-up", log)
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)
    raise ServiceError(service, f"not healthy after {timeout:.0f}s", log)


def stat_fields(stat: bytes) -> list[bytes]:
    """The fields of a /proc/PID/stat text (its bytes: a command name need not be valid UTF-8)
    after the command name, which is in (...) and may itself hold spaces and parentheses: state,
    parent, process group, ... (proc(5), numbered from 3)."""
    return stat.rsplit(b")", 1)[1].split()


def pid_alive(pid: int) -> bool:
    """Whether process `pid` runs. A zombie does not: it has exited, and only waits for its parent
    to collect its exit status (an init that reaps every few seconds would otherwise make each
    `lakehouse down` step wait for it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except (FileNotFoundError, ProcessLookupError):  # gone since, or no /proc (then kill's answer)
        return not Path("/proc/self").exists()
    except OSError:  # /proc hides it from us (hidepid): kill's answer stands
        return True
    return stat_fields(stat)[0] != b"Z"


def read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def group_alive(pgid: int) -> bool:
    """Whether any process of process group `pgid` runs (a zombie does not, as in pid_alive).
    Without /proc to list them, whether its leader runs."""
    proc = Path("/proc")
    if not (proc / "self").exists():
        return pid_alive(pgid)
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, _parent, group = stat_fields((entry / "stat").read_bytes())[:3]
        except OSError:  # gone since, or hidden from us
            continue
        if state != b"Z" and int(group) == pgid:
            return True
    return False


def stop_pid(pid: int, timeout: float = 30) -> None:
    """SIGTERM the process group, then SIGKILL what is left after `timeout`. Returns when no
    process of the group runs: a child that outlives its leader (a worker, a forked task) may
    still hold the service's port or files, and the next `lakehouse up` would meet it."""
    alive: Callable[[int], bool]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
            alive = group_alive
        except ProcessLookupError:
            return
        except PermissionError:  # not a group we may signal: the process alone
            os.kill(pid, sig)
            alive = pid_alive
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):  # reap our own child (no zombie)
                os.waitpid(pid, os.WNOHANG)
            if not alive(pid):
                return
            time.sleep(0.2)


@dataclass
class Status:
    name: str
    healthy: bool
    address: str
    detail: str = ""


# ---------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------
class Postgres:
    """PostgreSQL 15 from Debian's packages, run as an unprivileged user (it refuses root)."""

    name = "postgres"

    def __init__(self, settings: Settings):
        self.settings = settings
        self.cfg = settings["postgres"]
        self.log = settings.logs / "postgres.log"
        self.link = settings.home / "postgres"

    @property
    def run_as(self) -> str | None:
        """The account that owns the server: `postgres` when we are root, else ourselves."""
        return "postgres" if os.geteuid() == 0 else None

    def _data_root(self) -> Path:
        """Where the cluster lives. Under the runtime home when the server's account can reach
        it; otherwise (root's private home) in /var/lib/lakehouse, linked from the home."""
        if self.link.is_symlink() or self.link.exists():
            return self.link.resolve()
        if self.run_as is None or self._reachable_by(self.settings.home, self.run_as):
            return self.link
        digest = hashlib.sha256(str(self.settings.home).encode()).hexdigest()[:12]
        target = Path("/var/lib/lakehouse") / f"postgres-{digest}"
        target.mkdir(parents=True, exist_ok=True)
        self.link.parent.mkdir(parents=True, exist_ok=True)
        self.link.symlink_to(target)
        return target

    @staticmethod
    def _reachable_by(path: Path, user: str) -> bool:
        probe = subprocess.run(["runuser", "-u", user, "--", "test", "-x", str(path)])
        return probe.returncode == 0

    @property
    def data(self) -> Path:
        return self._data_root() / "data"

    def _cmd(self, *args: str) -> list[str]:
        cmd = [str(artifacts.postgres_bindir() / args[0]), *args[1:]]
        return ["runuser", "-u", self.run_as, "--", *cmd] if self.run_as else cmd

    def _chown(self, path: Path) -> None:
        if self.run_as:
            entry = pwd.getpwnam(self.run_as)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def healthy(self) -> bool:
        probe = subprocess.run(
            [
                str(artifacts.postgres_bindir() / "pg_isready"),
                "-q",
                "-h",
                self.cfg["host"],
                "-p",
                str(self.cfg["port"]),
            ],
        )
        return probe.returncode == 0

    def start(self, secrets: dict[str, str]) -> None:
        if self.healthy():
            return
        if port_open(self.cfg["host"], self.cfg["port"]):
            raise ServiceError(
                self.name,
                f"port {self.cfg['port']} is taken by another program; set LAKEHOUSE_POSTGRES_PORT",
                self.log,
            )
        root = self._data_root()
        root.mkdir(parents=True, exist_ok=True)
        self._chown(root)
        self.settings.logs.mkdir(parents=True, exist_ok=True)
        self.log.touch()
        self._chown(self.log)
        if not (self.data / "PG_VERSION").exists():
            say("initialising PostgreSQL cluster")
            pwfile = root / ".pwfile"
            write_private(pwfile, secrets["POSTGRES_SUPERUSER_PASSWORD"] + "\n")  # 0600 from the start
            self._chown(pwfile)
            result = subprocess.run(
                self._cmd(
                    "initdb",
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ),
                capture_output=True,
                text=True,
            )
            pwfile.unlink()
            if result.returncode != 0:
                raise ServiceError(self.name, f"initdb failed: {result.stderr.strip()}")
        say("starting PostgreSQL")
        options = (
            f"-c listen_addresses={self.cfg['host']} -p {self.cfg['port']} "
            f"-k {self.data} -c shared_buffers=128MB -c max_connections=100"
        )
        result = subprocess.run(
            self._cmd(
                "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start"
            ),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise ServiceError(self.name, f"pg_ctl start failed: {result.stderr.strip()}", self.log)
        wait_until(self.healthy, 30, self.name, self.log)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(
                self._cmd("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop"), capture_output=True
            )

    def status(self) -> Status:
        address = f"postgresql://{self.cfg['host']}:{self.cfg['port']}"
        return Status(self.name, self.healthy(), address)

    def purge(self) -> None:
        target = self._data_root()
        if self.link.is_symlink():
            self.link.unlink()
        shutil.rmtree(target, ignore_errors=True)

    def connect(self, secrets: dict[str, str], database: str = "postgres") -> Any:
        """A psycopg2 connection (psycopg2 has no type information here)."""
        import psycopg2

        return psycopg2.connect(
            host=self.cfg["host"],
            port=self.cfg["port"],
            dbname=database,
            user="postgres",
            password=secrets["POSTGRES_SUPERUSER_PASSWORD"],
        )


# ---------------------------------------------------------------------------------------
# MinIO
# ---------------------------------------------------------------------------------------
class Minio:
    """MinIO, unmodified, as a separate server. Clients only ever see a generic S3 endpoint."""

    name = "minio"

    def __init__(self, settings: Settings):
        self.settings = settings
        self.cfg = settings["minio"]
        self.log = settings.logs / "minio.log"
        self.pidfile = settings.run_dir / "minio.pid"
        self.data = settings.home / "minio" / "data"

    def healthy(self) -> bool:
        url = f"{self.settings.minio_endpoint}/minio/health/live"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                ok: bool = response.status == 200
                return ok
        except (urllib.error.URLError, OSError):
            return False

    def start(self, secrets: dict[str, str]) -> None:
        if self.healthy():
            return
        if port_open(self.cfg["host"], self.cfg["port"]):
            raise ServiceError(
                self.name,
                f"port {self.cfg['port']} is taken by another program; set LAKEHOUSE_MINIO_PORT",
                self.log,
            )
        binary = artifacts.minio(self.settings)
        self.data.mkdir(parents=True, exist_ok=True)
        self.settings.logs.mkdir(parents=True, exist_ok=True)
        self.settings.run_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, MINIO_BROWSER="on", MINIO_UPDATE="off")
        for key in ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "MINIO_KMS_SECRET_KEY"):
            env[key] = secrets[key]
        say("starting MinIO")
        with self.log.open("ab") as log:
            proc = subprocess.Popen(
                [
                    str(binary),
                    "server",
                    str(self.data),
                    "--address",
                    f"{self.cfg['host']}:{self.cfg['port']}",
                    "--console-address",
                    f"{self.cfg['host']}:{self.cfg['console_port']}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        self.pidfile.write_text(str(proc.pid))
        wait_until(self.healthy, 60, self.name, self.log, alive=lambda: proc.poll() is None)

    def stop(self) -> None:
        pid = read_pid(self.pidfile)
        if pid:
            stop_pid(pid)
        self.pidfile.unlink(missing_ok=True)

    def status(self) -> Status:
        return Status(
            self.name,
            self.healthy(),
            self.settings.minio_endpoint,
            f"console {self.settings.minio_console_url}",
        )

    def purge(self) -> None:
        shutil.rmtree(self.settings.home / "minio", ignore_errors=True)


# ---------------------------------------------------------------------------------------
# Trino
# ---------------------------------------------------------------------------------------
class Trino:
    """Trino as a single coordinator+worker, HTTPS with password login only."""

    name = "trino"

    def __init__(self, settings: Settings):
        self.settings = settings
        self.cfg = settings["trino"]
        self.data = settings.home / "trino"
        self.log = self.data / "var" / "log" / "server.log"
        self.pidfile = settings.run_dir / "trino.pid"

    def _info(self) -> dict[str, Any] | None:
        context = ssl.create_default_context(cafile=str(self.settings.tls_dir / "trino.crt"))
        try:
            with urllib.request.urlopen(
                f"{self.settings.trino_url}/v1/info", timeout=3, context=context
            ) as response:
                info: dict[str, Any] = json.loads(response.read())
                return info
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def healthy(self) -> bool:
        info = self._info()
        # an empty answer has no "starting" key: not healthy either
        return info is not None and not info.get("starting", True)

    def _launcher(self, *args: str) -> subprocess.CompletedProcess[str]:
        install = artifacts.trino(self.settings)
        java_home = find_java_home(24, "TRINO_JAVA_HOME")
        etc = render.trino_etc(self.settings)
        cmd = [
            str(install / "bin" / "launcher"),
            f"--etc-dir={etc}",
            f"--data-dir={self.data}",
            f"--jvm-dir={java_home}",
            f"--pid-file={self.pidfile}",
            *args,
        ]
        return subprocess.run(cmd, capture_output=True, text=True)

    def start(self, secrets: dict[str, str]) -> None:
        if self.healthy():
            return
        for port in (self.cfg["https_port"], self.cfg["http_port"]):
            if port_open(self.cfg["host"], port):
                raise ServiceError(
                    self.name,
                    f"port {port} is taken by another program; set "
                    "LAKEHOUSE_TRINO_HTTPS_PORT / LAKEHOUSE_TRINO_HTTP_PORT",
                    self.log,
                )
        self.settings.run_dir.mkdir(parents=True, exist_ok=True)
        say("starting Trino (about 20-40 s on 2 cores)")
        result = self._launcher("start")
        if result.returncode != 0:
            raise ServiceError(self.name, f"launcher failed: {result.stdout}{result.stderr}", self.log)
        pid = read_pid(self.pidfile)
        wait_until(self.healthy, 180, self.name, self.log, alive=lambda: pid is None or pid_alive(pid))

    def stop(self) -> None:
        if self.pidfile.exists():
            self._launcher("stop")
            pid = read_pid(self.pidfile)
            if pid:
                stop_pid(pid)
        self.pidfile.unlink(missing_ok=True)

    def status(self) -> Status:
        info = self._info()
        detail = f"version {info['nodeVersion']['version']}" if info else ""
        if info and info.get("starting"):
            detail += " (starting)"
        return Status(self.name, self.healthy(), self.settings.trino_url, detail)

    def purge(self) -> None:
        shutil.rmtree(self.data, ignore_errors=True)


def all_services(settings: Settings) -> list[Postgres | Minio | Trino]:
    """In start order; stopped in reverse."""
    return [Postgres(settings), Minio(settings), Trino(settings)]
