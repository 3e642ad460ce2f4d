"""Lossless batch ingestion of transactions and payments into Iceberg.

Every input record lands in raw.<source> exactly as received; then it is either accepted into
curated.<source> (typed, deduplicated by natural id, MERGE INTO) or written to
curated.rejected_records with every rule it failed. curated.ingestion_log gets one row per
batch and source, and the invariant received = accepted + rejected + duplicates is checked
before anything is written. Files already ingested (same content hash) are skipped, so
re-running the same input changes nothing.

The transformation functions are pure (DataFrame in, DataFrame out); Spark I/O is in the
functions at the bottom and in main().
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import hashlib
import json
import os
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, StringType

from jobs.iceberg import current_snapshot, rollback
from jobs.protocol import EXIT_INPUT_REFUSED
from jobs.session import run_job
from jobs.sources import CORRUPT, SOURCES, Source

DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$"


class MalformedInput(ValueError):
    """An input file is not valid JSON (e.g. truncated); the whole batch is refused."""


# ---------------------------------------------------------------------------------------
# Input files
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InputFile:
    path: str  # absolute local path
    sha256: str
    fmt: str  # "array" or "ndjson"
    order: int  # position in the batch: later files win ties on the same id


def expand_paths(spec: str) -> list[str]:
    """A file, a directory (its *.json, *.jsonl, *.ndjson files) or a glob, sorted.

    Raises:
        FileNotFoundError: nothing matches.
    """
    path = Path(spec)
    if path.is_dir():
        found = sorted(
            str(p.resolve())
            for p in path.iterdir()
            if p.is_file() and p.suffix in {".json", ".jsonl", ".ndjson"}
        )
    elif path.is_file():
        found = [str(path.resolve())]
    else:
        found = sorted(str(Path(p).resolve()) for p in glob.glob(spec) if Path(p).is_file())
    if not found:
        raise FileNotFoundError(f"No input file matches {spec!r} (a file, directory or glob)")
    return found


def detect_format(path: str) -> str:
    """'array' when the first non-blank character is '[', else 'ndjson' (JSON Lines)."""
    with open(path, "rb") as fh:
        while chunk := fh.read(4096):
            stripped = chunk.lstrip()
            if stripped.startswith(b"\xef\xbb\xbf"):  # UTF-8 byte order mark
                stripped = stripped[3:].lstrip()
            if stripped:
                return "array" if stripped[:1] == b"[" else "ndjson"
    return "ndjson"  # an empty file has no records in either format


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def describe_files(paths: list[str]) -> list[InputFile]:
    return [InputFile(p, file_sha256(p), detect_format(p), i) for i, p in enumerate(paths)]


def json_error_position(path: str) -> str:
    """Where Python's parser first fails in `path` (only used to explain a refused file)."""
    try:
        with open(path, encoding="utf-8") as fh:
            json.load(fh)
    except json.JSONDecodeError as exc:
        return f"line {exc.lineno} column {exc.colno} (char {exc.pos}): {exc.msg}"
    except (OSError, UnicodeDecodeError) as exc:
        return str(exc)
    return "unknown position"


# ---------------------------------------------------------------------------------------
# Reading records (one row per input record, exactly as received)
# ---------------------------------------------------------------------------------------
def number_lines(lines: DataFrame) -> DataFrame:
    """Adds record_number = 1-based line number to `spark.read.text` output of ONE file.

    Set-based: a partition's rows keep file order, so the line number is the row's index in
    its partition plus the number of lines in the partitions before it.
    """
    with_pos = (
        lines.withColumn("_pid", F.spark_partition_id())
        .withColumn("_mid", F.monotonically_increasing_id())
        .withColumn("_row", F.col("_mid") - F.shiftleft(F.col("_pid").cast("long"), 33))
    )
    before = Window.orderBy("_pid").rowsBetween(Window.unboundedPreceding, -1)
    offsets = (
        with_pos.groupBy("_pid")
        .count()
        .withColumn("_offset", F.coalesce(F.sum("count").over(before), F.lit(0)))
        .select("_pid", "_offset")
    )
    return (
        with_pos.join(F.broadcast(offsets), "_pid")
        .withColumn("record_number", (F.col("_offset") + F.col("_row") + 1).cast("long"))
        .drop("_pid", "_mid", "_row", "_offset")
    )


