"""Progress lines say which step of the job runs, not Spark's name for the code that called it."""

from __future__ import annotations

from jobs.progress import progress_line
from jobs.timing import DESCRIPTION, recording, step


def job_descriptions(spark) -> dict[int, str | None]:
    """Job id -> the description Spark recorded for it (read from the driver's status store, which
    the status API and the Spark UI serve)."""
    driver = spark.sparkContext._jsc.sc()
    driver.listenerBus().waitUntilEmpty()  # the store is filled from Spark's events, asynchronously
    jobs = driver.statusStore().jobsList(None)
    found = {}
    for i in range(jobs.length()):
        job = jobs.apply(i)
        found[job.jobId()] = job.description().get() if job.description().isDefined() else None
    return found


def test_a_step_names_the_spark_jobs_it_runs_then_gives_the_jobs_name_back(spark) -> None:
    sc = spark.sparkContext
    before = set(job_descriptions(spark))
    sc.setLocalProperty(DESCRIPTION, "ingest --transactions t.jsonl")
    try:
        with recording() as timings:
            with step("transactions: write raw"):
                spark.range(3).collect()
                with step("transactions: write log"):
                    spark.range(4).collect()
                spark.range(5).collect()
            spark.range(6).collect()
        assert sc.getLocalProperty(DESCRIPTION) == "ingest --transactions t.jsonl"
    finally:
        sc.setLocalProperty(DESCRIPTION, None)  # type: ignore[arg-type]  # None removes it
    ran = {job: described for job, described in job_descriptions(spark).items() if job not in before}
    assert [ran[job] for job in sorted(ran)] == [
        "transactions: write raw",
        "transactions: write log",
        "transactions: write raw",
        "ingest --transactions t.jsonl",
    ]
    # a step inside another is timed as part of it, under both names
    assert set(timings) == {"transactions: write raw", "transactions: write raw / transactions: write log"}


def test_a_step_outside_any_description_leaves_none_behind(spark) -> None:
    sc = spark.sparkContext
    with step("payments: describe files"):
        assert sc.getLocalProperty(DESCRIPTION) == "payments: describe files"
    assert sc.getLocalProperty(DESCRIPTION) is None


# Jobs and stages as Spark's status API gives them (the fields the line reads).
RAW = {
    "jobGroup": "g",
    "description": "transactions: write raw",
    "numTasks": 2,
    "numCompletedTasks": 1,
    "stageIds": [7],
}
PARSE = {
    "jobGroup": "g",
    "description": "payments: parse, validate, classify",
    "numTasks": 13,
    "numCompletedTasks": 4,
    "stageIds": [8],
}
OUTSIDE = {
    "jobGroup": "g",
    "description": "ingest --transactions t.jsonl",
    "numTasks": 1,
    "numCompletedTasks": 0,
    "stageIds": [9],
}
STAGES = [
    {"stageId": 7, "name": "append at NativeMethodAccessorImpl.java:0", "inputRecords": 1_000},
    {"stageId": 8, "name": "$anonfun$withThreadLocalCaptured$2 at ...", "inputRecords": 250_000},
    {"stageId": 9, "name": "count at NativeMethodAccessorImpl.java:0", "inputRecords": 0},
]


def test_a_running_line_names_the_running_steps() -> None:
    line = progress_line([RAW, PARSE], STAGES[:2], 42.3, final=False, outer="ingest --transactions t.jsonl")
    assert line == (
        "[progress]    42s  payments: parse, validate, classify, transactions: write raw: "
        "2 Spark job(s), tasks 5/15, 251,000 records read"
    )


def test_without_a_step_the_line_names_spark_stages() -> None:
    line = progress_line([OUTSIDE], STAGES[2:], 3, final=False, outer="ingest --transactions t.jsonl")
    assert line == "[progress]     3s  stage count: 1 Spark job(s), tasks 0/1, 0 records read"
    unnamed = {k: v for k, v in OUTSIDE.items() if k != "description"}
    assert progress_line([unnamed], [], 3, final=False, outer=None) == (
        "[progress]     3s  stage planning: 1 Spark job(s), tasks 0/1, 0 records read"
    )


def test_the_closing_line_counts_every_job() -> None:
    line = progress_line([RAW, PARSE, OUTSIDE], STAGES, 61.8, final=True, outer=None)
    assert line == "[progress]    62s  done: 3 Spark job(s), 5 tasks, 251,000 records read"
