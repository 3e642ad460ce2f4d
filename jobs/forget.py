"""Right to erasure (LGPD art. 18): remove one customer from every table, export and streamed file,
then leave no file in the object store that still holds the id.

What is removed, under the write locks of every table:
- raw and rejected records whose parsed `customer_id` is the customer's, or that name one of the
  customer's transactions or payments (v1 payments carry no customer id);
- the customer's curated transactions and payments (by customer id or transaction id);
- the customer's rows in customer_delinquency and delinquency_violations. The summary and cohort
  figures of every `as_of` are corrected by exactly that customer's contribution (not
  recomputed from today's data), and `erased_customers` counts the corrections;
- the customer's lines in streamed landing files (`s3://<landing>/stream/...`);
- the Parquet exports: every published `as_of` is exported again from the corrected tables and
  the older run folders are deleted.
Then every table's manifests are rewritten (deleted-file entries keep column bounds), all older
snapshots expired and orphan files removed: afterwards no data or metadata file holds the id.
A row in governance.erasure_log records when, who, why, counts per table and a keyed hash of the
id (never the id). Re-running finds nothing and writes nothing; a run that failed half way can be
re-run to completion.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import hmac
import json
import sys
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs import delinquency
from jobs.checkpoint import checkpoint
from jobs.context import catalog_name, job_env
from jobs.jvm import jvm_of
from jobs.protocol import DEFAULT_WAIT, EXIT_LOCK_TIMEOUT
from jobs.session import run_job
from jobs.tables import TABLES, ensure
from jobs.writes import Files, LockTimeout, Writer, new_run_id

ERASURE_LOG = "governance.erasure_log"
DATA_TABLES = [name for name in TABLES if not name.startswith("governance.")]
# Tables that hold a customer's records (the others hold counts, files and batches, no person);
# the summary and cohort figures are corrected, not deleted from.
HOLDS_RECORDS = [
    "raw.transactions",
    "raw.payments",
    "curated.transactions",
    "curated.payments",
    "curated.rejected_records",
    "analytics.customer_delinquency",
    "analytics.delinquency_violations",
]


def subject_hash(customer_id: str, key_hex: str) -> str:
    return hmac.new(bytes.fromhex(key_hex), customer_id.encode(), hashlib.sha256).hexdigest()


def _json_field(column: str, field: str) -> Column:
    return F.trim(F.get_json_object(F.col(column), f"$.{field}"))


class Subject:
    """The customer and the ids that lead to them."""

    def __init__(self, spark: SparkSession, catalog: str, customer_id: str):
        self.customer_id = customer_id

        def t(name: str) -> str:
            return f"{catalog}.{name}"

        from_curated = (
            spark.table(t("curated.transactions"))
            .where(F.col("customer_id") == customer_id)
            .select("transaction_id")
            if spark.catalog.tableExists(t("curated.transactions"))
            else None
        )
        from_raw = (
            spark.table(t("raw.transactions"))
            .where(_json_field("raw_json", "customer_id") == customer_id)
            .select(_json_field("raw_json", "transaction_id").alias("transaction_id"))
            if spark.catalog.tableExists(t("raw.transactions"))
            else None
        )
        frames = [f for f in (from_curated, from_raw) if f is not None]
        self.transactions: list[str] = sorted(
            {r[0] for f in frames for r in f.where(F.col("transaction_id").isNotNull()).collect()}
        )  # one customer's ids: small
        payments = (
            spark.table(t("curated.payments"))
            .where((F.col("customer_id") == customer_id) | F.col("transaction_id").isin(self.transactions))
            .select("payment_id")
            .collect()
            if spark.catalog.tableExists(t("curated.payments"))
            else []
        )
        self.payments: list[str] = sorted({r[0] for r in payments})

    def predicate(self, table: str) -> str:
        """SQL condition selecting the customer's rows of `table` (DELETE takes SQL text)."""

        def quoted(values: list[str]) -> str:
            return ", ".join("'" + v.replace("'", "''") + "'" for v in values) or "NULL"

        cid = "'" + self.customer_id.replace("'", "''") + "'"
        tx, pay = quoted(self.transactions), quoted(self.payments)
        if table.startswith("raw.") or table == "curated.rejected_records":

            def field(name: str) -> str:
                return f"trim(get_json_object(raw_json, '$.{name}'))"

            # by customer id, or one of their transactions or payments (v1 payments carry no
            # customer id); text that is not a JSON object at all but names the customer too
            return (
                f"coalesce({field('customer_id')} = {cid} OR {field('transaction_id')} IN ({tx}) "
                f"OR {field('payment_id')} IN ({pay}), false) "
                f"OR coalesce(get_json_object(raw_json, '$') IS NULL AND instr(raw_json, {cid}) > 0, false)"
            )
        if table in ("curated.transactions", "curated.payments"):
            return f"customer_id = {cid} OR transaction_id IN ({tx})"
        if table in ("analytics.customer_delinquency", "analytics.delinquency_violations"):
            return f"customer_id = {cid}"
        raise ValueError(f"no erasure rule for {table}")


