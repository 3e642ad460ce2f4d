"""Parts of one job run side by side in the job's own Spark session.

A job's driver spends much of a small batch planning (Python and JVM calls, one at a time), so
two independent parts of it (the two sources' classification) overlap well on two cores. A
thread of a job must look like the job to everything around it: the job's context (its
environment, its cancellation, its step timings: context variables), its Spark job group (so
cancelling the job cancels the thread's Spark jobs too: PySpark pins each Python thread to a JVM
thread, whose local properties `InheritableThread` copies), the JVM's active session (the job's,
not the service's root one), and the job's output stream (the service routes stderr per thread).
"""

from __future__ import annotations

import contextvars
import sys
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pyspark import InheritableThread
from pyspark.sql import SparkSession

from jobs.jvm import jvm_of

T = TypeVar("T")


# How often the caller checks on its threads (and, once one failed, cancels the others' jobs).
POLL_SECONDS = 0.2


def side_by_side(
    spark: SparkSession, calls: Mapping[str, Callable[[], T]], discard: Callable[[T], None] | None = None
) -> dict[str, T]:
    """Run every call in a thread of its own (a single call in the caller's), wait for all of them;
    returns name -> result, in the order of `calls`.

    If a call raises, the others stop too: their Spark jobs (tagged for this call) are cancelled
    until they end, instead of finishing work that will be thrown away while the job holds its
    locks. Then the exception that came first is raised (the others' are often only the
    cancellation it caused: raised instead, a refused input would fail as a cancelled job), the
    others are reported on stderr, and `discard` gets each result of the calls that did succeed
    (e.g. to release a checkpoint). No thread is left running behind the caller's error handling.
    """
    if len(calls) == 1:
        return {name: call() for name, call in calls.items()}
    sc = spark.sparkContext
    tag = f"lakehouse-side-by-side-{uuid.uuid4().hex[:12]}"
    results: dict[str, T] = {}
    errors: dict[str, BaseException] = {}  # in the order the calls failed
    failed = threading.Event()
    stream: Any = sys.stderr  # the service's Router (a stream per job thread), or a plain stream
    local = getattr(stream, "local", None)
    sink = getattr(local, "sink", None) if local is not None else None

    def body(name: str, call: Callable[[], T]) -> None:
        if sink is not None:
            stream.attach(sink)
        try:
            sc.addJobTag(tag)
            jvm_of(spark).org.apache.spark.sql.SparkSession.setActiveSession(spark._jsparkSession)
            results[name] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread below
            errors[name] = exc
            failed.set()
        finally:
            if sink is not None:
                stream.attach(None)

    threads = []
    for name, call in calls.items():
        context = contextvars.copy_context()
        thread = InheritableThread(target=context.run, args=(body, name, call), name=f"lakehouse-{name}")
        thread.start()
        threads.append(thread)
    for thread in threads:
        while thread.is_alive():
            thread.join(POLL_SECONDS)
            if failed.is_set():
                sc.cancelJobsWithTag(tag)
    if not errors:
        return {name: results[name] for name in calls}
    first, *others = errors
    for name in others:
        print(f"[lakehouse] {name}: stopped after {first} failed: {errors[name]!r:.300}", file=sys.stderr)
    if discard is not None:
        for result in results.values():
            discard(result)
    raise errors[first]
