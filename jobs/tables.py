"""The table contracts: every Iceberg table the platform writes, in one place.

Each `Table` says what a row is (grain), its columns and types, its natural key, how it is
partitioned and sorted, and which columns carry a keyed pseudonym. The jobs create and evolve
tables from these declarations (`ensure`), the writer locks and undoes by their keys, the
governance build checks the classification against them, and docs/tables.md is rendered from
them (a test keeps it in sync; another compares the live catalog with them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from jobs.jvm import jvm_of
from jobs.sources import PAYMENTS, TRANSACTIONS, Source

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Parquet pages compressed with zstd at level 1, not Parquet's default level 3: for these rows it is
# faster and even a little smaller (local Spark, 2,000,000 transactions per write, median of four
# warm rounds: a raw write 2.7 -> 2.3 s, 100.0 -> 97.2 MB; a curated write 4.1 -> 3.5 s, 91.8 ->
# 88.3 MB). zstd decompresses either level at about the same speed.
FORMAT = {
    "format-version": "2",
    "write.parquet.compression-codec": "zstd",
    "write.parquet.compression-level": "1",
}
# Batches write in parallel, each task its own files, with no shuffle before the write (a batch
# has one ingestion day: clustering by partition would send every row to one task).
# Maintenance compacts the small files this leaves.
UNCLUSTERED = {**FORMAT, "write.distribution-mode": "none"}


@dataclass(frozen=True)
class Table:
    namespace: str
    name: str
    grain: str
    columns: tuple[tuple[str, str], ...]  # (name, Spark SQL type), in table order
    key: tuple[str, ...]
    partitioning: tuple[str, ...] = ()  # Iceberg transforms, e.g. "months(transaction_date)"
    write_order: tuple[str, ...] = ()
    properties: dict[str, str] = field(default_factory=lambda: dict(FORMAT))
    pseudonymised: tuple[str, ...] = ()  # columns with a `<column>_pseudonym` companion
    invariants: tuple[str, ...] = ()

    @property
    def qualified(self) -> str:
        return f"{self.namespace}.{self.name}"

    def full_name(self, catalog: str) -> str:
        return f"{catalog}.{self.namespace}.{self.name}"

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    def ddl(self, catalog: str) -> str:
        cols = ", ".join(f"{n} {t}" for n, t in self.columns)
        parts = f" PARTITIONED BY ({', '.join(self.partitioning)})" if self.partitioning else ""
        props = ", ".join(f"'{k}'='{v}'" for k, v in self.properties.items())
        return (
            f"CREATE TABLE IF NOT EXISTS {self.full_name(catalog)} ({cols}) USING iceberg{parts} "
            f"TBLPROPERTIES ({props})"
        )


def _pseudonyms(*columns: str) -> tuple[tuple[str, str], ...]:
    return tuple((f"{c}_pseudonym", "STRING") for c in columns)


# Lineage columns every curated row carries.
LINEAGE = (
    ("schema_version", "STRING"),
    ("record_hash", "STRING"),
    ("source_file", "STRING"),
    ("record_number", "BIGINT"),
    ("batch_id", "STRING"),
    ("ingested_at", "TIMESTAMP"),
)
RAW_COLUMNS = (
    ("raw_json", "STRING"),
    ("source_file", "STRING"),
    ("file_sha256", "STRING"),
    ("record_number", "BIGINT"),
    ("content_hash", "STRING"),
    ("batch_id", "STRING"),
    ("ingested_at", "TIMESTAMP"),
)
# Changed rows are merge-on-read (a position delete, no rewrite of the row's file: a day's updates
# cost the day, not the history); deletes (erasure) stay copy-on-write, so a deleted row leaves
# its file at once. Maintenance compacts files that gathered deletes.
CURATED_PROPERTIES = {
    **UNCLUSTERED,
    "write.merge.mode": "merge-on-read",
    "write.update.mode": "merge-on-read",
    "write.delete.mode": "copy-on-write",
}
PSEUDONYMISED = {"transactions": ("customer_id", "sales_rep"), "payments": ("customer_id",)}
# Columns whose values hardly repeat within a file. Parquet tries a dictionary on every column and
# judges it only at the end of a column's first page (20,000 rows): in the files a batch writes per
# month, most rows, each hashed into a dictionary that is then dropped. Written plain from the start,
# the curated write of 2,000,000 transactions took half the time, for files of the same size.
PLAIN_ENCODED = {
    "transactions": ("transaction_id", "customer_id", "amount", "record_number", "record_hash"),
    "payments": (
        "payment_id",
        "transaction_id",
        "customer_id",
        "amount_paid",
        "fee_amount",
        "reference_number",
        "ip_address",
        "record_number",
        "record_hash",
    ),
}


# A raw row's text, its hash and its line number are unique per record: no dictionary either.
RAW_PLAIN_ENCODED = ("raw_json", "content_hash", "record_number")
# Iceberg has each write task sort its rows by partition first, unless fanout writers (one open file
# per partition) are on. A batch's raw rows all fall in one day's partition: the sort orders nothing
# and copies every record's text once more. (Local Spark, 2,099,592 payments' rows per append,
# alternating, warm rounds: 2.0-3.1 s with fanout, 3.0-3.5 s sorted.) Curated tables keep the sort:
# a batch spans many months, and there fanout was no faster.
FANOUT = {"write.spark.fanout.enabled": "true"}


DICTIONARY_OFF = "write.parquet.dict-encoding-enabled.column."  # + column: "false"


def plain_encoded(columns: tuple[str, ...]) -> dict[str, str]:
    """Table properties that turn Parquet's dictionary encoding off for `columns`."""
    return {f"{DICTIONARY_OFF}{c}": "false" for c in columns}


