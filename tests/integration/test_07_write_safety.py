"""Overlapping and dying writers on the real stack: nothing lost, nothing duplicated, exact lineage.

Each test writes its own records (ids prefixed by the test), so the module runs alone or after
the others. Expected counts are written by hand from the files the tests write.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest

from lakehouse import provision
from lakehouse import secrets as secret_store

pytestmark = pytest.mark.integration


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def transactions(prefix: str, n: int) -> list[dict]:
    return [
        {
            "transaction_id": f"{prefix}-{i}",
            "customer_id": f"{prefix}-C{i % 7}",
            "amount": 10 + i,
            "date": "2024-02-01",
        }
        for i in range(n)
    ]


def one(cli, query: str) -> str:
    return cli.sql(query)[1][0]


class Output:
    """A background command's stderr, read as it comes (to wait for a line)."""

    def __init__(self, proc):
        self.proc, self.lines = proc, []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert self.proc.poll() is None or any(text in line for line in self.lines), (
                f"exited {self.proc.returncode} before printing {text!r}:\n{''.join(self.lines)[-3000:]}"
            )
            assert time.monotonic() < deadline, f"no {text!r} after {timeout}s"
            time.sleep(0.5)

    def finish(self) -> tuple[int, str, str]:
        stdout = self.proc.stdout.read()
        code = self.proc.wait(timeout=900)
        self.thread.join(timeout=10)
        return code, stdout, "".join(self.lines)


def test_two_ingests_at_once_both_complete_the_second_waiting(cli, tmp_path) -> None:
    first = write_jsonl(tmp_path / "first.jsonl", transactions("OV1", 60))
    second = write_jsonl(tmp_path / "second.jsonl", transactions("OV2", 40))
    release = tmp_path / "release"
    holder = Output(
        cli.start("ingest", "--transactions", str(first), LAKEHOUSE_FAULTS=f"ingest.locked=until:{release}")
    )
    try:
        holder.wait_for("fault injected at ingest.locked")  # it holds every lock it needs now
        waiter = Output(cli.start("ingest", "--transactions", str(second)))
        waiter.wait_for("waiting for the write lock")
    finally:
        release.touch()  # the holder goes on (and frees the tables for later tests if this failed)
    code1, out1, _ = holder.finish()
    code2, out2, err2 = waiter.finish()
    assert (code1, code2) == (0, 0), err2
    assert re.search(
        r"waiting for the write lock on lakehouse\.curated\.ingestion_log: held by `lakehouse ingest` "
        r"\(pid \d+ on \S+, since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d",
        err2,
    ), err2
    assert out1.splitlines()[1].split()[:5] == ["transactions", "60", "60", "0", "0"]
    assert out2.splitlines()[1].split()[:5] == ["transactions", "40", "40", "0", "0"]
    assert one(cli, "SELECT count(*) FROM curated.transactions WHERE transaction_id LIKE 'OV_-%'") == "100"
    assert one(cli, "SELECT count(*) FROM raw.transactions WHERE raw_json LIKE '%\"OV_-%'") == "100"


def test_ingest_killed_after_its_merge_is_undone_and_rerun_as_if_never_run(cli, tmp_path) -> None:
    killed = write_jsonl(tmp_path / "killed.jsonl", transactions("KIL", 50))
    other = write_jsonl(tmp_path / "other.jsonl", transactions("OTH", 30))
    result = cli.run(
        "ingest", "--transactions", str(killed), check=False, LAKEHOUSE_FAULTS="ingest.after_curated=kill"
    )
    assert result.returncode != 0
    # the dead attempt's MERGE committed: its rows are in curated, its batch is not in the log
    (dead,) = [
        r[0]
        for r in cli.sql(
            "SELECT DISTINCT batch_id FROM curated.transactions WHERE transaction_id LIKE 'KIL-%'"
        )[1:]
    ]
    assert one(cli, f"SELECT count(*) FROM curated.ingestion_log WHERE batch_id = '{dead}'") == "0"

    # another writer of the same tables commits in between: it first undoes the dead attempt
    between = cli.run("ingest", "--transactions", str(other))
    assert f"undoing run {dead}" in between.stderr

    again = cli.run("ingest", "--transactions", str(killed))
    assert again.stdout.splitlines()[1].split()[:5] == ["transactions", "50", "50", "0", "0"]
    for table in (
        "raw.transactions",
        "curated.transactions",
        "curated.rejected_records",
        "curated.ingestion_log",
    ):
        assert one(cli, f"SELECT count(*) FROM {table} WHERE batch_id = '{dead}'") == "0", table
    for prefix, path, n in (("KIL", killed, 50), ("OTH", other, 30)):
        logged = cli.sql(
            "SELECT batch_id, received, accepted FROM curated.ingestion_log "
            f"CROSS JOIN UNNEST(files) AS f(path, sha256, fmt) WHERE f.path = '{path}'"
        )[1:]
        assert [row[1:] for row in logged] == [[str(n), str(n)]]
        batch = logged[0][0]
        assert cli.sql(
            f"SELECT count(*), count_if(batch_id = '{batch}') FROM curated.transactions "
            f"WHERE transaction_id LIKE '{prefix}-%'"
        )[1] == [str(n), str(n)]
        assert cli.sql(
            f"SELECT count(*), count_if(batch_id = '{batch}') FROM raw.transactions "
            f"WHERE raw_json LIKE '%\"{prefix}-%'"
        )[1] == [str(n), str(n)]


