"""The edge every job shares: a Spark session around the job's body, its result, its exit code."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from pyspark.sql import SparkSession

from jobs.protocol import RESULT_MARKER


def run_job(name: str, body: Callable[[SparkSession], Any], exit_codes: dict[type[Exception], int]) -> int:
    """Run `body` in a session named lakehouse-<name>, print its JSON result for the CLI.

    An exception listed in `exit_codes` is reported on one line and mapped to its exit code (so
    orchestration knows whether a retry can help); any other exception propagates.
    """
    spark = SparkSession.builder.appName(f"lakehouse-{name}").getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    try:
        result = body(spark)
    except tuple(exit_codes) as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return next(code for kind, code in exit_codes.items() if isinstance(exc, kind))
    finally:
        spark.stop()
    print(RESULT_MARKER + json.dumps(result), flush=True)
    return 0
