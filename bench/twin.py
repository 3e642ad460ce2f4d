"""A DuckDB twin of the ingestion and delinquency rules: a second oracle and a speed anchor.

From the raw source files (JSON Lines or JSON arrays, schema v1 or v2, possibly dirty) it computes
the headline figures the Spark pipeline gives (jobs/ingest.py into empty tables, then
jobs/delinquency.py), entirely in DuckDB SQL. The SQL is written from the rules' definitions in the
README and lives in bench/delinquency_twin.sql; this module only runs it and times the steps.

    from bench.twin import twin, to_parquet
    figures = twin(["transactions.jsonl"], ["payments.jsonl"])   # as_of: the latest date
    figures["pct_delinquent"], figures["timings"]
    to_parquet(["transactions.jsonl"], ["payments.jsonl"], "/tmp/out")  # JSON -> typed Parquet
"""

from __future__ import annotations

import datetime as dt
import re
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

SQL_FILE = Path(__file__).with_name("delinquency_twin.sql")
RULES_FILE = Path(__file__).resolve().parents[1] / "jobs" / "rules" / "delinquency.toml"
SOURCES = ("transactions", "payments")
FIGURES = (
    "customers",
    "delinquent",
    "pct_delinquent",
    "over30mob3",
    "ever15mob6",
    "customers_window_complete",
    "delinquent_window_complete",
    "pct_delinquent_window_complete",
    "violations",
)


class MalformedInput(ValueError):
    """A file is not valid JSON (truncated, broken): the whole batch is refused, as in the job."""


def statements(path: Path = SQL_FILE) -> dict[str, str]:
    """The named statements of the SQL file (each starts at a `-- name: <name>` line)."""
    parts = re.split(r"^-- name: (\w+)\s*$", path.read_text(), flags=re.MULTILINE)
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


SQL = statements()


def load_rules(path: Path | str = RULES_FILE, **overrides: Any) -> dict[str, Any]:
    """The rules' parameters (jobs/rules/delinquency.toml), with any non-None overrides."""
    with Path(path).open("rb") as fh:
        rules = tomllib.load(fh)
    rules.update({k: v for k, v in overrides.items() if v is not None})
    return rules


def run(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> duckdb.DuckDBPyConnection:
    """Run one named statement with the parameters it mentions."""
    sql = SQL[name]
    used = set(re.findall(r"\$([A-Za-z_]\w*)", sql))
    return con.execute(sql, {k: v for k, v in params.items() if k in used} or None)


def connect(threads: int = 2) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET threads = {int(threads)}")
    con.execute("SET preserve_insertion_order = false")  # every order the rules need is explicit
    con.execute(SQL["macros"])
    return con


@contextmanager
def timed(timings: dict[str, float], step: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    timings[step] = round(time.perf_counter() - started, 4)


def read(con: duckdb.DuckDBPyConnection, inputs: dict[str, list[str]]) -> None:
    """Every source's records into `records`; refuses the batch if a file is malformed."""
    for source, paths in inputs.items():
        distinct = list(dict.fromkeys(str(Path(p).resolve()) for p in paths))
        for path in distinct:
            if not Path(path).is_file():
                raise FileNotFoundError(path)
        if distinct:
            con.executemany(
                "INSERT INTO input_files VALUES (?, ?, ?)",
                [(source, i + 1, p) for i, p in enumerate(distinct)],
            )
            run(con, "read_records", source=source, paths=distinct)
    broken = run(con, "malformed_records").fetchall()
    if broken:
        listed = "\n  ".join(f"{path}: record {first} ({n} malformed)" for _, path, first, n in broken[:5])
        raise MalformedInput(f"malformed input, batch refused:\n  {listed}")


def curate(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, int]]:
    """curated_transactions and curated_payments; returns each source's account."""
    run(con, "curate_transactions")
    run(con, "curate_payments")
    cur = run(con, "accounts")
    columns = [d[0] for d in cur.description]
    return {row[0]: dict(zip(columns[1:], row[1:], strict=True)) for row in cur.fetchall()}


def twin(
    transactions: list[str],
    payments: list[str],
    as_of: dt.date | None = None,
    terms_days: int = 30,
    threads: int = 2,
    rules_file: Path | str = RULES_FILE,
    details: bool = False,
) -> dict[str, Any]:
    """The delinquency summary of one ingest batch (paths in batch order: later files win ties).

    Returns as_of, the summary figures (FIGURES), each source's ingestion account and the
    seconds per step; with `details`, also every customer's flags and every violation row.

    Raises:
        MalformedInput: a file is not valid JSON (the job refuses such a batch too).
    """
    rules = load_rules(rules_file, terms_days=terms_days)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    con = connect(threads)
    try:
        with timed(timings, "read"):
            read(con, {"transactions": transactions, "payments": payments})
        with timed(timings, "validate"):
            accounts = curate(con)
        with timed(timings, "analyse"):
            as_of = as_of or run(con, "default_as_of").fetchone()[0]
            result: dict[str, Any] = {"as_of": as_of}
            if as_of is None:  # nothing was accepted: no customer
                result |= {name: (None if name.startswith("pct") else 0) for name in FIGURES}
            else:
                params = {**rules, "as_of": as_of}
                run(con, "evaluate", **params)
                run(con, "customers", **params)
                cur = run(con, "summary", **params)
                row = cur.fetchone()
                result |= dict(zip([d[0] for d in cur.description], row, strict=True))
                if details:
                    result["customer_flags"] = {
                        r[0]: tuple(r[1:])
                        for r in con.execute(
                            "SELECT customer_id, over30mob3, ever15mob6, over30mob3_evaluable, "
                            "window_complete, max_days_past_due, inadimplente FROM customers"
                        ).fetchall()
                    }
                    result["origination"] = dict(
                        con.execute("SELECT customer_id, origination_date FROM customers").fetchall()
                    )
                    result["violation_rows"] = run(con, "violations", **params).fetchall()
        for name in FIGURES:
            if name.startswith("pct") and result[name] is not None:
                result[name] = float(result[name])
        result["accounts"] = accounts
    finally:
        con.close()
    timings["total"] = round(time.perf_counter() - started, 4)
    result["timings"] = timings
    return result


def to_parquet(
    transactions: list[str], payments: list[str], out_dir: Path | str, threads: int = 2
) -> dict[str, Any]:
    """The ingestion anchor: source files -> validated, deduplicated, typed Parquet
    (<out_dir>/transactions.parquet, <out_dir>/payments.parquet). Returns seconds per step,
    rows written and each source's account."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    con = connect(threads)
    try:
        with timed(timings, "read"):
            read(con, {"transactions": transactions, "payments": payments})
        with timed(timings, "validate"):
            accounts = curate(con)
        rows = {}
        with timed(timings, "write"):
            for source in SOURCES:
                target = out / f"{source}.parquet"
                con.execute(
                    f"COPY (SELECT * EXCLUDE (valid_versions) FROM curated_{source}) "
                    f"TO '{target}' (FORMAT parquet, COMPRESSION zstd)"
                )
                rows[source] = con.execute(f"SELECT count(*) FROM curated_{source}").fetchone()[0]
    finally:
        con.close()
    timings["total"] = round(time.perf_counter() - started, 4)
    return {"seconds": timings, "rows": rows, "accounts": accounts}
