"""Rewrite every pseudonym column under a new key (`lakehouse policies rotate-key`).

Each table with pseudonyms is rewritten in one overwrite: one atomic Iceberg commit per table,
under the write locks of all of them, so no ingest mixes keys meanwhile. The CLI promotes the new
key only after every table is done; until then it refuses to run jobs that write pseudonyms, and
running the rotation again finishes it (it always writes with the new key).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pyspark.sql import SparkSession

from jobs import pseudonyms
from jobs.context import catalog_name, job_env
from jobs.protocol import DEFAULT_WAIT, EXIT_LOCK_TIMEOUT
from jobs.session import run_job
from jobs.tables import TABLES
from jobs.writes import LockTimeout, Writer, new_run_id

NEXT_KEY_ENV = "LAKEHOUSE_PSEUDONYM_KEY_NEXT"


def run(spark: SparkSession, catalog: str, key_hex: str, wait: float) -> dict[str, Any]:
    targets = {
        name: t
        for name, t in TABLES.items()
        if t.pseudonymised and spark.catalog.tableExists(t.full_name(catalog))
    }
    rewritten = {}
    with Writer.open(
        spark, catalog, "rotate-key", [t.full_name(catalog) for t in targets.values()], wait
    ) as w:
        for name, contract in targets.items():
            full = contract.full_name(catalog)
            with w.run(new_run_id("key"), {full: list(contract.key)}):
                pseudonyms.rewrite(spark, full, list(contract.pseudonymised), key_hex)
            rewritten[name] = spark.table(full).count()
    return {"tables": rewritten}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", default=catalog_name())
    parser.add_argument("--wait", type=float, default=DEFAULT_WAIT)
    args = parser.parse_args(argv)
    key = job_env().get(NEXT_KEY_ENV)
    if not key:
        parser.error(f"{NEXT_KEY_ENV} is not set: run `lakehouse policies rotate-key`")
    return run_job(
        "rotate-key", lambda spark: run(spark, args.catalog, key, args.wait), {LockTimeout: EXIT_LOCK_TIMEOUT}
    )


if __name__ == "__main__":
    sys.exit(main())
