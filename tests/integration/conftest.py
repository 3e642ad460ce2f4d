"""The real stack for integration tests: its own runtime home and ports, fresh each session.

Tests drive the product the way a user does: the `lakehouse` CLI in a subprocess, SQL
through Trino over HTTPS, PyIceberg on the same catalog. Nothing is mocked.
"""

from __future__ import annotations

import csv
import fcntl
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pytest

from lakehouse.settings import REPO_ROOT, Settings
from lakehouse.sql import query, to_csv

# A dedicated home and port range, so `make test` never touches the demo stack's data.
TEST_ENV = {
    "LAKEHOUSE_HOME": str(REPO_ROOT / ".lakehouse" / "test-stack"),
    "LAKEHOUSE_POSTGRES_PORT": "15432",
    "LAKEHOUSE_MINIO_PORT": "19000",
    "LAKEHOUSE_MINIO_CONSOLE_PORT": "19001",
    "LAKEHOUSE_TRINO_HTTPS_PORT": "18443",
    "LAKEHOUSE_TRINO_HTTP_PORT": "18080",
    "LAKEHOUSE_AIRFLOW_PORT": "18280",
    "LAKEHOUSE_GOVERNANCE_PORT": "18290",
    # the cluster topology's nodes (test_11)
    "LAKEHOUSE_CLUSTER_SPARK_MASTER_PORT": "17077",
    "LAKEHOUSE_CLUSTER_SPARK_MASTER_UI_PORT": "18380",
    "LAKEHOUSE_CLUSTER_SPARK_WORKER_UI_PORT": "18381",
    "LAKEHOUSE_CLUSTER_TRINO_WORKER_HTTP_PORT": "18480",
}


@dataclass
class Cli:
    env: dict[str, str]
    # commands owed before the next one: a module that reshaped the stack (test_11's cluster
    # topology) restores it lazily, so the last module does not pay for a restore nobody uses
    restore: list[tuple[str, ...]] = field(default_factory=list)

    @cached_property
    def settings(self) -> Settings:
        return Settings.load(self.env)

    def _restored(self, args: tuple[str, ...]) -> None:
        if args[:1] in (("up",), ("down",)):
            return
        while self.restore:
            self.run(*self.restore[0])  # raises if it fails: the next command tries again
            self.restore.pop(0)

    def start(self, *args: str, **env: str) -> subprocess.Popen[str]:
        """`lakehouse ARGS` in the background (extra environment, e.g. LAKEHOUSE_FAULTS)."""
        self._restored(args)
        return subprocess.Popen(
            [sys.executable, "-m", "lakehouse.cli", *args],
            env={**self.env, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO_ROOT,
        )

    def run(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
        self._restored(args)
        result = subprocess.run(
            [sys.executable, "-m", "lakehouse.cli", *args],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            timeout=900,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"lakehouse {' '.join(args)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr[-4000:]}"
            )
        return result

    def sql(self, statement: str, user: str = "admin") -> list[list[str]]:
        """Rows (header first) as `lakehouse sql` prints them, in CSV, parsed back. The tests read
        the stack hundreds of times: they call what `lakehouse sql` calls (password login over
        HTTPS, the same CSV) in this process, not a new Python per query; `lakehouse sql` itself
        runs as a command where a test is about it (test_01, test_05, test_08, test_11)."""
        self._restored(("sql",))
        columns, rows = query(self.settings, statement, user=user)
        return list(csv.reader(io.StringIO(to_csv(columns, rows))))


@pytest.fixture(scope="session")
def cli() -> Iterator[Cli]:
    env = {**os.environ, **{k: os.environ.get(f"TEST_{k}", v) for k, v in TEST_ENV.items()}}
    home = Path(env["LAKEHOUSE_HOME"])
    home.parent.mkdir(parents=True, exist_ok=True)
    # one test stack per home: a second pytest process (or xdist worker) would purge this one's
    with open(home.parent / f"{home.name}.pytest.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            taken = True
        except BlockingIOError:
            taken = False
        if not taken:
            pytest.fail(
                f"another pytest process is using the test stack {home}: run one at a time; with "
                "pytest-xdist, keep the integration tests in their one group (--dist loadgroup)",
                pytrace=False,
            )
        yield from _stack(Cli(env))


def _stack(tool: Cli) -> Iterator[Cli]:
    tool.run("down", "--purge")
    try:
        tool.run("up")
    except AssertionError:
        tool.run("down", check=False)  # leave nothing running behind a failed start
        raise
    yield tool
    tool.run("down", check=False)


@pytest.fixture(scope="session")
def settings(cli: Cli) -> Settings:
    return cli.settings