def read_file(spark: SparkSession, f: InputFile) -> DataFrame:
    """One row per record: source_file, file_sha256, file_order, record_number, raw_json."""
    uri = Path(f.path).as_uri()
    if f.fmt == "array":
        whole = spark.read.text(uri, wholetext=True).withColumn(
            "_items", F.from_json("value", ArrayType(StringType()))
        )
        items = whole.where(F.col("_items").isNotNull()).select(
            F.posexplode("_items").alias("pos", "raw_json")
        )
        good = items.select(
            (F.col("pos") + 1).cast("long").alias("record_number"),
            F.coalesce("raw_json", F.lit("null")).alias("raw_json"),
        )
        # an array that does not parse yields one marker row (record 0) so it can be refused
        bad = whole.where(F.col("_items").isNull()).select(
            F.lit(0).cast("long").alias("record_number"), F.lit(None).cast("string").alias("raw_json")
        )
        records = good.unionByName(bad)
    else:
        lines = number_lines(spark.read.text(uri)).withColumnRenamed("value", "raw_json")
        records = lines.where(F.trim("raw_json") != "").select("record_number", "raw_json")
    return records.select(
        F.lit(f.path).alias("source_file"),
        F.lit(f.sha256).alias("file_sha256"),
        F.lit(f.order).alias("file_order"),
        "record_number",
        "raw_json",
    )


def read_records(spark: SparkSession, files: list[InputFile]) -> DataFrame:
    frames = [read_file(spark, f) for f in files]
    out = frames[0]
    for frame in frames[1:]:
        out = out.unionByName(frame)
    return out


# ---------------------------------------------------------------------------------------
# Parsing, validation and typing
# ---------------------------------------------------------------------------------------
def _clean(col: Column) -> Column:
    """Trimmed string; empty counts as missing."""
    trimmed = F.trim(col)
    return F.when(trimmed == "", None).otherwise(trimmed)


def parse(records: DataFrame, source: Source) -> DataFrame:
    """Adds `rec` (the record parsed against the declared source schema) and `malformed`.

    A record that starts like JSON ('{' or '[') but does not parse is malformed: the file is
    broken (truncated), which refuses the batch. Anything else that is not an object is a
    record-level problem and gets rejected with reason not_a_json_object.
    """
    text = F.trim("raw_json")
    parsed = F.from_json(
        "raw_json", source.schema, {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT}
    )
    return (
        records.withColumn("is_object", text.startswith("{"))
        .withColumn("rec", F.when(F.col("is_object"), parsed))
        .withColumn(
            "malformed",
            (F.col("record_number") == 0)
            | (
                (text.startswith("{") | text.startswith("["))
                & (F.col("rec").isNull() | F.col(f"rec.{CORRUPT}").isNotNull())
            ),
        )
    )


def _date(col: Column) -> tuple[Column, Column]:
    """(typed DATE or null, True when present but not a valid YYYY-MM-DD[Thh:mm:ss] date)."""
    cleaned = _clean(col)
    typed = F.when(cleaned.rlike(DATE_PATTERN), F.substring(cleaned, 1, 10).try_cast("date"))
    return typed, cleaned.isNotNull() & typed.isNull()


def _amount(col: Column) -> Column:
    return _clean(col).try_cast("decimal(18,2)")


def typed_columns(source: Source) -> dict[str, Column]:
    """Curated column -> expression over `rec`, including v1 aliases."""
    r = lambda name: _clean(F.col(f"rec.{name}"))  # noqa: E731
    m = lambda name: _clean(F.col(f"rec.metadata.{name}"))  # noqa: E731
    date_typed, _ = _date(F.coalesce(r(source.date_column), r(source.date_alias)))
    cols: dict[str, Column] = {}
    for name, sql_type in source.columns:
        if name == source.date_column:
            cols[name] = date_typed
        elif name == "due_date":
            cols[name] = _date(r("due_date"))[0]
        elif name in {source.amount_column, "fee_amount"}:
            expr = r(name) if name != "fee_amount" else m(name)
            cols[name] = _amount(expr)
        elif name in source.schema["metadata"].dataType.fieldNames():
            cols[name] = m(name).try_cast(sql_type.lower()) if sql_type != "STRING" else m(name)
        else:
            cols[name] = r(name)
    return cols


