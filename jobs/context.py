"""What a job knows of the request that started it: its environment, and whether it was cancelled.

A job started by spark-submit reads the process environment and is never cancelled (killing its
process ends it). A job run by the Spark service (jobs/service.py) gets the environment of the
command that asked for it, per job (several jobs share the service's process), and is cancelled
when that command goes away.
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass


class Cancelled(RuntimeError):
    """The command that asked for this job went away: stop (and undo) as if it had failed."""


@dataclass(frozen=True)
class JobContext:
    env: Mapping[str, str]
    gone: threading.Event


_CONTEXT: contextvars.ContextVar[JobContext | None] = contextvars.ContextVar("job_context", default=None)


def job_env() -> Mapping[str, str]:
    """The job's environment: the request's, else the process's."""
    context = _CONTEXT.get()
    return context.env if context else os.environ


DEFAULT_CATALOG = "lakehouse"  # catalog_config/lakehouse.toml's default; the CLI passes the real one


def catalog_name() -> str:
    """The Iceberg catalog the job writes: LAKEHOUSE_CATALOG_NAME, set by the CLI from settings."""
    return job_env().get("LAKEHOUSE_CATALOG_NAME", DEFAULT_CATALOG)


def check_cancelled() -> None:
    """Raise Cancelled if the job's client went away (for loops that run no Spark action)."""
    context = _CONTEXT.get()
    if context and context.gone.is_set():
        raise Cancelled("the command that started this job is gone")


@contextmanager
def with_job_context(env: Mapping[str, str], gone: threading.Event) -> Iterator[None]:
    token = _CONTEXT.set(JobContext(dict(env), gone))
    try:
        yield
    finally:
        _CONTEXT.reset(token)
