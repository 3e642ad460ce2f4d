"""`lakehouse check`: the data-quality rules of lakehouse/quality_rules.py, run through Trino as the
`pipeline` user from the command line. The DAG runs the same rules with Airflow's SQL check
operators (one task per rule)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lakehouse import quality_rules as rules
from lakehouse.settings import Settings
from lakehouse.sql import query


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


def run_checks(settings: Settings, source: str) -> list[Check]:
    r = rules.RULES[source]

    def one(statement: str) -> tuple[Any, ...]:
        return tuple(query(settings, statement, user="pipeline")[1][0])

    checks = []
    (duplicates,) = one(f"SELECT count({r.key}) - count(DISTINCT {r.key}) FROM {r.table}")
    checks.append(Check("unique_keys", duplicates == 0, f"{duplicates} repeated {r.key} value(s)"))
    columns = [r.key, *r.required]
    nulls = one(f"SELECT {', '.join(f'count_if({c} IS NULL)' for c in columns)} FROM {r.table}")
    checks.append(
        Check(
            "not_null",
            not any(nulls),
            ", ".join(f"{n} NULL {c}" for c, n in zip(columns, nulls, strict=True)),
        )
    )
    ranges = rules.value_range_checks(source)
    broken = one(
        "SELECT "
        + ", ".join(f"count_if(NOT ({c['check_statement']}))" for c in ranges.values())
        + f" FROM {r.table}"
    )
    checks.append(
        Check(
            "value_ranges",
            not any(broken),
            ", ".join(f"{name}: {n} row(s) outside" for name, n in zip(ranges, broken, strict=True)),
        )
    )
    rows = query(settings, rules.accounting_sql(source), user="pipeline")[1]
    if not rows:
        checks.append(Check("row_count_accounting", False, "no batch in curated.ingestion_log"))
        return checks
    balanced, matches_raw, matches_rejected, batch, received, accepted, rejected, dups, raw, rej = rows[0]
    checks.append(
        Check(
            "row_count_accounting",
            bool(balanced and matches_raw and matches_rejected),
            f"batch {batch}: received {received} = accepted {accepted} + rejected {rejected} + "
            f"duplicates {dups}; raw rows {raw}; rejected rows {rej}",
        )
    )
    return checks