def rejection_reasons(source: Source) -> Column:
    """Every rule the record fails, as an array of rule names (empty when valid)."""
    r = lambda name: _clean(F.col(f"rec.{name}"))  # noqa: E731
    raw_date = F.coalesce(r(source.date_column), r(source.date_alias))
    _, date_invalid = _date(raw_date)
    _, due_invalid = _date(r("due_date")) if source is SOURCES["transactions"] else (None, F.lit(False))
    amount_raw = r(source.amount_column)
    amount = _amount(amount_raw)
    checks: list[tuple[str, Column]] = [(f"missing_{name}", r(name).isNull()) for name in source.required_ids]
    checks += [
        (f"missing_{source.amount_column}", amount_raw.isNull()),
        (f"{source.amount_column}_not_numeric", amount_raw.isNotNull() & amount.isNull()),
        (f"{source.amount_column}_not_positive", amount.isNotNull() & (amount <= 0)),
        (f"missing_{source.date_column}", raw_date.isNull()),
        (f"invalid_{source.date_column}", date_invalid),
    ]
    if source is SOURCES["transactions"]:
        checks.append(("invalid_due_date", due_invalid))
    flagged = F.array(*[F.when(cond, F.lit(name)) for name, cond in checks])
    return F.when(~F.col("is_object"), F.array(F.lit("not_a_json_object"))).otherwise(
        F.filter(flagged, lambda x: x.isNotNull())
    )


def validate(parsed: DataFrame, source: Source) -> DataFrame:
    """Adds `reasons`, the typed curated columns and `record_hash` (hash of the typed values)."""
    cols = typed_columns(source)
    names = [name for name, _ in source.columns]
    out = parsed.withColumn("reasons", rejection_reasons(source))
    for name, expr in cols.items():
        out = out.withColumn(name, F.when(F.col("is_object"), expr))
    schema_version = F.when(
        F.col(f"rec.{source.date_column}").isNotNull()
        | F.col("rec.metadata").isNotNull()
        | F.col("rec.currency").isNotNull(),
        "v2",
    ).otherwise("v1")
    return out.withColumn(
        "record_hash", F.sha2(F.to_json(F.struct(*[F.col(n) for n in names])), 256)
    ).withColumn("schema_version", F.when(F.col("is_object"), schema_version))


def classify(validated: DataFrame, current: DataFrame, source: Source) -> DataFrame:
    """Gives each valid or rejected record exactly one `outcome`.

    - rejected: failed at least one rule.
    - duplicate: a valid record that is not the last one for its id in the batch (files in
      batch order, then record number), or the last one but identical to the curated row.
    - accepted: the last valid record for its id, new or different from the curated row
      (`change` says insert or update).
    `superseded` marks duplicates whose content differs from the record that won.
    """
    key = source.id_column
    last_first = Window.partitionBy(key).orderBy(F.col("file_order").desc(), F.col("record_number").desc())
    valid = validated.where(F.size("reasons") == 0)
    ranked = valid.withColumn("_rank", F.row_number().over(last_first)).withColumn(
        "_winner_hash", F.first("record_hash").over(last_first)
    )
    existing = current.select(F.col(key).alias("_cur_id"), F.col("record_hash").alias("_cur_hash"))
    joined = ranked.join(existing, ranked[key] == existing["_cur_id"], "left")
    outcome = (
        F.when(F.col("_rank") > 1, "duplicate")
        .when(F.col("_cur_hash") == F.col("record_hash"), "duplicate")
        .otherwise("accepted")
    )
    change = F.when(outcome == "accepted", F.when(F.col("_cur_id").isNull(), "insert").otherwise("update"))
    superseded = (F.col("_rank") > 1) & (F.col("record_hash") != F.col("_winner_hash"))
    valid_out = (
        joined.withColumn("outcome", outcome)
        .withColumn("change", change)
        .withColumn("superseded", superseded)
        .drop("_rank", "_winner_hash", "_cur_id", "_cur_hash")
    )
    rejected = (
        validated.where(F.size("reasons") > 0)
        .withColumn("outcome", F.lit("rejected"))
        .withColumn("change", F.lit(None).cast("string"))
        .withColumn("superseded", F.lit(False))
    )
    return valid_out.unionByName(rejected)


@dataclass
class Account:
    """Per-source counts of one batch."""

    received: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    inserted: int = 0
    updated: int = 0
    superseded: int = 0

    def balanced(self) -> bool:
        return self.received == self.accepted + self.rejected + self.duplicates


