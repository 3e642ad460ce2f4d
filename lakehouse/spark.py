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
import zipfile
from pathlib import Path

from jobs.protocol import RESULT_MARKER
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
    target.parent.mkdir(parents=True, exist_ok=True)
    # a unique temporary name: concurrent submits (both ingest branches) each build their own
    fd, name = tempfile.mkstemp(dir=target.parent, suffix=".zip.tmp")
    with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted((REPO_ROOT / "jobs").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, path.relative_to(REPO_ROOT))
    os.replace(name, target)
    return target


def spark_submit_binary() -> str:
    found = Path(sys.executable).parent / "spark-submit"
    if found.exists():
        return str(found)
    which = shutil.which("spark-submit")
    if not which:
        raise RuntimeError("spark-submit not found: run `uv sync` (pyspark provides it)")
    return which


def submit(settings: Settings, job: str, args: list[str]) -> dict:
    """Run jobs/<job>.py; stream its progress; return the JSON result it prints.

    Raises:
        JobFailed: the job exited non-zero.
    """
    conf_dir = render.spark_conf_dir(settings)
    if not (conf_dir / "spark-defaults.conf").exists():
        raise RuntimeError("Spark is not configured yet: run `lakehouse up` first.")
    (conf_dir / "log4j2.properties").write_text(LOG4J2)
    env = dict(os.environ)
    env.update(
        SPARK_CONF_DIR=str(conf_dir),
        JAVA_HOME=str(find_java_home(17, "JAVA_HOME", max_major=21)),
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        LAKEHOUSE_CATALOG_NAME=settings.catalog_name,
    )
    cmd = [
        spark_submit_binary(),
        "--name",
        f"lakehouse-{job}",
        "--py-files",
        str(jobs_zip(settings)),
        str(REPO_ROOT / "jobs" / f"{job}.py"),
        *args,
    ]
    print(f"[lakehouse] spark-submit jobs/{job}.py {' '.join(args)}", file=sys.stderr, flush=True)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    result: dict | None = None
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(RESULT_MARKER):
            result = json.loads(line[len(RESULT_MARKER) :])
        else:
            print(line, end="", file=sys.stderr)
    code = proc.wait()
    if code != 0 or result is None:
        raise JobFailed(f"Spark job {job} failed (exit {code}); see the messages above.", code)
    return result
