"""The governance agent: a small process beside Trino that keeps its rules and its audit trail.

- **Rules against the live catalog.** Every second it reads the JDBC catalog's table list (one
  query on PostgreSQL); when a table's metadata changed, it reloads that table's columns and
  re-renders Trino's rules (lakehouse/policies.py), which Trino re-reads within 5 s. A column a
  job added without classifying it becomes NULL for everyone but admins.
- **Who read what.** Trino's HTTP event listener POSTs every completed query here (with a bearer
  token only Trino has). The agent keeps what the audit needs: user, times, outcome, and the
  tables and columns read (never the query text, which may hold a customer's id), as JSON lines
  in a spool file (mode 0600). `lakehouse audit` moves finished spool files into the Iceberg
  table governance.query_log (admins only) and queries it.

Run as `python -m lakehouse.governance_agent` by `lakehouse up`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hmac
import http.server
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from lakehouse import governance, policies
from lakehouse import secrets as secret_store
from lakehouse.governance import EVENTS_PATH
from lakehouse.services import ServiceError, Status, port_open, read_pid, say, stop_pid, wait_until
from lakehouse.settings import REPO_ROOT, Settings

ROTATE_PATH = "/audit/rotate"


def audit_dir(settings: Settings) -> Path:
    return settings.home / "audit"


def spool_file(settings: Settings) -> Path:
    return audit_dir(settings) / "events.jsonl"


def audit_record(event: dict[str, Any]) -> dict[str, Any] | None:
    """What the audit keeps of a QueryCompletedEvent (None for anything else)."""
    metadata, context = event.get("metadata") or {}, event.get("context") or {}
    if "queryId" not in metadata:
        return None
    failure = event.get("failureInfo") or {}
    error = failure.get("errorCode") or {}
    tables = []
    for t in metadata.get("tables") or []:
        columns = [c.get("column") for c in t.get("columns") or [] if c.get("column")]
        masked = [c.get("column") for c in t.get("columns") or [] if c.get("mask")]
        tables.append(
            {
                "catalog": t.get("catalog"),
                "schema": t.get("schema"),
                "table": t.get("table"),
                "columns": sorted(set(columns)),
                "masked_columns": sorted(set(masked)),
                "row_filtered": bool(t.get("filters")),
            }
        )
    return {
        "query_id": metadata["queryId"],
        "user": context.get("user"),
        "source": context.get("source"),
        "query_type": context.get("queryType"),
        "state": metadata.get("queryState"),
        "error_code": error.get("name"),
        "error_type": error.get("type"),
        "created_at": event.get("createTime"),
        "ended_at": event.get("endTime"),
        "tables": tables,
    }


class Agent:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.secrets = secret_store.load(settings.secrets_file)
        self.spool_lock = threading.Lock()
        self.seen: dict[str, str] = {}
        self.columns: dict[str, list[str]] = {}

    # ---- rules ------------------------------------------------------------------------
    def refresh_rules(self) -> bool:
        """Re-render Trino's rules if the catalog changed; True when it could read the catalog."""
        state = governance.catalog_state(self.settings, self.secrets)
        if state is None:
            return False
        changed = [name for name, location in state.items() if self.seen.get(name) != location]
        dropped = set(self.seen) - set(state)
        if not changed and not dropped:
            return True
        live = governance.live_columns(self.settings, changed) if changed else {}
        if live is None:
            return False
        for name in dropped:
            self.columns.pop(name, None)
            self.seen.pop(name, None)
        self.columns.update(live)
        for name in changed:
            self.seen[name] = state[name]
        policies.install(self.settings, dict(self.columns))
        return True

    def watch_catalog(self, interval: float) -> None:
        while True:
            try:
                self.refresh_rules()
            except Exception as exc:  # noqa: BLE001 - keep watching; the log says why
                print(f"[governance] refreshing rules failed: {exc}", file=sys.stderr, flush=True)
            time.sleep(interval)

    # ---- audit ------------------------------------------------------------------------
    def record(self, event: dict[str, Any]) -> None:
        row = audit_record(event)
        if row is None:
            return
        path = spool_file(self.settings)
        line = json.dumps(row, separators=(",", ":")) + "\n"
        with self.spool_lock:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a") as fh:
                fh.write(line)

    def rotate(self) -> list[Path]:
        with self.spool_lock:
            return close_spool(self.settings)

    def handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        agent, token = self, self.secrets["AUDIT_EVENTS_TOKEN"]

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                given = self.headers.get("Authorization", "")
                if not hmac.compare_digest(given, f"Bearer {token}"):
                    self.send_response(403)
                    self.end_headers()
                    return
                if self.path == ROTATE_PATH:
                    ready = agent.rotate()
                    body = json.dumps([str(p) for p in ready]).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if self.path != EVENTS_PATH:
                    self.send_response(404)
                    self.end_headers()
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    agent.record(json.loads(body))
                except (ValueError, OSError) as exc:
                    print(f"[governance] audit event not recorded: {exc}", file=sys.stderr, flush=True)
                    self.send_response(500)
                    self.end_headers()
                    return
                self.send_response(200)
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802
                self.send_response(200 if self.path == "/health" else 404)
                self.end_headers()

            def log_message(self, *args: object) -> None:  # one line per query would flood the log
                pass

        return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between catalog checks")
    args = parser.parse_args(argv)
    settings = Settings.load()
    agent = Agent(settings)
    cfg = settings["governance"]
    server = http.server.ThreadingHTTPServer((cfg["host"], cfg["port"]), agent.handler())
    threading.Thread(target=agent.watch_catalog, args=(args.interval,), daemon=True).start()
    print(f"[governance] listening on {cfg['host']}:{cfg['port']}", file=sys.stderr, flush=True)
    server.serve_forever()
    return 0