def contribution(rows: DataFrame, keys: list[str]) -> DataFrame:
    """The erased customer's share of the delinquency figures, per `keys`."""
    window = F.col("window_complete")
    return rows.groupBy(*keys).agg(
        F.count("*").alias("d_customers"),
        F.count_if("inadimplente").alias("d_delinquent"),
        F.count_if("over30mob3").alias("d_over30mob3"),
        F.count_if("ever15mob6").alias("d_ever15mob6"),
        F.count_if(window).alias("d_window"),
        F.count_if(window & F.col("inadimplente")).alias("d_window_delinquent"),
    )


def correct_figures(spark: SparkSession, table: str, delta: DataFrame, keys: list[str], count: bool) -> None:
    """Subtract `delta` from the figures of `table` (summary or cohorts) and recompute the
    percentages; the summary also counts the correction in `erased_customers`."""
    view = f"_erasure_delta_{table.rsplit('.', 1)[-1]}"
    delta.createOrReplaceTempView(view)
    on = " AND ".join(f"t.{k} = s.{k}" for k in keys)

    def pct(part: str, whole: str) -> str:
        return f"CAST(CASE WHEN {whole} > 0 THEN round(100.0 * {part} / {whole}, 2) END AS DECIMAL(5,2))"

    customers, delinquent = "(t.customers - s.d_customers)", "(t.delinquent - s.d_delinquent)"
    window, window_delinquent = (
        "(t.customers_window_complete - s.d_window)",
        "(t.delinquent_window_complete - s.d_window_delinquent)",
    )
    extra = ", erased_customers = coalesce(t.erased_customers, 0) + s.d_customers" if count else ""
    spark.sql(f"""
        MERGE INTO {table} t USING {view} s ON {on}
        WHEN MATCHED THEN UPDATE SET
            customers = {customers}, delinquent = {delinquent},
            over30mob3 = t.over30mob3 - s.d_over30mob3, ever15mob6 = t.ever15mob6 - s.d_ever15mob6,
            customers_window_complete = {window}, delinquent_window_complete = {window_delinquent},
            pct_delinquent = {pct(delinquent, customers)},
            pct_delinquent_window_complete = {pct(window_delinquent, window)}{extra}""")


