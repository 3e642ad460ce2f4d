"""Whether one of the stack's processes still runs, as `lakehouse down` and `status` ask it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from lakehouse.services import pid_alive


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
