"""The cluster topology's nodes as managed processes: the Spark master, Spark workers, Trino workers.

Spark's nodes are the installed Spark distribution's own classes (the pyspark package ships
`bin/spark-class`): org.apache.spark.deploy.master.Master and org.apache.spark.deploy.worker.Worker,
each a JVM with its pid file under $LAKEHOUSE_HOME/run and its log under $LAKEHOUSE_HOME/logs,
healthy when the master's JSON (http://host:uiport/json/) shows it ALIVE. A Trino worker is a
second Trino server (coordinator=false) with its own etc dir, data dir and HTTP port, healthy
when it is up and the coordinator lists it as an active node. The coordinator itself is
lakehouse.services.Trino, rendered for the topology (lakehouse/cluster.py).

`lakehouse up --cluster` starts them around the other services (`before_services`,
`after_services`); `lakehouse up` in the single topology stops them; `lakehouse down` stops
every node whatever the topology.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lakehouse import artifacts, cluster
from lakehouse.services import (
    Postgres,
    ServiceError,
    Status,
    Trino,
    pid_alive,
    port_open,
    read_pid,
    say,
    stat_fields,
    stop_pid,
    wait_until,
)
from lakehouse.settings import Settings, find_java_home

Alive = Callable[[], bool]


def get_json(url: str, timeout: float = 2.0) -> Any | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def spark_home() -> Path:
    """The installed Spark distribution: the pyspark package (jars/, bin/spark-class)."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pyspark is not installed: run `uv sync --frozen`")
    return Path(list(spec.submodule_search_locations)[0])


# what a daemon keeps of our environment (its executors inherit it): no LAKEHOUSE_* setting, no
# key; everything an executor needs comes from its application's Spark configuration
_KEEP = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR")


def daemon_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in _KEEP or k.startswith("LC_")}
    env.update(
        SPARK_HOME=str(spark_home()),
        SPARK_CONF_DIR=str(cluster.spark_daemon_conf_dir(settings)),
        JAVA_HOME=str(find_java_home(17, "JAVA_HOME", max_major=21)),
        SPARK_LOCAL_IP=cluster.host(settings),
        SPARK_DAEMON_MEMORY=str(settings["cluster"]["spark_daemon_memory"]),
        SPARK_NO_DAEMONIZE="1",
        # executors start Python workers with this interpreter (the same venv as the driver)
        PYSPARK_PYTHON=sys.executable,
    )
    return env


