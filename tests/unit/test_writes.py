"""Locks, the journal and undo (jobs/writes.py) on a file-based catalog: a run takes back its
own writes and nothing else, also after another commit landed on top; a dead run is undone by
the next writer; a second writer waits, then times out."""

from __future__ import annotations

import pytest

from jobs.faults import SimulatedDeath
from jobs.writes import RUN_PROPERTY, LocalBackend, LockTimeout, Writer

T = "lakehouse.wt.items"
KEYS = {T: ["id"]}


@pytest.fixture()
def table(spark):
    LocalBackend.forget_everything()
    spark.sql("CREATE NAMESPACE IF NOT EXISTS lakehouse.wt")
    spark.sql(f"DROP TABLE IF EXISTS {T} PURGE")
    spark.sql(f"CREATE TABLE {T} (id STRING, v INT, batch STRING) USING iceberg")
    spark.sql(f"INSERT INTO {T} VALUES ('a', 1, 'seed'), ('b', 2, 'seed'), ('c', 3, 'seed')")
    yield spark
    LocalBackend.forget_everything()


def rows(spark) -> list[tuple]:
    return sorted(tuple(r) for r in spark.table(T).collect())


SEED = [("a", 1, "seed"), ("b", 2, "seed"), ("c", 3, "seed")]


def own_writes(spark, batch: str) -> None:
    """Insert d, update a, delete b: one MERGE and one DELETE, as a job's writes would."""
    spark.createDataFrame(
        [("d", 4, batch), ("a", 10, batch)], "id string, v int, batch string"
    ).createOrReplaceTempView("_s")
    spark.sql(f"""MERGE INTO {T} t USING _s s ON t.id = s.id
                  WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *""")
    spark.sql(f"DELETE FROM {T} WHERE id = 'b'")


def test_every_snapshot_of_a_run_is_tagged_with_its_id(table) -> None:
    spark = table
    with Writer.open(spark, "lakehouse", "test", [T]) as w, w.run("run-1", KEYS):
        own_writes(spark, "run-1")
    tags = [
        r[0]
        for r in spark.sql(
            f"SELECT summary['{RUN_PROPERTY}'] FROM {T}.snapshots ORDER BY committed_at"
        ).collect()
    ]
    assert tags == [None, "run-1", "run-1"]  # the seed insert untagged, then the run's MERGE and DELETE


def test_a_failed_run_is_rolled_back_to_the_snapshot_before_it(table) -> None:
    spark = table
    with (
        pytest.raises(RuntimeError, match="boom"),
        Writer.open(spark, "lakehouse", "test", [T]) as w,
        w.run("run-1", KEYS),
    ):
        own_writes(spark, "run-1")
        raise RuntimeError("boom")
    assert rows(spark) == SEED


def test_undo_keeps_a_commit_that_landed_on_top(table) -> None:
    """Another writer (not taking locks, e.g. an admin in Trino) commits after the run's writes:
    undoing the run must revert only the run's rows, keep the other commit, and not resurrect a
    row the other writer changed."""
    spark = table
    with (
        pytest.raises(RuntimeError, match="boom"),
        Writer.open(spark, "lakehouse", "test", [T]) as w,
        w.run("run-1", KEYS),
    ):
        own_writes(spark, "run-1")  # a->10, d inserted, b deleted
        spark.conf.unset("spark.sql.iceberg.snapshot-property.lakehouse.run-id")
        spark.sql(f"INSERT INTO {T} VALUES ('e', 5, 'other')")
        spark.sql(f"UPDATE {T} SET v = 40, batch = 'other' WHERE id = 'd'")
        raise RuntimeError("boom")
    # a restored, b restored, c untouched, d kept (the other writer changed it), e kept
    assert rows(spark) == [
        ("a", 1, "seed"),
        ("b", 2, "seed"),
        ("c", 3, "seed"),
        ("d", 40, "other"),
        ("e", 5, "other"),
    ]


def test_a_dead_run_is_undone_by_the_next_writer(table) -> None:
    spark = table
    # a writer that dies mid-run: its journal entry stays pending and its locks are gone
    dead = Writer.open(spark, "lakehouse", "dead", [T])
    w = dead.__enter__()
    run = w.run("run-dead", KEYS)
    run.__enter__()
    own_writes(spark, "run-dead")
    spark.conf.unset("spark.sql.iceberg.snapshot-property.lakehouse.run-id")
    w.backend.release_all()  # the process died: its session (and locks) ended
    assert rows(spark) != SEED

    with Writer.open(spark, "lakehouse", "next", [T]) as nxt:
        assert [e.run_id for e in nxt.backend.pending()] == []
    assert rows(spark) == SEED
    # the dead writer's generators are still suspended: end them as a death would (nothing cleaned
    # up) while Spark runs, not in a garbage collection after the session has stopped
    death = SimulatedDeath("end of the test")
    assert not run.__exit__(SimulatedDeath, death, None)
    assert not dead.__exit__(SimulatedDeath, death, None)


def test_a_second_writer_waits_then_times_out(table) -> None:
    spark = table
    with (
        Writer.open(spark, "lakehouse", "first", [T]),
        pytest.raises(LockTimeout, match=r"could not lock lakehouse\.wt\.items within 0s"),
        Writer.open(spark, "lakehouse", "second", [T], wait=0.2),
    ):
        pass
    with Writer.open(spark, "lakehouse", "third", [T], wait=0.2):
        pass  # released when the first closed


def test_writing_a_table_without_its_lock_is_refused(table) -> None:
    spark = table
    with (
        Writer.open(spark, "lakehouse", "test", [T]) as w,
        pytest.raises(RuntimeError, match="without holding their locks"),
        w.run("run-1", {"lakehouse.wt.other": ["id"]}),
    ):
        pass