def raw_table(source: Source) -> Table:
    return Table(
        "raw",
        source.name,
        grain="one row per input record, exactly as received",
        columns=RAW_COLUMNS,
        key=("file_sha256", "record_number"),
        partitioning=("days(ingested_at)",),
        properties={**UNCLUSTERED, **FANOUT, **plain_encoded(RAW_PLAIN_ENCODED)},
        invariants=("rows of a batch's files = `received` of that batch in curated.ingestion_log",),
    )


def curated_table(source: Source) -> Table:
    pseudonymised = PSEUDONYMISED[source.name]
    # a pseudonym repeats as often as its value
    plain_pseudonyms = tuple(f"{c}_pseudonym" for c in pseudonymised if c in PLAIN_ENCODED[source.name])
    return Table(
        "curated",
        source.name,
        grain=f"one row per {source.id_column} (its latest valid version)",
        columns=(*source.columns, *LINEAGE, *_pseudonyms(*pseudonymised)),
        key=(source.id_column,),
        partitioning=(f"months({source.date_column})",),
        properties={**CURATED_PROPERTIES, **plain_encoded((*PLAIN_ENCODED[source.name], *plain_pseudonyms))},
        pseudonymised=pseudonymised,
        invariants=(
            f"`{source.id_column}` unique; `{source.amount_column}` > 0; `{source.date_column}` not NULL",
            "every `batch_id` names a committed batch in curated.ingestion_log",
        ),
    )


FIGURES = (
    ("customers", "BIGINT"),
    ("delinquent", "BIGINT"),
    ("pct_delinquent", "DECIMAL(5,2)"),
    ("over30mob3", "BIGINT"),
    ("ever15mob6", "BIGINT"),
    ("customers_window_complete", "BIGINT"),
    ("delinquent_window_complete", "BIGINT"),
    ("pct_delinquent_window_complete", "DECIMAL(5,2)"),
)

