"""One writer per table, and writes that undo only themselves.

Every command that writes Iceberg tables (ingest, delinquency, maintenance, forget, the stream)
runs its writes inside a `Writer`:

- **Locks.** A session-scoped PostgreSQL advisory lock per table, in the catalog database that
  every engine and machine already shares. Taken in table-name order (no deadlock), held until
  the writer closes; a process that dies loses its database session and with it the locks. A
  second writer waits, printing who holds the lock, up to `wait` seconds, then raises
  `LockTimeout` (exit code EXIT_LOCK_TIMEOUT: retry later).
- **Journal.** Before its first write a unit of work (a "run": one ingest, one analysis)
  records itself as pending in `lakehouse_write_journal` with the snapshot each table had.
  Marking it committed is the commit point. A pending run whose locks we now hold belongs to a
  writer that died: the next writer of any of its tables undoes it first (`recover`).
- **Undo.** Every snapshot a run commits carries `lakehouse.run-id` in its summary (Iceberg's
  session snapshot properties). Undoing a run resets a table to the snapshot before it when
  every snapshot since is the run's own; when another commit landed on top, it reverts only the
  run's net change to rows that still hold the run's version. No path deletes rows it did not
  write.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlparse

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.checkpoint import checkpoint
from jobs.context import check_cancelled
from jobs.faults import SimulatedDeath
from jobs.jvm import jvm_of
from jobs.protocol import DEFAULT_WAIT

RUN_PROPERTY = "lakehouse.run-id"
SNAPSHOT_PROPERTY_CONF = f"spark.sql.iceberg.snapshot-property.{RUN_PROPERTY}"


class LockTimeout(RuntimeError):
    """Another writer held a table's lock for longer than we were willing to wait."""


