"""The bench's report (lakehouse/bench.py) from a hand-written run: every line it writes, without
running the 6-minute bench, so a missing or renamed figure fails here and not at its end."""

from __future__ import annotations

from typing import Any

from lakehouse.bench import host_speed, markdown


def a_run(transactions: int, loops: list[float]) -> dict[str, Any]:
    """A run's result as `lakehouse.bench.run` returns it, its figures made up."""
    return {
        "transactions": transactions,
        "schema": "v1",
        "dirty_ratio": 0.0,
        "records": 2 * transactions,
        "input_mb": transactions / 4500,
        "ingest_s": 50.0,
        "duckdb_convert_s": 25.0,
        "duckdb_bare_convert_s": 1.0,
        "delinquency_s": 30.0,
        "duckdb_rules_s": 20.0,
        "empty_day_records": 60_000,
        "empty_day_ingest_s": 20.0,
        "day_records": 61_000,
        "day_ingest_s": 13.0,
        "small_records": 41_016.0,
        "small_ingest_runs_s": [4.8, 4.6, 4.5],
        "small_first_s": 7.0,
        "small_ingest_s": 4.6,
        "ingest_steps_s": {"tables": 0.1, "write log": 0.3},
        "figures": {"customers": "676422"},
        "latency": {q: {"p50_ms": 200.0, "p95_ms": 300.0} for q in ("summary", "vintage view")},
        "memory_peak_mb": {"spark service": 2536.0},
        "memory_peak_total_mb": 5548.0,
        "memory_peak_pss_mb": 4747.0,
        "machine": {"cpu": "2 x AMD EPYC"},
        "date": "2026-12-02T12:37:54+00:00",
        "host_loop_s": loops,
    }


def test_the_host_speed_line_gives_both_loops() -> None:
    assert host_speed([1.6794, 1.2724]) == (
        "Host speed: one single-threaded Python loop (`sum(range(10**8))`) took 1.68 s just before the "
        "run and 1.27 s just after (lower is faster; every time in this report moves with the host's "
        "speed: compare the ratios to DuckDB, measured in the same run)."
    )


def test_the_report_states_the_host_speed_of_its_run() -> None:
    report = markdown([a_run(2_000_000, [1.68, 1.27])], "make bench", "benchmarks.svg").splitlines()
    assert report[4] == "Machine: cpu 2 x AMD EPYC."
    assert report[6].startswith("Host speed: one single-threaded Python loop")
    assert "took 1.68 s just before the run and 1.27 s just after" in report[6]
    assert "- ingest / DuckDB conversion:           2.0x  (50.0 s vs 25.0 s)" in report


def test_a_growth_report_gives_each_size_its_host_loops() -> None:
    runs = [a_run(1_000_000, [1.25, 1.31]), a_run(2_000_000, [1.40, 1.26])]
    report = markdown(runs, "make bench-growth", "benchmarks-growth.svg").splitlines()
    growth = report[report.index("## Growth") :]
    assert growth[4].endswith("| peak RSS sum | host loop before / after |")
    rows = [line for line in growth if line.startswith(("| 1,000,000 ", "| 2,000,000 "))]
    assert [row.rsplit("|", 2)[1].strip() for row in rows] == ["1.25 / 1.31 s", "1.40 / 1.26 s"]
    # the detailed tables are those of the default size, 2M, whose loops the host line gives
    assert "took 1.40 s just before the run and 1.26 s just after" in report[6]
