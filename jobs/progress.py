"""Progress of a running job, printed every few seconds: stages and tasks done, records read.

Read from the driver's own status REST API (the Spark UI on loopback), filtered to the job's job
group in the Spark service (or every job of a spark-submit application). Lines start with
`[progress]`: the CLI shows them on one updating line in a terminal and as plain lines in logs.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from pyspark.sql import SparkSession

from jobs.protocol import PROGRESS_DONE, PROGRESS_MARKER

INTERVAL = 3.0


def _get(url: str, timeout: float = 2) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def describe(api: str, group: str | None, started: float, final: bool = False) -> str | None:
    """One progress line: the group's running jobs (None when none runs), or with `final` every
    job the group ran, as the closing line."""
    jobs_url, stages_url = (
        (f"{api}/jobs", f"{api}/stages")
        if final
        else (f"{api}/jobs?status=running", f"{api}/stages?status=active")
    )
    timeout = 10 if final else 2  # the closing line is printed once: it may wait for a busy driver
    jobs = [j for j in _get(jobs_url, timeout) if group is None or j.get("jobGroup") == group]
    if not jobs and not final:
        return None
    stage_ids = {s for j in jobs for s in j.get("stageIds", [])}
    stages = [s for s in _get(stages_url, timeout) if s["stageId"] in stage_ids]
    done = sum(j.get("numCompletedTasks", 0) for j in jobs)
    total = sum(j.get("numTasks", 0) for j in jobs)
    read = sum(s.get("inputRecords", 0) for s in stages)
    elapsed = f"{PROGRESS_MARKER} {time.monotonic() - started:5.0f}s "
    if final:
        return f"{elapsed}{PROGRESS_DONE}{len(jobs)} Spark job(s), {done} tasks, {read:,} records read"
    names = ", ".join(sorted({s["name"].split(" at ")[0][:40] for s in stages})) or "planning"
    return f"{elapsed} {len(jobs)} Spark job(s), stage {names}: tasks {done}/{total}, {read:,} records read"


@contextmanager
def reporting(spark: SparkSession, group: str | None) -> Iterator[None]:
    """Print a progress line every INTERVAL seconds while the block runs, and a closing line with
    what it ran (also when the block failed: it tells how far the job got)."""
    sc = spark.sparkContext
    ui = sc.uiWebUrl
    if not ui:
        yield
        return
    api = f"{ui}/api/v1/applications/{sc.applicationId}"
    stop = threading.Event()
    # the job's stream (the service routes it per job thread: a Router, with attach())
    out: Any = sys.stderr
    started = time.monotonic()
    router = getattr(out, "local", None)
    sink = getattr(router, "sink", None) if router is not None else None

    def loop() -> None:
        if router is not None and sink is not None:  # speak to the same client as the job's thread
            out.attach(sink)
        while not stop.wait(INTERVAL):
            try:
                line = describe(api, group, started)
            except (OSError, ValueError, KeyError):
                continue
            if line:
                print(line, file=out, flush=True)
        if router is not None:
            out.attach(None)

    thread = threading.Thread(target=loop, daemon=True, name="lakehouse-progress")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=INTERVAL + 1)
        for _ in range(3):  # a UI gone for good (the session stopped): nothing to add
            with suppress(OSError, ValueError, KeyError):
                print(describe(api, group, started, final=True), file=out, flush=True)
                break
