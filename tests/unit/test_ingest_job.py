"""The whole ingestion job on a file-based Iceberg catalog: lossless, idempotent, all-or-nothing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from jobs import ingest
from jobs.faults import SimulatedDeath
from jobs.ingest import InputChanged, MalformedInput, run
from jobs.writes import current_snapshot
from tests.conftest import SAMPLE

CATALOG = "lakehouse"


def counts(spark) -> dict[str, int]:
    tables = [
        "raw.transactions",
        "raw.payments",
        "curated.transactions",
        "curated.payments",
        "curated.rejected_records",
        "curated.ingestion_log",
    ]
    return {
        t: spark.table(f"{CATALOG}.{t}").count() if spark.catalog.tableExists(f"{CATALOG}.{t}") else 0
        for t in tables
    }


def snapshots(spark) -> dict[str, list[int]]:
    tables = [
        "raw.transactions",
        "raw.payments",
        "curated.transactions",
        "curated.payments",
        "curated.ingestion_log",
    ]
    return {
        t: [r[0] for r in spark.sql(f"SELECT snapshot_id FROM {CATALOG}.{t}.snapshots").collect()]
        for t in tables
    }


@pytest.fixture()
def clean_catalog(spark):
    for ns in ("raw", "curated"):
        spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {CATALOG}.{ns}")
        for t in spark.sql(f"SHOW TABLES IN {CATALOG}.{ns}").collect():
            spark.sql(f"DROP TABLE {CATALOG}.{ns}.{t.tableName} PURGE")
    return spark


def test_sample_then_rerun_changes_nothing(clean_catalog) -> None:
    spark = clean_catalog
    inputs = {
        "transactions": [str(SAMPLE / "transactions.json")],
        "payments": [str(SAMPLE / "payments.json")],
    }
    first = run(spark, CATALOG, inputs)
    for name in ("transactions", "payments"):
        acc = first["sources"][name]
        assert (acc["received"], acc["accepted"], acc["rejected"], acc["duplicates"]) == (100, 100, 0, 0)
    assert counts(spark) == {
        "raw.transactions": 100,
        "raw.payments": 100,
        "curated.transactions": 100,
        "curated.payments": 100,
        "curated.rejected_records": 0,
        "curated.ingestion_log": 2,
    }
    # payment 10 arrives as the integer 10 and is stored as the string "10"
    assert spark.sql(f"SELECT amount_paid FROM {CATALOG}.curated.payments WHERE payment_id = '10'").first()[
        0
    ] == pytest.approx(550)
    before = snapshots(spark)

    again = run(spark, CATALOG, inputs)
    assert again["sources"]["transactions"]["skipped_files"] == inputs["transactions"]
    assert snapshots(spark) == before

    forced = run(spark, CATALOG, {"transactions": inputs["transactions"]}, force=True)
    acc = forced["sources"]["transactions"]
    assert (acc["received"], acc["accepted"], acc["duplicates"]) == (100, 0, 100)
    assert counts(spark)["raw.transactions"] == 100
    assert counts(spark)["curated.transactions"] == 100


def test_truncated_file_refuses_the_whole_batch(clean_catalog, tmp_path: Path) -> None:
    spark = clean_catalog
    good = tmp_path / "good.jsonl"
    good.write_text(
        '{"payment_id": "1", "transaction_id": "1", "amount_paid": 5, "date_paid": "2024-01-01"}\n'
    )
    truncated = tmp_path / "t.json"
    truncated.write_text((SAMPLE / "transactions.json").read_text()[:2000])
    with pytest.raises(MalformedInput, match=r"t\.json: line \d+ column \d+"):
        run(spark, CATALOG, {"transactions": [str(truncated)], "payments": [str(good)]})
    assert counts(spark) == {
        "raw.transactions": 0,
        "raw.payments": 0,
        "curated.transactions": 0,
        "curated.payments": 0,
        "curated.rejected_records": 0,
        "curated.ingestion_log": 0,
    }


def test_rejected_records_keep_raw_text_and_every_reason(clean_catalog, tmp_path: Path) -> None:
    spark = clean_catalog
    path = tmp_path / "tx.jsonl"
    bad = '{"transaction_id": "", "customer_id": "A", "amount": "abc", "date": "invalid-date"}'
    path.write_text(
        bad + "\n" + '{"transaction_id": "9", "customer_id": "B", "amount": 1, "date": "2024-05-01"}\n'
    )
    result = run(spark, CATALOG, {"transactions": [str(path)]})
    acc = result["sources"]["transactions"]
    assert (acc["received"], acc["accepted"], acc["rejected"], acc["duplicates"]) == (2, 1, 1, 0)
    row = spark.table(f"{CATALOG}.curated.rejected_records").first()
    assert row.raw_json == bad
    assert row.record_number == 1
    assert sorted(row.reasons) == ["amount_not_numeric", "invalid_transaction_date", "missing_transaction_id"]


def test_an_attempt_killed_after_its_merge_is_undone_before_the_next_batch(
    clean_catalog, tmp_path: Path, monkeypatch
) -> None:
    """The process dies after writing raw and curated but before its log row; another batch then
    commits; the retry of the first file accounts and stamps every row as if the dead attempt
    had never run, and the other batch's rows are all there."""
    spark = clean_catalog
    first, other = tmp_path / "first.jsonl", tmp_path / "other.jsonl"
    first.write_text(
        '{"transaction_id": "1", "customer_id": "A", "amount": 10, "date": "2024-01-01"}\n'
        '{"transaction_id": "2", "customer_id": "B", "amount": 20, "date": "2024-01-02"}\n'
    )
    other.write_text('{"transaction_id": "3", "customer_id": "C", "amount": 30, "date": "2024-01-03"}\n')
    monkeypatch.setenv("LAKEHOUSE_FAULTS", "ingest.after_curated=die")
    with pytest.raises(SimulatedDeath):
        run(spark, CATALOG, {"transactions": [str(first)]})
    monkeypatch.delenv("LAKEHOUSE_FAULTS")
    assert counts(spark)["curated.transactions"] == 2  # the dead attempt's rows are there...

    run(spark, CATALOG, {"transactions": [str(other)]})  # ...until the next writer recovers
    again = run(spark, CATALOG, {"transactions": [str(first)]})["sources"]["transactions"]
    assert (again["received"], again["accepted"], again["duplicates"]) == (2, 2, 0)
    assert counts(spark) | {"raw.payments": 0, "curated.payments": 0} == {
        "raw.transactions": 3,
        "raw.payments": 0,
        "curated.transactions": 3,
        "curated.payments": 0,
        "curated.rejected_records": 0,
        "curated.ingestion_log": 2,
    }
    lineage = spark.sql(
        f"SELECT c.transaction_id, l.batch_id IS NOT NULL FROM {CATALOG}.curated.transactions c "
        f"LEFT JOIN {CATALOG}.curated.ingestion_log l ON l.batch_id = c.batch_id"
    ).collect()
    assert sorted(tuple(r) for r in lineage) == [("1", True), ("2", True), ("3", True)]
    batch_of_first = spark.sql(
        f"SELECT batch_id FROM {CATALOG}.curated.transactions WHERE transaction_id = '1'"
    ).first()[0]
    assert batch_of_first == again["batch_id"]