def say(message: str) -> None:
    print(f"[lakehouse] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# Where locks and the journal live
# ---------------------------------------------------------------------------------------
@dataclass
class Entry:
    """One run in the journal."""

    run_id: str
    command: str
    tables: list[str]
    before: dict[str, int | None]
    state: str = "pending"
    keys: dict[str, list[str]] = field(default_factory=dict)  # table -> natural key columns
    owner: str = ""
    started_at: str = ""
    # what else to undo besides tables, recorded before it is done: object-store paths
    actions: list[dict[str, Any]] = field(default_factory=list)


class Backend(Protocol):
    def acquire(self, table: str, wait: float, on_wait: Callable[[str], None]) -> bool: ...
    def release_all(self) -> None: ...
    def begin(self, entry: Entry) -> None: ...
    def finish(self, run_id: str, state: str) -> None: ...
    def add_action(self, run_id: str, action: dict[str, Any]) -> None: ...
    def pending(self) -> list[Entry]: ...
    def close(self) -> None: ...


def lock_key(catalog: str, table: str) -> tuple[int, int]:
    """The two int4 keys of a table's advisory lock (catalog, table name)."""

    def int4(text: str) -> int:
        value = zlib.crc32(text.encode())
        return value - (1 << 32) if value >= (1 << 31) else value

    return int4(f"lakehouse-catalog:{catalog}"), int4(table)


JOURNAL_DDL = (
    """CREATE TABLE IF NOT EXISTS lakehouse_write_journal (
        run_id TEXT PRIMARY KEY, command TEXT NOT NULL, tables TEXT[] NOT NULL,
        before JSONB NOT NULL, keys JSONB NOT NULL, actions JSONB NOT NULL DEFAULT '[]',
        state TEXT NOT NULL, owner TEXT NOT NULL,
        started_at TIMESTAMPTZ NOT NULL DEFAULT now(), finished_at TIMESTAMPTZ)""",
    """CREATE TABLE IF NOT EXISTS lakehouse_writers (
        backend_pid INTEGER PRIMARY KEY, command TEXT NOT NULL, pid INTEGER NOT NULL,
        host TEXT NOT NULL, since TIMESTAMPTZ NOT NULL DEFAULT now(), tables TEXT[])""",
)


DDL_LOCK = 0x1A6E  # one-key advisory lock: creating the journal's own tables


class PostgresBackend:
    """Locks and journal in the JDBC catalog's PostgreSQL database."""

    def __init__(self, catalog: str, jdbc_url: str, user: str, password: str, command: str):
        import psycopg2

        parsed = urlparse(jdbc_url.removeprefix("jdbc:"))
        self.catalog = catalog
        self.conn = psycopg2.connect(
            host=parsed.hostname,
            port=parsed.port or 5432,
            dbname=parsed.path.lstrip("/"),
            user=user,
            password=password,
            application_name=f"lakehouse {command}"[:63],
            connect_timeout=10,
        )
        self.conn.autocommit = True
        with self.conn.cursor() as cur:
            cur.execute("SELECT to_regclass('lakehouse_write_journal'), to_regclass('lakehouse_writers')")
            if None in cur.fetchone():  # first writer ever: create them, one creator at a time
                # (CREATE TABLE IF NOT EXISTS is not safe against a concurrent create in PostgreSQL)
                cur.execute("SELECT pg_advisory_lock(%s)", (DDL_LOCK,))
                try:
                    for statement in JOURNAL_DDL:
                        cur.execute(statement)
                finally:
                    cur.execute("SELECT pg_advisory_unlock(%s)", (DDL_LOCK,))
            cur.execute(
                "DELETE FROM lakehouse_writers w WHERE NOT EXISTS "
                "(SELECT 1 FROM pg_stat_activity a WHERE a.pid = w.backend_pid)"
            )
            cur.execute(
                """INSERT INTO lakehouse_writers (backend_pid, command, pid, host, tables)
                   VALUES (pg_backend_pid(), %s, %s, %s, '{}')
                   ON CONFLICT (backend_pid) DO UPDATE SET command = EXCLUDED.command,
                     pid = EXCLUDED.pid, host = EXCLUDED.host, since = now(), tables = '{}'""",
                (command, os.getpid(), socket.gethostname()),
            )
        self.held: list[str] = []

    def holder(self, table: str) -> str:
        k1, k2 = lock_key(self.catalog, table)
        with self.conn.cursor() as cur:
            cur.execute(
                """SELECT w.command, w.pid, w.host, w.since FROM pg_locks l
                   LEFT JOIN lakehouse_writers w ON w.backend_pid = l.pid
                   WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = %s
                     AND l.objid::bigint = %s AND l.objsubid = 2""",
                (k1 & 0xFFFFFFFF, k2 & 0xFFFFFFFF),
            )
            row = cur.fetchone()
        if not row or row[0] is None:
            return "another writer (unknown)"
        command, pid, host, since = row
        return f"`lakehouse {command}` (pid {pid} on {host}, since {since:%Y-%m-%d %H:%M:%S %Z})"

    def acquire(self, table: str, wait: float, on_wait: Callable[[str], None]) -> bool:
        k1, k2 = lock_key(self.catalog, table)
        deadline = time.monotonic() + wait
        next_note = 0.0
        while True:
            with self.conn.cursor() as cur:
                cur.execute("SELECT pg_try_advisory_lock(%s, %s)", (k1, k2))
                if cur.fetchone()[0]:
                    cur.execute(
                        "UPDATE lakehouse_writers SET tables = array_append(tables, %s) "
                        "WHERE backend_pid = pg_backend_pid()",
                        (table,),
                    )
                    self.held.append(table)
                    return True
            check_cancelled()
            now = time.monotonic()
            if now >= deadline:
                return False
            if now >= next_note:
                on_wait(self.holder(table))
                next_note = now + 30
            time.sleep(min(1.0, max(0.0, deadline - now)))

    def release_all(self) -> None:
        with self.conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock_all()")
            cur.execute("UPDATE lakehouse_writers SET tables = '{}' WHERE backend_pid = pg_backend_pid()")
        self.held = []

    def begin(self, entry: Entry) -> None:
        with self.conn.cursor() as cur:
            cur.execute(
                """INSERT INTO lakehouse_write_journal (run_id, command, tables, before, keys, state, owner)
                   VALUES (%s, %s, %s, %s, %s, 'pending', %s)""",
                (
                    entry.run_id,
                    entry.command,
                    entry.tables,
                    json.dumps(entry.before),
                    json.dumps(entry.keys),
                    entry.owner,
                ),
            )

    def finish(self, run_id: str, state: str) -> None:
        with self.conn.cursor() as cur:
            cur.execute(
                "UPDATE lakehouse_write_journal SET state = %s, finished_at = now() WHERE run_id = %s",
                (state, run_id),
            )

    def add_action(self, run_id: str, action: dict[str, Any]) -> None:
        with self.conn.cursor() as cur:
            cur.execute(
                "UPDATE lakehouse_write_journal SET actions = actions || %s::jsonb WHERE run_id = %s",
                (json.dumps([action]), run_id),
            )

    def pending(self) -> list[Entry]:
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT run_id, command, tables, before, keys, owner, started_at, actions "
                "FROM lakehouse_write_journal WHERE state = 'pending' ORDER BY started_at"
            )
            return [
                Entry(r[0], r[1], list(r[2]), r[3], "pending", r[4], r[5], r[6].isoformat(), list(r[7]))
                for r in cur.fetchall()
            ]

    def close(self) -> None:
        try:
            with self.conn.cursor() as cur:
                cur.execute("DELETE FROM lakehouse_writers WHERE backend_pid = pg_backend_pid()")
        finally:
            self.conn.close()  # ends the session: every advisory lock it held is released


