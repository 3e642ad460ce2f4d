"""The cluster topology's configuration: which topology runs, and what each engine is told.

`lakehouse up --cluster` (or LAKEHOUSE_TOPOLOGY=cluster) runs a Spark standalone master with its
workers and a Trino coordinator with its workers on this machine (lakehouse/cluster_nodes.py
starts them). Nothing in jobs/ changes between topologies: only the configuration rendered here
does. Spark's driver is told `spark.master spark://...` and the executors' sizes; the executors
get the object store's and the catalog's settings through Spark's own configuration (the driver
sends it to them), never through a file on their disk. Trino's coordinator stops scheduling work
on itself; its workers get the same catalog and the same access rules.

The topology is chosen by `lakehouse up` and recorded under the runtime home, so every later
command (ingest, a DAG task, `policies build`) renders and runs the same way.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from string import Template
from typing import Any

from lakehouse.secrets import write_private
from lakehouse.settings import REPO_ROOT, Settings

SINGLE, CLUSTER = "single", "cluster"
TOPOLOGIES = (SINGLE, CLUSTER)
TRINO_ETC = REPO_ROOT / "trino" / "etc"
# jobs/checkpoint.py reads it: on how many executors each checkpointed block is kept
CHECKPOINT_REPLICAS = "spark.lakehouse.checkpoint.replicas"


# ---------------------------------------------------------------------------------------
# Which topology
# ---------------------------------------------------------------------------------------
def configured(settings: Settings) -> str:
    """The topology the settings ask for (LAKEHOUSE_TOPOLOGY / LAKEHOUSE_CLUSTER_TOPOLOGY)."""
    value = str(settings["cluster"]["topology"]).strip().lower() or SINGLE
    if value not in TOPOLOGIES:
        raise ValueError(f"unknown topology {value!r}: use one of {', '.join(TOPOLOGIES)}")
    return value


def record_file(settings: Settings) -> Path:
    return settings.home / "topology"


def topology(settings: Settings) -> str:
    """The running stack's topology: what the last `lakehouse up` chose, else the settings'."""
    try:
        recorded = record_file(settings).read_text().strip()
    except FileNotFoundError:
        return configured(settings)
    return recorded if recorded in TOPOLOGIES else configured(settings)


def choose(settings: Settings, value: str) -> None:
    """Record the topology `lakehouse up` runs; every later command follows it."""
    if value not in TOPOLOGIES:
        raise ValueError(f"unknown topology {value!r}")
    settings.home.mkdir(parents=True, exist_ok=True)
    record_file(settings).write_text(value + "\n")


def is_cluster(settings: Settings) -> bool:
    return topology(settings) == CLUSTER


# ---------------------------------------------------------------------------------------
# Addresses
# ---------------------------------------------------------------------------------------
def host(settings: Settings) -> str:
    return str(settings["cluster"]["host"])


def spark_master_url(settings: Settings) -> str:
    return f"spark://{host(settings)}:{settings['cluster']['spark_master_port']}"


def spark_master_ui(settings: Settings) -> str:
    return f"http://{host(settings)}:{settings['cluster']['spark_master_ui_port']}"


def spark_worker_ui_port(settings: Settings, index: int) -> int:
    return int(settings["cluster"]["spark_worker_ui_port"]) + index - 1


def trino_worker_port(settings: Settings, index: int) -> int:
    return int(settings["cluster"]["trino_worker_http_port"]) + index - 1


def trino_ui(settings: Settings) -> str:
    return f"{settings.trino_url}/ui/"


def spark_workers(settings: Settings) -> list[int]:
    return list(range(1, int(settings["cluster"]["spark_workers"]) + 1))


def trino_workers(settings: Settings) -> list[int]:
    return list(range(1, int(settings["cluster"]["trino_workers"]) + 1))


# ---------------------------------------------------------------------------------------
# Spark
# ---------------------------------------------------------------------------------------
def spark_master(settings: Settings) -> str:
    """spark.master of every application: the local master's URL in the cluster topology."""
    return spark_master_url(settings) if is_cluster(settings) else str(settings["spark"]["master"])


def spark_cluster_conf(settings: Settings) -> dict[str, str]:
    """spark-defaults.conf entries the cluster topology adds (none on one machine)."""
    if not is_cluster(settings):
        return {}
    c = settings["cluster"]
    return {
        # each application: executors of this many cores, at most this many cores in all
        "spark.executor.cores": str(c["spark_executor_cores"]),
        "spark.cores.max": str(c["spark_cores_max"]),
        # executors call back the driver (client mode) at this address
        "spark.driver.host": host(settings),
        "spark.driver.bindAddress": host(settings),
        # checkpointed blocks kept on two executors: a lost worker loses none of them
        CHECKPOINT_REPLICAS: str(min(2, len(spark_workers(settings)))),
    }


