"""The edge every job shares: a Spark session around the job's body, its result, its exit code."""

from __future__ import annotations

import contextvars
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pyspark.sql import SparkSession

from jobs.progress import reporting
from jobs.protocol import RESULT_MARKER

_PROVIDED: contextvars.ContextVar[SparkSession | None] = contextvars.ContextVar("spark", default=None)


@contextmanager
def provided(spark: SparkSession) -> Iterator[None]:
    """Jobs run inside this block use `spark` (the Spark service's) instead of starting their own."""
    token = _PROVIDED.set(spark)
    try:
        yield
    finally:
        _PROVIDED.reset(token)


def run_job(name: str, body: Callable[[SparkSession], Any], exit_codes: dict[type[Exception], int]) -> int:
    """Run `body` in a Spark session, print its JSON result for the CLI.

    The session is the Spark service's when the job runs there, else a new application named
    lakehouse-<name> (spark-submit), stopped at the end. An exception listed in `exit_codes` is
    reported on one line and mapped to its exit code (so orchestration knows whether a retry can
    help); any other exception propagates.
    """
    spark = _PROVIDED.get()
    owned = spark is None
    if spark is None:
        spark = SparkSession.builder.appName(f"lakehouse-{name}").getOrCreate()
        spark.sparkContext.setLogLevel("WARN")
    group = None if owned else spark.sparkContext.getLocalProperty("spark.jobGroup.id")
    try:
        with reporting(spark, group):
            result = body(spark)
    except tuple(exit_codes) as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return next(code for kind, code in exit_codes.items() if isinstance(exc, kind))
    finally:
        if owned:
            spark.stop()
    print(RESULT_MARKER + json.dumps(result), flush=True)
    return 0