class LocalBackend:
    """In-process locks and journal for a file-based catalog (unit tests, one process)."""

    _lock = threading.Lock()
    _held: dict[str, str] = {}
    _journal: dict[str, Entry] = {}

    def __init__(self, catalog: str, command: str):
        self.owner = f"{command}-{uuid.uuid4().hex[:8]}"
        self.held: list[str] = []

    def acquire(self, table: str, wait: float, on_wait: Callable[[str], None]) -> bool:
        deadline = time.monotonic() + wait
        while True:
            with self._lock:
                if self._held.get(table) in (None, self.owner):
                    self._held[table] = self.owner
                    self.held.append(table)
                    return True
                holder = self._held[table]
            check_cancelled()
            if time.monotonic() >= deadline:
                return False
            on_wait(holder)
            time.sleep(0.05)

    def release_all(self) -> None:
        with self._lock:
            for table in self.held:
                if self._held.get(table) == self.owner:
                    del self._held[table]
        self.held = []

    def begin(self, entry: Entry) -> None:
        self._journal[entry.run_id] = entry

    def finish(self, run_id: str, state: str) -> None:
        self._journal[run_id].state = state

    def add_action(self, run_id: str, action: dict[str, Any]) -> None:
        self._journal[run_id].actions.append(action)

    def pending(self) -> list[Entry]:
        return [e for e in self._journal.values() if e.state == "pending"]

    def close(self) -> None:
        self.release_all()

    @classmethod
    def forget_everything(cls) -> None:
        """Test helper: a fresh process's view."""
        with cls._lock:
            cls._held.clear()
            cls._journal.clear()


def backend_for(spark: SparkSession, catalog: str, command: str) -> Backend:
    """PostgreSQL for the JDBC catalog (the stack, a cluster); in-process for a file catalog."""
    conf = spark.conf
    prefix = f"spark.sql.catalog.{catalog}"

    def setting(key: str) -> str:
        value = conf.get(key)
        assert value is not None  # get() without a default raises for a key that is not set
        return value

    if conf.get(f"{prefix}.type", None) == "jdbc":
        return PostgresBackend(
            catalog,
            setting(f"{prefix}.uri"),
            setting(f"{prefix}.jdbc.user"),
            setting(f"{prefix}.jdbc.password"),
            command,
        )
    return LocalBackend(catalog, command)


# ---------------------------------------------------------------------------------------
# Snapshots
# ---------------------------------------------------------------------------------------
@contextmanager
def temp_view(df: DataFrame, name: str) -> Iterator[str]:
    """`df` as a temporary view named `name` plus a random suffix, dropped after the block: writes
    side by side in one Spark session (an ingest's two sources) must not share a view name, or one
    MERGE could read the other's rows."""
    view = f"{name}_{uuid.uuid4().hex[:8]}"
    df.createOrReplaceTempView(view)
    try:
        yield view
    finally:
        df.sparkSession.catalog.dropTempView(view)


