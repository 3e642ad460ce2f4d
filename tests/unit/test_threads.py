"""Parts of a job side by side: they really overlap, and each looks like the job it belongs to."""

from __future__ import annotations

import threading
import time

import pytest

from jobs.jvm import jvm_of
from jobs.threads import side_by_side
from jobs.timing import recording, step


def test_the_calls_overlap_and_their_results_keep_the_given_order(spark) -> None:
    # each call waits for the other: run one after the other, the barrier breaks after 30 s
    meet = threading.Barrier(2, timeout=30)

    def part(value: int) -> int:
        meet.wait()
        return value

    results = side_by_side(spark, {"b": lambda: part(2), "a": lambda: part(1)})
    assert list(results.items()) == [("b", 2), ("a", 1)]


def test_a_thread_carries_the_jobs_group_session_and_step_timings(spark) -> None:
    job = spark.newSession()  # a job's own session, not the application's first one
    sc = job.sparkContext
    sc.setJobGroup("job-under-test", "a job", interruptOnCancel=True)
    seen: dict[str, object] = {}

    def part(name: str) -> None:
        with step(f"{name}: counted"):
            seen[f"{name} group"] = sc.getLocalProperty("spark.jobGroup.id")
            active = jvm_of(job).org.apache.spark.sql.SparkSession.getActiveSession().get()
            seen[f"{name} session"] = active.equals(job._jsparkSession)
            seen[f"{name} rows"] = job.range(3).count()

    try:
        with recording() as timings:
            side_by_side(job, {"x": lambda: part("x"), "y": lambda: part("y")})
            with step("both"):  # steps of the threads of a step are inside it: not added up
                side_by_side(job, {"x": lambda: part("x"), "y": lambda: part("y")})
    finally:
        for key in ("spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel"):
            sc.setLocalProperty(key, None)  # type: ignore[arg-type]  # None removes it
    assert seen == {
        "x group": "job-under-test",
        "x session": True,
        "x rows": 3,
        "y group": "job-under-test",
        "y session": True,
        "y rows": 3,
    }
    assert set(timings) == {"x: counted", "y: counted", "both", "both / x: counted", "both / y: counted"}
    assert timings["both"] >= max(timings["both / x: counted"], timings["both / y: counted"])


def test_a_failure_is_raised_after_every_call_has_ended(spark) -> None:
    ended = threading.Event()
    first_failing = threading.Event()

    def fails() -> None:
        first_failing.set()
        raise ValueError("first part failed")

    def slow() -> None:
        time.sleep(0.5)
        ended.set()

    def fails_too() -> None:
        # after the first part, however late its thread starts: the first failure is the one raised
        first_failing.wait(30)
        time.sleep(0.2)
        raise KeyError("third")

    with pytest.raises(ValueError, match="first part failed"):
        side_by_side(spark, {"a": fails, "b": slow, "c": fails_too})
    assert ended.is_set()


def test_a_failure_cancels_the_other_calls_spark_jobs_and_discards_their_results(spark) -> None:
    sc = spark.sparkContext
    discarded: list[str] = []

    def fails() -> str:
        time.sleep(3)  # the other call's job is running by now
        raise ValueError("transactions: malformed input")

    def runs_two_minutes() -> str:  # one task that sleeps in the JVM: only a cancel ends it early
        spark.sql("SELECT reflect('java.lang.Thread', 'sleep', CAST(120000 AS BIGINT))").collect()
        return "classified"

    def quick() -> str:
        return "checkpoint"

    sc.setInterruptOnCancel(True)  # the cancelled task's sleep is interrupted, freeing its core
    started = time.monotonic()
    try:
        with pytest.raises(ValueError, match="malformed"):
            side_by_side(spark, {"a": fails, "b": runs_two_minutes, "c": quick}, discard=discarded.append)
    finally:
        sc.setInterruptOnCancel(False)
    assert time.monotonic() - started < 60
    assert discarded == ["checkpoint"]


def test_the_first_failure_is_raised_not_the_cancellation_it_caused(spark) -> None:
    """The call that fails is second in order; the first call's job, cancelled because of it,
    fails too, after it: the caller sees the real failure (e.g. a refused input, exit code 3), not
    a cancelled Spark job."""
    sc = spark.sparkContext

    def cancelled() -> str:  # one task that sleeps in the JVM until the cancel interrupts it
        spark.sql("SELECT reflect('java.lang.Thread', 'sleep', CAST(120000 AS BIGINT))").collect()
        return "classified"

    def fails() -> str:
        time.sleep(3)  # the other call's job is running by now
        raise ValueError("payments: malformed input")

    sc.setInterruptOnCancel(True)
    try:
        with pytest.raises(ValueError, match="payments: malformed input"):
            side_by_side(spark, {"transactions": cancelled, "payments": fails})
    finally:
        sc.setInterruptOnCancel(False)
