"""Where a job's time goes: named steps, timed, reported in the job's JSON result."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager

_STEPS: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar("steps", default=None)


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
    started = time.perf_counter()
    try:
        yield
    finally:
        steps = _STEPS.get()
        if steps is not None:
            steps[name] = round(steps.get(name, 0.0) + time.perf_counter() - started, 3)
