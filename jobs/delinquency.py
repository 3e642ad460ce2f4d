"""Delinquency (inadimplência) analysis: over-30-mob-3 and ever-15-mob-6 per customer.

Reads curated.transactions and curated.payments as of a date and writes, for that date,
analytics.customer_delinquency, analytics.delinquency_violations, analytics.delinquency_summary
and analytics.delinquency_by_cohort, plus a Parquet export partitioned by inadimplente.
Re-running for the same as_of replaces that date's rows; all outputs are written or none.

The rules are pure DataFrame functions (set-based, no collect, no Python UDFs); the rules'
parameters come from jobs/rules/delinquency.toml.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import pkgutil
import sys
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs import pseudonyms
from jobs.checkpoint import checkpoint
from jobs.context import catalog_name
from jobs.faults import fault_point
from jobs.protocol import DEFAULT_WAIT, EXIT_LOCK_TIMEOUT, EXIT_NOTHING_TO_DO
from jobs.pseudonyms import pseudonym_column, with_pseudonyms
from jobs.session import run_job
from jobs.tables import TABLES, ensure
from jobs.timing import recording, step
from jobs.writes import Files, LockTimeout, Run, Writer, current_snapshot, new_run_id

# The rules shipped with the jobs (read as package data: the jobs may run from a zip).
DEFAULT_RULES = "jobs/rules/delinquency.toml"


class NeverLoaded(RuntimeError):
    """A curated input has never been loaded: there is nothing to analyse yet."""


@dataclass(frozen=True)
class Rules:
    terms_days: int = 30
    over_days: int = 30
    over_mob: int = 3
    ever_days: int = 15
    ever_mob: int = 6
    excluded_transaction_statuses: tuple[str, ...] = ("cancelled", "refunded")
    settling_payment_statuses: tuple[str, ...] = ("completed",)

    @classmethod
    def load(cls, path: Path | str = DEFAULT_RULES, **overrides: int | None) -> Rules:
        if str(path) == DEFAULT_RULES:
            data = pkgutil.get_data("jobs", "rules/delinquency.toml")
            assert data is not None
            values = tomllib.loads(data.decode())
        else:
            with Path(path).open("rb") as fh:
                values = tomllib.load(fh)
        for key in ("excluded_transaction_statuses", "settling_payment_statuses"):
            if key in values:
                values[key] = tuple(values[key])
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"{path}: unknown rule keys {sorted(unknown)}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


# ---------------------------------------------------------------------------------------
# The rules, as DataFrame functions
# ---------------------------------------------------------------------------------------
def obligations(transactions: DataFrame, as_of: dt.date, rules: Rules) -> DataFrame:
    """One row per obligation known on as_of: customer_id, transaction_id, amount, dates."""
    status = F.lower(F.col("status"))
    excluded = F.coalesce(status.isin(*rules.excluded_transaction_statuses), F.lit(False))
    return transactions.where((F.col("transaction_date") <= F.lit(as_of)) & ~excluded).select(
        "customer_id",
        "transaction_id",
        "amount",
        "transaction_date",
        F.coalesce("due_date", F.date_add("transaction_date", rules.terms_days)).alias("due_date"),
    )


def settling_payments(payments: DataFrame, as_of: dt.date, rules: Rules) -> DataFrame:
    """Payments made on or before as_of whose status counts (absent or in the allowed list)."""
    status = F.lower(F.col("status"))
    counts = status.isNull() | status.isin(*rules.settling_payment_statuses)
    return payments.where((F.col("payment_date") <= F.lit(as_of)) & counts).select(
        "payment_id", "transaction_id", "amount_paid", "payment_date"
    )


def settlements(obligations_df: DataFrame, payments: DataFrame) -> DataFrame:
    """One row per obligation: the date and id of the payment at which the cumulative amount
    paid (by date, then payment id) first reaches the amount; NULLs if never by as_of.

    Amounts are DECIMAL(18,2), so the comparison is exact in cents.
    """
    order = Window.partitionBy("transaction_id").orderBy("payment_date", "payment_id")
    running = (
        payments.join(obligations_df.select("transaction_id", "amount"), "transaction_id")
        .withColumn("paid_so_far", F.sum("amount_paid").over(order.rowsBetween(Window.unboundedPreceding, 0)))
        .where(F.col("paid_so_far") >= F.col("amount"))
        .groupBy("transaction_id")
        .agg(F.min(F.struct("payment_date", "payment_id")).alias("first"))
    )
    return obligations_df.join(
        running.select(
            "transaction_id",
            F.col("first.payment_date").alias("settlement_date"),
            F.col("first.payment_id").alias("settling_payment_id"),
        ),
        "transaction_id",
        "left",
    )


def days_past_due(on: Column, due: Column, settled_on: Column) -> Column:
    """Days past due on date `on`: on - due if on > due and not settled on or before `on`."""
    settled = settled_on.isNotNull() & (settled_on <= on)
    return F.when((on > due) & ~settled, F.datediff(on, due)).otherwise(F.lit(0))


def worst_days_past_due(until: Column, due: Column, settled_on: Column) -> Column:
    """The largest days past due reached up to `until`: min(settlement, until) - due, >= 0."""
    stop = F.least(F.coalesce(settled_on, until), until)
    return F.greatest(F.datediff(stop, due), F.lit(0))


def evaluate(transactions: DataFrame, payments: DataFrame, as_of: dt.date, rules: Rules) -> DataFrame:
    """One row per obligation with its customer's windows and its days past due per rule."""
    obl = obligations(transactions, as_of, rules)
    settled = settlements(obl, settling_payments(payments, as_of, rules))
    per_customer = Window.partitionBy("customer_id")
    as_of_col = F.lit(as_of)
    return (
        settled.withColumn("origination_date", F.min("transaction_date").over(per_customer))
        .withColumn("over_date", F.add_months("origination_date", rules.over_mob))
        .withColumn("ever_end", F.add_months("origination_date", rules.ever_mob))
        .withColumn("window_end", F.least("ever_end", as_of_col))
        .withColumn("over_evaluable", F.col("over_date") <= as_of_col)
        .withColumn(
            "over_dpd",
            F.when(
                F.col("over_evaluable"),
                days_past_due(F.col("over_date"), F.col("due_date"), F.col("settlement_date")),
            ),
        )
        .withColumn(
            "ever_dpd", worst_days_past_due(F.col("window_end"), F.col("due_date"), F.col("settlement_date"))
        )
        .withColumn(
            "dpd_by_as_of", worst_days_past_due(as_of_col, F.col("due_date"), F.col("settlement_date"))
        )
    )


