"""Streaming on the real stack: the dirty v2 data replayed out of order with re-sent duplicates,
the streaming driver killed twice (once in the middle of a MERGE), a malformed file dropped in;
at the end raw, curated and rejected hold exactly what a batch ingest of the same files gives.

The batch side runs the batch job on the same files in a local Spark with a file catalog of its
own (a fresh, empty lakehouse), in this test process.
"""

from __future__ import annotations

import os
import random
import re
import signal
import time
from pathlib import Path

import pytest

from jobs.ingest import run as batch_ingest
from lakehouse import provision
from lakehouse import secrets as secret_store
from lakehouse.services import pid_alive
from lakehouse.stream_service import StreamApp

pytestmark = pytest.mark.integration
PREFIX = "ST9-"


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1)


def stack_rows(cli, query: str) -> set[tuple[str, ...]]:
    return {tuple(row) for row in cli.sql(query)[1:]}


def batch_rows(spark, query: str) -> set[tuple[str, ...]]:
    return {tuple("" if v is None else str(v) for v in row) for row in spark.sql(query).collect()}


QUERIES = {  # (stack through Trino, batch through Spark SQL): the same rows, by id and content hash
    "curated.transactions": (
        f"SELECT transaction_id, record_hash FROM curated.transactions WHERE transaction_id LIKE '{PREFIX}%'",
        "SELECT transaction_id, record_hash FROM batch.curated.transactions "
        f"WHERE transaction_id LIKE '{PREFIX}%'",
    ),
    "curated.payments": (
        f"SELECT payment_id, record_hash FROM curated.payments WHERE payment_id LIKE '{PREFIX}%'",
        f"SELECT payment_id, record_hash FROM batch.curated.payments WHERE payment_id LIKE '{PREFIX}%'",
    ),
    "raw.transactions": (
        f"SELECT DISTINCT content_hash FROM raw.transactions WHERE raw_json LIKE '%{PREFIX}%'",
        f"SELECT DISTINCT content_hash FROM batch.raw.transactions WHERE raw_json LIKE '%{PREFIX}%'",
    ),
    "raw.payments": (
        f"SELECT DISTINCT content_hash FROM raw.payments WHERE raw_json LIKE '%{PREFIX}%'",
        f"SELECT DISTINCT content_hash FROM batch.raw.payments WHERE raw_json LIKE '%{PREFIX}%'",
    ),
    "curated.rejected_records": (
        "SELECT DISTINCT source, to_hex(sha256(to_utf8(raw_json))), array_join(array_sort(reasons), ',') "
        f"FROM curated.rejected_records WHERE raw_json LIKE '%{PREFIX}%'",
        "SELECT DISTINCT source, upper(sha2(raw_json, 256)), array_join(array_sort(reasons), ',') "
        f"FROM batch.curated.rejected_records WHERE raw_json LIKE '%{PREFIX}%'",
    ),
}