def erase_rows(writer: Writer, catalog: str, subject: Subject) -> dict[str, int]:
    """Delete the customer's rows everywhere and correct the aggregates: one run, all or nothing."""
    spark = writer.spark
    existing = [n for n in DATA_TABLES if spark.catalog.tableExists(TABLES[n].full_name(catalog))]
    found = {
        name: spark.table(TABLES[name].full_name(catalog)).where(F.expr(subject.predicate(name))).count()
        for name in HOLDS_RECORDS
        if name in existing
    }
    if not any(found.values()):
        return {}
    keys = {TABLES[n].full_name(catalog): list(TABLES[n].key) for n in existing}
    with writer.run(new_run_id("fgt"), keys):
        customer_rows = f"{catalog}.analytics.customer_delinquency"
        if found.get("analytics.customer_delinquency"):
            mine = spark.table(customer_rows).where(
                F.expr(subject.predicate("analytics.customer_delinquency"))
            )
            by_as_of = checkpoint(contribution(mine, ["as_of"]))
            by_cohort = checkpoint(contribution(mine, ["as_of", "cohort_month"]))
            correct_figures(spark, f"{catalog}.analytics.delinquency_summary", by_as_of, ["as_of"], True)
            correct_figures(
                spark,
                f"{catalog}.analytics.delinquency_by_cohort",
                by_cohort,
                ["as_of", "cohort_month"],
                False,
            )
        for name, rows in found.items():
            if rows:
                spark.sql(f"DELETE FROM {TABLES[name].full_name(catalog)} WHERE {subject.predicate(name)}")
    return {name: rows for name, rows in found.items() if rows}


def erase_streamed_files(spark: SparkSession, landing_uri: str, subject: Subject) -> int:
    """Rewrite every streamed landing file (JSON lines) without the customer's records."""
    files = Files(spark)
    jvm = jvm_of(spark)
    path = jvm.org.apache.hadoop.fs.Path(f"{landing_uri.rstrip('/')}/stream/")
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(path):
        return 0
    rewritten = 0
    listing = fs.listFiles(path, True)
    while listing.hasNext():
        name = str(listing.next().getPath())
        text = files.read_text(name) or ""
        kept = [line for line in text.splitlines() if not names_subject(line, subject)]
        if len(kept) != len(text.splitlines()):
            if kept:
                files.write_text(name, "\n".join(kept) + "\n")
            else:
                files.delete(name)
            rewritten += 1
    return rewritten


def names_subject(line: str, subject: Subject) -> bool:
    try:
        record = json.loads(line)
    except ValueError:
        return subject.customer_id in line
    if not isinstance(record, dict):
        return subject.customer_id in line

    def text(key: str) -> str | None:
        value = record.get(key)
        return None if value is None else str(value).strip()

    return (
        text("customer_id") == subject.customer_id
        or text("transaction_id") in subject.transactions
        or text("payment_id") in subject.payments
    )


def reexport(writer: Writer, catalog: str, export_uri: str) -> int:
    """Export every published as_of again from the corrected tables; old run folders go."""
    spark = writer.spark
    summary = f"{catalog}.analytics.delinquency_summary"
    if not spark.catalog.tableExists(summary):
        return 0
    published = [
        r.as_of
        for r in spark.table(summary).where(F.col("export_location").isNotNull()).select("as_of").collect()
    ]
    for as_of in published:
        delinquency.export_committed(writer, catalog, as_of, export_uri, force=True)
    return len(published)