def test_forced_rereads_and_two_names_duplicate_nothing_and_amounts_are_never_rounded(cli, tmp_path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    records = [
        {"transaction_id": "AMT-1", "customer_id": "AMT-C", "amount": 10.5, "date": "2024-03-01"},
        {"transaction_id": "AMT-2", "customer_id": "AMT-C", "amount": 10.005, "date": "2024-03-01"},
        {
            "transaction_id": "AMT-3",
            "customer_id": "AMT-C",
            "amount": "12345678901234567.00",
            "date": "2024-03-01",
        },
        {"transaction_id": "AMT-4", "customer_id": "AMT-C", "amount": "ten", "date": "2024-03-01"},
        {"transaction_id": "AMT-5", "customer_id": "AMT-C", "amount": 0.001, "date": "2024-03-01"},
    ]
    write_jsonl(folder / "a.jsonl", records)
    write_jsonl(folder / "b.jsonl", records)  # the same bytes under a second name
    out = cli.run("ingest", "--transactions", str(folder)).stdout
    assert out.splitlines()[1].split()[:5] == ["transactions", "5", "1", "4", "0"]
    reasons = dict(
        cli.sql(
            "SELECT json_extract_scalar(raw_json, '$.transaction_id'), array_join(reasons, ',') "
            "FROM curated.rejected_records WHERE raw_json LIKE '%AMT-%'"
        )[1:]
    )
    assert reasons == {
        "AMT-2": "amount_too_precise",
        "AMT-3": "amount_out_of_range",
        "AMT-4": "amount_not_numeric",
        "AMT-5": "amount_too_precise",
    }
    names = cli.sql(
        "SELECT f.path FROM curated.ingestion_log CROSS JOIN UNNEST(files) AS f(path, sha256, fmt) "
        f"WHERE f.path LIKE '{folder}/%' ORDER BY 1"
    )[1:]
    assert names == [[str(folder / "a.jsonl")], [str(folder / "b.jsonl")]]

    def state() -> list[str]:
        return [
            one(cli, "SELECT count(*) FROM raw.transactions WHERE raw_json LIKE '%AMT-%'"),
            one(cli, "SELECT count(*) FROM curated.rejected_records WHERE raw_json LIKE '%AMT-%'"),
            one(cli, "SELECT count(*) FROM curated.transactions WHERE transaction_id LIKE 'AMT-%'"),
        ]

    assert state() == ["5", "4", "1"]
    for _ in range(2):
        forced = cli.run("ingest", "--transactions", str(folder), "--force").stdout
        assert forced.splitlines()[1].split()[:5] == ["transactions", "5", "0", "4", "1"]
        assert state() == ["5", "4", "1"]
    assert cli.run("check", "transactions").returncode == 0  # the accounting check agrees


def export_objects(settings, as_of: str) -> list[str]:
    secrets = secret_store.load(settings.secrets_file)
    s3 = provision.s3_client(settings, secrets["MINIO_ROOT_USER"], secrets["MINIO_ROOT_PASSWORD"])
    prefix = f"delinquency/as_of={as_of}/"
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=settings["s3"]["export_bucket"], Prefix=prefix
    )
    return sorted(o["Key"][len(prefix) :] for page in pages for o in page.get("Contents", []))


def pointer(settings, as_of: str) -> dict:
    secrets = secret_store.load(settings.secrets_file)
    s3 = provision.s3_client(settings, secrets["MINIO_ROOT_USER"], secrets["MINIO_ROOT_PASSWORD"])
    body = s3.get_object(Bucket=settings["s3"]["export_bucket"], Key=f"delinquency/as_of={as_of}/_LATEST")
    return json.loads(body["Body"].read())


@pytest.mark.parametrize("point", ["delinquency.after_first_table", "delinquency.before_publish"])
def test_a_failed_analysis_leaves_tables_and_export_as_the_previous_run(
    cli, settings, tmp_path, point
) -> None:
    as_of = "2024-06-30"
    write_jsonl(tmp_path / "t.jsonl", transactions("DLQ", 20))
    cli.run("ingest", "--transactions", str(tmp_path / "t.jsonl"))
    cli.run("delinquency", "--as-of", as_of, "--terms-days", "30")
    published = pointer(settings, as_of)
    run_id = published["run_id"]
    folders = {key.split("/", 1)[0] for key in export_objects(settings, as_of)}
    assert folders == {"_LATEST", f"run={run_id}"}

    def rows_of_run(table: str) -> list[str]:
        where = f"WHERE as_of = DATE '{as_of}'"
        return cli.sql(f"SELECT count(*), count_if(run_id = '{run_id}') FROM analytics.{table} {where}")[1]

    tables = {
        t: rows_of_run(t) for t in ("customer_delinquency", "delinquency_summary", "delinquency_by_cohort")
    }
    summary = cli.sql(f"SELECT * FROM analytics.delinquency_summary WHERE as_of = DATE '{as_of}'")
    objects = export_objects(settings, as_of)

    failed = cli.run(
        "delinquency", "--as-of", as_of, "--terms-days", "0", check=False, LAKEHOUSE_FAULTS=f"{point}=fail"
    )
    assert failed.returncode == 1 and f"fault injected at {point}" in failed.stderr
    assert pointer(settings, as_of) == published
    assert export_objects(settings, as_of) == objects
    assert cli.sql(f"SELECT * FROM analytics.delinquency_summary WHERE as_of = DATE '{as_of}'") == summary
    for t, counts in tables.items():
        assert rows_of_run(t) == counts
    # the summary records the export it wrote
    assert summary[1][summary[0].index("export_location")] == published["location"]
