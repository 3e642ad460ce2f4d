"""The Spark service: one long-lived Spark application that runs every job on request.

A command (`lakehouse ingest`, `delinquency`, `maintenance`, a DAG task...) used to start its own
JVM, Spark context and catalog connections: 10-20 s before the first record was read. The
service pays that once, at `lakehouse up`, and then runs each request in its own thread with
its own Spark session (separate SQL settings and temporary views, shared executors), so a small
batch costs what its data costs.

Protocol: a Unix socket (mode 0600) under the runtime home. The client sends one JSON line,
`{"job": "ingest", "argv": [...], "env": {...}}`; the service answers with JSON lines
`{"out": line}` / `{"err": line}` while the job runs, then `{"exit": code}`. A client that goes
away cancels its job: the job's Spark work stops and its writer undoes what it wrote (the
same as a failed job). `{"ping": true}` answers with the service's state.

The job code is the same modules spark-submit runs (`jobs.<name>.main`); only the session comes
from the service's pool instead of a new application.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import socketserver
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from pyspark.sql import SparkSession

from jobs import session as job_session
from jobs.context import Cancelled, with_job_context

JOBS = {
    "ingest": "jobs.ingest",
    "delinquency": "jobs.delinquency",
    "maintenance": "jobs.maintenance",
    "audit": "jobs.audit",
    "forget": "jobs.forget",
    "rotate_key": "jobs.rotate_key",
}


class Router(io.TextIOBase):
    """sys.stdout / sys.stderr for the whole process: each job thread's writes go to its client,
    everything else (the service's own messages) to the service log."""

    def __init__(self, fallback: TextIO, kind: str):
        self.fallback, self.kind = fallback, kind
        self.local = threading.local()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        sink: Callable[[str, str], None] | None = getattr(self.local, "sink", None)
        if sink is None:
            return self.fallback.write(text)
        buffer = getattr(self.local, "buffer", "") + text
        *lines, rest = buffer.split("\n")
        for line in lines:
            sink(self.kind, line)
        self.local.buffer = rest
        return len(text)

    def flush(self) -> None:
        if getattr(self.local, "sink", None) is None:
            self.fallback.flush()

    def attach(self, sink: Callable[[str, str], None] | None) -> None:
        rest = getattr(self.local, "buffer", "")
        if rest and getattr(self.local, "sink", None):
            self.local.sink(self.kind, rest)
        self.local.sink, self.local.buffer = sink, ""


class Sessions:
    """Spark sessions for jobs: each job gets one of its own (SQL conf, temp views), returned
    clean to the pool when the job ends."""

    def __init__(self, spark: SparkSession):
        self.root = spark
        self.free: list[SparkSession] = []
        self.lock = threading.Lock()
        self.running: dict[str, str] = {}  # job group -> description

    @contextlib.contextmanager
    def lease(self, group: str, description: str) -> Iterator[SparkSession]:
        with self.lock:
            spark = self.free.pop() if self.free else self.root.newSession()
            self.running[group] = description
        sc = spark.sparkContext
        # job groups are per thread (PySpark pins each Python thread to a JVM thread)
        sc.setJobGroup(group, description, interruptOnCancel=True)
        try:
            yield spark
        finally:
            reusable = True
            try:  # the next job starts with no temporary views of this one
                spark._jsparkSession.sessionState().catalog().clearTempTables()
            except Exception:  # noqa: BLE001 - a session that cannot be cleaned is not reused
                traceback.print_exc(file=sys.__stderr__)
                reusable = False
            with self.lock:
                del self.running[group]
                if reusable:
                    self.free.append(spark)
                idle = not self.running
            if idle:  # nothing else runs: free every cached block the finished jobs left
                for rdd in list(sc._jsc.getPersistentRDDs().values()):
                    rdd.unpersist(False)


class Service:
    def __init__(self, spark: SparkSession, fingerprint: str):
        self.sessions = Sessions(spark)
        self.fingerprint = fingerprint
        self.started = time.time()
        self.stdout = Router(sys.stdout, "out")
        self.stderr = Router(sys.stderr, "err")
        sys.stdout, sys.stderr = self.stdout, self.stderr
        self.counter = 0
        self.counter_lock = threading.Lock()

    def state(self) -> dict[str, Any]:
        return {
            "ok": True,
            "pid": os.getpid(),
            "fingerprint": self.fingerprint,
            "running": dict(self.sessions.running),
            "started": self.started,
            "app_id": self.sessions.root.sparkContext.applicationId,
            "ui": self.sessions.root.sparkContext.uiWebUrl,
        }

    def run(
        self,
        request: dict[str, Any],
        send: Callable[[dict[str, Any]], None],
        gone: threading.Event,
        on_gone: list[Callable[[], None]],
    ) -> int:
        job = request["job"]
        if job not in JOBS:
            send({"err": f"unknown job {job!r}; the service runs {sorted(JOBS)}"})
            return 2
        with self.counter_lock:
            self.counter += 1
            group = f"lakehouse-{job}-{self.counter}"
        module = importlib.import_module(JOBS[job])

        def sink(kind: str, line: str) -> None:
            with contextlib.suppress(OSError):
                send({kind: line})

        self.stdout.attach(sink)
        self.stderr.attach(sink)
        try:
            with (
                with_job_context(request.get("env") or {}, gone),
                self.sessions.lease(group, " ".join([job, *request.get("argv", [])])[:200]) as spark,
                job_session.provided(spark),
            ):
                on_gone.append(lambda: spark.sparkContext.cancelJobGroup(group))
                if gone.is_set():
                    return 130
                try:
                    return int(module.main(list(request.get("argv", []))) or 0)
                except SystemExit as exc:  # argparse errors, explicit exits
                    return exc.code if isinstance(exc.code, int) else 2
                except Cancelled as exc:
                    print(f"cancelled: {exc}", file=sys.stderr)
                    return 130
                except BaseException:
                    traceback.print_exc()
                    return 1
        finally:
            self.stdout.attach(None)
            self.stderr.attach(None)


def make_handler(service: Service) -> type[socketserver.StreamRequestHandler]:
    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            line = self.rfile.readline()
            if not line:
                return
            request = json.loads(line)
            lock = threading.Lock()

            def send(message: dict[str, Any]) -> None:
                data = (json.dumps(message) + "\n").encode()
                with lock:
                    self.wfile.write(data)
                    self.wfile.flush()

            if request.get("ping"):
                send(service.state())
                return
            gone = threading.Event()
            done = threading.Event()
            on_gone: list[Callable[[], None]] = []

            def watch() -> None:  # the client closing its end means: stop my job
                with contextlib.suppress(OSError):
                    while not done.is_set():
                        if not self.connection.recv(1024):
                            break
                if not done.is_set():
                    gone.set()
                    for cancel in on_gone:
                        with contextlib.suppress(Exception):
                            cancel()

            threading.Thread(target=watch, daemon=True).start()
            try:
                code = service.run(request, send, gone, on_gone)
            except Exception:  # noqa: BLE001 - the service itself failed: tell the client why
                text = traceback.format_exc()
                print(text, file=sys.__stderr__, flush=True)
                with contextlib.suppress(OSError):
                    for text_line in text.splitlines():
                        send({"err": text_line})
                code = 1
            finally:
                done.set()
            with contextlib.suppress(OSError):
                send({"exit": code})

    return Handler


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", required=True)
    parser.add_argument("--fingerprint", required=True)
    args = parser.parse_args(argv)
    spark = SparkSession.builder.appName("lakehouse-service").getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    # warm up: the catalog connection and the first query plan are paid here, not by a job
    spark.sql("SELECT 1").collect()
    service = Service(spark, args.fingerprint)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(args.socket)
    old = os.umask(0o177)
    try:
        server = Server(args.socket, make_handler(service))
    finally:
        os.umask(old)
    print(
        f"[lakehouse] Spark service ready on {args.socket} (app {spark.sparkContext.applicationId})",
        file=sys.__stderr__,
        flush=True,
    )
    try:
        server.serve_forever()
    finally:
        with contextlib.suppress(OSError):
            os.unlink(args.socket)
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
