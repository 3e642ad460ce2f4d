"""`lakehouse bench stream`: what the streaming ingestion sustains, and how fresh its tables are.

For each rate (records per second, both sources together), on the running stack with the stream
started: generate fresh v2 data (ids prefixed per rate), replay it into the landing prefix at that
rate for `--seconds`, and poll Trino every half second for the landing files whose records are
queryable in `raw.<source>`. A file's latency is the time from its upload to the first Trino
query that returns it (event written to landing -> visible through Trino), so it includes the
trigger interval, the micro-batch and Trino's metadata refresh. Sustained throughput is records
sent / (last file visible - first file sent): below the offered rate, the stream fell behind.
It writes docs/benchmarks-stream.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from lakehouse.bench import lakehouse, machine, say
from lakehouse.settings import REPO_ROOT, Settings

DOC = REPO_ROOT / "docs" / "benchmarks-stream.md"
SOURCES = ("transactions", "payments")
POLL_SECONDS = 0.5


class Visibility:
    """Polls Trino for the landing files whose rows `raw.*` holds; first time each one was seen."""

    def __init__(self, settings: Settings, since: dt.datetime):
        from lakehouse.sql import connect

        self.conn = connect(settings, "admin")
        self.since = since.strftime("%Y-%m-%d %H:%M:%S")
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.poll, daemon=True)

    def poll(self) -> None:
        cur = self.conn.cursor()
        union = " UNION ".join(
            f"SELECT DISTINCT source_file FROM raw.{s} WHERE ingested_at >= TIMESTAMP '{self.since} UTC'"
            for s in SOURCES
        )
        while not self.stop.is_set():
            try:
                cur.execute(union)
                rows = cur.fetchall()
            except Exception as exc:  # noqa: BLE001 - the stream has not created the tables yet
                if "does not exist" not in str(exc):
                    raise
                rows = []
            now = time.time()
            for (path,) in rows:
                self.seen.setdefault(path.rsplit("/", 1)[-1], now)
            self.stop.wait(POLL_SECONDS)

    def __enter__(self) -> Visibility:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()
        self.conn.close()  # type: ignore[no-untyped-call]


def one_rate(settings: Settings, rate: int, seconds: int, work: Path, drain: int) -> dict[str, Any]:
    from lakehouse import secrets as secret_store
    from lakehouse.replay import Options, replay, s3_put

    records_wanted = rate * seconds
    folder = work / f"rate-{rate}"
    # about as many payments as transactions: half of the records are transactions
    lakehouse(
        "generate", "--transactions", str(max(1, records_wanted // 2)), "--out", str(folder),
        "--schema", "v2", "--prefix", f"R{rate}-", "--seed", str(rate),
    )  # fmt: skip
    put = s3_put(settings, secret_store.load(settings.secrets_file))
    sent: dict[str, tuple[float, int]] = {}  # file name -> (upload time, records)

    def timed_put(source: str, name: str, body: bytes) -> None:
        put(source, name, body)
        sent[name] = (time.time(), body.count(b"\n"))

    options = Options(
        {s: str(folder / f"{s}.jsonl") for s in SOURCES}, rate=float(rate), batch_size=max(50, rate // 2)
    )
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)
    with Visibility(settings, started) as seen:
        say(f"rate {rate}/s: replaying about {seconds}s of records")
        replay(options, timed_put, lambda m: None)
        say(f"rate {rate}/s: {len(sent)} files sent; waiting until Trino sees them all")
        deadline = time.monotonic() + drain
        while time.monotonic() < deadline and not set(sent) <= set(seen.seen):
            time.sleep(1)
    missing = set(sent) - set(seen.seen)
    if len(missing) == len(sent):
        raise SystemExit(
            f"bench stream: none of the {len(sent)} files sent at {rate}/s became visible within "
            f"{drain}s; see `lakehouse stream status` and the stream's log"
        )
    replay_s = max(t for t, _ in sent.values()) - min(t for t, _ in sent.values())
    latencies = sorted(seen.seen[n] - t for n, (t, _) in sent.items() if n in seen.seen)
    records = sum(r for n, (_, r) in sent.items())
    first_sent = min(t for t, _ in sent.values())
    last_visible = max(seen.seen[n] for n in sent if n in seen.seen)
    return {
        "rate": rate,
        "records_sent": records,
        "files_sent": len(sent),
        "files_not_visible": len(missing),
        "replay_s": replay_s,
        "sustained_per_s": records / (last_visible - first_sent),
        "latency_p50_s": statistics.median(latencies),
        "latency_p95_s": latencies[math.ceil(0.95 * len(latencies)) - 1],
        "latency_max_s": latencies[-1],
    }


def markdown(runs: list[dict[str, Any]], command: str, settings: Settings) -> str:
    m = machine()
    lines = [
        "# Streaming benchmark",
        "",
        f"Command: `{command}` (stack of its own; written {dt.date.today().isoformat()}). "
        f"Machine: {m['cpu']}, {m['memory']}; stream trigger "
        f"{settings['stream']['trigger_seconds']} s, at most {settings['stream']['max_files_per_trigger']} "
        "files per micro-batch and source.",
        "",
        "Latency: a landing file's upload to the first Trino query (polled every 0.5 s) that returns "
        "its rows from `raw.*`; every file of the run counts. Sustained: records sent / (last file "
        "visible - first file sent).",
        "",
        "| offered rate (records/s) | records sent | files | replay | sustained (records/s) | latency p50 "
        "| p95 | max |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in runs:
        lines.append(
            f"| {r['rate']:,} | {r['records_sent']:,} | {r['files_sent']:,} | {r['replay_s']:.0f} s | "
            f"{r['sustained_per_s']:,.0f} | "
            f"{r['latency_p50_s']:.1f} s | {r['latency_p95_s']:.1f} s | {r['latency_max_s']:.1f} s |"
        )
    lost = [r for r in runs if r["files_not_visible"]]
    if lost:
        lines += ["", "Files not visible when the drain time ran out: " + ", ".join(
            f"{r['files_not_visible']} at {r['rate']}/s" for r in lost)]  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lakehouse bench stream", description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="50,200,800", help="records per second, comma list")
    parser.add_argument("--seconds", type=int, default=60, help="replay time per rate")
    parser.add_argument("--drain", type=int, default=180, help="seconds to wait for the last files")
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/benchmarks-stream.md")
    args = parser.parse_args(argv)
    settings = Settings.load()
    lakehouse("stream", "start")
    runs = []
    try:
        with tempfile.TemporaryDirectory(prefix="lakehouse-bench-stream-") as work:
            for rate in (int(r) for r in args.rates.split(",")):
                runs.append(one_rate(settings, rate, args.seconds, Path(work), args.drain))
                r = runs[-1]
                print(
                    f"{rate}/s offered: {r['sustained_per_s']:,.0f}/s sustained, latency p50 "
                    f"{r['latency_p50_s']:.1f}s p95 {r['latency_p95_s']:.1f}s", flush=True,
                )  # fmt: skip
    finally:
        lakehouse("stream", "stop")
    print(json.dumps(runs, indent=2))
    if not args.no_doc:
        DOC.write_text(markdown(runs, "make bench-stream", settings))
        say(f"wrote {DOC.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
