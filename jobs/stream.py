"""Streaming ingestion: a Spark Structured Streaming query per source over the landing prefix.

Files dropped into `<landing>/stream/<source>/` (JSON Lines, any schema version) are picked up by
Spark's file source, at most `--max-files` per micro-batch, every `--trigger-seconds`. Each
micro-batch is handed to the batch ingestion's own code (jobs/ingest.py `ingest_micro_batch`):
same validation, quarantine, dedup, MERGE, accounting and write locks, so a record that arrives by
stream ends up exactly as the same record would by batch.

Exactly once: Spark replays a micro-batch whose checkpoint was not committed (a crash after our
tables committed); the ingestion log knows the micro-batch (`stream_batch` = source:query id:batch
id, where the query id is the one Spark keeps in the checkpoint, so a new checkpoint never meets
an old one's batch numbers) and it is skipped. A crash inside a micro-batch leaves a pending run
that the next writer undoes first.
Malformed files are moved to `<landing>/stream/errors/<source>/` with a `.reason.txt` beside them;
the stream goes on. The checkpoint lives in the object store, beside the tables.

Every micro-batch appends one line of progress to `--status-file` (for `lakehouse stream status`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming.query import StreamingQuery

from jobs.context import catalog_name
from jobs.ingest import InputFile, ingest_micro_batch
from jobs.writes import Files

SOURCES = ("transactions", "payments")


class Stream:
    def __init__(self, spark: SparkSession, args: argparse.Namespace):
        self.spark, self.args = spark, args
        self.files = Files(spark)
        self.status_lock = threading.Lock()
        # each query's persistent id (kept in its checkpoint), known once start() returned
        self.query_ids: dict[str, str] = {}
        self.started = {source: threading.Event() for source in SOURCES}

    def landing(self, source: str) -> str:
        return f"{self.args.landing.rstrip('/')}/stream/{source}/"

    def errors(self, source: str) -> str:
        return f"{self.args.landing.rstrip('/')}/stream/errors/{source}/"

    def fetch(self, path: str) -> bytes | None:
        return self.files.read_bytes(path)

    def quarantine(self, source: str) -> Callable[[InputFile, str], None]:
        def move(f: InputFile, reason: str) -> None:
            name = f.path.rstrip("/").rsplit("/", 1)[-1]
            target = f"{self.errors(source)}{name}"
            data = self.files.read_bytes(f.path)
            if data is not None:
                self.files.write_bytes(target, data)
                self.files.write_text(f"{target}.reason.txt", f"{reason}\n")
                self.files.delete(f.path)
            print(f"[stream] {source}: quarantined {name}: {reason}", file=sys.stderr, flush=True)

        return move

    def batch(self, source: str) -> Callable[[DataFrame, int], None]:  # the foreachBatch function
        def run(df: DataFrame, batch_id: int) -> None:
            started = time.time()
            found = df.select("path", "mtime").distinct().collect()  # one row per file
            paths = sorted(r.path for r in found)
            if not paths:
                return
            oldest = min(r.mtime for r in found)
            if not self.started[source].wait(300):
                raise RuntimeError(f"the {source} query never reported its id")
            result = ingest_micro_batch(
                df.sparkSession,
                self.args.catalog,
                source,
                paths,
                f"{source}:{self.query_ids[source]}:{batch_id}",
                self.fetch,
                self.quarantine(source),
                self.args.wait,
            )
            committed = time.time()
            self.record(
                {
                    "source": source,
                    "micro_batch": batch_id,
                    "files": len(paths),
                    "records": result.get("received", 0),
                    "replayed": result.get("replayed", False),
                    "batch_id": result.get("batch_id"),
                    "accounted": result.get("received", 0)
                    == result.get("accepted", 0) + result.get("rejected", 0) + result.get("duplicates", 0),
                    "seconds": round(committed - started, 3),
                    # landing object's write time -> queryable (the Iceberg commit just happened)
                    "latency_s": round(committed - oldest.replace(tzinfo=dt.UTC).timestamp(), 3)
                    if oldest is not None
                    else None,
                    "committed_at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
                }
            )

        return run

    def record(self, status: dict[str, Any]) -> None:
        line = json.dumps(status)
        print(f"[stream] {line}", file=sys.stderr, flush=True)
        with self.status_lock, open(self.args.status_file, "a") as fh:
            fh.write(line + "\n")

    def start(self, source: str) -> StreamingQuery:
        self.files.mkdirs(self.landing(source))
        reader = (
            self.spark.readStream.format("text")
            .option("maxFilesPerTrigger", self.args.max_files)
            .option("pathGlobFilter", "*.jsonl")
            .load(self.landing(source))
            # which files the micro-batch holds, and when each was written (for the latency)
            .select(
                F.col("_metadata.file_path").alias("path"),
                F.col("_metadata.file_modification_time").alias("mtime"),
            )
        )
        query = (
            reader.writeStream.queryName(f"lakehouse_stream_{source}")
            .foreachBatch(self.batch(source))
            .option("checkpointLocation", f"{self.args.checkpoints.rstrip('/')}/{source}")
            .trigger(processingTime=f"{self.args.trigger_seconds} seconds")
            .start()
        )
        self.query_ids[source] = str(query.id)
        self.started[source].set()
        return query


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landing", required=True, help="e.g. s3://lakehouse-landing")
    parser.add_argument(
        "--checkpoints", required=True, help="e.g. s3://lakehouse-warehouse/streaming/checkpoints"
    )
    parser.add_argument("--status-file", required=True)
    parser.add_argument("--sources", default=",".join(SOURCES))
    parser.add_argument("--trigger-seconds", type=float, default=5)
    parser.add_argument("--max-files", type=int, default=50)
    parser.add_argument("--wait", type=float, default=600)
    parser.add_argument("--catalog", default=catalog_name())
    args = parser.parse_args(argv)
    spark = SparkSession.builder.appName("lakehouse-stream").getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    # a micro-batch replayed after a crash may list a file moved to quarantine since
    spark.conf.set("spark.sql.files.ignoreMissingFiles", "true")
    stream = Stream(spark, args)
    queries = [stream.start(source) for source in args.sources.split(",") if source]
    print(
        f"[stream] running: {', '.join(q.name for q in queries)} (pid {os.getpid()})",
        file=sys.stderr,
        flush=True,
    )
    spark.streams.awaitAnyTermination()
    for q in queries:  # one query failed: report it and stop the others
        if q.exception():
            print(f"[stream] {q.name} failed: {q.exception()}", file=sys.stderr, flush=True)
        q.stop()
    return 1


if __name__ == "__main__":
    sys.exit(main())
