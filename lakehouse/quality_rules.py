"""The data-quality rules of the curated tables, as SQL: one definition for Airflow and the CLI.

The DAG runs them with Airflow's SQL check operators (common.sql) on the Trino connection
`lakehouse_trino` (the `pipeline` user), one task per rule, so each rule shows as its own result
in the Airflow UI; `lakehouse check` runs the same SQL through Trino from the command line.

Rules, per source:
- row_count_accounting: the latest batch in curated.ingestion_log balances
  (received = accepted + rejected + duplicates), its files' rows in raw equal `received`, and its
  rows in curated.rejected_records equal `rejected`.
- unique_keys: the natural id is unique in the curated table.
- not_null: the id and the required columns are never NULL.
- value_ranges: amounts are positive; dates fall between 2000-01-01 and today.

No module here imports Airflow or a database client: DAG files import it at parse time.
The columns come from the source declarations in jobs/sources.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobs.sources import SOURCES, Source

# The Airflow connection the checks use; `lakehouse up` defines it (AIRFLOW_CONN_LAKEHOUSE_TRINO).
TRINO_CONN_ID = "lakehouse_trino"
CHECKS = ("row_count_accounting", "unique_keys", "not_null", "value_ranges")
EARLIEST_DATE = "2000-01-01"


@dataclass(frozen=True)
class SourceRules:
    source: str
    key: str
    required: tuple[str, ...]
    amount: str
    date: str

    @property
    def table(self) -> str:
        return f"curated.{self.source}"


def rules_of(source: Source) -> SourceRules:
    """The rules follow the source's declaration (jobs/sources.py): its id, the other ids it
    requires, its amount and its date."""
    others = tuple(c for c in source.required_ids if c != source.id_column)
    return SourceRules(
        source.name,
        source.id_column,
        (*others, source.amount_column, source.date_column),
        source.amount_column,
        source.date_column,
    )


RULES = {name: rules_of(source) for name, source in SOURCES.items()}


def accounting_sql(source: str) -> str:
    """One row of booleans (every one must be true), or no row when no batch was ever logged."""
    RULES[source]  # a known source (its name goes into the SQL)
    return f"""
WITH latest AS (
    SELECT batch_id, received, accepted, rejected, duplicates, files
    FROM curated.ingestion_log WHERE source = '{source}'
    ORDER BY finished_at DESC LIMIT 1
),
batch_files AS (
    SELECT f.sha256 FROM latest CROSS JOIN UNNEST(latest.files) AS f(path, sha256, fmt)
),
raw_rows AS (
    SELECT count(*) AS n FROM raw.{source} WHERE file_sha256 IN (SELECT sha256 FROM batch_files)
),
rejected_rows AS (
    SELECT count(*) AS n FROM curated.rejected_records
    WHERE source = '{source}' AND batch_id IN (SELECT batch_id FROM latest)
)
SELECT
    l.received = l.accepted + l.rejected + l.duplicates AS received_is_accepted_rejected_duplicates,
    l.received = r.n AS received_is_raw_rows,
    l.rejected = j.n AS rejected_is_rejected_rows,
    l.batch_id, l.received, l.accepted, l.rejected, l.duplicates, r.n AS raw_rows, j.n AS rejected_rows
FROM latest l CROSS JOIN raw_rows r CROSS JOIN rejected_rows j
""".strip()


def accounting_check_sql(source: str) -> str:
    """The accounting query reduced to its three booleans (SQLCheckOperator fails on a false)."""
    return (
        "SELECT received_is_accepted_rejected_duplicates, received_is_raw_rows, rejected_is_rejected_rows "
        f"FROM ({accounting_sql(source)}) AS accounting"
    )


def unique_keys_mapping(source: str) -> dict[str, dict[str, Any]]:
    """SQLColumnCheckOperator column_mapping: COUNT(key) - COUNT(DISTINCT key) = 0."""
    return {RULES[source].key: {"unique_check": {"equal_to": 0}}}


def not_null_mapping(source: str) -> dict[str, dict[str, Any]]:
    """SQLColumnCheckOperator column_mapping: no NULL in the id and the required columns."""
    rules = RULES[source]
    return {column: {"null_check": {"equal_to": 0}} for column in (rules.key, *rules.required)}


def value_range_checks(source: str) -> dict[str, dict[str, str]]:
    """SQLTableCheckOperator checks: a per-row condition each (NULLs are the not_null rule's)."""
    rules = RULES[source]
    return {
        f"{rules.amount}_positive": {"check_statement": f"{rules.amount} IS NULL OR {rules.amount} > 0"},
        f"{rules.date}_in_range": {
            "check_statement": f"{rules.date} IS NULL OR "
            f"{rules.date} BETWEEN DATE '{EARLIEST_DATE}' AND current_date"
        },
    }


def trino_connection(
    host: str, port: int, user: str, password: str, catalog: str, certificate: str
) -> dict[str, Any]:
    """The Airflow connection (JSON form of AIRFLOW_CONN_<ID>) the Trino provider reads: HTTPS,
    password login, the stack's certificate as the trust anchor (`verify`), our catalog."""
    return {
        "conn_type": "trino",
        "host": host,
        "port": port,
        "login": user,
        "password": password,
        "extra": {"protocol": "https", "verify": certificate, "catalog": catalog, "source": "airflow"},
    }