def test_a_failure_beside_the_raw_write_undoes_it_too(clean_catalog, tmp_path: Path, monkeypatch) -> None:
    """raw is written side by side with rejected and curated, in one run: when the curated side
    fails after raw has committed, nothing of the batch stays (raw's and rejected's appends
    undone); the retry commits every record once."""
    spark = clean_catalog
    path = tmp_path / "tx.jsonl"
    path.write_text(
        '{"transaction_id": "1", "customer_id": "A", "amount": 10, "date": "2024-01-01"}\n'
        '{"transaction_id": "2", "customer_id": "B", "amount": "x", "date": "2024-01-02"}\n'
        '{"transaction_id": "3", "customer_id": "C", "amount": 30, "date": "2024-01-03"}\n'
    )
    raw = f"{CATALOG}.raw.transactions"

    def fails_once_raw_committed(*args, **kwargs):
        deadline = time.monotonic() + 120
        while current_snapshot(spark, raw) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        raise RuntimeError("curated write failed")

    with monkeypatch.context() as patched:
        patched.setattr(ingest, "merge_curated", fails_once_raw_committed)
        with pytest.raises(RuntimeError, match="curated write failed"):
            run(spark, CATALOG, {"transactions": [str(path)]})
    assert spark.sql(f"SELECT snapshot_id FROM {raw}.snapshots").collect()  # raw had committed...
    assert set(counts(spark).values()) == {0}  # ...and was undone with the rest

    acc = run(spark, CATALOG, {"transactions": [str(path)]})["sources"]["transactions"]
    assert (acc["received"], acc["accepted"], acc["rejected"]) == (3, 2, 1)
    assert counts(spark) == {
        "raw.transactions": 3,
        "raw.payments": 0,
        "curated.transactions": 2,
        "curated.payments": 0,
        "curated.rejected_records": 1,
        "curated.ingestion_log": 1,
    }


