"""Submitting jobs: the code zip is built safely when both ingest branches submit at once."""

from __future__ import annotations

import threading
import zipfile
from pathlib import Path

from lakehouse.settings import Settings
from lakehouse.spark import jobs_zip


def test_concurrent_submits_each_get_a_complete_zip(tmp_path: Path) -> None:
    settings = Settings.load({"LAKEHOUSE_HOME": str(tmp_path)})
    errors: list[Exception] = []

    def build() -> None:
        try:
            for _ in range(20):
                jobs_zip(settings)
        except Exception as exc:  # collected: a failure in a thread must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    names = zipfile.ZipFile(tmp_path / "build" / "jobs.zip").namelist()
    assert {"jobs/ingest.py", "jobs/delinquency.py", "jobs/sources.py"} <= set(names)
    assert [p.name for p in (tmp_path / "build").iterdir()] == ["jobs.zip"]  # no temp files left