def account(records: DataFrame, classified: DataFrame) -> Account:
    """Counts from two independent sides: records read, and outcomes after all joins."""
    received = records.count()
    row = classified.agg(
        F.sum(F.when(F.col("outcome") == "accepted", 1).otherwise(0)).alias("accepted"),
        F.sum(F.when(F.col("outcome") == "rejected", 1).otherwise(0)).alias("rejected"),
        F.sum(F.when(F.col("outcome") == "duplicate", 1).otherwise(0)).alias("duplicates"),
        F.sum(F.when(F.col("change") == "insert", 1).otherwise(0)).alias("inserted"),
        F.sum(F.when(F.col("change") == "update", 1).otherwise(0)).alias("updated"),
        F.sum(F.when(F.col("superseded"), 1).otherwise(0)).alias("superseded"),
    ).first()
    counts = {k: int(v or 0) for k, v in row.asDict().items()}
    return Account(received=received, **counts)


# ---------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------
LINEAGE = (
    ("schema_version", "STRING"),
    ("record_hash", "STRING"),
    ("source_file", "STRING"),
    ("record_number", "BIGINT"),
    ("batch_id", "STRING"),
    ("ingested_at", "TIMESTAMP"),
)


def table_ddl(catalog: str) -> dict[str, str]:
    """CREATE TABLE IF NOT EXISTS statements; the contracts are in docs/tables.md."""
    props = "TBLPROPERTIES ('format-version'='2', 'write.merge.mode'='copy-on-write')"
    ddl = {}
    for s in SOURCES.values():
        ddl[f"raw.{s.name}"] = f"""
            CREATE TABLE IF NOT EXISTS {catalog}.raw.{s.name} (
                raw_json STRING, source_file STRING, file_sha256 STRING, record_number BIGINT,
                content_hash STRING, batch_id STRING, ingested_at TIMESTAMP)
            USING iceberg PARTITIONED BY (days(ingested_at)) {props}"""
        cols = ", ".join(f"{n} {t}" for n, t in (*s.columns, *LINEAGE))
        ddl[f"curated.{s.name}"] = f"""
            CREATE TABLE IF NOT EXISTS {catalog}.curated.{s.name} ({cols})
            USING iceberg PARTITIONED BY (months({s.date_column})) {props}"""
    ddl["curated.rejected_records"] = f"""
        CREATE TABLE IF NOT EXISTS {catalog}.curated.rejected_records (
            source STRING, batch_id STRING, source_file STRING, file_sha256 STRING,
            record_number BIGINT, raw_json STRING, reasons ARRAY<STRING>, rejected_at TIMESTAMP)
        USING iceberg PARTITIONED BY (source, days(rejected_at)) {props}"""
    ddl["curated.ingestion_log"] = f"""
        CREATE TABLE IF NOT EXISTS {catalog}.curated.ingestion_log (
            batch_id STRING, source STRING, started_at TIMESTAMP, finished_at TIMESTAMP,
            files ARRAY<STRUCT<path: STRING, sha256: STRING, format: STRING>>,
            received BIGINT, accepted BIGINT, rejected BIGINT, duplicates BIGINT,
            inserted BIGINT, updated BIGINT, superseded BIGINT,
            raw_snapshot_id BIGINT, curated_snapshot_id BIGINT, rejected_snapshot_id BIGINT)
        USING iceberg {props}"""
    return ddl


def ensure_tables(spark: SparkSession, catalog: str) -> None:
    for ns in ("raw", "curated"):
        spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {catalog}.{ns}")
    for statement in table_ddl(catalog).values():
        spark.sql(statement)
    for s in SOURCES.values():
        spark.sql(f"ALTER TABLE {catalog}.curated.{s.name} WRITE ORDERED BY {s.id_column}")


# ---------------------------------------------------------------------------------------
# The batch
# ---------------------------------------------------------------------------------------
@dataclass
class Prepared:
    source: Source
    files: list[InputFile]
    skipped: list[InputFile]
    records: DataFrame | None = None
    classified: DataFrame | None = None
    account: Account = field(default_factory=Account)


