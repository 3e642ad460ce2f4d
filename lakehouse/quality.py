"""Data-quality checks on a curated table, run through Trino as the `pipeline` user."""

from __future__ import annotations

from dataclasses import dataclass

from lakehouse.settings import Settings
from lakehouse.sql import query

REQUIRED = {
    "transactions": ("transaction_id", ["customer_id", "amount", "transaction_date"]),
    "payments": ("payment_id", ["transaction_id", "amount_paid", "payment_date"]),
}


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


def run_checks(settings: Settings, source: str) -> list[Check]:
    key, required = REQUIRED[source]

    def one(statement: str) -> tuple:
        return query(settings, statement, user="pipeline")[1][0]

    checks = []
    total, distinct = one(f"SELECT count(*), count(DISTINCT {key}) FROM curated.{source}")
    checks.append(Check("keys unique", total == distinct, f"{total} rows, {distinct} distinct {key}"))
    nulls = " + ".join(f"count_if({c} IS NULL)" for c in [key, *required])
    (missing,) = one(f"SELECT {nulls} FROM curated.{source}")
    checks.append(
        Check("required columns present", missing == 0, f"{missing} NULLs in {key}, {', '.join(required)}")
    )
    latest = query(
        settings,
        "SELECT batch_id, received, accepted, rejected, duplicates FROM curated.ingestion_log "
        f"WHERE source = '{source}' ORDER BY finished_at DESC LIMIT 1",
        user="pipeline",
    )[1]
    if not latest:
        checks.append(Check("row-count accounting", False, "no batch in curated.ingestion_log"))
        return checks
    batch, received, accepted, rejected, duplicates = latest[0]
    # raw keeps one row per record of a file content, under the batch that first read it (a
    # forced re-read adds none): count the rows of the batch's files
    (raw_rows,) = one(
        f"SELECT count(*) FROM raw.{source} WHERE file_sha256 IN (SELECT f.sha256 FROM "
        "curated.ingestion_log CROSS JOIN UNNEST(files) AS f(path, sha256, fmt) "
        f"WHERE batch_id = '{batch}')"
    )
    (rejected_rows,) = one(
        f"SELECT count(*) FROM curated.rejected_records WHERE batch_id = '{batch}' AND source = '{source}'"
    )
    balanced = received == accepted + rejected + duplicates == raw_rows and rejected == rejected_rows
    checks.append(
        Check(
            "row-count accounting",
            balanced,
            f"batch {batch}: received {received} = accepted {accepted} + rejected {rejected} + "
            f"duplicates {duplicates}; raw rows {raw_rows}; rejected rows {rejected_rows}",
        )
    )
    return checks