def current_snapshot(spark: SparkSession, table: str) -> int | None:
    """The table's current snapshot id (None for a table never written), read from the table's
    metadata through Iceberg's API (no Spark job), fresh from the catalog."""
    jvm = jvm_of(spark)
    loaded = jvm.org.apache.iceberg.spark.Spark3Util.loadIcebergTable(spark._jsparkSession, table)
    loaded.refresh()
    snapshot = loaded.currentSnapshot()
    return None if snapshot is None else int(snapshot.snapshotId())


@dataclass(frozen=True)
class Snapshot:
    snapshot_id: int
    parent_id: int | None
    run_id: str | None


def snapshots_since(spark: SparkSession, table: str, before: int | None) -> list[Snapshot] | None:
    """The current snapshot's ancestors newer than `before`, newest first.

    None when `before` is not an ancestor of the current snapshot (the table was reset).
    """
    rows = spark.sql(
        f"SELECT snapshot_id, parent_id, summary['{RUN_PROPERTY}'] AS run_id FROM {table}.snapshots"
    ).collect()  # one row per snapshot: metadata, bounded by snapshot expiry
    by_id = {r.snapshot_id: Snapshot(r.snapshot_id, r.parent_id, r.run_id) for r in rows}
    chain: list[Snapshot] = []
    cursor = current_snapshot(spark, table)
    while cursor is not None and cursor != before:
        snap = by_id.get(cursor)
        if snap is None:
            return None if before is not None else chain
        chain.append(snap)
        cursor = snap.parent_id
    if cursor != before:
        return None
    return chain


def row_hash(df: DataFrame) -> DataFrame:
    return df.withColumn("_row_hash", F.sha2(F.to_json(F.struct(*[F.col(c) for c in df.columns])), 256))


def revert_net_change(
    spark: SparkSession, table: str, before: int | None, own: int, key: list[str], run_id: str
) -> None:
    """Put back, key by key, the rows that snapshot `own` changed relative to `before` and that
    still hold `own`'s version: a row the run inserted is deleted, a row it updated or deleted
    gets its earlier version back. Rows another writer changed since are left alone."""

    def version(snapshot: int | None) -> DataFrame:
        if snapshot is None:
            return spark.table(table).limit(0)
        return spark.sql(f"SELECT * FROM {table} VERSION AS OF {snapshot}")

    old, new = row_hash(version(before)), row_hash(version(own))
    changed_keys = (
        old.select(*key, "_row_hash")
        .exceptAll(new.select(*key, "_row_hash"))
        .unionByName(new.select(*key, "_row_hash").exceptAll(old.select(*key, "_row_hash")))
        .select(*key)
        .distinct()
    )
    theirs = new.join(changed_keys, key, "left_semi").select(*key, F.col("_row_hash").alias("_own_hash"))
    earlier = old.join(changed_keys, key, "left_semi")
    plan = checkpoint(changed_keys.join(theirs, key, "left").join(earlier, key, "left"))
    columns = spark.table(table).columns
    on = " AND ".join(f"t.{k} <=> s.{k}" for k in key)
    current_hash = f"sha2(to_json(struct({', '.join(f't.{c}' for c in columns)})), 256)"
    restored = ", ".join(f"t.{c} = s.{c}" for c in columns)
    values = ", ".join(f"s.{c}" for c in columns)
    with temp_view(plan, "_revert") as view:
        spark.sql(f"""
            MERGE INTO {table} t USING {view} s ON {on}
            WHEN MATCHED AND s._own_hash IS NOT NULL AND {current_hash} = s._own_hash
                 AND s._row_hash IS NULL THEN DELETE
            WHEN MATCHED AND s._own_hash IS NOT NULL AND {current_hash} = s._own_hash
                 THEN UPDATE SET {restored}
            WHEN NOT MATCHED AND s._own_hash IS NULL AND s._row_hash IS NOT NULL
                 THEN INSERT ({", ".join(columns)}) VALUES ({values})""")
    say(f"reverted run {run_id}'s changes in {table} (another commit had landed on top)")


