"""Runs a job from jobs/ with spark-submit, configured by the rendered spark-defaults.conf.

The job code ships as a zip (--py-files), so the same command works against local[*] or a
cluster master: only spark.master and the jar locations in the configuration change.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jobs.protocol import PROGRESS_DONE, PROGRESS_MARKER, RESULT_MARKER
from lakehouse import render
from lakehouse.settings import REPO_ROOT, Settings, find_java_home

LOG4J2 = """\
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
logger.iceberg.name = org.apache.iceberg
logger.iceberg.level = warn
logger.hadoop.name = org.apache.hadoop
logger.hadoop.level = error
logger.spark3util.name = org.apache.iceberg.spark.Spark3Util
logger.spark3util.level = error
logger.spark_util.name = org.apache.spark.util.Utils
logger.spark_util.level = error
"""


class JobFailed(RuntimeError):
    """The Spark job exited non-zero; its stderr says why."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def jobs_zip(settings: Settings) -> Path:
    """The `jobs` package as a zip for --py-files, rebuilt on every submit (it is small)."""
    target = settings.home / "build" / "jobs.zip"
    _write_zip(target)
    return target


def jobs_zip_for(settings: Settings, stamp: str) -> Path:
    """An immutable zip of the jobs for a long-lived process: Python reads a zip it imports
    from lazily, so the file must never change under it. Older ones are removed."""
    target = settings.home / "build" / f"jobs-{stamp}.zip"
    if not target.exists():
        _write_zip(target)
    for old in target.parent.glob("jobs-*.zip"):
        if old != target and time.time() - old.stat().st_mtime > 24 * 3600:
            old.unlink(missing_ok=True)
    return target


def _write_zip(target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # a unique temporary name: concurrent submits (both ingest branches) each build their own
    fd, name = tempfile.mkstemp(dir=target.parent, suffix=".zip.tmp")
    with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted((REPO_ROOT / "jobs").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, path.relative_to(REPO_ROOT))
    os.replace(name, target)


def spark_submit_binary() -> str:
    found = Path(sys.executable).parent / "spark-submit"
    if found.exists():
        return str(found)
    which = shutil.which("spark-submit")
    if not which:
        raise RuntimeError("spark-submit not found: run `uv sync` (pyspark provides it)")
    return which


def spark_env(settings: Settings) -> dict[str, str]:
    """The environment spark-submit runs in: the rendered configuration, JDK 17, this Python."""
    conf_dir = render.spark_conf_dir(settings)
    if not (conf_dir / "spark-defaults.conf").exists():
        raise RuntimeError("Spark is not configured yet: run `lakehouse up` first.")
    jar = settings.jobs_jar  # named by the jobs' Java sources: it changes with them
    if str(jar) not in (conf_dir / "spark-defaults.conf").read_text() or not jar.exists():
        raise RuntimeError(
            f"The jobs' Java code (jobs/java) changed since `lakehouse up` built it: its jar {jar.name} is "
            "not built or not in Spark's configuration yet. Run `lakehouse up` again: it builds the jar "
            "and renders the configuration."
        )
    (conf_dir / "log4j2.properties").write_text(LOG4J2)
    env = dict(os.environ)
    env.update(
        SPARK_CONF_DIR=str(conf_dir),
        JAVA_HOME=str(find_java_home(17, "JAVA_HOME", max_major=21)),
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        LAKEHOUSE_CATALOG_NAME=settings.catalog_name,
        # the driver and its web UI listen on loopback only
        SPARK_LOCAL_IP=os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"),
    )
    # glibc gives each thread that allocates natively (Parquet's compressors, Netty) an arena of its
    # own, up to 8 per core, that keeps its pages: two arenas hold the driver's resident memory down
    env.setdefault("MALLOC_ARENA_MAX", "2")
    return env


# Jobs that write pseudonyms: refused while a key rotation is unfinished (they would mix keys).
WRITES_PSEUDONYMS = ("ingest", "delinquency")


def job_environment(settings: Settings, job: str = "") -> dict[str, str]:
    """What a job may read of its environment: LAKEHOUSE_* settings, and the pipeline's keys
    (pseudonyms, erasure log). Passed per job, never on a command line."""
    from lakehouse import secrets as secret_store

    env = {k: v for k, v in os.environ.items() if k.startswith("LAKEHOUSE_")}
    env["LAKEHOUSE_CATALOG_NAME"] = settings.catalog_name
    secrets = secret_store.read(settings.secrets_file)
    if job in WRITES_PSEUDONYMS and "PSEUDONYM_KEY_NEXT" in secrets:
        raise RuntimeError(
            "a pseudonym key rotation is unfinished: run `lakehouse policies rotate-key` to finish it "
            f"before `lakehouse {job}`"
        )
    for key in ("PSEUDONYM_KEY", "ERASURE_LOG_KEY"):
        if key in secrets:
            env[f"LAKEHOUSE_{key}"] = secrets[key]
    return env


def use_service(settings: Settings) -> bool:
    return bool(settings["spark"]["service"])


def submit(
    settings: Settings, job: str, args: list[str], env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run jobs/<job>.py (in the Spark service, or with its own spark-submit); stream its
    output; return the JSON result it prints.

    Raises:
        JobFailed: the job exited non-zero.
    """
    print(f"[lakehouse] {job} {' '.join(args)}", file=sys.stderr, flush=True)
    progress = ProgressLine()
    result: dict[str, Any] | None = None

    def on_line(kind: str, line: str) -> None:
        nonlocal result
        if kind == "out" and line.startswith(RESULT_MARKER):
            result = json.loads(line[len(RESULT_MARKER) :])
        elif line.startswith(PROGRESS_MARKER) and PROGRESS_DONE not in line:  # the closing line stays
            progress.show(line)
        else:
            progress.clear()
            print(line, file=sys.stderr, flush=True)

    if use_service(settings):
        from lakehouse.spark_service import SparkService

        service = SparkService(settings)
        service.ensure_current()
        code = service.run(job, args, job_environment(settings, job) | (env or {}), on_line)
    else:
        code = _spark_submit(settings, job, args, on_line, env or {})
    progress.clear()
    if code != 0 or result is None:
        raise JobFailed(f"Spark job {job} failed (exit {code}); see the messages above.", code)
    return result


def _spark_submit(
    settings: Settings, job: str, args: list[str], on_line: Callable[[str, str], None], extra: dict[str, str]
) -> int:
    cmd = [
        spark_submit_binary(),
        "--name",
        f"lakehouse-{job}",
        "--py-files",
        str(jobs_zip(settings)),
        str(REPO_ROOT / "jobs" / f"{job}.py"),
        *args,
    ]
    env = spark_env(settings) | job_environment(settings, job) | extra
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    assert proc.stdout is not None
    for line in proc.stdout:
        on_line("out", line.rstrip("\n"))
    return proc.wait()


class ProgressLine:
    """Progress on one updating line in a terminal; plain lines elsewhere (logs stay readable)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.shown = False

    def show(self, line: str) -> None:
        if self.tty:
            sys.stderr.write("\r\033[K" + line[:200])
            sys.stderr.flush()
            self.shown = True
        else:
            print(line, file=sys.stderr, flush=True)

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
            self.shown = False