def spark_conf_block(settings: Settings) -> str:
    entries = spark_cluster_conf(settings)
    if not entries:
        return ""
    lines = ["", "# Cluster topology (lakehouse up --cluster): the standalone master's executors."]
    lines += [f"{key:<53} {value}" for key, value in entries.items()]
    return "\n".join(lines) + "\n"


def spark_daemon_conf_dir(settings: Settings) -> Path:
    """SPARK_CONF_DIR of the master and workers: no secret in it (executors get theirs from the
    driver's configuration)."""
    return settings.conf_dir / "spark-daemons"


DAEMON_LOG4J2 = """\
rootLogger.level = info
rootLogger.appenderRef.stdout.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n
logger.jetty.name = org.sparkproject.jetty
logger.jetty.level = warn
logger.hadoop.name = org.apache.hadoop
logger.hadoop.level = error
logger.iceberg.name = org.apache.iceberg
logger.iceberg.level = warn
"""


def render_spark_daemons(settings: Settings) -> Path:
    """The master's and workers' own configuration (and the executors' logging)."""
    target = spark_daemon_conf_dir(settings)
    entries = {
        # a finished application's files (its jars, the jobs' zip, executor logs) go after a day
        "spark.worker.cleanup.enabled": "true",
        "spark.worker.cleanup.appDataTtl": "86400",
        "spark.executor.logs.rolling.strategy": "size",
        "spark.executor.logs.rolling.maxSize": str(10 * 1024 * 1024),
        "spark.executor.logs.rolling.maxRetainedFiles": "3",
        "spark.master.rest.enabled": "false",
    }
    text = "# Rendered by `lakehouse` for the Spark master and workers; no secret belongs here.\n"
    text += "".join(f"{key:<53} {value}\n" for key, value in entries.items())
    write_private(target / "spark-defaults.conf", text)
    write_private(target / "log4j2.properties", DAEMON_LOG4J2)
    return target


# ---------------------------------------------------------------------------------------
# Trino
# ---------------------------------------------------------------------------------------
def trino_coordinator_values(settings: Settings) -> dict[str, Any]:
    """The template values that differ on the coordinator between the two topologies."""
    trino, c = settings["trino"], settings["cluster"]
    if not is_cluster(settings):
        return {
            "include_coordinator": "true",
            "heap": trino["heap"],
            "query_max_memory": trino["query_max_memory_per_node"],
            "query_max_memory_per_node": trino["query_max_memory_per_node"],
            "internal_address": trino["host"],
        }
    return {
        "include_coordinator": "false",
        "heap": c["trino_coordinator_heap"],
        "query_max_memory": trino["query_max_memory_per_node"],
        "query_max_memory_per_node": c["trino_coordinator_query_max_memory_per_node"],
        "internal_address": host(settings),
    }


def trino_worker_etc(settings: Settings, index: int) -> Path:
    return settings.conf_dir / f"trino-worker-{index}"


def trino_worker_data(settings: Settings, index: int) -> Path:
    return settings.home / f"trino-worker-{index}"


def node_id(data_dir: Path) -> str:
    """A node's id, created once and kept with its data."""
    path = data_dir / "node-id"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(str(uuid.uuid4()))
    return path.read_text().strip()


def _render(template: Path, values: dict[str, Any]) -> str:
    return Template(template.read_text()).substitute({k: str(v) for k, v in values.items()})


# the coordinator's files a worker shares: the catalog, the access rules and groups, logging
SHARED_WITH_WORKERS = ("access-control.properties", "group-provider.properties")


def render_trino_workers(settings: Settings, coordinator: dict[str, Any]) -> list[Path]:
    """Each Trino worker's etc dir from the coordinator's template values: the same catalog
    (object store, JDBC catalog) and the same rules file, its own node id, port, data dir, heap.
    Only in the cluster topology."""
    if not is_cluster(settings):
        return []
    c = settings["cluster"]
    rendered = []
    for index in trino_workers(settings):
        etc, data = trino_worker_etc(settings, index), trino_worker_data(settings, index)
        values = coordinator | {
            "node_id": node_id(data),
            "data_dir": data,
            "heap": c["trino_worker_heap"],
            "worker_http_port": trino_worker_port(settings, index),
            "discovery_uri": f"http://{host(settings)}:{settings['trino']['http_port']}",
            "internal_address": host(settings),
            "query_max_memory": settings["trino"]["query_max_memory_per_node"],
            "query_max_memory_per_node": c["trino_worker_query_max_memory_per_node"],
        }
        config = _render(TRINO_ETC / "worker-config.properties.template", values)
        write_private(etc / "config.properties", config)
        for name in ("jvm.config", "node.properties", *SHARED_WITH_WORKERS):
            write_private(etc / name, _render(TRINO_ETC / f"{name}.template", values))
        write_private(etc / "log.properties", (TRINO_ETC / "log.properties").read_text())
        write_private(
            etc / "catalog" / f"{settings.catalog_name}.properties",
            _render(TRINO_ETC / "catalog" / "lakehouse.properties.template", values),
        )
        rendered.append(etc)
    return rendered