TABLES: dict[str, Table] = {
    t.qualified: t
    for t in (
        raw_table(TRANSACTIONS),
        raw_table(PAYMENTS),
        curated_table(TRANSACTIONS),
        curated_table(PAYMENTS),
        Table(
            "curated",
            "rejected_records",
            grain="one row per input record that failed validation",
            columns=(
                ("source", "STRING"),
                ("batch_id", "STRING"),
                ("source_file", "STRING"),
                ("file_sha256", "STRING"),
                ("record_number", "BIGINT"),
                ("raw_json", "STRING"),
                ("reasons", "ARRAY<STRING>"),
                ("rejected_at", "TIMESTAMP"),
            ),
            key=("source", "file_sha256", "record_number"),
            partitioning=("source", "days(rejected_at)"),
            properties=dict(CURATED_PROPERTIES),
            invariants=(
                "rows of a batch and source = `rejected` in the ingestion log; `reasons` never empty",
            ),
        ),
        Table(
            "curated",
            "ingestion_log",
            grain="one row per batch and source that wrote anything",
            columns=(
                ("batch_id", "STRING"),
                ("source", "STRING"),
                ("started_at", "TIMESTAMP"),
                ("finished_at", "TIMESTAMP"),
                ("files", "ARRAY<STRUCT<path: STRING, sha256: STRING, format: STRING>>"),
                ("received", "BIGINT"),
                ("accepted", "BIGINT"),
                ("rejected", "BIGINT"),
                ("duplicates", "BIGINT"),
                ("inserted", "BIGINT"),
                ("updated", "BIGINT"),
                ("superseded", "BIGINT"),
                ("raw_snapshot_id", "BIGINT"),
                ("curated_snapshot_id", "BIGINT"),
                ("rejected_snapshot_id", "BIGINT"),
                ("stream_batch", "STRING"),
            ),
            key=("batch_id", "source"),
            invariants=(
                "received = accepted + rejected + duplicates (checked before any write); "
                "accepted = inserted + updated",
            ),
        ),
        Table(
            "analytics",
            "customer_delinquency",
            grain="one row per customer (with an obligation on or before `as_of`) per `as_of`",
            columns=(
                ("customer_id", "STRING"),
                ("cohort_month", "STRING"),
                ("origination_date", "DATE"),
                ("as_of", "DATE"),
                ("over30mob3", "BOOLEAN"),
                ("ever15mob6", "BOOLEAN"),
                ("over30mob3_evaluable", "BOOLEAN"),
                ("window_complete", "BOOLEAN"),
                ("max_days_past_due", "INT"),
                ("inadimplente", "BOOLEAN"),
                ("run_id", "STRING"),
                *_pseudonyms("customer_id"),
            ),
            key=("customer_id", "as_of"),
            partitioning=("inadimplente", "as_of"),
            pseudonymised=("customer_id",),
            invariants=(
                "`over30mob3` implies `over30mob3_evaluable`; inadimplente = over30mob3 OR ever15mob6",
            ),
        ),
        Table(
            "analytics",
            "delinquency_violations",
            grain="one row per (customer, criterion, obligation) that violates the criterion, per `as_of`",
            columns=(
                ("customer_id", "STRING"),
                ("criterion", "STRING"),
                ("transaction_id", "STRING"),
                ("payment_id", "STRING"),
                ("due_date", "DATE"),
                ("observation_date", "DATE"),
                ("days_past_due", "INT"),
                ("as_of", "DATE"),
                ("run_id", "STRING"),
                *_pseudonyms("customer_id"),
            ),
            key=("customer_id", "criterion", "transaction_id", "as_of"),
            partitioning=("criterion", "as_of"),
            pseudonymised=("customer_id",),
            invariants=("every customer here is `inadimplente` in customer_delinquency for that `as_of`",),
        ),
        Table(
            "analytics",
            "delinquency_summary",
            grain="one row per `as_of` (written even when there is no customer, with zero counts)",
            columns=(
                ("as_of", "DATE"),
                *FIGURES,
                ("transactions_snapshot_id", "BIGINT"),
                ("payments_snapshot_id", "BIGINT"),
                ("rules", "STRING"),
                ("computed_at", "TIMESTAMP"),
                ("stale_inputs", "STRING"),
                ("export_location", "STRING"),
                ("run_id", "STRING"),
                ("erased_customers", "BIGINT"),
            ),
            key=("as_of",),
            # the job replaces one as_of by an overwrite filter, which Iceberg applies to whole
            # files only: a compaction that mixed two dates in one file would refuse it
            partitioning=("as_of",),
        ),
        Table(
            "analytics",
            "delinquency_by_cohort",
            grain="one row per `as_of` and `cohort_month`, with the summary's figures",
            columns=(("as_of", "DATE"), ("cohort_month", "STRING"), *FIGURES, ("run_id", "STRING")),
            key=("as_of", "cohort_month"),
            partitioning=("as_of",),  # as delinquency_summary: replaced per as_of, whole files
            invariants=("the cohorts' `customers` and `delinquent` add up to the summary's",),
        ),
        Table(
            "governance",
            "query_log",
            grain="one row per query Trino completed (or refused): who read which columns",
            columns=(
                ("query_id", "STRING"),
                ("user", "STRING"),
                ("source", "STRING"),
                ("query_type", "STRING"),
                ("state", "STRING"),
                ("error_code", "STRING"),
                ("error_type", "STRING"),
                ("created_at", "TIMESTAMP"),
                ("ended_at", "TIMESTAMP"),
                (
                    "tables",
                    "ARRAY<STRUCT<catalog: STRING, schema: STRING, table: STRING, columns: ARRAY<STRING>, "
                    "masked_columns: ARRAY<STRING>, row_filtered: BOOLEAN>>",
                ),
                ("recorded_at", "TIMESTAMP"),
            ),
            key=("query_id",),
            partitioning=("days(created_at)",),
            invariants=("never the query text: it may hold a customer's id",),
        ),
        Table(
            "governance",
            "erasure_log",
            grain="one row per erasure request that removed something (LGPD art. 18)",
            columns=(
                ("run_id", "STRING"),
                ("erased_at", "TIMESTAMP"),
                ("requested_by", "STRING"),
                ("reason", "STRING"),
                ("subject_hash", "STRING"),
                ("rows_removed", "MAP<STRING, BIGINT>"),
                ("exports_rewritten", "BIGINT"),
            ),
            key=("run_id",),
            invariants=("`subject_hash` is a keyed hash of the id (ERASURE_LOG_KEY), never the id",),
        ),
    )
}


