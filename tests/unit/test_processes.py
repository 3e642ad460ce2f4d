"""Whether one of the stack's processes still runs, as `lakehouse down` and `status` ask it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lakehouse.services import group_alive, pid_alive, stop_pid


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


# A leader that exits on SIGTERM, with a child that ignores it (as a worker busy with a task may).
LEADER = """
import signal, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(flush=True); time.sleep(600)"],
    stdout=subprocess.PIPE)
child.stdout.readline()  # its handler is set
print(child.pid, flush=True)
time.sleep(600)
"""


def test_stopping_a_group_waits_for_a_child_that_outlives_its_leader() -> None:
    leader = subprocess.Popen(
        [sys.executable, "-c", LEADER], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert leader.stdout is not None
    child = int(leader.stdout.readline())
    try:
        assert group_alive(leader.pid)
        started = time.monotonic()
        stop_pid(leader.pid, timeout=1.5)
        # the leader went at SIGTERM; the child only at SIGKILL, after the timeout
        assert time.monotonic() - started >= 1.5
        assert not pid_alive(child)
        assert not group_alive(leader.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(leader.pid, signal.SIGKILL)
        leader.wait()
        leader.stdout.close()


def test_a_group_without_processes_is_not_alive() -> None:
    done = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    done.wait()
    assert not group_alive(done.pid)
    stop_pid(done.pid, timeout=1)  # nothing to stop: returns at once


# A process that names itself with bytes that are not UTF-8 (a name is any 15 bytes: a character
# cut in two at the limit gives the same), then waits.
ODD_NAME = """
import ctypes, time
ctypes.CDLL(None).prctl(15, b"caf\\xc3\\xff\\xfeab", 0, 0, 0)  # PR_SET_NAME
print(flush=True)
time.sleep(600)
"""


def test_a_process_whose_name_is_not_utf8_is_seen_alive_in_its_group() -> None:
    odd = subprocess.Popen([sys.executable, "-c", ODD_NAME], stdout=subprocess.PIPE, start_new_session=True)
    assert odd.stdout is not None
    odd.stdout.readline()  # renamed
    try:
        assert b"\xff" in Path(f"/proc/{odd.pid}/stat").read_bytes()
        assert pid_alive(odd.pid)
        assert group_alive(odd.pid)
    finally:
        odd.kill()
        odd.wait()
        odd.stdout.close()
    assert not group_alive(odd.pid)