def customer_delinquency(evaluated: DataFrame, as_of: dt.date, rules: Rules) -> DataFrame:
    """One row per customer per as_of, with both criteria and the inadimplente flag."""
    over = F.coalesce(F.max(F.col("over_dpd") > rules.over_days), F.lit(False))
    ever = F.max(F.col("ever_dpd") > rules.ever_days)
    return (
        evaluated.groupBy("customer_id")
        .agg(
            F.min("origination_date").alias("origination_date"),
            F.min("ever_end").alias("ever_end"),
            F.first("over_evaluable").alias("over30mob3_evaluable"),
            over.alias("over30mob3"),
            ever.alias("ever15mob6"),
            F.max("dpd_by_as_of").alias("max_days_past_due"),
        )
        .select(
            "customer_id",
            F.date_format("origination_date", "yyyy-MM").alias("cohort_month"),
            "origination_date",
            F.lit(as_of).alias("as_of"),
            "over30mob3",
            "ever15mob6",
            "over30mob3_evaluable",
            (F.col("ever_end") <= F.lit(as_of)).alias("window_complete"),
            F.col("max_days_past_due").cast("int").alias("max_days_past_due"),
            (F.col("over30mob3") | F.col("ever15mob6")).alias("inadimplente"),
        )
    )


def violations(evaluated: DataFrame, as_of: dt.date, rules: Rules) -> DataFrame:
    """One row per (customer, criterion, obligation) that violates a criterion."""
    over = evaluated.where(F.col("over_dpd") > rules.over_days).select(
        "customer_id",
        F.lit("over30mob3").alias("criterion"),
        "transaction_id",
        F.col("settling_payment_id").alias("payment_id"),
        "due_date",
        F.col("over_date").alias("observation_date"),
        F.col("over_dpd").alias("days_past_due"),
    )
    settled_in_window = F.col("settlement_date") <= F.col("window_end")
    ever = evaluated.where(F.col("ever_dpd") > rules.ever_days).select(
        "customer_id",
        F.lit("ever15mob6").alias("criterion"),
        "transaction_id",
        F.when(settled_in_window, F.col("settling_payment_id")).alias("payment_id"),
        "due_date",
        F.col("window_end").alias("observation_date"),
        F.col("ever_dpd").alias("days_past_due"),
    )
    return (
        over.unionByName(ever)
        .withColumn("days_past_due", F.col("days_past_due").cast("int"))
        .withColumn("as_of", F.lit(as_of))
    )