def table(qualified: str) -> Table:
    return TABLES[qualified]


def namespaces() -> list[str]:
    return sorted({t.namespace for t in TABLES.values()})


def _unsorted(spark: SparkSession, full: str) -> bool:
    jvm = jvm_of(spark)
    return bool(
        jvm.org.apache.iceberg.spark.Spark3Util.loadIcebergTable(spark._jsparkSession, full)
        .sortOrder()
        .isUnsorted()
    )


# Tables this process has brought up to their contract already (the Spark service and the stream
# live long: a micro-batch should not pay for catalog round trips that found nothing to do).
_ENSURED: set[tuple[str, str]] = set()


def ensure(spark: SparkSession, catalog: str, names: list[str]) -> dict[str, list[str]]:
    """Create the named tables from their contracts and evolve existing ones to them: columns a
    table lacks are added (Iceberg schema evolution: existing rows read NULL there), table
    properties brought up to date. Returns, per table, the columns it just gained."""
    added: dict[str, list[str]] = {}
    names = [
        n
        for n in names
        if (catalog, n) not in _ENSURED or not spark.catalog.tableExists(TABLES[n].full_name(catalog))
    ]
    for ns in sorted({TABLES[n].namespace for n in names}):
        spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {catalog}.{ns}")
    for name in names:
        t = TABLES[name]
        full = t.full_name(catalog)
        existed = spark.catalog.tableExists(full)
        spark.sql(t.ddl(catalog))
        if not existed:
            if t.write_order:
                spark.sql(f"ALTER TABLE {full} WRITE ORDERED BY {', '.join(t.write_order)}")
            _ENSURED.add((catalog, name))
            continue
        if not t.write_order and not _unsorted(spark, full):  # an order an older release set
            spark.sql(f"ALTER TABLE {full} WRITE UNORDERED")
        _evolve_partitioning(spark, full, t.partitioning)
        live = set(spark.table(full).columns)
        missing = [(n, typ) for n, typ in t.columns if n not in live]
        for column, sql_type in missing:
            spark.sql(f"ALTER TABLE {full} ADD COLUMN {column} {sql_type}")
        if missing:
            added[name] = [n for n, _ in missing]
        props = {r[0]: r[1] for r in spark.sql(f"SHOW TBLPROPERTIES {full}").collect()}
        stale = {k: v for k, v in t.properties.items() if k != "format-version" and props.get(k) != v}
        if stale:
            values = ", ".join(f"'{k}'='{v}'" for k, v in stale.items())
            spark.sql(f"ALTER TABLE {full} SET TBLPROPERTIES ({values})")
        _ENSURED.add((catalog, name))
    return added


def _evolve_partitioning(spark: SparkSession, full: str, wanted: tuple[str, ...]) -> None:
    """Add the partition fields of the contract that a table lacks (one an older release created),
    then rewrite its files into the new layout, so that no file mixes two partitions' rows."""
    live = _partition_fields(spark, full)
    missing = [t for t in wanted if _field_name(t) not in live]
    if not missing:
        return
    for transform in missing:
        spark.sql(f"ALTER TABLE {full} ADD PARTITION FIELD {transform}")
    catalog, table = full.split(".", 1)
    spark.sql(
        f"CALL {catalog}.system.rewrite_data_files(table => '{table}', options => map('rewrite-all', 'true'))"
    )


_SUFFIX = {"years": "year", "months": "month", "days": "day", "hours": "hour"}


def _field_name(transform: str) -> str:
    """The name Iceberg gives a partition field by default: `as_of`, `ingested_at_day`."""
    if "(" not in transform:
        return transform
    fn, column = transform.rstrip(")").split("(", 1)
    return f"{column.strip()}_{_SUFFIX[fn.strip()]}"


def _partition_fields(spark: SparkSession, full: str) -> set[str]:
    """The fields of the table's current partition spec (Iceberg's API: Spark's DESCRIBE prints
    evolved specs differently from created ones)."""
    table = jvm_of(spark).org.apache.iceberg.spark.Spark3Util.loadIcebergTable(spark._jsparkSession, full)
    table.refresh()
    return {f.name() for f in table.spec().fields()}
