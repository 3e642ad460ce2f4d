"""The stack's processes: whether one still runs (as `lakehouse down` and `status` ask it), and
services started side by side by `lakehouse up`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lakehouse.cli import Beside
from lakehouse.services import ServiceError, pid_alive


def test_a_running_process_is_alive_and_an_exited_unreaped_one_is_not() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    assert child.stdin is not None
    try:
        assert pid_alive(child.pid)
        child.stdin.close()  # it exits; nobody has collected its exit status yet: a zombie
        deadline = time.monotonic() + 10
        while Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline, "the child did not exit"
            time.sleep(0.05)
        assert not pid_alive(child.pid)
    finally:
        child.wait()
    assert not pid_alive(child.pid)


def test_this_process_is_alive() -> None:
    assert pid_alive(os.getpid())


def slow_start(ended: list[str]) -> None:
    time.sleep(0.5)
    ended.append("slow")


def test_up_waits_for_every_start_beside_it_then_raises_every_failure() -> None:
    ended: list[str] = []

    def broken(name: str) -> Callable[[], None]:
        def start() -> None:
            raise ServiceError(name, "launcher failed")

        return start

    with pytest.raises(ServiceError, match="trino: launcher failed") as one, Beside() as beside:
        beside.start("slow", lambda: slow_start(ended))
        beside.start("trino", broken("trino"))
    assert ended == ["slow"]
    assert str(one.value) == "trino: launcher failed"
    with pytest.raises(ServiceError) as two, Beside() as beside:
        beside.start("trino", broken("trino"))
        beside.start("airflow", broken("airflow"))
    assert "trino: launcher failed" in str(two.value) and "airflow: launcher failed" in str(two.value)


def test_a_failed_step_of_up_leaves_at_once() -> None:
    ended: list[str] = []
    started = time.monotonic()
    with pytest.raises(ValueError, match="provisioning"), Beside() as beside:
        beside.start("slow", lambda: slow_start(ended))
        raise ValueError("provisioning failed")
    assert time.monotonic() - started < 0.4 and ended == []