class Node:
    """A process of ours with a pid file and a log; subclasses say how it starts and is healthy."""

    name = "node"
    start_timeout = 90.0

    def __init__(self, settings: Settings):
        self.settings = settings
        self.host = cluster.host(settings)

    # to be provided
    pidfile: Path
    log: Path

    def ports(self) -> dict[int, str]:
        """Each port this node listens on -> the setting that moves it."""
        return {}

    def healthy(self) -> bool:
        raise NotImplementedError

    def _spawn(self) -> Alive:
        raise NotImplementedError

    def launch(self) -> Alive | None:
        """Start the process unless it is healthy or already starting; returns its liveness
        check for `wait` (None: nothing to wait for)."""
        if self.healthy():
            return None
        pid = read_pid(self.pidfile)
        if pid:  # starting (or hung: `wait` says so)
            return lambda: pid_alive(pid)
        for port, setting in self.ports().items():
            if port_open(self.host, port):
                raise ServiceError(
                    self.name, f"port {port} is taken by another program; set {setting}", self.log
                )
        self.settings.run_dir.mkdir(parents=True, exist_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        return self._spawn()

    def wait(self, alive: Alive | None) -> None:
        if alive is not None:
            wait_until(self.healthy, self.start_timeout, self.name, self.log, alive=alive)

    def start(self, secrets: dict[str, str] | None = None) -> None:
        self.wait(self.launch())

    def stop(self) -> None:
        pid = read_pid(self.pidfile)
        if pid:
            stop_pid(pid, timeout=20)
        self.pidfile.unlink(missing_ok=True)

    def pid(self) -> int | None:
        return read_pid(self.pidfile)


class SparkDaemon(Node):
    def _popen(self, cmd: list[str]) -> Alive:
        with self.log.open("ab") as log:
            proc = subprocess.Popen(
                cmd,
                env=daemon_env(self.settings),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: a worker and its executors
            )
        self.pidfile.write_text(str(proc.pid))
        return lambda: proc.poll() is None


class SparkMaster(SparkDaemon):
    """The standalone master: schedules every application's executors on the workers."""

    name = "spark-master"

    def __init__(self, settings: Settings):
        super().__init__(settings)
        c = settings["cluster"]
        self.port, self.ui_port = int(c["spark_master_port"]), int(c["spark_master_ui_port"])
        self.url, self.ui = cluster.spark_master_url(settings), cluster.spark_master_ui(settings)
        self.pidfile = settings.run_dir / "spark-master.pid"
        self.log = settings.logs / "spark-master.log"

    def ports(self) -> dict[int, str]:
        return {
            self.port: "LAKEHOUSE_CLUSTER_SPARK_MASTER_PORT",
            self.ui_port: "LAKEHOUSE_CLUSTER_SPARK_MASTER_UI_PORT",
        }

    def state(self) -> dict[str, Any] | None:
        """The master's JSON: its workers (id, state, cores, memory) and applications."""
        return get_json(f"{self.ui}/json/")

    def healthy(self) -> bool:
        state = self.state()
        return state is not None and state.get("status") == "ALIVE"

    def _spawn(self) -> Alive:
        say(f"starting the Spark master ({self.url})")
        return self._popen(
            [
                str(spark_home() / "bin" / "spark-class"),
                "org.apache.spark.deploy.master.Master",
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--webui-port",
                str(self.ui_port),
            ]
        )

    def status(self) -> Status:
        state = self.state()
        detail = f"UI {self.ui}"
        if state:
            alive = sum(1 for w in state.get("workers", []) if w.get("state") == "ALIVE")
            detail += f"; {alive} worker(s) alive, {len(state.get('activeapps', []))} application(s)"
        return Status(self.name, state is not None and state.get("status") == "ALIVE", self.url, detail)


class SparkWorker(SparkDaemon):
    """A standalone worker: offers its cores and memory to the master, runs executors for it."""

    def __init__(self, settings: Settings, index: int):
        super().__init__(settings)
        c = settings["cluster"]
        self.index = index
        self.name = f"spark-worker-{index}"
        self.ui_port = cluster.spark_worker_ui_port(settings, index)
        self.ui = f"http://{self.host}:{self.ui_port}"
        self.cores, self.memory = int(c["spark_worker_cores"]), str(c["spark_worker_memory"])
        self.work_dir = settings.home / "spark-cluster" / f"worker-{index}"
        self.pidfile = settings.run_dir / f"{self.name}.pid"
        self.log = settings.logs / f"{self.name}.log"

    def ports(self) -> dict[int, str]:
        return {self.ui_port: "LAKEHOUSE_CLUSTER_SPARK_WORKER_UI_PORT"}

    def state(self) -> dict[str, Any] | None:
        """The worker's JSON: its id, master, and its executors (running and finished)."""
        return get_json(f"{self.ui}/json/")

    def in_master(self, master: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """This worker as the master sees it (state ALIVE, cores and memory used)."""
        own = self.state()
        master = master if master is not None else SparkMaster(self.settings).state()
        if not own or not master:
            return None
        return next((w for w in master.get("workers", []) if w.get("id") == own.get("id")), None)

    def healthy(self) -> bool:
        entry = self.in_master()
        return entry is not None and entry.get("state") == "ALIVE"

    def _spawn(self) -> Alive:
        say(f"starting Spark worker {self.index} ({self.cores} cores, {self.memory})")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        return self._popen(
            [
                str(spark_home() / "bin" / "spark-class"),
                "org.apache.spark.deploy.worker.Worker",
                cluster.spark_master_url(self.settings),
                "--host",
                self.host,
                "--cores",
                str(self.cores),
                "--memory",
                self.memory,
                "--work-dir",
                str(self.work_dir),
                "--webui-port",
                str(self.ui_port),
            ]
        )

    def status(self) -> Status:
        entry = self.in_master()
        detail = ""
        if entry:
            detail = (
                f"{entry.get('state')} (UI), cores {entry.get('coresused')}/{entry.get('cores')} used, "
                f"memory {entry.get('memoryused')}/{entry.get('memory')} MB used"
            )
        elif self.state():
            detail = "not registered with the master"
        return Status(self.name, entry is not None and entry.get("state") == "ALIVE", self.ui, detail)

    def purge(self) -> None:
        shutil.rmtree(self.work_dir, ignore_errors=True)


def trino_nodes(settings: Settings) -> dict[str, dict[str, Any]] | None:
    """The coordinator's view of its cluster (system.runtime.nodes), by node id; None if it
    cannot be asked."""
    from lakehouse.sql import query

    try:
        columns, rows = query(
            settings, "SELECT node_id, http_uri, coordinator, state FROM system.runtime.nodes"
        )
    except Exception:  # noqa: BLE001 - a coordinator that cannot answer has no known workers
        return None
    return {row[0]: dict(zip(columns, row, strict=True)) for row in rows}


class TrinoWorker(Node):
    """A Trino server with coordinator=false, announcing itself to the coordinator's discovery."""

    start_timeout = 180.0

    def __init__(self, settings: Settings, index: int):
        super().__init__(settings)
        self.index = index
        self.name = f"trino-worker-{index}"
        self.port = cluster.trino_worker_port(settings, index)
        self.url = f"http://{self.host}:{self.port}"
        self.etc = cluster.trino_worker_etc(settings, index)
        self.data = cluster.trino_worker_data(settings, index)
        self.pidfile = settings.run_dir / f"{self.name}.pid"
        self.log = self.data / "var" / "log" / "server.log"

    def ports(self) -> dict[int, str]:
        return {self.port: "LAKEHOUSE_CLUSTER_TRINO_WORKER_HTTP_PORT"}

    def node_id(self) -> str:
        return cluster.node_id(self.data)

    def info(self) -> dict[str, Any] | None:
        return get_json(f"{self.url}/v1/info")

    def healthy(self) -> bool:
        info = self.info()
        return info is not None and not info.get("starting", True)

    def joined(self, nodes: dict[str, dict[str, Any]] | None = None) -> bool:
        nodes = trino_nodes(self.settings) if nodes is None else nodes
        return nodes is not None and nodes.get(self.node_id(), {}).get("state") == "active"

    def _launcher(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [
            str(artifacts.trino(self.settings) / "bin" / "launcher"),
            f"--etc-dir={self.etc}",
            f"--data-dir={self.data}",
            f"--jvm-dir={find_java_home(24, 'TRINO_JAVA_HOME')}",
            f"--pid-file={self.pidfile}",
            *args,
        ]
        return subprocess.run(cmd, capture_output=True, text=True)

    def _spawn(self) -> Alive:
        say(f"starting Trino worker {self.index} ({self.url})")
        self.data.mkdir(parents=True, exist_ok=True)
        result = self._launcher("start")
        if result.returncode != 0:
            raise ServiceError(self.name, f"launcher failed: {result.stdout}{result.stderr}", self.log)
        pid = read_pid(self.pidfile)
        return lambda: pid is None or pid_alive(pid)

    def stop(self) -> None:
        if self.pidfile.exists():
            self._launcher("stop")
        super().stop()

    def status(self, nodes: dict[str, dict[str, Any]] | None = None) -> Status:
        info = self.info()
        healthy = info is not None and not info.get("starting", True)
        detail = ""
        if healthy:
            joined = self.joined(nodes)
            detail = "active in the coordinator's cluster" if joined else "not seen by the coordinator"
            healthy = joined
        return Status(self.name, healthy, self.url, detail)

    def purge(self) -> None:
        shutil.rmtree(self.data, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# The topology's nodes, for `lakehouse up`, `down`, `status`
# ---------------------------------------------------------------------------------------
def spark_workers(settings: Settings) -> list[SparkWorker]:
    return [SparkWorker(settings, i) for i in cluster.spark_workers(settings)]


def trino_workers(settings: Settings) -> list[TrinoWorker]:
    return [TrinoWorker(settings, i) for i in cluster.trino_workers(settings)]


def _indexes(settings: Settings, prefix: str, configured: list[int]) -> list[int]:
    """Configured node indexes plus any other whose pid file is left (the count was lowered)."""
    found = set(configured)
    for path in settings.run_dir.glob(f"{prefix}-*.pid"):
        suffix = path.stem.rsplit("-", 1)[-1]
        if suffix.isdigit():
            found.add(int(suffix))
    return sorted(found)


def every_node(settings: Settings) -> list[Node]:
    """Every node that may run, in stop order: Spark workers, the master, Trino workers."""
    workers = _indexes(settings, "spark-worker", cluster.spark_workers(settings))
    trinos = _indexes(settings, "trino-worker", cluster.trino_workers(settings))
    return [
        *[SparkWorker(settings, i) for i in workers],
        SparkMaster(settings),
        *[TrinoWorker(settings, i) for i in trinos],
    ]


def coordinator_stamp_file(settings: Settings) -> Path:
    return settings.run_dir / "trino-config.sha256"


def coordinator_stamp(settings: Settings) -> str:
    """What the coordinator's JVM was started with: its rendered server, node and JVM files."""
    from lakehouse.render import trino_etc

    digest = hashlib.sha256()
    for name in ("config.properties", "jvm.config", "node.properties"):
        path = trino_etc(settings) / name
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()


def before_services(settings: Settings) -> list[tuple[Node, Alive | None]]:
    """After rendering, before the services start. A coordinator whose configuration changed
    (the topology did) is stopped, so the services' start brings it back reconfigured. In the
    cluster topology the Trino workers and the Spark master are launched now (their JVMs start
    while the other services do); in the single topology the Trino workers are stopped before
    they could join a single-node coordinator."""
    coordinator = Trino(settings)
    stamp_file = coordinator_stamp_file(settings)
    recorded = stamp_file.read_text().strip() if stamp_file.exists() else None
    running = coordinator.healthy() or read_pid(coordinator.pidfile) is not None
    stale = recorded != coordinator_stamp(settings) if recorded else cluster.is_cluster(settings)
    if running and stale:
        say(f"Trino's configuration changed ({cluster.topology(settings)} topology): restarting it")
        coordinator.stop()
    if not cluster.is_cluster(settings):
        for node in every_node(settings):
            if isinstance(node, TrinoWorker) and node.pid():
                node.stop()
                say(f"{node.name} stopped (single topology)")
        return []
    launched: list[tuple[Node, Alive | None]] = []
    for worker in trino_workers(settings):
        launched.append((worker, worker.launch()))
    master = SparkMaster(settings)
    launched.append((master, master.launch()))
    return launched


def after_services(settings: Settings, launched: list[tuple[Node, Alive | None]]) -> None:
    """Once the services are healthy: record the coordinator's configuration, then (cluster
    topology) wait for the master, start the Spark workers, and wait until every worker is
    ALIVE in the master and every Trino worker active in the coordinator."""
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    coordinator_stamp_file(settings).write_text(coordinator_stamp(settings) + "\n")
    if not cluster.is_cluster(settings):
        return
    for node, alive in launched:
        if isinstance(node, SparkMaster):
            node.wait(alive)
            say(f"{node.name} healthy")
    workers = [(w, w.launch()) for w in spark_workers(settings)]
    for worker, alive in workers:
        worker.wait(alive)
        say(f"{worker.name} healthy")
    for node, alive in launched:
        if isinstance(node, TrinoWorker):
            node.wait(alive)
            wait_until(node.joined, 120, node.name, node.log)
            say(f"{node.name} healthy, active in the coordinator's cluster")


def after_spark(settings: Settings) -> None:
    """Single topology, once the Spark service runs locally: the Spark nodes of an earlier
    cluster topology are stopped."""
    if cluster.is_cluster(settings):
        return
    for node in every_node(settings):
        if node.pid():
            node.stop()
            say(f"{node.name} stopped (single topology)")


def statuses(settings: Settings) -> list[Status]:
    """Each node's status line (cluster topology only)."""
    if not cluster.is_cluster(settings):
        return []
    nodes = trino_nodes(settings) or {}
    out = [w.status(nodes) for w in trino_workers(settings)]
    master = SparkMaster(settings)
    out.append(master.status())
    out += [w.status() for w in spark_workers(settings)]
    return out


def stop_all(settings: Settings) -> list[str]:
    """`lakehouse down`: every node stopped, whatever the topology. Returns their names."""
    stopped = []
    for node in every_node(settings):
        if node.pid() or node.pidfile.exists():
            node.stop()
            stopped.append(node.name)
    return stopped


def purge(settings: Settings) -> None:
    shutil.rmtree(settings.home / "spark-cluster", ignore_errors=True)
    for path in settings.home.glob("trino-worker-*"):
        shutil.rmtree(path, ignore_errors=True)
    coordinator_stamp_file(settings).unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------
# Memory: what the stack's processes hold
# ---------------------------------------------------------------------------------------
def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def stack_pids(settings: Settings) -> set[int]:
    """Every process of this stack: those started with its runtime home (in their environment
    or command line) or named by a pid file, and all their descendants. Not this process."""
    home = str(settings.home).encode()
    marks = (b"LAKEHOUSE_HOME=" + home + b"\0", home + b"/")
    roots: set[int] = set()
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        stat = _read(f"/proc/{pid}/stat")
        if not stat:
            continue
        parents[pid] = int(stat_fields(stat)[1])
        environ = _read(f"/proc/{pid}/environ")
        cmdline = _read(f"/proc/{pid}/cmdline").replace(b"\0", b" ") + b" "
        if marks[0] in environ or marks[1] in cmdline or home + b" " in cmdline:
            roots.add(pid)
    # every managed process has a pid file (some rewrite their environment and command line)
    pidfiles = [*settings.run_dir.glob("*.pid"), Postgres(settings).data / "postmaster.pid"]
    for path in pidfiles:
        first = _read(str(path)).split(b"\n", 1)[0].strip()
        if first.isdigit() and int(first) in parents:
            roots.add(int(first))
    # not this process, nor the commands that run it (they carry the home in their environment)
    mine, pid = set(), os.getpid()
    while pid > 1 and pid not in mine:
        mine.add(pid)
        pid = parents.get(pid, 1)
    roots -= mine
    found = set(roots)
    changed = True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if parent in found and pid not in found:
                found.add(pid)
                changed = True
    return found - mine


def memory(settings: Settings) -> dict[str, int]:
    """{"rss": bytes, "pss": bytes, "processes": n} summed over the stack's processes. RSS counts
    pages shared between processes once per process (an upper bound); PSS splits them."""
    rss = pss = count = 0
    for pid in stack_pids(settings):
        rollup = _read(f"/proc/{pid}/smaps_rollup").decode(errors="replace")
        values = {}
        for line in rollup.splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] in ("Rss:", "Pss:"):
                values[parts[0]] = int(parts[1]) * 1024
        if values:
            rss += values.get("Rss:", 0)
            pss += values.get("Pss:", 0)
            count += 1
    return {"rss": rss, "pss": pss, "processes": count}
