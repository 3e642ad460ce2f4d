"""Named points where tests make a job fail or die, to prove what a crash there leaves behind.

`LAKEHOUSE_FAULTS="ingest.after_curated=kill"` makes the job's driver SIGKILL itself (and the
JVM that runs it) when it reaches that point; `=fail` raises an error there instead, and `=die`
stops the job in-process as a killed process would (no undo, no journal update: for tests that
run jobs inside pytest); `=sleep:S` holds the job there for S seconds (to make two writers
overlap on purpose), `=until:PATH` until the file PATH exists (a test lets it go on once it has
seen the other writer wait; at most 600 s, then the job fails); `=killafter:S` kills the driver
S seconds later, in the middle of whatever it does next (a MERGE, say). Unset in normal runs:
every point is then a no-op.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

from jobs.context import check_cancelled, job_env


class InjectedFault(RuntimeError):
    """Raised at a fault point set to `fail`."""


class SimulatedDeath(BaseException):  # noqa: N818 - not an error: the end of the "process"
    """Raised at a fault point set to `die`: nothing may clean up after it."""


def fault_point(name: str) -> None:
    spec = job_env().get("LAKEHOUSE_FAULTS", "")
    actions = dict(item.split("=", 1) for item in spec.split(",") if "=" in item)
    action = actions.get(name)
    if action == "fail":
        raise InjectedFault(f"fault injected at {name}")
    if action and action.startswith("sleep:"):
        print(f"[lakehouse] fault injected at {name}: sleeping {action[6:]}s", file=sys.stderr, flush=True)
        time.sleep(float(action[6:]))
    if action and action.startswith("until:"):
        _hold_until(name, Path(action[6:]))
    if action and action.startswith("killafter:"):
        delay = float(action.split(":", 1)[1])
        print(
            f"[lakehouse] fault injected at {name}: killing the driver in {delay}s",
            file=sys.stderr,
            flush=True,
        )
        threading.Timer(delay, _kill_driver).start()
    if action == "die":
        raise SimulatedDeath(name)
    if action == "kill":
        print(f"[lakehouse] fault injected at {name}: killing the driver", flush=True)
        _kill_driver()


def _hold_until(name: str, release: Path, timeout: float = 600) -> None:
    print(
        f"[lakehouse] fault injected at {name}: holding until {release} exists", file=sys.stderr, flush=True
    )
    deadline = time.monotonic() + timeout
    while not release.exists():
        check_cancelled()  # the command that asked for the job went away: stop holding its locks
        if time.monotonic() > deadline:
            raise InjectedFault(f"fault injected at {name}: {release} did not appear in {timeout:.0f}s")
        time.sleep(0.2)


def _kill_driver() -> None:
    os.kill(os.getppid(), signal.SIGKILL)  # the JVM that runs this Python driver
    os.kill(os.getpid(), signal.SIGKILL)