def purge_history(spark: SparkSession, catalog: str, names: list[str]) -> None:
    """Leave no file that still holds erased rows: live manifests rewritten (their deleted-file
    entries keep column bounds), every older snapshot expired, unreferenced files deleted."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(seconds=1)
    stamp = now.isoformat(sep=" ", timespec="seconds")
    for name in names:
        full = TABLES[name].full_name(catalog)
        if not spark.catalog.tableExists(full):
            continue
        call = f"CALL {catalog}.system"
        # rows deleted by position (merge-on-read, or an UPDATE in Trino) are still in their data
        # files: rewrite every file that has a delete file, so the deleted rows are gone for real
        spark.sql(
            f"{call}.rewrite_data_files(table => '{name}', options => map('delete-file-threshold', '1'))"
        ).collect()
        spark.sql(f"{call}.rewrite_position_delete_files(table => '{name}')").collect()
        spark.sql(f"{call}.rewrite_manifests(table => '{name}')").collect()
        spark.sql(
            f"{call}.expire_snapshots(table => '{name}', older_than => TIMESTAMP '{stamp}', retain_last => 1)"
        ).collect()
        # the procedure refuses an interval under 24 hours, because of writers in flight: there are
        # none (we hold every table's lock), so the action API does it with "now"
        jvm = jvm_of(spark)
        table = jvm.org.apache.iceberg.spark.Spark3Util.loadIcebergTable(spark._jsparkSession, full)
        actions = jvm.org.apache.iceberg.spark.actions.SparkActions.get(spark._jsparkSession)
        cutoff = int(now.replace(tzinfo=dt.UTC).timestamp() * 1000)
        actions.deleteOrphanFiles(table).olderThan(cutoff).execute()


def run(
    writer: Writer,
    catalog: str,
    customer_id: str,
    reason: str,
    requested_by: str,
    export_uri: str | None,
    landing_uri: str | None,
) -> dict[str, Any]:
    spark = writer.spark
    ensure(spark, catalog, [ERASURE_LOG])
    key = job_env().get("LAKEHOUSE_ERASURE_LOG_KEY")
    if not key:
        raise RuntimeError("LAKEHOUSE_ERASURE_LOG_KEY is not set: run `lakehouse forget`")
    hashed = subject_hash(customer_id, key)
    log = TABLES[ERASURE_LOG].full_name(catalog)
    earlier = spark.table(log).where(F.col("subject_hash") == hashed).select("erased_at").collect()
    subject = Subject(spark, catalog, customer_id)
    removed = erase_rows(writer, catalog, subject)
    streamed = erase_streamed_files(spark, landing_uri, subject) if landing_uri else 0
    if earlier and not removed and not streamed:  # erased before, nothing came back since
        return {"removed": {}, "already_erased_at": str(max(r[0] for r in earlier)), "logged": False}
    # from here on everything is idempotent, so a run that failed half way completes on re-run
    exports = reexport(writer, catalog, export_uri) if export_uri else 0
    run_id = new_run_id("era")
    row = (
        run_id,
        dt.datetime.now(dt.UTC).replace(tzinfo=None),
        requested_by,
        reason,
        hashed,
        removed,
        exports,
    )
    with writer.run(run_id, {log: list(TABLES[ERASURE_LOG].key)}):
        spark.createDataFrame([row], spark.table(log).schema).writeTo(log).append()
    purge_history(spark, catalog, [*DATA_TABLES, ERASURE_LOG])
    return {
        "removed": removed,
        "streamed_files_rewritten": streamed,
        "exports_rewritten": exports,
        "logged": True,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--customer", help="the id (default: LAKEHOUSE_ERASE_CUSTOMER, kept off command lines)"
    )
    parser.add_argument("--reason", default="")
    parser.add_argument("--requested-by", default="")
    parser.add_argument("--export-uri")
    parser.add_argument("--landing-uri")
    parser.add_argument("--catalog", default=catalog_name())
    parser.add_argument("--wait", type=float, default=DEFAULT_WAIT)
    args = parser.parse_args(argv)
    customer = (args.customer or job_env().get("LAKEHOUSE_ERASE_CUSTOMER", "")).strip()
    if not customer:
        parser.error("give the customer id (--customer or LAKEHOUSE_ERASE_CUSTOMER)")

    def body(spark: SparkSession) -> dict[str, Any]:
        tables = [TABLES[n].full_name(args.catalog) for n in TABLES]
        with Writer.open(spark, args.catalog, "forget", tables, args.wait) as writer:
            return run(
                writer,
                args.catalog,
                customer,
                args.reason,
                args.requested_by,
                args.export_uri,
                args.landing_uri,
            )

    return run_job("forget", body, {LockTimeout: EXIT_LOCK_TIMEOUT})


if __name__ == "__main__":
    sys.exit(main())