def _pct(part: Column, whole: Column) -> Column:
    return F.when(whole > 0, F.round(F.lit(100.0) * part / whole, 2)).cast("decimal(5,2)")


def _figures(customers: DataFrame, *keys: str) -> DataFrame:
    complete = F.col("window_complete")
    flagged = customers.groupBy(*keys).agg(
        F.count("*").alias("customers"),
        F.count_if("inadimplente").alias("delinquent"),
        F.count_if("over30mob3").alias("over30mob3"),
        F.count_if("ever15mob6").alias("ever15mob6"),
        F.count_if(complete).alias("customers_window_complete"),
        F.count_if(complete & F.col("inadimplente")).alias("delinquent_window_complete"),
    )
    return flagged.withColumn("pct_delinquent", _pct(F.col("delinquent"), F.col("customers"))).withColumn(
        "pct_delinquent_window_complete",
        _pct(F.col("delinquent_window_complete"), F.col("customers_window_complete")),
    )


FIGURES = [
    "customers",
    "delinquent",
    "pct_delinquent",
    "over30mob3",
    "ever15mob6",
    "customers_window_complete",
    "delinquent_window_complete",
    "pct_delinquent_window_complete",
]


def by_cohort(customers: DataFrame) -> DataFrame:
    """One row per as_of and cohort month (origination month): the vintage view."""
    return _figures(customers, "as_of", "cohort_month").select("as_of", "cohort_month", *FIGURES)


def summary(customers: DataFrame, as_of: dt.date, lineage: dict[str, object]) -> DataFrame:
    """One row per as_of. A run with no customer still gets its row, with zero counts."""
    spark = customers.sparkSession
    figures = _figures(customers.withColumn("_all", F.lit(1)), "_all")
    base = spark.range(1).select(F.lit(as_of).alias("as_of"))
    out = base.join(figures.drop("_all"), how="left")
    for name in FIGURES:
        if not name.startswith("pct"):
            out = out.withColumn(name, F.coalesce(F.col(name), F.lit(0)).cast("long"))
    return out.select(
        "as_of",
        *FIGURES,
        F.lit(lineage["transactions_snapshot_id"]).cast("long").alias("transactions_snapshot_id"),
        F.lit(lineage["payments_snapshot_id"]).cast("long").alias("payments_snapshot_id"),
        F.lit(lineage["rules"]).alias("rules"),
        F.lit(lineage.get("stale_inputs") or None).cast("string").alias("stale_inputs"),
        F.lit(lineage["computed_at"]).cast("timestamp").alias("computed_at"),
    )


# ---------------------------------------------------------------------------------------
# Tables and the run
# ---------------------------------------------------------------------------------------
OUTPUTS = ("customer_delinquency", "delinquency_violations", "delinquency_summary", "delinquency_by_cohort")


def analytics_tables(catalog: str) -> list[str]:
    return [TABLES[f"analytics.{name}"].full_name(catalog) for name in OUTPUTS]


def keys(catalog: str, names: tuple[str, ...] = OUTPUTS) -> dict[str, list[str]]:
    return {TABLES[f"analytics.{n}"].full_name(catalog): list(TABLES[f"analytics.{n}"].key) for n in names}


def ensure_tables(spark: SparkSession, catalog: str) -> None:
    for name, added in ensure(spark, catalog, [f"analytics.{n}" for n in OUTPUTS]).items():
        contract = TABLES[name]
        missing = [c for c in contract.pseudonymised if pseudonym_column(c) in added]
        if missing:  # an upgrade: fill the new pseudonym columns of existing rows
            pseudonyms.rewrite(spark, contract.full_name(catalog), missing)


@dataclass
class Outputs:
    customers: DataFrame
    violations: DataFrame
    summary: DataFrame
    by_cohort: DataFrame

    @property
    def tables(self) -> dict[str, DataFrame]:
        return {
            "customer_delinquency": self.customers,
            "delinquency_violations": self.violations,
            "delinquency_summary": self.summary,
            "delinquency_by_cohort": self.by_cohort,
        }