def test_both_sources_commit_together_or_not_at_all(clean_catalog, tmp_path: Path, monkeypatch) -> None:
    """The sources of one ingest are written side by side, in one run: when payments' curated
    write fails after transactions' has committed, neither source stays. The retry commits both,
    each log row naming its own raw and curated snapshots and the rejections' snapshot that holds
    both sources' rejected records; a forced re-read of both duplicates nothing; a change to both
    sources merges each into its own table."""
    spark = clean_catalog
    tx, pay = tmp_path / "tx.jsonl", tmp_path / "pay.jsonl"
    tx.write_text(
        '{"transaction_id": "1", "customer_id": "A", "amount": 10, "date": "2024-01-01"}\n'
        '{"transaction_id": "2", "customer_id": "B", "amount": "x", "date": "2024-01-02"}\n'
        '{"transaction_id": "3", "customer_id": "C", "amount": 30, "date": "2024-01-03"}\n'
    )
    pay.write_text(
        '{"payment_id": "P1", "transaction_id": "1", "amount_paid": 10, "date_paid": "2024-02-01"}\n'
        '{"payment_id": "P2", "transaction_id": "3", "amount_paid": -5, "date_paid": "2024-02-02"}\n'
    )
    inputs = {"transactions": [str(tx)], "payments": [str(pay)]}
    merge_curated = ingest.merge_curated

    def payments_fail_once_transactions_committed(spark_, table, p, *args):
        if p.source.name != "payments":
            return merge_curated(spark_, table, p, *args)
        deadline = time.monotonic() + 120
        while (
            current_snapshot(spark, f"{CATALOG}.curated.transactions") is None and time.monotonic() < deadline
        ):
            time.sleep(0.1)
        raise RuntimeError("payments' curated write failed")

    with monkeypatch.context() as patched:
        patched.setattr(ingest, "merge_curated", payments_fail_once_transactions_committed)
        with pytest.raises(RuntimeError, match="payments' curated write failed"):
            run(spark, CATALOG, inputs)
    assert spark.sql(f"SELECT snapshot_id FROM {CATALOG}.curated.transactions.snapshots").collect()
    assert set(counts(spark).values()) == {0}

    result = run(spark, CATALOG, inputs)["sources"]
    assert [(a["received"], a["accepted"], a["rejected"]) for a in result.values()] == [(3, 2, 1), (2, 1, 1)]
    committed = {
        "raw.transactions": 3,
        "raw.payments": 2,
        "curated.transactions": 2,
        "curated.payments": 1,
        "curated.rejected_records": 2,
        "curated.ingestion_log": 2,
    }
    assert counts(spark) == committed
    log = {
        r.source: r
        for r in spark.sql(
            f"SELECT source, raw_snapshot_id, curated_snapshot_id, rejected_snapshot_id "
            f"FROM {CATALOG}.curated.ingestion_log"
        ).collect()
    }
    for source in ("transactions", "payments"):
        assert log[source].raw_snapshot_id == current_snapshot(spark, f"{CATALOG}.raw.{source}")
        assert log[source].curated_snapshot_id == current_snapshot(spark, f"{CATALOG}.curated.{source}")
    rejected = log["payments"].rejected_snapshot_id
    assert log["transactions"].rejected_snapshot_id == rejected
    as_of = spark.sql(f"SELECT source FROM {CATALOG}.curated.rejected_records VERSION AS OF {rejected}")
    assert sorted(r.source for r in as_of.collect()) == ["payments", "transactions"]

    again = run(spark, CATALOG, inputs, force=True)["sources"]
    assert [(a["received"], a["accepted"], a["duplicates"]) for a in again.values()] == [(3, 0, 2), (2, 0, 1)]
    assert counts(spark) == committed | {"curated.ingestion_log": 4}

    # both sources change a record: their MERGEs run side by side, each from its own view (held
    # here until both views exist, so a view one source shared with the other would be replaced)
    tx2, pay2 = tmp_path / "tx2.jsonl", tmp_path / "pay2.jsonl"
    tx2.write_text('{"transaction_id": "1", "customer_id": "A", "amount": 11, "date": "2024-01-01"}\n')
    pay2.write_text(
        '{"payment_id": "P1", "transaction_id": "1", "amount_paid": 11, "date_paid": "2024-02-01"}\n'
    )
    both_views = threading.Barrier(2, timeout=120)
    frame = type(spark.range(1))  # the session's DataFrame class (PySpark's classic one)
    create_view = frame.createOrReplaceTempView

    def create_then_wait(df, name):
        create_view(df, name)
        if name.startswith("_changes"):
            both_views.wait()

    with monkeypatch.context() as patched:
        patched.setattr(frame, "createOrReplaceTempView", create_then_wait)
        changed = run(spark, CATALOG, {"transactions": [str(tx2)], "payments": [str(pay2)]})["sources"]
    assert [(a["accepted"], a["updated"]) for a in changed.values()] == [(1, 1), (1, 1)]
    amounts = spark.sql(
        f"SELECT t.amount, p.amount_paid FROM {CATALOG}.curated.transactions t "
        f"JOIN {CATALOG}.curated.payments p ON p.transaction_id = t.transaction_id"
    ).collect()
    assert [(str(r.amount), str(r.amount_paid)) for r in amounts] == [("11.00", "11.00")]
    assert counts(spark) == committed | {"raw.transactions": 4, "raw.payments": 3, "curated.ingestion_log": 6}


