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
from collections.abc import Callable
from typing import Any, TypeVar

from pyspark import InheritableThread
from pyspark.sql import SparkSession

from jobs.jvm import jvm_of

T = TypeVar("T")


def side_by_side(spark: SparkSession, calls: dict[str, Callable[[], T]]) -> dict[str, T]:
    """Run every call in a thread of its own (a single call in the caller's), wait for all of them;
    returns name -> result, in the order of `calls`. If any raised, raises the first one's
    exception (in that order) once every call has ended: no thread is left running behind the
    caller's error handling."""
    if len(calls) == 1:
        return {name: call() for name, call in calls.items()}
    results: dict[str, T] = {}
    errors: dict[str, BaseException] = {}
    stream: Any = sys.stderr  # the service's Router (a stream per job thread), or a plain stream
    local = getattr(stream, "local", None)
    sink = getattr(local, "sink", None) if local is not None else None

    def body(name: str, call: Callable[[], T]) -> None:
        if sink is not None:
            stream.attach(sink)
        jvm_of(spark).org.apache.spark.sql.SparkSession.setActiveSession(spark._jsparkSession)
        try:
            results[name] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread below
            errors[name] = exc
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
        thread.join()
    for name in calls:
        if name in errors:
            raise errors[name]
    return {name: results[name] for name in calls}
