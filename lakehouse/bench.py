"""`lakehouse bench`: the platform against DuckDB on the same files, on the running stack.

One run, in this order (the stack's curated tables must start empty: `make bench` gives the
benchmark a stack of its own):
1. generate N transactions and their payments (`lakehouse generate`), plus a day's worth of
   records for empty tables, four small batches of about 40,000 records and an incremental day
   (1% new, 0.5% changed records);
2. DuckDB anchors on the same files: JSON Lines -> typed Parquet, and the SQL twin of the rules
   (bench/twin.py), whose figures must equal the Spark job's or the bench fails;
3. `lakehouse ingest` and `lakehouse delinquency` end to end (CLI to result);
4. the small batches (one after the other: the first, right after the delinquency run, reported
   apart; the median of the next three: the machine is noisy at this scale) and the incremental
   day into the loaded tables;
5. Trino latency, p50 and p95 over 20 runs of three user queries;
6. peak resident memory of every service and job, sampled from /proc.
It writes docs/benchmarks.md (and its chart) and prints the ratios first. The report also gives the
host's speed just before and just after the run (`host_loop_seconds`): a shared virtual machine's
moves by half or more within the hour, and every second of the report moves with it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.protocol import NESTED_STEP
from lakehouse.settings import REPO_ROOT, Settings

DOC = REPO_ROOT / "docs" / "benchmarks.md"
DEFAULT_TRANSACTIONS = 2_000_000
SMALL_BATCH = 40_000  # records
SMALL_BATCHES = 3  # small batches timed, one after the other, after a first one


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# Memory: every process of the stack, sampled from /proc
# ---------------------------------------------------------------------------------------
COMPONENTS = [  # (component, pattern on the command line), first match wins
    ("trino", re.compile(r"io\.trino\.server|trino-server")),
    ("spark service", re.compile(r"lakehouse-service|jobs/service\.py")),
    ("spark jobs (spark-submit)", re.compile(r"org\.apache\.spark\.deploy\.SparkSubmit|pyspark\.daemon")),
    ("minio", re.compile(r"/minio server")),
    ("postgresql", re.compile(r"postgres")),
    ("airflow", re.compile(r"airflow")),
    ("governance agent", re.compile(r"lakehouse\.governance_agent")),
    ("lakehouse CLI", re.compile(r"lakehouse\.cli|bin/lakehouse")),
]


def rss_by_component() -> dict[str, int]:
    """Resident memory (bytes) of each component's processes now. The bench's own process
    (DuckDB runs in it) is not part of the stack: it is reported apart."""
    totals: dict[str, int] = {}
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        if int(entry.name) == me:
            try:
                statm = (entry / "statm").read_text().split()
            except OSError:
                continue
            totals[BENCH] = int(statm[1]) * os.sysconf("SC_PAGE_SIZE")
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            statm = (entry / "statm").read_text().split()
        except OSError:
            continue
        for name, pattern in COMPONENTS:
            if pattern.search(cmdline):
                totals[name] = totals.get(name, 0) + int(statm[1]) * os.sysconf("SC_PAGE_SIZE")
                break
    return totals


BENCH = "bench itself, with DuckDB (not the stack)"


@dataclass
class MemorySampler:
    settings: Settings | None = None  # when given: also the stack's PSS (lakehouse status's figure)
    interval: float = 0.5
    peak: dict[str, int] = field(default_factory=dict)
    peak_total: int = 0
    peak_pss: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    pss_every: int = 10  # samples: PSS walks every process's page tables, so it is read every 5 s

    def run(self) -> None:
        from lakehouse.cluster_nodes import memory

        samples = 0
        while not self.stop.wait(self.interval):
            now = rss_by_component()
            for name, value in now.items():
                self.peak[name] = max(self.peak.get(name, 0), value)
            self.peak_total = max(self.peak_total, sum(v for k, v in now.items() if k != BENCH))
            samples += 1
            if self.settings is not None and samples % self.pss_every == 0:
                # RSS counts a page shared by N processes N times; PSS counts it once
                self.peak_pss = max(self.peak_pss, memory(self.settings)["pss"])

    def __enter__(self) -> MemorySampler:
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()


# ---------------------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------------------
def lakehouse(*args: str) -> tuple[float, str]:
    """`lakehouse ARGS` as a user runs it; (seconds, stdout)."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "lakehouse.cli", *args], capture_output=True, text=True, cwd=REPO_ROOT
    )
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"bench: lakehouse {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return elapsed, result.stdout


