"""The streaming application as a managed process: `lakehouse stream start|stop|status`.

A Spark application of its own (jobs/stream.py, through spark-submit), long-lived like the
stream it runs; its checkpoint is in the object store, so stopping, killing or restarting it
loses nothing and repeats nothing.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import time
from typing import Any

from lakehouse.services import ServiceError, pid_alive, read_pid, say, stop_pid
from lakehouse.settings import REPO_ROOT, Settings


class StreamApp:
    name = "stream"

    def __init__(self, settings: Settings):
        self.settings = settings
        self.cfg = settings["stream"]
        self.pidfile = settings.run_dir / "stream.pid"
        self.log = settings.logs / "stream.log"
        self.status_file = settings.run_dir / "stream-status.jsonl"

    def pid(self) -> int | None:
        return read_pid(self.pidfile)

    def start(self, trigger_seconds: float | None = None, max_files: int | None = None) -> int:
        pid = self.pid()
        if pid:
            say(f"the stream is already running (pid {pid})")
            return pid
        from lakehouse.spark import job_environment, jobs_zip, spark_env, spark_submit_binary

        self.settings.run_dir.mkdir(parents=True, exist_ok=True)
        self.settings.logs.mkdir(parents=True, exist_ok=True)
        s3 = self.settings["s3"]
        cmd = [
            spark_submit_binary(),
            "--name",
            "lakehouse-stream",
            "--driver-memory",
            str(self.cfg["driver_memory"]),
            "--py-files",
            str(jobs_zip(self.settings)),
            str(REPO_ROOT / "jobs" / "stream.py"),
            "--landing",
            f"s3://{s3['landing_bucket']}",
            "--checkpoints",
            f"s3://{s3['warehouse_bucket']}/streaming/checkpoints",
            "--status-file",
            str(self.status_file),
            "--trigger-seconds",
            str(trigger_seconds or self.cfg["trigger_seconds"]),
            "--max-files",
            str(max_files or self.cfg["max_files_per_trigger"]),
        ]
        env = spark_env(self.settings) | job_environment(self.settings, "ingest")
        say("starting the stream (Spark Structured Streaming, one query per source)")
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            proc = subprocess.Popen(
                cmd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=REPO_ROOT,
            )
        self.pidfile.write_text(str(proc.pid))
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            with self.log.open("rb") as fh:
                fh.seek(offset)
                if b"[stream] running:" in fh.read():
                    return proc.pid
            if proc.poll() is not None:
                problem = f"the stream exited ({proc.returncode}) while starting"
                raise ServiceError(self.name, problem, self.log)
            time.sleep(1)
        raise ServiceError(self.name, "the stream did not start within 180s", self.log)

    def stop(self) -> None:
        pid = self.pid()
        if pid:
            stop_pid(pid, timeout=60)  # SIGTERM: Spark stops its queries; a cut micro-batch is undone
        self.pidfile.unlink(missing_ok=True)

    def batches(self, limit: int = 200) -> list[dict[str, Any]]:
        if not self.status_file.exists():
            return []
        lines = self.status_file.read_text().splitlines()[-limit:]
        return [json.loads(line) for line in lines if line.strip()]

    def status(self) -> dict[str, Any]:
        pid = self.pid()
        per_source: dict[str, Any] = {}
        recent = self.batches()
        now = time.time()
        for source in ("transactions", "payments"):
            mine = [b for b in recent if b["source"] == source]
            if not mine:
                per_source[source] = None
                continue
            last = mine[-1]
            window = [
                b for b in mine if now - _epoch(b["committed_at"]) <= 60
            ]  # input rate: records committed in the last minute
            busy = sum(b["seconds"] for b in mine[-20:]) or 1e-9
            latencies = sorted(b["latency_s"] for b in mine[-50:] if b.get("latency_s") is not None)
            per_source[source] = {
                "last_micro_batch": last["micro_batch"],
                "input_rows_per_s": round(sum(b["records"] for b in window) / 60, 1),
                "processed_rows_per_s": round(sum(b["records"] for b in mine[-20:]) / busy, 1),
                "latency_p50_s": statistics.median(latencies) if latencies else None,
                "latency_p95_s": latencies[math.ceil(0.95 * len(latencies)) - 1] if latencies else None,
                "last_commit": last["committed_at"],
            }
        return {"running": bool(pid and pid_alive(pid)), "pid": pid, "sources": per_source}


def _epoch(iso: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(iso).timestamp()