def analyse(
    evaluated: DataFrame,
    as_of: dt.date,
    rules: Rules,
    lineage: dict[str, object],
    materialise: Callable[[DataFrame], DataFrame] = lambda df: df,
) -> Outputs:
    """All four outputs from the evaluated obligations; `materialise` may cache intermediate results."""
    customers = materialise(customer_delinquency(evaluated, as_of, rules))
    return Outputs(
        customers=customers,
        violations=materialise(violations(evaluated, as_of, rules)),
        summary=summary(customers, as_of, lineage),
        by_cohort=by_cohort(customers),
    )


def default_as_of(transactions: DataFrame, payments: DataFrame) -> dt.date | None:
    """The latest transaction or payment date in the curated tables."""
    t_row = transactions.agg(F.max("transaction_date")).first()
    p_row = payments.agg(F.max("payment_date")).first()
    assert t_row is not None and p_row is not None  # an aggregate without grouping answers one row
    t, p = t_row[0], p_row[0]
    dates = [d for d in (t, p) if d is not None]
    return max(dates) if dates else None


# ---------------------------------------------------------------------------------------
# Parquet export: staged per run, published by a pointer
# ---------------------------------------------------------------------------------------
POINTER = "_LATEST"


def export_base(export_uri: str, as_of: dt.date) -> str:
    return f"{export_uri.rstrip('/')}/delinquency/as_of={as_of.isoformat()}"


