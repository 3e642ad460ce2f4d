"""The ingest job alone, in a local Spark with a file catalog: for comparing two versions of the
code or of a setting on the same files, round after round in one JVM, without the stack.

    uv run python bench/local_ingest.py --transactions T.jsonl --payments P.jsonl --rounds 3

Each round ingests the files into emptied tables and prints one JSON line: its wall time, the CPU
the JVM used (from /proc), the classes of generated code Spark compiled and the time the JIT spent
compiling (`generated_classes`, `jit_s`), and the job's own step timings. A warm-up batch (the
first 20,000 records of each file, or `--warm-up N`) runs first: up to
`jobs.ingest.SMALL_BATCH_RECORDS` records a source it takes the small batches' path, which leaves
the large path's code cold for round 0. The session is configured as the Spark service's
(catalog_config/spark-defaults.conf.template: the JVM options, file pieces, code cache), but its
catalog is a directory on local disk.

This machine's speed moves from minute to minute (README, Performance). To compare A and B, run
both at once, each with one core, so that both see the same host, and compare the same rounds:

    CODE=/path/to/checkout-A uv run python bench/local_ingest.py --master 'local[1]' --warehouse /tmp/wa ... &
    CODE=/path/to/checkout-B uv run python bench/local_ingest.py --master 'local[1]' --warehouse /tmp/wb ...

`--conf key=value` sets a Spark setting for the session (e.g. the serializer); `--profile FILE`
records the last round with Java Flight Recorder's profile settings (that round's times then
include the recorder's own cost: compare it with no other round). `--warehouse DIR` keeps the
tables there; the script empties a directory only if it made it (it marks it), else refuses it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, os.environ.get("CODE") or str(Path(__file__).resolve().parents[1]))

from jobs.jvm import jvm_of  # noqa: E402
from lakehouse import artifacts  # noqa: E402
from lakehouse.services import stat_fields  # noqa: E402
from lakehouse.settings import Settings, find_java_home  # noqa: E402

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

CATALOG = "lakehouse"
WARM_UP_RECORDS = 20_000  # lines of each file: the inputs are JSON Lines
WAREHOUSE_MARK = ".local-ingest-warehouse"
JVM_OPTIONS = "-XX:-DontCompileHugeMethods -XX:+UseParallelGC -XX:CompileThresholdScaling=10"


def session(master: str, warehouse: Path, conf: dict[str, str]) -> SparkSession:
    from pyspark.sql import SparkSession

    settings = Settings.load()
    with artifacts.cache_lock(settings):
        jars = artifacts.spark_jars(settings)
    os.environ.setdefault("LAKEHOUSE_PSEUDONYM_KEY", "00" * 32)
    os.environ.setdefault("JAVA_HOME", str(find_java_home(17, "JAVA_HOME", max_major=21)))
    builder = (
        SparkSession.builder.master(master)
        .appName("local-ingest-bench")
        .config("spark.driver.memory", "2g")
        .config("spark.driver.extraJavaOptions", JVM_OPTIONS)
        .config("spark.jars", ",".join(map(str, jars)))
        .config("spark.sql.extensions", "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
        .config(f"spark.sql.catalog.{CATALOG}", "org.apache.iceberg.spark.SparkCatalog")
        .config(f"spark.sql.catalog.{CATALOG}.type", "hadoop")
        .config(f"spark.sql.catalog.{CATALOG}.warehouse", str(warehouse))
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.sql.files.maxPartitionBytes", "16m")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.codegen.cache.maxEntries", "1000")
        .config("spark.python.sql.dataFrameDebugging.enabled", "false")
        .config("spark.ui.enabled", "false")
    )
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def jvm_cpu_seconds(spark: SparkSession) -> float:
    pid = jvm_of(spark).java.lang.ProcessHandle.current().pid()
    fields = stat_fields(Path(f"/proc/{pid}/stat").read_bytes())  # utime and stime: fields 14, 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def compiled(spark: SparkSession) -> tuple[int, float]:
    """Generated classes Spark compiled so far (Janino), and the JIT's compiling time in seconds
    (the JVM's own count: elapsed time of its compiler threads)."""
    jvm = jvm_of(spark)
    classes = jvm.org.apache.spark.metrics.source.CodegenMetrics.METRIC_COMPILATION_TIME().getCount()
    jit_ms = jvm.java.lang.management.ManagementFactory.getCompilationMXBean().getTotalCompilationTime()
    return int(classes), jit_ms / 1000


def empty_tables(spark: SparkSession) -> None:
    for namespace in ("raw", "curated"):
        spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {CATALOG}.{namespace}")
        for table in spark.sql(f"SHOW TABLES IN {CATALOG}.{namespace}").collect():
            spark.sql(f"DROP TABLE {CATALOG}.{namespace}.{table.tableName} PURGE")


def head(path: Path, lines: int, out: Path) -> Path:
    with path.open("rb") as source, out.open("wb") as target:
        for _, line in zip(range(lines), source, strict=False):
            target.write(line)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=Path, required=True)
    parser.add_argument("--payments", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--warehouse", type=Path, help="the catalog's directory (default: a temporary one)")
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--profile", type=Path, metavar="FILE.jfr", help="record the last round")
    parser.add_argument(
        "--warm-up", type=int, default=WARM_UP_RECORDS, metavar="N", help="warm-up records per file"
    )
    args = parser.parse_args()
    if args.warm_up < 1:
        parser.error("--warm-up takes a positive number of records")
    malformed = [item for item in args.conf if "=" not in item]
    if malformed:
        parser.error(f"--conf takes KEY=VALUE, not {malformed[0]!r}")
    conf = dict(item.split("=", 1) for item in args.conf)
    if args.warehouse and args.warehouse.exists():
        made_here = (args.warehouse / WAREHOUSE_MARK).exists()
        if not made_here and any(args.warehouse.iterdir()):
            parser.error(
                f"--warehouse {args.warehouse}: not empty and not made by this script; give a new path"
            )
        shutil.rmtree(args.warehouse)
    work = Path(tempfile.mkdtemp(prefix="local-ingest-"))
    warehouse = args.warehouse or work / "warehouse"
    warehouse.mkdir(parents=True)
    (warehouse / WAREHOUSE_MARK).touch()
    spark = None
    inputs = {"transactions": args.transactions, "payments": args.payments}
    try:
        spark = session(args.master, warehouse, conf)
        from jobs import ingest

        empty_tables(spark)
        warm = {
            name: [str(head(path, args.warm_up, work / f"{name}.jsonl"))] for name, path in inputs.items()
        }
        ingest.run(spark, CATALOG, warm)
        for number in range(args.rounds):
            empty_tables(spark)
            recording = None
            if args.profile and number == args.rounds - 1:
                jfr = jvm_of(spark).jdk.jfr
                recording = jfr.Recording(jfr.Configuration.getConfiguration("profile"))
                recording.start()
            code, cpu, started = compiled(spark), jvm_cpu_seconds(spark), time.monotonic()
            result = ingest.run(spark, CATALOG, {name: [str(path)] for name, path in inputs.items()})
            wall, cpu = time.monotonic() - started, jvm_cpu_seconds(spark) - cpu
            classes, jit = compiled(spark)
            classes, jit = classes - code[0], jit - code[1]
            if recording is not None:
                recording.stop()
                recording.dump(jvm_of(spark).java.io.File(str(args.profile.resolve())).toPath())
                recording.close()
            received = sum(source["received"] for source in result["sources"].values())
            line = {
                "round": number,
                "records": received,
                "wall_s": round(wall, 1),
                "records_per_s": round(received / wall),
                "jvm_cpu_s": round(cpu, 1),
                "generated_classes": classes,
                "jit_s": round(jit, 1),
                "conf": conf,
                "steps": {name: round(seconds, 1) for name, seconds in result["timings"].items()},
            }
            print(json.dumps(line), flush=True)
    finally:
        if spark is not None:
            spark.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