def test_forced_rereads_duplicate_nothing(clean_catalog, tmp_path: Path) -> None:
    spark = clean_catalog
    path = tmp_path / "tx.jsonl"
    path.write_text(
        '{"transaction_id": "1", "customer_id": "A", "amount": 10, "date": "2024-01-01"}\n'
        '{"transaction_id": "2", "customer_id": "B", "amount": "x", "date": "2024-01-02"}\n'
    )
    run(spark, CATALOG, {"transactions": [str(path)]})
    for _ in range(2):
        acc = run(spark, CATALOG, {"transactions": [str(path)]}, force=True)["sources"]["transactions"]
        assert (acc["received"], acc["accepted"], acc["rejected"], acc["duplicates"]) == (2, 0, 1, 1)
    assert counts(spark)["raw.transactions"] == 2
    assert counts(spark)["curated.rejected_records"] == 1
    assert counts(spark)["curated.transactions"] == 1
    assert counts(spark)["curated.ingestion_log"] == 3


def test_the_same_content_under_two_names_is_read_once(clean_catalog, tmp_path: Path) -> None:
    spark = clean_catalog
    text = '{"transaction_id": "1", "customer_id": "A", "amount": 10, "date": "2024-01-01"}\n'
    (tmp_path / "a.jsonl").write_text(text)
    (tmp_path / "b.jsonl").write_text(text)
    acc = run(spark, CATALOG, {"transactions": [str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")]})
    acc = acc["sources"]["transactions"]
    assert (acc["received"], acc["accepted"], acc["duplicates"]) == (1, 1, 0)
    assert counts(spark)["raw.transactions"] == 1
    files = spark.sql(f"SELECT files FROM {CATALOG}.curated.ingestion_log").first()[0]
    assert sorted(f.path for f in files) == [str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")]
    assert len({f.sha256 for f in files}) == 1


def test_every_account_field_of_a_batch_with_each_outcome(clean_catalog, tmp_path: Path) -> None:
    """The counts the job reports (observed while its batch is computed) against a batch whose
    every outcome is known by hand."""
    spark = clean_catalog
    first = tmp_path / "day1.jsonl"
    first.write_text(
        '{"transaction_id": "1", "customer_id": "A", "amount": 10, "date": "2024-01-01"}\n'
        '{"transaction_id": "2", "customer_id": "B", "amount": 20, "date": "2024-01-02"}\n'
    )
    run(spark, CATALOG, {"transactions": [str(first)]})
    second = tmp_path / "day2.jsonl"
    second.write_text(
        # 1: unchanged (duplicate of the curated row); 2: changed (an update)
        '{"transaction_id": "1", "customer_id": "A", "amount": 10, "date": "2024-01-01"}\n'
        '{"transaction_id": "2", "customer_id": "B", "amount": 25, "date": "2024-01-02"}\n'
        # 3: two versions in the batch, the later wins (an insert; the earlier superseded)
        '{"transaction_id": "3", "customer_id": "C", "amount": 30, "date": "2024-01-03"}\n'
        '{"transaction_id": "3", "customer_id": "C", "amount": 31, "date": "2024-01-03"}\n'
        # 4: sent twice, identical (a duplicate, not superseded); 5: rejected
        '{"transaction_id": "4", "customer_id": "D", "amount": 40, "date": "2024-01-04"}\n'
        '{"transaction_id": "4", "customer_id": "D", "amount": 40, "date": "2024-01-04"}\n'
        '{"transaction_id": "5", "customer_id": "E", "amount": -1, "date": "2024-01-05"}\n'
    )
    acc = run(spark, CATALOG, {"transactions": [str(second)]})["sources"]["transactions"]
    fields = ("received", "accepted", "rejected", "duplicates", "inserted", "updated", "superseded")
    assert {k: acc[k] for k in fields} == {
        "received": 7,
        "accepted": 3,  # 2, 3 (later), 4 (one of two)
        "rejected": 1,
        "duplicates": 3,  # 1, 3 (earlier), 4 (the other)
        "inserted": 2,
        "updated": 1,
        "superseded": 1,
    }
    assert counts(spark)["curated.transactions"] == 4


RECORDS = (
    '{"transaction_id": "1", "customer_id": "A", "amount": 10, "date": "2024-01-01"}',
    '  {"transaction_id": "1", "customer_id": "A", "amount": 11, "date": "2024-01-01"} ',
    "",
    '{"transaction_id": "2", "customer_id": "B", "amount": "x", "date": "2024-01-02"}',
    '"not an object"',
    '{"transaction_id": "3", "customer_id": "Ç", "amount": 3, "date": "2024-01-03"}',
)


def test_raw_keeps_every_records_text_whatever_its_outcome(clean_catalog, tmp_path: Path) -> None:
    """raw is written from its own read of the files: every non-blank line, accepted, superseded,
    rejected or not an object, with its exact text (spaces kept) and line number."""
    spark = clean_catalog
    path = tmp_path / "tx.jsonl"
    path.write_text("\n".join(RECORDS) + "\n", encoding="utf-8")
    acc = run(spark, CATALOG, {"transactions": [str(path)]})["sources"]["transactions"]
    assert (acc["received"], acc["accepted"], acc["rejected"], acc["duplicates"]) == (5, 2, 2, 1)
    raw = spark.sql(f"SELECT record_number, raw_json FROM {CATALOG}.raw.transactions").collect()
    expected = [(number, text) for number, text in enumerate(RECORDS, 1) if text]
    assert sorted(tuple(r) for r in raw) == expected


@pytest.mark.parametrize(
    "changed",
    [
        (RECORDS[0], '{"transaction_id": "9", "customer_id": "Z", "amount": 10, "date": "2024-01-01"}'),
        (RECORDS[1], RECORDS[0]),
        RECORDS[:1],
        RECORDS,
    ],
    ids=["a line rewritten", "lines swapped", "a line cut", "lines appended"],
)
def test_a_file_changed_after_it_was_classified_commits_nothing(
    clean_catalog, tmp_path: Path, monkeypatch, changed: tuple[str, ...]
) -> None:
    """raw reads the files again: if one changed after its records were classified, the batch
    fails and nothing of it is committed (raw's append undone)."""
    spark = clean_catalog
    path = tmp_path / "tx.jsonl"
    path.write_text("\n".join(RECORDS[:2]) + "\n")
    classified_records = ingest.classified_records

    def then_change(*args):  # the file changes while the batch is between its two reads
        out = classified_records(*args)
        path.write_text("\n".join(changed) + "\n")
        return out

    monkeypatch.setattr(ingest, "classified_records", then_change)
    with pytest.raises(InputChanged, match="transactions: an input file changed while it was being ingested"):
        run(spark, CATALOG, {"transactions": [str(path)]})
    assert set(counts(spark).values()) == {0}


def tx_lines(padded: int = 0, blank: int = 0) -> str:
    """300 transactions, line `padded` with 500 more spaces, then `blank` blank lines."""
    lines = [
        f'{{"transaction_id": "{i}", "customer_id": "C{i}", "amount": {i}, "date": "2024-01-01"'
        f"{' ' * 500 if i == padded else ''}}}"
        for i in range(1, 301)
    ]
    return "\n".join(lines + [""] * blank) + "\n"


@pytest.mark.parametrize(
    "before, after, refused",
    [
        (tx_lines(padded=300), tx_lines(padded=1), "its lines moved"),
        (tx_lines(blank=5), tx_lines(), "it had 300 lines, 305 when first read"),
    ],
    ids=["padding moved to the first line: refused by the first read", "blank lines cut: refused by raw's"],
)
def test_a_file_rewritten_after_its_lines_were_counted_commits_nothing(
    clean_catalog, tmp_path: Path, monkeypatch, before: str, after: str, refused: str
) -> None:
    """Both reads number lines with the layout the first one counted, before it reads the records.
    A file rewritten right after that count, with the same records, is read alike both times (the
    same fingerprint): the layout's checks refuse it, a partition holding more lines than counted
    as it is read, fewer lines in all after raw's read (whose append is undone)."""
    spark = clean_catalog
    path = tmp_path / "tx.jsonl"
    path.write_text(before)
    measured = ingest.line_layout

    def then_rewrite(lines):
        layout = measured(lines)
        path.write_text(after)
        return layout

    monkeypatch.setattr(ingest, "line_layout", then_rewrite)
    spark.conf.set("spark.sql.files.maxPartitionBytes", "4096")  # many partitions
    try:
        with pytest.raises(InputChanged, match=refused):
            run(spark, CATALOG, {"transactions": [str(path)]})
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
    assert set(counts(spark).values()) == {0}


def test_an_executor_added_between_the_two_reads_changes_nothing(
    clean_catalog, tmp_path: Path, monkeypatch
) -> None:
    """Spark cuts a file into pieces by the cores it has when it plans the read; the raw read
    numbers lines with the pieces the first read counted. Cores added between the two reads (here
    the session's parallelism, 2 then 5) must not change the pieces: the batch commits, every line
    with its own number, and the job leaves the session's configuration as it found it."""
    spark = clean_catalog
    path = tmp_path / "tx.jsonl"
    path.write_text(tx_lines())
    measured = ingest.line_layout

    def then_add_cores(lines):
        layout = measured(lines)
        spark.conf.set("spark.sql.leafNodeDefaultParallelism", "5")
        return layout

    monkeypatch.setattr(ingest, "line_layout", then_add_cores)
    try:
        # a 25 KB file is cut into one piece per core (a piece costs 1 KB more to open)
        spark.conf.set("spark.sql.files.openCostInBytes", "1024")
        spark.conf.set("spark.sql.leafNodeDefaultParallelism", "2")
        run(spark, CATALOG, {"transactions": [str(path)]})
    finally:
        spark.conf.unset("spark.sql.files.openCostInBytes")
        spark.conf.unset("spark.sql.leafNodeDefaultParallelism")
    raw = spark.table(f"{CATALOG}.raw.transactions").select("record_number", "raw_json").collect()
    lines = tx_lines().splitlines()
    assert sorted((r.record_number, r.raw_json) for r in raw) == [(n, lines[n - 1]) for n in range(1, 301)]
    assert spark.table(f"{CATALOG}.curated.transactions").count() == 300
    assert spark.conf.get("spark.sql.files.minPartitionNum", None) is None


def test_files_without_records_make_a_batch_of_none(clean_catalog, tmp_path: Path) -> None:
    """An empty file and one of blank lines: both reads of them find no records (and their counts
    come back: Spark may plan an empty input away), the batch logs the files with zero counts."""
    spark = clean_catalog
    empty, blank = tmp_path / "empty.jsonl", tmp_path / "blank.jsonl"
    empty.write_text("")
    blank.write_text("\n  \n")
    sources = run(spark, CATALOG, {"transactions": [str(empty)], "payments": [str(blank)]})["sources"]
    for name in ("transactions", "payments"):
        acc = sources[name]
        assert (acc["received"], acc["accepted"], acc["rejected"], acc["duplicates"]) == (0, 0, 0, 0)
    rows = counts(spark)
    assert rows.pop("curated.ingestion_log") == 2  # a row per source: its files are ingested
    assert set(rows.values()) == {0}
