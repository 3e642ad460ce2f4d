"""`lakehouse replay`: turn source files into a stream of small JSON Lines files in the landing
prefix, the way a live source would drop them.

Records of both sources are merged in event-time order (transaction / payment date; a record
without a valid date keeps its place after the one before it) and sent at `rate` records per
second, grouped into files of at most `batch_size` records per source (a file goes out after a
second at the latest). `disorder` delays each record by a random 0..S seconds, so records arrive
out of order within that window; `duplicates` re-sends that share of records a little later.
Like a keyed source (a Kafka partition per key), two versions of the same record id are never
reordered, and a re-sent copy always arrives before the record's next version: records of
different ids arrive in any order, the latest version of one id stays the latest.
Files are written with the source system's object-store user, which may only write there.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobs.ingest import detect_format, expand_paths

if TYPE_CHECKING:
    from lakehouse.settings import Settings

DATE_FIELDS = {"transactions": ("transaction_date", "date"), "payments": ("payment_date", "date_paid")}


@dataclass
class Options:
    inputs: dict[str, str]  # source -> file, directory or glob
    rate: float = 500.0
    batch_size: int = 200
    disorder: float = 0.0
    duplicates: float = 0.0
    seed: int = 42


@dataclass(order=True)
class Send:
    at: float  # seconds after the start
    order: int
    source: str
    line: str


def records(path: str) -> Iterator[str]:
    """Each record of a file as one line of JSON (JSON arrays are split, lines kept as they are)."""
    if detect_format(path) == "array":
        with open(path, encoding="utf-8") as fh:
            for record in json.load(fh):
                yield json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    else:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield line.rstrip("\n")


ID_FIELDS = {"transactions": "transaction_id", "payments": "payment_id"}


def _object(line: str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def record_key(line: str, source: str) -> str | None:
    record = _object(line)
    value = None if record is None else record.get(ID_FIELDS[source])
    return None if value in (None, "") else f"{source}:{value}"


def event_date(line: str, source: str) -> dt.date | None:
    record = _object(line)
    if record is None:
        return None
    for field in DATE_FIELDS[source]:
        value = record.get(field)
        if isinstance(value, str) and len(value) >= 10:
            try:
                return dt.date.fromisoformat(value[:10])
            except ValueError:
                return None
    return None


def timeline(o: Options) -> list[Send]:
    """Every send, in the order it happens."""
    events: list[tuple[dt.date, int, str, str]] = []
    position = 0
    for source, spec in o.inputs.items():
        last_day = dt.date.min
        for path in expand_paths(spec):
            for line in records(path):
                day = event_date(line, source) or last_day
                last_day = day
                events.append((day, position, source, line))
                position += 1
    events.sort()  # event time, then input order (stable for records without a date)
    rng = random.Random(o.seed)
    times: list[float] = []
    last: dict[str, float] = {}
    for i, (_, _, source, line) in enumerate(events):
        at = i / o.rate + (rng.uniform(0, o.disorder) if o.disorder else 0.0)
        key = record_key(line, source)
        if key is not None:  # never before an earlier version of the same record
            at = max(at, last.get(key, -1.0) + 1e-6)
            last[key] = at
        times.append(at)
    following: dict[int, float] = {}  # event -> send time of the same record's next version
    seen: dict[str, int] = {}
    for i in range(len(events) - 1, -1, -1):
        key = record_key(events[i][3], events[i][2])
        if key is not None:
            if key in seen:
                following[i] = times[seen[key]]
            seen[key] = i
    sends = []
    for i, (_, _, source, line) in enumerate(events):
        sends.append(Send(times[i], i, source, line))
        if o.duplicates and rng.random() < o.duplicates:
            later = times[i] + rng.uniform(0.5, max(1.0, o.disorder))
            if i in following:  # the copy still comes before the next version
                later = rng.uniform(times[i], following[i]) if following[i] > times[i] else times[i]
            sends.append(Send(later, i, source, line))
    sends.sort()
    return sends


def replay(o: Options, put: Callable[[str, str, bytes], None], say: Callable[[str], None]) -> dict[str, int]:
    """Send the timeline through `put(source, name, body)`; returns records and files sent."""
    sends = timeline(o)
    buffers: dict[str, list[str]] = {s: [] for s in o.inputs}
    opened: dict[str, float] = {}
    counts = {"records": 0, "files": 0}
    sequence = 0
    start = time.monotonic()
    last_note = start

    def flush(source: str) -> None:
        nonlocal sequence
        lines = buffers[source]
        if not lines:
            return
        sequence += 1
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        put(source, f"{stamp}-{sequence:06d}.jsonl", ("\n".join(lines) + "\n").encode())
        counts["records"] += len(lines)
        counts["files"] += 1
        buffers[source] = []
        opened.pop(source, None)

    try:
        for send in sends:
            delay = send.at - (time.monotonic() - start)
            if delay > 0:
                for source, since in list(opened.items()):  # nothing waits more than a second
                    if time.monotonic() - since >= 1.0:
                        flush(source)
                time.sleep(delay)
            buffers[send.source].append(send.line)
            opened.setdefault(send.source, time.monotonic())
            if len(buffers[send.source]) >= o.batch_size:
                flush(send.source)
            now = time.monotonic()
            if now - last_note >= 2:
                elapsed = now - start
                lag = max(0.0, elapsed - send.at)
                say(
                    f"[replay] {counts['records'] + sum(map(len, buffers.values()))}/{len(sends)} records, "
                    f"{counts['records'] / elapsed:,.0f}/s, {counts['files']} files, lag {lag:.1f}s"
                )
                last_note = now
    except KeyboardInterrupt:
        say("[replay] interrupted: sending what is buffered, then stopping")
    finally:
        for source in list(buffers):
            flush(source)
    return counts


def s3_put(settings: Settings, secrets: dict[str, str]) -> Callable[[str, str, bytes], None]:
    from lakehouse.provision import s3_client

    client = s3_client(settings, secrets["SOURCE_S3_ACCESS_KEY_ID"], secrets["SOURCE_S3_SECRET_ACCESS_KEY"])
    bucket = settings["s3"]["landing_bucket"]

    def put(source: str, name: str, body: bytes) -> None:
        client.put_object(Bucket=bucket, Key=f"stream/{source}/{name}", Body=body)

    return put


def main_say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