# ---------------------------------------------------------------------------------------
# As a managed service
# ---------------------------------------------------------------------------------------
class GovernanceAgent:
    name = "governance"

    def __init__(self, settings: Settings):
        self.settings = settings
        self.cfg = settings["governance"]
        self.pidfile = settings.run_dir / "governance.pid"
        self.log = settings.logs / "governance.log"

    @property
    def address(self) -> str:
        return f"http://{self.cfg['host']}:{self.cfg['port']}"

    def healthy(self) -> bool:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(f"{self.address}/health", timeout=2) as response:
                ok: bool = response.status == 200
                return ok
        except (urllib.error.URLError, OSError):
            return False

    def start(self, secrets: dict[str, str] | None = None) -> None:
        import subprocess

        if self.healthy():
            return
        if port_open(self.cfg["host"], self.cfg["port"]):
            raise ServiceError(
                self.name, f"port {self.cfg['port']} is taken; set LAKEHOUSE_GOVERNANCE_PORT", self.log
            )
        self.settings.run_dir.mkdir(parents=True, exist_ok=True)
        self.settings.logs.mkdir(parents=True, exist_ok=True)
        say("starting the governance agent (live rules, audit events)")
        env = dict(os.environ, LAKEHOUSE_HOME=str(self.settings.home))
        with self.log.open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "lakehouse.governance_agent"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=REPO_ROOT,
            )
        self.pidfile.write_text(str(proc.pid))
        wait_until(self.healthy, 60, self.name, self.log, alive=lambda: proc.poll() is None)

    def stop(self) -> None:
        pid = read_pid(self.pidfile)
        if pid:
            stop_pid(pid, timeout=10)
        self.pidfile.unlink(missing_ok=True)

    def status(self) -> Status:
        return Status(self.name, self.healthy(), self.address, "live access rules, audit events")

    def purge(self) -> None:
        import shutil

        shutil.rmtree(audit_dir(self.settings), ignore_errors=True)


def close_spool(settings: Settings) -> list[Path]:
    """Close the current spool file for ingestion (the next event starts a new one); returns
    every spool file waiting to be ingested. Called under the agent's spool lock."""
    folder = audit_dir(settings)
    current = spool_file(settings)
    if current.exists() and current.stat().st_size:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        with contextlib.suppress(FileNotFoundError):
            current.rename(folder / f"ready-{stamp}.jsonl")
    return sorted(folder.glob("ready-*.jsonl")) if folder.exists() else []


if __name__ == "__main__":
    sys.exit(main())


def ready_spool_files(settings: Settings, secrets: dict[str, str]) -> list[Path]:
    """Ask the agent to close its spool file (it holds the lock writers take), or close it
    ourselves when the agent is not running; returns the files ready to ingest."""
    import urllib.error
    import urllib.request

    agent = GovernanceAgent(settings)
    request = urllib.request.Request(
        f"{agent.address}{ROTATE_PATH}",
        method="POST",
        headers={"Authorization": f"Bearer {secrets['AUDIT_EVENTS_TOKEN']}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return [Path(p) for p in json.loads(response.read())]
    except (urllib.error.URLError, OSError):
        return close_spool(settings)