def records_in(*paths: Path) -> int:
    return sum(sum(1 for line in p.open() if line.strip()) for p in paths)


def generate(
    out: Path, transactions: int, schema: str, dirty: float, prefix: str, seed: int
) -> dict[str, Path]:
    lakehouse(
        "generate", "--transactions", str(transactions), "--schema", schema, "--dirty-ratio", str(dirty),
        "--prefix", prefix, "--seed", str(seed), "--out", str(out),
    )  # fmt: skip
    return {"transactions": out / "transactions.jsonl", "payments": out / "payments.jsonl"}


def changed_day(
    big: dict[str, Path], new: dict[str, Path], out: Path, share: float, seed: int
) -> dict[str, Path]:
    """The incremental day: `new` records plus `share` of the loaded ones with a changed amount."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for source, amount_key in (("transactions", "amount"), ("payments", "amount_paid")):
        lines = new[source].read_text().splitlines()
        with big[source].open() as fh:
            for line in fh:
                if rng.random() < share:
                    record = json.loads(line)
                    if isinstance(record.get(amount_key), int | float):
                        record[amount_key] = round(record[amount_key] + 1, 2)
                        lines.append(json.dumps(record))
        path = out / f"{source}.jsonl"
        path.write_text("\n".join(lines) + "\n")
        files[source] = path
    return files


def bare_conversion(files: dict[str, Path], out: Path) -> float:
    """DuckDB converting the files to Parquet with no validation, dedup or accounting at all:
    the floor any ingestion is measured against."""
    import duckdb

    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET threads = 2")
    started = time.monotonic()
    for source, path in files.items():
        rows = f"SELECT * FROM read_json('{path}', format = 'newline_delimited')"
        con.execute(f"COPY ({rows}) TO '{out / source}.parquet'")
    return time.monotonic() - started


def ingest(files: dict[str, Path], *options: str) -> tuple[float, str]:
    return lakehouse(
        "ingest", "--transactions", str(files["transactions"]), "--payments", str(files["payments"]), *options
    )


def latency(settings: Settings, runs: int = 20) -> dict[str, dict[str, float]]:
    from lakehouse.sql import connect

    queries = {
        "summary": "SELECT as_of, customers, delinquent, pct_delinquent FROM analytics.delinquency_summary "
        "ORDER BY as_of DESC LIMIT 1",
        "a customer's violations": "SELECT criterion, transaction_id, payment_id, days_past_due "
        "FROM analytics.delinquency_violations WHERE customer_id = (SELECT min(customer_id) FROM "
        "analytics.delinquency_violations) ORDER BY days_past_due DESC",
        "vintage view": "SELECT cohort_month, customers, pct_delinquent FROM analytics.delinquency_by_cohort "
        "WHERE as_of = (SELECT max(as_of) FROM analytics.delinquency_by_cohort) ORDER BY cohort_month",
    }
    conn = connect(settings, "admin")
    out = {}
    try:
        cur = conn.cursor()
        for name, sql in queries.items():
            cur.execute(sql)
            cur.fetchall()  # warm: plans and metadata cached like a live system's
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                cur.execute(sql)
                cur.fetchall()
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            out[name] = {"p50_ms": statistics.median(times), "p95_ms": times[int(0.95 * (len(times) - 1))]}
    finally:
        conn.close()  # type: ignore[no-untyped-call]
    return out


def spark_figures(stdout: str, settings: Settings) -> dict[str, Any]:
    from lakehouse.sql import query

    as_of = re.search(r"as of (\d{4}-\d{2}-\d{2})", stdout).group(1)  # type: ignore[union-attr]
    cols, rows = query(settings, f"SELECT * FROM analytics.delinquency_summary WHERE as_of = DATE '{as_of}'")
    row = dict(zip(cols, rows[0], strict=True))
    violations = query(
        settings, f"SELECT count(*) FROM analytics.delinquency_violations WHERE as_of = DATE '{as_of}'"
    )[1][0][0]
    return row | {"violations": violations, "as_of": as_of}


FIGURES = ("customers", "delinquent", "pct_delinquent", "over30mob3", "ever15mob6", "violations")


def check_twin(spark: dict[str, Any], twin: dict[str, Any]) -> None:
    problems = [
        f"{k}: Spark {spark[k]} vs DuckDB {twin[k]}"
        for k in FIGURES
        if (float(spark[k]) if spark[k] is not None else None)
        != (float(twin[k]) if twin[k] is not None else None)
    ]
    if str(spark["as_of"]) != str(twin["as_of"]):
        problems.append(f"as_of: Spark {spark['as_of']} vs DuckDB {twin['as_of']}")
    if problems:
        raise SystemExit("bench: the Spark job and the DuckDB twin disagree:\n  " + "\n  ".join(problems))


def machine() -> dict[str, str]:
    import importlib.metadata as md

    mem = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    return {
        "cpu": f"{os.cpu_count()} x {cpu}",
        "memory": f"{int(mem.split()[1]) / 1024 / 1024:.0f} GiB",
        "os": platform.platform(),
        "python": platform.python_version(),
        "pyspark": md.version("pyspark"),
        "duckdb": md.version("duckdb"),
        "trino": Settings.load().versions["trino"],
        "iceberg": Settings.load().versions["iceberg"],
    }


def host_loop_seconds() -> float:
    """How long one single-threaded Python loop, `sum(range(10**8))`, takes now: the host's
    speed at this moment, in seconds (lower is faster). The same loop with nothing else running
    took 1.05-2.9 s on machines of this project's kind at different hours (README, Performance)."""
    started = time.perf_counter()
    sum(range(10**8))  # the loop `host_speed` names
    return time.perf_counter() - started