def undo_table(spark: SparkSession, table: str, before: int | None, run_id: str, key: list[str]) -> None:
    """Take back what run `run_id` committed to `table`, and nothing else."""
    if not spark.catalog.tableExists(table):
        return
    chain = snapshots_since(spark, table, before)
    if chain is None:  # reset under us: revert our own snapshots, if any remain reachable
        chain = snapshots_since(spark, table, None) or []
    own = [s for s in chain if s.run_id == run_id]
    if not own:
        return
    if before is not None and all(s.run_id == run_id for s in chain):
        catalog, name = table.split(".", 1)
        spark.sql(f"CALL {catalog}.system.rollback_to_snapshot('{name}', {before})")
        say(f"rolled back {table} to snapshot {before} (undoing run {run_id})")
        return
    first_own, last_own = own[-1], own[0]
    revert_net_change(spark, table, first_own.parent_id, last_own.snapshot_id, key, run_id)


# ---------------------------------------------------------------------------------------
# Files on the object store (Hadoop FileSystem: S3A on the stack, local paths in tests)
# ---------------------------------------------------------------------------------------
class Files:
    def __init__(self, spark: SparkSession):
        self.jvm = jvm_of(spark)
        self.conf = spark.sparkContext._jsc.hadoopConfiguration()

    def _fs(self, path: str) -> tuple[Any, Any]:
        p = self.jvm.org.apache.hadoop.fs.Path(path)
        return p.getFileSystem(self.conf), p

    def read_bytes(self, path: str) -> bytes | None:
        fs, p = self._fs(path)
        if not fs.exists(p):
            return None
        stream = fs.open(p)
        try:
            return bytes(self.jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
        finally:
            stream.close()

    def read_text(self, path: str) -> str | None:
        data = self.read_bytes(path)
        return None if data is None else data.decode()

    def write_bytes(self, path: str, data: bytes) -> None:
        """One object, written whole (a single PUT on S3)."""
        fs, p = self._fs(path)
        out = fs.create(p, True)
        try:
            out.write(bytearray(data))
        finally:
            out.close()

    def write_text(self, path: str, text: str) -> None:
        self.write_bytes(path, text.encode())

    def mkdirs(self, path: str) -> None:
        fs, p = self._fs(path)
        fs.mkdirs(p)

    def delete(self, path: str) -> None:
        fs, p = self._fs(path)
        fs.delete(p, True)

    def children(self, path: str) -> list[str]:
        fs, p = self._fs(path)
        if not fs.exists(p):
            return []
        return [str(status.getPath()) for status in fs.listStatus(p)]


def perform(spark: SparkSession, action: dict[str, Any]) -> None:
    """Carry out one recorded undo action."""
    files = Files(spark)
    if action["kind"] == "delete":
        files.delete(action["path"])
    elif action["kind"] == "restore":  # put an object back as it was (or remove it)
        if action["text"] is None:
            files.delete(action["path"])
        else:
            files.write_text(action["path"], action["text"])
    else:
        raise ValueError(f"unknown undo action {action}")


# ---------------------------------------------------------------------------------------
# The writer
# ---------------------------------------------------------------------------------------
@dataclass
class Run:
    """A unit of work in progress: undone as a whole unless it commits."""

    writer: Writer
    entry: Entry

    @property
    def run_id(self) -> str:
        return self.entry.run_id

    def will_write(self, path: str) -> None:
        """Record, before writing it, that `path` (a file or folder) is to be deleted on undo."""
        self._record({"kind": "delete", "path": path})

    def will_replace(self, path: str) -> None:
        """Record, before replacing it, the object at `path` as it is now."""
        self._record({"kind": "restore", "path": path, "text": Files(self.writer.spark).read_text(path)})

    def _record(self, action: dict[str, Any]) -> None:
        self.writer.backend.add_action(self.run_id, action)
        self.entry.actions.append(action)


class Writer:
    """Holds the locks of a command's tables; runs its units of work all-or-nothing."""

    def __init__(self, spark: SparkSession, catalog: str, command: str, backend: Backend):
        self.spark, self.catalog, self.command, self.backend = spark, catalog, command, backend
        self.locked: set[str] = set()

    @classmethod
    @contextmanager
    def open(
        cls, spark: SparkSession, catalog: str, command: str, tables: list[str], wait: float = DEFAULT_WAIT
    ) -> Iterator[Writer]:
        """Lock `tables` (waiting up to `wait` s), undo what dead writers left, yield the writer."""
        writer = cls(spark, catalog, command, backend_for(spark, catalog, command))
        try:
            writer.lock(tables, wait)
            writer.recover()
            yield writer
        finally:
            writer.backend.close()

    def lock(self, tables: list[str], wait: float) -> None:
        deadline = time.monotonic() + wait
        for table in sorted(set(tables) - self.locked):

            def note(holder: str, table: str = table) -> None:
                say(
                    f"waiting for the write lock on {table}: held by {holder}; giving up in "
                    f"{max(0, deadline - time.monotonic()):.0f}s"
                )

            if not self.backend.acquire(table, max(0.0, deadline - time.monotonic()), note):
                raise LockTimeout(
                    f"{self.command}: could not lock {table} within {wait:.0f}s; it is being "
                    "written by another command. Retry later, or pass --wait with more seconds."
                )
            self.locked.add(table)

    def recover(self) -> None:
        """Undo every pending run that shares a table with us: its writer is dead, since we hold
        the locks it would hold. A dead run's other tables are locked first (ordered: we drop
        ours and take the union, so two recoverers cannot deadlock)."""
        while True:
            dead = [e for e in self.backend.pending() if set(e.tables) & self.locked]
            if not dead:
                return
            needed = {t for e in dead for t in e.tables}
            if not needed <= self.locked:
                wanted = sorted(self.locked | needed)
                self.backend.release_all()
                self.locked = set()
                self.lock(wanted, DEFAULT_WAIT)
                continue
            for entry in dead:
                say(
                    f"undoing run {entry.run_id} ({entry.command}, started {entry.started_at}): "
                    "its writer died before committing"
                )
                self._undo(entry)
                self.backend.finish(entry.run_id, "undone")

    def _undo(self, entry: Entry) -> None:
        for table in entry.tables:
            undo_table(self.spark, table, entry.before.get(table), entry.run_id, entry.keys.get(table, []))
        for action in reversed(entry.actions):
            perform(self.spark, action)

    @contextmanager
    def run(self, run_id: str, keys: dict[str, list[str]]) -> Iterator[Run]:
        """A unit of work on the tables in `keys` (table -> natural key): every snapshot it
        commits is tagged with `run_id`; it commits when the block ends without an exception,
        otherwise it is undone and the exception re-raised."""
        tables = sorted(keys)
        missing = set(tables) - self.locked
        if missing:
            raise RuntimeError(f"{self.command}: writing {sorted(missing)} without holding their locks")
        entry = Entry(
            run_id=run_id,
            command=self.command,
            tables=tables,
            before={
                t: current_snapshot(self.spark, t) if self.spark.catalog.tableExists(t) else None
                for t in tables
            },
            keys=keys,
            owner=f"pid {os.getpid()} on {socket.gethostname()}",
            started_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
        self.backend.begin(entry)
        self.spark.conf.set(SNAPSHOT_PROPERTY_CONF, run_id)
        try:
            yield Run(self, entry)
            self.spark.conf.unset(SNAPSHOT_PROPERTY_CONF)
            self.backend.finish(run_id, "committed")
        except SimulatedDeath:
            self.spark.conf.unset(SNAPSHOT_PROPERTY_CONF)
            raise  # a killed process cleans nothing up: the next writer's recovery does
        except BaseException:
            self.spark.conf.unset(SNAPSHOT_PROPERTY_CONF)
            say(f"run {run_id} failed: undoing its writes")
            self._undo(entry)
            self.backend.finish(run_id, "undone")
            raise


def new_run_id(kind: str) -> str:
    return f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-{kind}-{uuid.uuid4().hex[:8]}"