class Exports:
    """The export folders of one as_of on the object store.

    Each run writes `as_of=D/run=<run_id>/{customers/inadimplente=true|false,violations,
    summary}` and then replaces the small pointer object `as_of=D/_LATEST`, which names the run
    folder readers should use: one PUT, so a reader sees the old run or the new one, never a
    mix. Older run folders are removed after the pointer moved. Both steps are recorded in the
    writer's journal first, so a run that fails or dies is undone here too.
    """

    def __init__(self, spark: SparkSession, export_uri: str, as_of: dt.date):
        self.spark, self.base = spark, export_base(export_uri, as_of)
        self.files = Files(spark)

    @property
    def pointer(self) -> str:
        return f"{self.base}/{POINTER}"

    def run_folder(self, run_id: str) -> str:
        return f"{self.base}/run={run_id}"

    def stage(self, run: Run, outputs: Outputs) -> str:
        folder = self.run_folder(run.run_id)
        run.will_write(folder)
        outputs.customers.write.mode("errorifexists").partitionBy("inadimplente").parquet(
            f"{folder}/customers"
        )
        outputs.violations.write.mode("errorifexists").parquet(f"{folder}/violations")
        outputs.summary.coalesce(1).write.mode("errorifexists").parquet(f"{folder}/summary")
        return folder

    def published(self) -> dict[str, Any] | None:
        """The pointer readers follow, if any run was published."""
        text = self.files.read_text(self.pointer)
        return json.loads(text) if text else None

    def publish(self, run: Run) -> None:
        run.will_replace(self.pointer)
        pointer = {
            "run_id": run.run_id,
            "location": self.run_folder(run.run_id),
            "published_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        self.files.write_text(self.pointer, json.dumps(pointer))

    def remove_all_but(self, run_id: str) -> None:
        """Every other run folder, and the unversioned layout older releases wrote."""
        for child in self.files.children(self.base):
            name = child.rstrip("/").rsplit("/", 1)[-1]
            if name not in (POINTER, f"run={run_id}"):
                self.files.delete(child)


def summary_result(row: dict[str, Any], location: str | None, violations: int) -> dict[str, Any]:
    """The summary row as JSON-friendly values, plus where it was exported."""
    result = {k: (str(v) if isinstance(v, dt.date | dt.datetime) else v) for k, v in row.items()}
    for key in ("pct_delinquent", "pct_delinquent_window_complete"):
        result[key] = float(row[key]) if row[key] is not None else None
    result["export"] = location
    result["violations"] = violations
    return result


def committed_outputs(spark: SparkSession, catalog: str, as_of: dt.date) -> Outputs:
    a = f"{catalog}.analytics"
    on_date = F.col("as_of") == F.lit(as_of)
    internal = ["run_id", "export_location", "erased_customers", "customer_id_pseudonym"]
    tables = {name: spark.table(f"{a}.{name}").where(on_date).drop(*internal) for name in OUTPUTS}
    return Outputs(
        customers=tables["customer_delinquency"],
        violations=tables["delinquency_violations"],
        summary=tables["delinquency_summary"],
        by_cohort=tables["delinquency_by_cohort"],
    )


def export_committed(
    writer: Writer, catalog: str, as_of: dt.date, export_uri: str, force: bool = False
) -> str:
    """Export the committed results of as_of as a new run folder, publish it and record its
    location in the summary row: all three happen, or none. Nothing to do when the published
    export is already these results (unless `force`: the tables changed under it, an erasure)."""
    spark = writer.spark
    summary_t = f"{catalog}.analytics.delinquency_summary"
    rows = spark.table(summary_t).where(F.col("as_of") == F.lit(as_of)).select("export_location").collect()
    if len(rows) != 1:
        raise NeverLoaded(f"no delinquency results for as_of {as_of}: run the analysis first")
    exports = Exports(spark, export_uri, as_of)
    published = exports.published()
    if published and rows[0].export_location == published["location"] and not force:
        exported: str = published["location"]
        return exported  # the committed results are exported already: a re-run
    outputs = committed_outputs(spark, catalog, as_of)
    run_id = new_run_id("exp")
    with writer.run(run_id, keys(catalog, ("delinquency_summary",))) as run:
        folder = exports.stage(run, outputs)
        spark.sql(
            f"UPDATE {summary_t} SET export_location = '{folder}', run_id = '{run_id}' "
            f"WHERE as_of = DATE '{as_of.isoformat()}'"
        )
        fault_point("delinquency.before_publish")
        exports.publish(run)
    exports.remove_all_but(run_id)
    return folder


def export_only(writer: Writer, catalog: str, as_of: dt.date, export_uri: str) -> dict[str, str]:
    """Re-export the committed outputs of one as_of (the DAG's separate export step)."""
    return {"as_of": str(as_of), "export": export_committed(writer, catalog, as_of, export_uri)}


def write_outputs(
    writer: Writer, catalog: str, outputs: Outputs, as_of: dt.date, export_uri: str | None
) -> str | None:
    """Replace as_of's rows in the four tables and, if asked, its Parquet export: as one run."""
    spark = writer.spark
    run_id = new_run_id("dlq")
    exports = Exports(spark, export_uri, as_of) if export_uri else None
    with writer.run(run_id, keys(catalog)) as run:
        with step("export (Parquet)"):
            location = exports.stage(run, outputs) if exports else None
        fault_point("delinquency.after_export_staged")
        for name, df in outputs.tables.items():
            contract = TABLES[f"analytics.{name}"]
            out = with_pseudonyms(df, list(contract.pseudonymised)).withColumn("run_id", F.lit(run_id))
            if name == "delinquency_summary":
                out = out.withColumn("export_location", F.lit(location).cast("string"))
            out = out.select(
                *[F.col(c) if c in out.columns else F.lit(None).cast(t).alias(c) for c, t in contract.columns]
            )
            with step(f"write {name}"):
                out.writeTo(contract.full_name(catalog)).overwrite(F.col("as_of") == F.lit(as_of))
            if name == "customer_delinquency":
                fault_point("delinquency.after_first_table")
        fault_point("delinquency.before_publish")
        if exports:
            exports.publish(run)
    if exports:
        exports.remove_all_but(run_id)
    return location


def unchanged(
    spark: SparkSession, catalog: str, as_of: dt.date, same_inputs: tuple[object, ...]
) -> dict[str, Any] | None:
    """The committed summary row of as_of if it was computed from these same inputs."""
    row = (
        spark.table(f"{catalog}.analytics.delinquency_summary").where(F.col("as_of") == F.lit(as_of)).first()
    )
    if row is None:
        return None
    recorded = (row.transactions_snapshot_id, row.payments_snapshot_id, row.rules, row.stale_inputs)
    return row.asDict() if recorded == same_inputs else None


def run(
    writer: Writer,
    catalog: str,
    as_of: dt.date | None,
    rules: Rules,
    export_uri: str | None,
    stale_inputs: list[str] | None = None,
) -> dict[str, Any]:
    spark = writer.spark
    ensure_tables(spark, catalog)
    t_name, p_name = f"{catalog}.curated.transactions", f"{catalog}.curated.payments"
    for name in (t_name, p_name):
        if not spark.catalog.tableExists(name):
            raise NeverLoaded(f"{name} does not exist yet: run `lakehouse ingest` first")
    snaps = {"transactions": current_snapshot(spark, t_name), "payments": current_snapshot(spark, p_name)}
    for source, snap in snaps.items():
        if snap is None:
            raise NeverLoaded(f"curated.{source} has never been loaded: delinquency skipped")

    def pinned(table: str, snap: int | None) -> DataFrame:
        # read the exact snapshots recorded as lineage, even if an ingest commits meanwhile
        return spark.sql(f"SELECT * FROM {table} VERSION AS OF {snap}") if snap else spark.table(table)

    transactions, payments = pinned(t_name, snaps["transactions"]), pinned(p_name, snaps["payments"])
    as_of = as_of or default_as_of(transactions, payments)
    if as_of is None:  # both tables were loaded, but hold no row: there is no date to analyse
        raise NeverLoaded("curated.transactions and curated.payments are empty: nothing to analyse")
    lineage: dict[str, object] = {
        "transactions_snapshot_id": snaps["transactions"],
        "payments_snapshot_id": snaps["payments"],
        "rules": json.dumps(asdict(rules), sort_keys=True),
        "computed_at": dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0),
        # sources whose latest load failed: the analysis used their last committed snapshot
        "stale_inputs": ",".join(sorted(stale_inputs or [])),
    }
    same_inputs = (
        snaps["transactions"],
        snaps["payments"],
        lineage["rules"],
        lineage["stale_inputs"] or None,
    )
    previous = unchanged(spark, catalog, as_of, same_inputs)
    if previous is not None:
        # a retry or re-run with the same inputs: the committed results are already these
        location = previous.get("export_location")
        if export_uri and not location:  # last run did not export: export what is committed
            location = export_committed(writer, catalog, as_of, export_uri)
        violations_n = (
            spark.table(f"{catalog}.analytics.delinquency_violations")
            .where(F.col("as_of") == F.lit(as_of))
            .count()
        )
        return summary_result(previous, location, violations_n) | {"unchanged": True}
    # checkpoints cut the plans back to the pinned snapshots and are computed once
    with step("evaluate obligations"):
        evaluated = checkpoint(evaluate(transactions, payments, as_of, rules))
    with step("customers and violations"):
        outputs = analyse(evaluated, as_of, rules, lineage, checkpoint)
    location = write_outputs(writer, catalog, outputs, as_of, export_uri)
    summary_row = outputs.summary.first()
    assert summary_row is not None  # summary() writes one row, even without customers
    return summary_result(summary_row.asDict(), location, outputs.violations.count())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--as-of", type=dt.date.fromisoformat)
    parser.add_argument("--terms-days", type=int)
    parser.add_argument("--rules", default=DEFAULT_RULES)
    parser.add_argument("--export-uri", help="e.g. s3://lakehouse-exports (no export when absent)")
    parser.add_argument("--export-only", action="store_true", help="re-export --as-of's committed results")
    parser.add_argument("--stale", default="", help="comma list of sources whose latest load failed")
    parser.add_argument("--catalog", default=catalog_name())
    parser.add_argument("--wait", type=float, default=DEFAULT_WAIT, help="seconds to wait for table locks")
    args = parser.parse_args(argv)
    rules = Rules.load(args.rules, terms_days=args.terms_days)
    stale = [s for s in args.stale.split(",") if s]
    if args.export_only and not (args.as_of and args.export_uri):
        parser.error("--export-only needs --as-of and --export-uri")

    def body(spark: SparkSession) -> dict[str, Any]:
        with (
            recording() as timings,
            Writer.open(spark, args.catalog, "delinquency", analytics_tables(args.catalog), args.wait) as w,
        ):
            if args.export_only:
                return export_only(w, args.catalog, args.as_of, args.export_uri)
            return run(w, args.catalog, args.as_of, rules, args.export_uri, stale) | {"timings": timings}

    return run_job("delinquency", body, {NeverLoaded: EXIT_NOTHING_TO_DO, LockTimeout: EXIT_LOCK_TIMEOUT})


if __name__ == "__main__":
    sys.exit(main())
