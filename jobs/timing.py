"""Where a job's time goes: named steps, timed, reported in the job's JSON result.

A step also names the Spark jobs it runs (their description), so the job's progress lines and the
Spark UI say which step is running, not Spark's name for the code that called it.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager

from pyspark import SparkContext

from jobs.protocol import NESTED_STEP

DESCRIPTION = "spark.job.description"  # a thread's local property: its Spark jobs' description

_STEPS: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar("steps", default=None)
# The step running in this context, as its result key. A step inside another (e.g. a source's,
# in a thread of a step that runs the sources side by side) is recorded as "outer / inner": its
# time is part of the outer step's, so only steps without " / " add up to the job's time.
_CURRENT: contextvars.ContextVar[str | None] = contextvars.ContextVar("step", default=None)


@contextmanager
def recording() -> Iterator[dict[str, float]]:
    """Collect the steps timed inside the block (seconds per step name, summed)."""
    steps: dict[str, float] = {}
    token = _STEPS.set(steps)
    try:
        yield steps
    finally:
        _STEPS.reset(token)


@contextmanager
def step(name: str) -> Iterator[None]:
    sc = SparkContext._active_spark_context
    outer = None
    if sc is not None:
        outer = sc.getLocalProperty(DESCRIPTION)
        sc.setLocalProperty(DESCRIPTION, name)
    parent = _CURRENT.get()
    key = name if parent is None else f"{parent}{NESTED_STEP}{name}"
    token = _CURRENT.set(key)
    started = time.perf_counter()
    try:
        yield
    finally:
        _CURRENT.reset(token)
        if sc is not None:
            sc.setLocalProperty(DESCRIPTION, outer)  # type: ignore[arg-type]  # None removes it
        steps = _STEPS.get()
        if steps is not None:
            steps[key] = round(steps.get(key, 0.0) + time.perf_counter() - started, 3)