def test_the_stream_equals_a_batch_ingest_across_two_driver_kills(
    cli, settings, spark, tmp_path: Path
) -> None:
    data = tmp_path / "gen"
    cli.run(
        "generate",
        "--customers",
        "120",
        "--schema",
        "v2",
        "--dirty-ratio",
        "0.05",
        "--seed",
        "9",
        "--prefix",
        PREFIX,
        "--out",
        str(data),
    )
    files = {"transactions": data / "transactions.jsonl", "payments": data / "payments.jsonl"}
    app = StreamApp(settings)
    streaming = ["stream", "start", "--trigger-seconds", "2", "--max-files", "20"]

    # kill 1: the driver is killed one second into the first curated write (raw's, beside it,
    # may be running or committed)
    cli.run(*streaming, LAKEHOUSE_FAULTS="ingest.before_curated_merge=killafter:1")
    first_pid = app.pid()
    replay = cli.start(
        "replay",
        "--transactions",
        str(files["transactions"]),
        "--payments",
        str(files["payments"]),
        "--rate",
        "120",
        "--batch-size",
        "30",
        "--disorder",
        "3",
        "--duplicates",
        "0.05",
        "--seed",
        "3",
    )
    wait_until(lambda: not pid_alive(first_pid), 180, "the fault to kill the stream driver")
    assert "killing the driver" in app.log.read_text()
    cli.run(*streaming)

    # kill 2: at a random moment, from outside (the driver's whole process group)
    time.sleep(random.uniform(4, 10))
    second_pid = app.pid()
    os.killpg(second_pid, signal.SIGKILL)
    wait_until(lambda: not pid_alive(second_pid), 30, "the second kill")
    cli.run(*streaming)

    out, err = replay.communicate(timeout=600)
    assert replay.returncode == 0, err
    sent_files = int(re.search(r"sent \d+ records in (\d+) files", out).group(1))

    # a malformed file is set aside with its reason; the stream goes on
    secrets = secret_store.load(settings.secrets_file)
    source_s3 = provision.s3_client(
        settings, secrets["SOURCE_S3_ACCESS_KEY_ID"], secrets["SOURCE_S3_SECRET_ACCESS_KEY"]
    )
    bucket = settings["s3"]["landing_bucket"]
    source_s3.put_object(
        Bucket=bucket,
        Key="stream/transactions/zzzz-malformed.jsonl",
        Body=b'{"transaction_id": "ST9-X", "amo\n',
    )
    root = provision.s3_client(settings, secrets["MINIO_ROOT_USER"], secrets["MINIO_ROOT_PASSWORD"])

    def processed() -> int:
        return int(
            cli.sql(
                "SELECT count(DISTINCT f.path) FROM curated.ingestion_log "
                "CROSS JOIN UNNEST(files) AS f(path, sha256, fmt) WHERE stream_batch IS NOT NULL"
            )[1][0]
        )

    wait_until(lambda: processed() >= sent_files, 600, f"{sent_files} streamed files in the ingestion log")
    reason = root.get_object(Bucket=bucket, Key="stream/errors/transactions/zzzz-malformed.jsonl.reason.txt")
    assert "line 1" in reason["Body"].read().decode()
    assert "Contents" not in root.list_objects_v2(
        Bucket=bucket, Prefix="stream/transactions/zzzz-malformed.jsonl"
    )
    assert app.status()["running"]
    status = cli.run("stream", "status").stdout
    assert re.search(r"transactions\s+\d+\s+[\d.]+\s+[\d.]+\s+[\d.]+s", status), status
    cli.run("stream", "stop")

    # every micro-batch accounted for: received = accepted + rejected + duplicates = raw rows of its files
    batches = cli.sql(
        "SELECT l.batch_id, l.received, l.accepted + l.rejected + l.duplicates, "
        "(SELECT count(*) FROM raw.transactions r WHERE r.batch_id = l.batch_id) + "
        "(SELECT count(*) FROM raw.payments r WHERE r.batch_id = l.batch_id) "
        "FROM curated.ingestion_log l WHERE l.stream_batch IS NOT NULL"
    )[1:]
    assert batches and all(b[1] == b[2] == b[3] for b in batches), batches
    assert not cli.sql(
        "SELECT stream_batch FROM curated.ingestion_log WHERE stream_batch IS NOT NULL "
        "GROUP BY stream_batch HAVING count(*) > 1"
    )[1:]

    # the same files through the batch job, into a fresh lakehouse of its own
    spark.conf.set("spark.sql.catalog.batch", "org.apache.iceberg.spark.SparkCatalog")
    spark.conf.set("spark.sql.catalog.batch.type", "hadoop")
    spark.conf.set("spark.sql.catalog.batch.warehouse", str(tmp_path / "batch-warehouse"))
    batch_ingest(spark, "batch", {name: [str(path)] for name, path in files.items()})
    for table, (stack_query, batch_query) in QUERIES.items():
        streamed, batched = stack_rows(cli, stack_query), batch_rows(spark, batch_query)
        assert batched, table
        assert streamed == batched, f"{table}: {len(streamed ^ batched)} rows differ"
    # no duplicate rows in curated, whatever was re-sent
    for table, key in (("transactions", "transaction_id"), ("payments", "payment_id")):
        total, distinct = cli.sql(
            f"SELECT count(*), count(DISTINCT {key}) FROM curated.{table} WHERE {key} LIKE '{PREFIX}%'"
        )[1]
        assert total == distinct
    assert not app.status()["running"]