def already_ingested(spark: SparkSession, catalog: str, source: str) -> set[str]:
    rows = spark.sql(
        f"SELECT DISTINCT f.sha256 FROM {catalog}.curated.ingestion_log "
        f"LATERAL VIEW explode(files) t AS f WHERE source = '{source}'"
    ).collect()  # one row per ingested file: small, bounded by the number of files
    return {r[0] for r in rows}


def prepare(spark: SparkSession, catalog: str, source: Source, paths: list[str], force: bool) -> Prepared:
    """Read, parse, validate and classify one source; nothing is written here.

    Raises:
        MalformedInput: a file is not valid JSON; names the file and the position.
    """
    files = describe_files(paths)
    seen = set() if force else already_ingested(spark, catalog, source.name)
    todo = [f for f in files if f.sha256 not in seen]
    prepared = Prepared(source, todo, [f for f in files if f.sha256 in seen])
    if not todo:
        return prepared
    records = read_records(spark, todo).persist()
    parsed = parse(records, source).persist()
    broken = parsed.where("malformed").select("source_file", "record_number").limit(5).collect()
    if broken:
        problems = []
        for row in broken:
            f = next(f for f in todo if f.path == row.source_file)
            where = (
                json_error_position(f.path)
                if f.fmt == "array"
                else f"line {row.record_number}: not valid JSON (truncated?)"
            )
            problems.append(f"{row.source_file}: {where}")
        raise MalformedInput(
            f"{source.name}: malformed input, batch refused, nothing written:\n  " + "\n  ".join(problems)
        )
    # Compare with rows of committed batches only: a row left by an attempt that died before its
    # log row is not "already there", so the batch is accounted for as if that attempt never ran.
    committed = spark.table(f"{catalog}.curated.ingestion_log").select("batch_id")
    current = spark.table(f"{catalog}.curated.{source.name}").join(committed, "batch_id", "left_semi")
    # Checkpointed, not just cached: it cuts the plan's reference to the curated table, which
    # MERGE INTO cannot plan through (and it pins the curated state the batch was compared to).
    classified = classify(validate(parsed, source), current, source).localCheckpoint(eager=True)
    prepared.records, prepared.classified = records, classified
    prepared.account = account(records, classified)
    if not prepared.account.balanced():
        raise RuntimeError(f"{source.name}: accounting invariant failed, nothing written: {prepared.account}")
    return prepared


def commit(
    spark: SparkSession, catalog: str, p: Prepared, batch_id: str, started: dt.datetime, forced: bool = False
) -> dict[str, int | None]:
    """Write raw, rejected, curated, then the log row (the commit marker).

    On failure the batch is undone: its rows are deleted from the append-only tables, which the
    two sources share and may be appending to concurrently, and the source's own curated table
    is rolled back. A process killed before the log row leaves rows that the next attempt on
    the same files removes first (see `remove_leftovers`).
    """
    s = p.source
    tables = [
        f"{catalog}.raw.{s.name}",
        f"{catalog}.curated.rejected_records",
        f"{catalog}.curated.{s.name}",
        f"{catalog}.curated.ingestion_log",
    ]
    if not forced:
        remove_leftovers(spark, catalog, s.name, [f.sha256 for f in p.files])
    curated_before = current_snapshot(spark, tables[2])
    now = F.lit(started).cast("timestamp")
    try:
        assert p.records is not None and p.classified is not None
        raw = p.records.select(
            "raw_json",
            "source_file",
            "file_sha256",
            "record_number",
            F.sha2(F.coalesce("raw_json", F.lit("")), 256).alias("content_hash"),
            F.lit(batch_id).alias("batch_id"),
            now.alias("ingested_at"),
        )
        if forced:  # files seen before: keep raw one row per (file content, record)
            raw.createOrReplaceTempView("_raw_batch")
            spark.sql(f"""
                MERGE INTO {tables[0]} t USING _raw_batch s
                ON t.file_sha256 = s.file_sha256 AND t.record_number = s.record_number
                WHEN NOT MATCHED THEN INSERT *""")
        else:
            raw.writeTo(tables[0]).append()

        if p.account.rejected:
            rejected = p.classified.where(F.col("outcome") == "rejected")
            (
                rejected.select(
                    F.lit(s.name).alias("source"),
                    F.lit(batch_id).alias("batch_id"),
                    "source_file",
                    "file_sha256",
                    "record_number",
                    "raw_json",
                    "reasons",
                    now.alias("rejected_at"),
                )
                .writeTo(tables[1])
                .append()
            )

        names = [n for n, _ in s.columns] + [n for n, _ in LINEAGE]
        changes = (
            p.classified.where(F.col("outcome") == "accepted")
            .withColumn("batch_id", F.lit(batch_id))
            .withColumn("ingested_at", now)
            .select(*names)
        )
        if p.account.accepted:
            changes.createOrReplaceTempView("_changes")
            spark.sql(f"""
                MERGE INTO {tables[2]} t USING _changes s ON t.{s.id_column} = s.{s.id_column}
                WHEN MATCHED AND t.record_hash <> s.record_hash THEN UPDATE SET *
                WHEN NOT MATCHED THEN INSERT *""")

        snaps = {
            "raw_snapshot_id": current_snapshot(spark, tables[0]),
            "rejected_snapshot_id": current_snapshot(spark, tables[1]),
            "curated_snapshot_id": current_snapshot(spark, tables[2]),
        }
        a = p.account
        log = spark.createDataFrame(
            [
                (
                    batch_id,
                    s.name,
                    started,
                    dt.datetime.now(dt.UTC).replace(tzinfo=None),
                    [(f.path, f.sha256, f.fmt) for f in p.files],
                    a.received,
                    a.accepted,
                    a.rejected,
                    a.duplicates,
                    a.inserted,
                    a.updated,
                    a.superseded,
                    snaps["raw_snapshot_id"],
                    snaps["curated_snapshot_id"],
                    snaps["rejected_snapshot_id"],
                )
            ],
            spark.table(tables[3]).schema,
        )
        log.writeTo(tables[3]).append()
        return snaps
    except Exception:
        for table in (tables[0], tables[1], tables[3]):
            spark.sql(f"DELETE FROM {table} WHERE batch_id = '{batch_id}'")
        rollback(spark, {tables[2]: curated_before})
        raise


