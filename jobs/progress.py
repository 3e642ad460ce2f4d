"""Progress of a running job, printed every few seconds: stages and tasks done, records read.

Read from the driver's own status REST API (the Spark UI on loopback), filtered to the job's job
group in the Spark service (or every job of a spark-submit application). A line names the job's
running steps (`jobs.timing.step` describes their Spark jobs so), else Spark's stages. Lines start
with `[progress]`: the CLI shows them on one updating line in a terminal and as plain lines in logs.
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
from jobs.timing import DESCRIPTION

INTERVAL = 3.0


def _get(url: str, timeout: float = 2) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def describe(
    api: str, group: str | None, started: float, final: bool = False, outer: str | None = None
) -> str | None:
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
    return progress_line(jobs, stages, time.monotonic() - started, final, outer)


def progress_line(
    jobs: list[dict[str, Any]], stages: list[dict[str, Any]], seconds: float, final: bool, outer: str | None
) -> str:
    """The progress line for `jobs` and their `stages` (as the status API gives them). A running
    line names the steps whose Spark jobs run, else their stages (`outer`: the description the
    job's Spark jobs carry outside any step, the service's command line, not a step's name)."""
    done = sum(j.get("numCompletedTasks", 0) for j in jobs)
    total = sum(j.get("numTasks", 0) for j in jobs)
    read = sum(s.get("inputRecords", 0) for s in stages)
    elapsed = f"{PROGRESS_MARKER} {seconds:5.0f}s "
    if final:
        return f"{elapsed}{PROGRESS_DONE}{len(jobs)} Spark job(s), {done} tasks, {read:,} records read"
    counts = f"{len(jobs)} Spark job(s), tasks {done}/{total}, {read:,} records read"
    steps = sorted({j["description"] for j in jobs if j.get("description") not in (None, "", outer)})
    if steps:
        return f"{elapsed} {', '.join(steps)}: {counts}"
    names = ", ".join(sorted({s["name"].split(" at ")[0][:40] for s in stages})) or "planning"
    return f"{elapsed} stage {names}: {counts}"


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
    outer = sc.getLocalProperty(DESCRIPTION)  # read in the job's thread: its jobs' own description
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
                line = describe(api, group, started, outer=outer)
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