def host_speed(loops: list[float]) -> str:
    """The report's line on the host's speed, from `host_loop_seconds` before and after a run."""
    before, after = loops
    return (
        f"Host speed: one single-threaded Python loop (`sum(range(10**8))`) took {before:.2f} s just "
        f"before the run and {after:.2f} s just after (lower is faster; every time in this report "
        "moves with the host's speed: compare the ratios to DuckDB, measured in the same run)."
    )


# ---------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------
def require_empty(settings: Settings) -> None:
    """The comparison with DuckDB needs the curated tables to hold the bench's data only."""
    from lakehouse.sql import query

    for table in ("curated.transactions", "curated.payments"):
        try:
            (count,) = query(settings, f"SELECT count(*) FROM {table}")[1][0]
        except Exception as exc:  # noqa: BLE001 - a table that does not exist yet is empty
            if "does not exist" in str(exc):
                continue
            raise
        if count:
            raise SystemExit(
                f"bench: {table} already holds {count:,} rows; the benchmark needs empty tables. Run "
                "`make bench` (a stack of its own), or `lakehouse down --purge && lakehouse up` first."
            )


def run(transactions: int, schema: str, dirty: float, seed: int, work: Path) -> dict[str, Any]:
    from bench.twin import to_parquet, twin

    settings = Settings.load()
    require_empty(settings)
    result: dict[str, Any] = {"transactions": transactions, "schema": schema, "dirty_ratio": dirty}
    # before the sampler's thread starts: the loop measures the host, not this process's threads
    loop_before = host_loop_seconds()
    with MemorySampler(settings) as memory:
        say(f"generating {transactions:,} transactions and their payments ({schema}, dirty {dirty})")
        started = time.monotonic()
        big = generate(work / "big", transactions, schema, dirty, "B", seed)
        day_size = max(1, transactions // 100)
        new = generate(work / "new", day_size, schema, dirty, "D", seed + 1)
        day = changed_day(big, new, work / "day", 0.005, seed + 2)
        empty_day = generate(work / "empty", day_size * 3 // 2, schema, dirty, "E", seed + 3)
        smalls = [
            generate(work / f"small{i}", SMALL_BATCH // 2, schema, dirty, f"S{i}", seed + 4 + i)
            for i in range(SMALL_BATCHES + 1)
        ]
        result["generate_s"] = time.monotonic() - started
        result["records"] = records_in(*big.values())
        result["input_mb"] = sum(p.stat().st_size for p in big.values()) / 1e6
        result["day_records"] = records_in(*day.values())
        result["empty_day_records"] = records_in(*empty_day.values())
        result["small_records"] = statistics.median(records_in(*small.values()) for small in smalls)

        say("DuckDB: JSON Lines -> typed Parquet, then the rules' SQL twin")
        parquet = to_parquet([str(big["transactions"])], [str(big["payments"])], work / "parquet")
        result["duckdb_convert_s"] = parquet["seconds"]["total"]
        result["duckdb_bare_convert_s"] = bare_conversion(big, work / "bare")
        reference = twin(
            [str(empty_day["transactions"]), str(big["transactions"])],
            [str(empty_day["payments"]), str(big["payments"])],
        )
        result["duckdb_rules_s"] = reference["timings"]["total"]

        say(f"lakehouse ingest of a day's {result['empty_day_records']:,} records into empty tables")
        result["empty_day_ingest_s"], _ = ingest(empty_day)
        say(f"lakehouse ingest of {result['records']:,} records")
        result["ingest_s"], out = ingest(big, "--json")
        # where its time went, as the job timed its own steps (the rest: the CLI and its call)
        result["ingest_steps_s"] = json.loads(out)["timings"]
        say("lakehouse delinquency")
        result["delinquency_s"], out = lakehouse("delinquency")
        figures = spark_figures(out, settings)
        check_twin(figures, reference)
        result["figures"] = {k: str(figures[k]) for k in (*FIGURES, "as_of")}
        say(f"{SMALL_BATCHES + 1} small batches of {result['small_records']:,.0f} records each")
        # the first right after the delinquency run, reported apart: its code paths are not yet
        # compiled by the JIT; the next ones are what a stream of micro-batches meets
        result["small_first_s"] = ingest(smalls[0])[0]
        result["small_ingest_runs_s"] = [ingest(small)[0] for small in smalls[1:]]
        result["small_ingest_s"] = statistics.median(result["small_ingest_runs_s"])
        say(f"incremental day: {result['day_records']:,} records (1% new, 0.5% changed)")
        result["day_ingest_s"], result["day_out"] = ingest(day)
        say("Trino latency (20 runs of three queries)")
        result["latency"] = latency(settings)
    result["host_loop_s"] = [loop_before, host_loop_seconds()]
    result["memory_peak_mb"] = {k: v / 1e6 for k, v in sorted(memory.peak.items())}
    result["memory_peak_total_mb"] = memory.peak_total / 1e6
    result["memory_peak_pss_mb"] = memory.peak_pss / 1e6
    result["machine"] = machine()
    result["date"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return result


def ratios(r: dict[str, Any]) -> list[str]:
    return [
        f"ingest / DuckDB conversion:        {r['ingest_s'] / r['duckdb_convert_s']:6.1f}x  "
        f"({r['ingest_s']:.1f} s vs {r['duckdb_convert_s']:.1f} s)",
        f"delinquency / DuckDB rules:        {r['delinquency_s'] / r['duckdb_rules_s']:6.1f}x  "
        f"({r['delinquency_s']:.1f} s vs {r['duckdb_rules_s']:.1f} s)",
        f"incremental day / same into empty: {r['day_ingest_s'] / r['empty_day_ingest_s']:6.2f}x  "
        f"({r['day_ingest_s']:.1f} s for {r['day_records']:,} vs {r['empty_day_ingest_s']:.1f} s for "
        f"{r['empty_day_records']:,})",
    ]


def row(*cells: str) -> str:
    return "| " + " | ".join([*cells, *[""] * (4 - len(cells))]) + " |"


def markdown(runs: list[dict[str, Any]], command: str, chart_name: str) -> str:
    # the detailed tables at the default size when it was run (a growth run holds several)
    r = next((g for g in runs if g["transactions"] == DEFAULT_TRANSACTIONS), runs[-1])
    in_steps = sum(s for name, s in r["ingest_steps_s"].items() if NESTED_STEP not in name)
    lines = [
        "# Benchmarks",
        "",
        f"Produced by `{command}` on {r['date']} (written by `lakehouse/bench.py`; do not edit by hand).",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in r["machine"].items()) + ".",
        "",
        host_speed(r["host_loop_s"]),
        "",
        "## Headline ratios",
        "",
        *[f"- {line}" for line in ratios(r)],
        "",
        f"## N = {r['transactions']:,} transactions ({r['records']:,} records, "
        f"{r['input_mb']:.0f} MB of JSON Lines, schema {r['schema']}, dirty ratio {r['dirty_ratio']})",
        "",
        "| step | this project | DuckDB 2 (2 threads) | ratio |",
        "| --- | --- | --- | --- |",
        row(
            "ingest, both sources (`lakehouse ingest`, end to end)",
            f"{r['ingest_s']:.1f} s ({r['records'] / r['ingest_s']:,.0f} records/s)",
            f"{r['duckdb_convert_s']:.1f} s (JSON Lines -> typed Parquet)",
            f"{r['ingest_s'] / r['duckdb_convert_s']:.1f}x",
        ),
        row(
            "for reference: DuckDB's bare conversion, no validation, dedup or accounting",
            "",
            f"{r['duckdb_bare_convert_s']:.1f} s",
            f"{r['ingest_s'] / r['duckdb_bare_convert_s']:.1f}x",
        ),
        row(
            "delinquency rules (`lakehouse delinquency`, end to end)",
            f"{r['delinquency_s']:.1f} s",
            f"{r['duckdb_rules_s']:.1f} s (SQL twin, same files)",
            f"{r['delinquency_s'] / r['duckdb_rules_s']:.1f}x",
        ),
        row(
            f"a day's {r['empty_day_records']:,} records into empty tables",
            f"{r['empty_day_ingest_s']:.1f} s",
        ),
        row(
            f"incremental day: {r['day_records']:,} records (1% new, 0.5% changed) into the loaded tables",
            f"{r['day_ingest_s']:.1f} s",
            "",
            f"{r['day_ingest_s'] / r['empty_day_ingest_s']:.2f}x the empty-table day",
        ),
        row(
            f"small batch: {r['small_records']:,.0f} records into the loaded tables, median of "
            f"{len(r['small_ingest_runs_s'])} batches ("
            + ", ".join(f"{s:.1f}" for s in r["small_ingest_runs_s"])
            + f" s) after a first one right after the delinquency run ({r['small_first_s']:.1f} s)",
            f"{r['small_ingest_s']:.1f} s",
        ),
        "",
        f"Where the ingest's {r['ingest_s']:.1f} s went, by the job's own step timings "
        "(`lakehouse ingest --json`; a step named `outer / inner` ran inside the outer one, side by side "
        "with its siblings, and is not added up); the rest is the CLI: its start, locks, the call to the "
        "Spark service:",
        "",
        "| step | seconds |",
        "| --- | --- |",
        *[f"| {step} | {s:.1f} |" for step, s in r["ingest_steps_s"].items() if s >= 0.05],
        f"| the rest | {r['ingest_s'] - in_steps:.1f} |",
        "",
        "Both engines give the same answer: " + ", ".join(f"{k} {v}" for k, v in r["figures"].items()) + ".",
        "",
        "Trino, 20 runs of each query (admin, HTTPS, after one warm-up run):",
        "",
        "| query | p50 | p95 |",
        "| --- | --- | --- |",
        *[f"| {q} | {v['p50_ms']:.0f} ms | {v['p95_ms']:.0f} ms |" for q, v in r["latency"].items()],
        "",
        "Peak resident memory during the run (sampled every 0.5 s from /proc):",
        "",
        "| component | peak |",
        "| --- | --- |",
        *[f"| {k} | {v:,.0f} MB |" for k, v in r["memory_peak_mb"].items()],
        f"| **whole stack, peak of the sum (the bench apart)** | **{r['memory_peak_total_mb']:,.0f} MB** |",
        f"| whole stack, peak of the summed PSS (sampled every 5 s; a page shared by N processes "
        f"counted 1/N in each) "
        f"| {r.get('memory_peak_pss_mb', 0):,.0f} MB |",
    ]
    if len(runs) > 1:
        lines += [
            "",
            "## Growth",
            "",
            "Each size on emptied tables, one after the other in one run.",
            "",
            "| transactions | records | ingest | records/s | µs per record | DuckDB conversion | delinquency "
            "| DuckDB rules | incremental day / empty day | small batch (median) | Trino summary p50 "
            "| peak RSS sum | host loop before / after |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            *[
                f"| {g['transactions']:,} | {g['records']:,} | {g['ingest_s']:.1f} s | "
                f"{g['records'] / g['ingest_s']:,.0f} | {1e6 * g['ingest_s'] / g['records']:.1f} | "
                f"{g['duckdb_convert_s']:.1f} s | {g['delinquency_s']:.1f} s | {g['duckdb_rules_s']:.1f} s | "
                f"{g['day_ingest_s'] / g['empty_day_ingest_s']:.2f}x | {g['small_ingest_s']:.1f} s | "
                f"{g['latency']['summary']['p50_ms']:.0f} ms | {g['memory_peak_total_mb']:,.0f} MB | "
                f"{g['host_loop_s'][0]:.2f} / {g['host_loop_s'][1]:.2f} s |"
                for g in runs
            ],
        ]
    lines += ["", f"![ingest and delinquency, this project and DuckDB]({chart_name})", ""]
    return "\n".join(lines)


def chart(runs: list[dict[str, Any]]) -> str:
    import vl_convert

    values = []
    for r in runs:
        for step, ours, theirs in (
            ("ingest", r["ingest_s"], r["duckdb_convert_s"]),
            ("delinquency", r["delinquency_s"], r["duckdb_rules_s"]),
        ):
            values.append(
                {"size": f"{r['transactions']:,}", "step": step, "engine": "this project", "s": ours}
            )
            values.append({"size": f"{r['transactions']:,}", "step": step, "engine": "DuckDB", "s": theirs})
    spec = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "data": {"values": values},
        "mark": "bar",
        "encoding": {
            "column": {"field": "step", "title": None},
            "x": {"field": "size", "title": "transactions"},
            "xOffset": {"field": "engine"},
            "y": {"field": "s", "type": "quantitative", "title": "seconds, end to end"},
            "color": {"field": "engine"},
        },
    }
    return vl_convert.vegalite_to_svg(spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lakehouse bench", description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=DEFAULT_TRANSACTIONS)
    parser.add_argument(
        "--sizes", help="comma list of N, each on emptied tables (growth); overrides --transactions"
    )
    parser.add_argument("--schema", choices=["v1", "v2"], default="v1")
    parser.add_argument("--dirty-ratio", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", metavar="DIR", help="keep the generated files here")
    parser.add_argument(
        "--doc",
        type=Path,
        default=DOC,
        help="the Markdown report to write, its chart beside it with .svg (default: docs/benchmarks.md)",
    )
    parser.add_argument("--no-doc", action="store_true", help="write no report")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.doc.suffix != ".md":
        parser.error(f"--doc {args.doc}: a Markdown file (.md), its chart is written beside it (.svg)")
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else [args.transactions]
    runs: list[dict[str, Any]] = []
    for n in sizes:
        if runs:
            say("emptying the stack for the next size (lakehouse down --purge; lakehouse up)")
            lakehouse("down", "--purge")
            lakehouse("up")
        work = Path(args.keep or tempfile.mkdtemp(prefix="lakehouse-bench-"))
        try:
            runs.append(run(n, args.schema, args.dirty_ratio, args.seed, work))
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
        print("\n".join([*ratios(runs[-1]), host_speed(runs[-1]["host_loop_s"])]), flush=True)
    print(json.dumps(runs, indent=2, default=str))
    if not args.no_doc:
        command = " ".join(["lakehouse bench", *argv]) if argv else "make bench"
        doc = args.doc.resolve()
        svg = doc.with_suffix(".svg")
        doc.write_text(markdown(runs, command, svg.name))
        svg.write_text(chart(runs))
        say(f"wrote {doc} and {svg}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