def remove_leftovers(spark: SparkSession, catalog: str, source: str, hashes: list[str]) -> None:
    """Rows of files not in the ingestion log come from an attempt that died before its log row
    (a killed process): delete them so the new attempt writes each record exactly once."""
    listed = ", ".join(f"'{h}'" for h in hashes)
    spark.sql(f"DELETE FROM {catalog}.raw.{source} WHERE file_sha256 IN ({listed})")
    spark.sql(
        f"DELETE FROM {catalog}.curated.rejected_records "
        f"WHERE source = '{source}' AND file_sha256 IN ({listed})"
    )


def run(spark: SparkSession, catalog: str, inputs: dict[str, list[str]], force: bool = False) -> dict:
    """Ingest every given source; returns the per-source account."""
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    ensure_tables(spark, catalog)
    prepared = {name: prepare(spark, catalog, SOURCES[name], paths, force) for name, paths in inputs.items()}
    result: dict = {"catalog": catalog, "sources": {}}
    for name, p in prepared.items():
        entry: dict = {"skipped_files": [f.path for f in p.skipped]}
        if p.files:
            digest = hashlib.sha256("".join(f.sha256 for f in p.files).encode()).hexdigest()[:8]
            batch_id = f"{started:%Y%m%dT%H%M%SZ}-{name[:3]}-{digest}-{uuid.uuid4().hex[:4]}"
            entry["batch_id"] = batch_id
            entry["snapshots"] = commit(spark, catalog, p, batch_id, started, force)
        entry.update(vars(p.account))
        result["sources"][name] = entry
        for df in (p.records, p.classified):
            if df is not None:
                df.unpersist()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", help="file, directory or glob")
    parser.add_argument("--payments", help="file, directory or glob")
    parser.add_argument("--catalog", default=os.environ.get("LAKEHOUSE_CATALOG_NAME", "lakehouse"))
    parser.add_argument(
        "--force", action="store_true", help="re-read files already ingested (curated stays idempotent)"
    )
    args = parser.parse_args(argv)
    inputs = {
        name: expand_paths(spec)
        for name, spec in (("transactions", args.transactions), ("payments", args.payments))
        if spec
    }
    if not inputs:
        parser.error("give --transactions and/or --payments")
    return run_job(
        "ingest",
        lambda spark: run(spark, args.catalog, inputs, args.force),
        {MalformedInput: EXIT_INPUT_REFUSED},
    )


if __name__ == "__main__":
    sys.exit(main())
