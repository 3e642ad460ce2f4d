"""How a job hands its result to the CLI (and the CLI to Airflow).

Result: one stdout line, RESULT_MARKER then JSON. Exit codes beyond 0/1 say whether retrying
can help, so orchestration fails fast on input that will never pass.
"""

RESULT_MARKER = "LAKEHOUSE_RESULT "
# Progress lines start with PROGRESS_MARKER; the closing one (what the job ran) also holds
# PROGRESS_DONE: the CLI updates the others in place and keeps that one on screen.
PROGRESS_MARKER = "[progress]"
PROGRESS_DONE = " done: "
EXIT_INPUT_REFUSED = 3  # malformed or missing input, failed data-quality check: do not retry
EXIT_NOTHING_TO_DO = 4  # e.g. a curated table never loaded: skip, with the reason printed
EXIT_LOCK_TIMEOUT = 5  # a table's write lock stayed taken by another writer: retry later
DEFAULT_WAIT = 600.0  # seconds a writer waits for a lock before giving up (exit 5)
# The result's step timings name a step run inside another "outer / inner" (jobs/timing.py).
NESTED_STEP = " / "
