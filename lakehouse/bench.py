"""Benchmark: generate N customers, ingest them, run the delinquency analysis; report timings.

Run on a started stack (`lakehouse up`), best on a fresh one (`lakehouse down --purge` first):

    uv run python -m lakehouse.bench --customers 100000

Peak memory is the largest resident set of the processes each step waited for (the Spark
driver JVM), from getrusage(RUSAGE_CHILDREN).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lakehouse.settings import REPO_ROOT


def step(name: str, args: list[str]) -> tuple[float, str]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "lakehouse.cli", *args], capture_output=True, text=True, cwd=REPO_ROOT
    )
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"{name} failed:\n{result.stderr[-3000:]}")
    return elapsed, result.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--dirty-ratio", type=float, default=0.03)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        gen_s, _ = step(
            "generate",
            [
                "generate",
                "--customers",
                str(args.customers),
                "--out",
                str(out),
                "--dirty-ratio",
                str(args.dirty_ratio),
                "--seed",
                str(args.seed),
            ],
        )
        tx, pay = out / "transactions.jsonl", out / "payments.jsonl"
        records = sum(1 for _ in tx.open()) + sum(1 for _ in pay.open())
        size_mb = (tx.stat().st_size + pay.stat().st_size) / 1e6
        ingest_s, ingest_out = step("ingest", ["ingest", "--transactions", str(tx), "--payments", str(pay)])
        delinquency_s, dq_out = step("delinquency", ["delinquency"])
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"customers            {args.customers}")
    print(f"input records        {records} ({size_mb:.0f} MB of JSON Lines)")
    print(f"generate             {gen_s:7.1f} s")
    print(f"ingest               {ingest_s:7.1f} s  ({records / ingest_s:,.0f} records/s, both sources)")
    print(f"delinquency          {delinquency_s:7.1f} s")
    print(f"peak RSS of a step   {peak_mb:7.0f} MB")
    print(ingest_out.rstrip())
    print(dq_out.splitlines()[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
