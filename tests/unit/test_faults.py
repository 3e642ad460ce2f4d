"""The `until:PATH` fault point: a job held at a point until a test lets it go on."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from jobs.context import Cancelled, with_job_context
from jobs.faults import fault_point


def held(spec: str, gone: threading.Event, outcome: list[BaseException | None]) -> None:
    with with_job_context({"LAKEHOUSE_FAULTS": spec}, gone):
        try:
            fault_point("ingest.locked")
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)


def test_until_holds_the_job_until_the_file_exists(tmp_path: Path) -> None:
    release = tmp_path / "go"
    outcome: list[BaseException | None] = []
    job = threading.Thread(target=held, args=(f"ingest.locked=until:{release}", threading.Event(), outcome))
    job.start()
    time.sleep(1)
    assert job.is_alive() and not outcome
    release.touch()
    job.join(timeout=5)
    assert outcome == [None]


def test_until_stops_holding_when_the_command_goes_away(tmp_path: Path) -> None:
    gone = threading.Event()
    outcome: list[BaseException | None] = []
    job = threading.Thread(target=held, args=(f"ingest.locked=until:{tmp_path / 'never'}", gone, outcome))
    job.start()
    gone.set()
    job.join(timeout=5)
    assert len(outcome) == 1 and isinstance(outcome[0], Cancelled)


def test_other_points_are_not_held(tmp_path: Path) -> None:
    with with_job_context(
        {"LAKEHOUSE_FAULTS": f"ingest.locked=until:{tmp_path / 'never'}"}, threading.Event()
    ):
        started = time.monotonic()
        fault_point("ingest.after_curated")
    assert time.monotonic() - started < 1
