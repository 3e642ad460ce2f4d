"""Delinquency rules, one customer per boundary. Every expected value is worked out by hand
in the comment beside the case (dates in 2024, a leap year; default terms of 30 days).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from jobs.delinquency import (
    DEFAULT_RULES,
    NeverLoaded,
    Rules,
    analyse,
    analytics_tables,
    default_as_of,
    evaluate,
    run,
)
from jobs.writes import Writer

D = dt.date
AS_OF = D(2024, 12, 31)
RULES = Rules.load(DEFAULT_RULES)
LINEAGE = {"transactions_snapshot_id": 1, "payments_snapshot_id": 2, "rules": "{}", "computed_at": None}

TX_SCHEMA = (
    "customer_id string, transaction_id string, amount decimal(18,2), transaction_date date,"
    " due_date date, status string"
)
PAY_SCHEMA = (
    "payment_id string, transaction_id string, amount_paid decimal(18,2), payment_date date, status string"
)


def tx(customer, tx_id, day, amount="100.00", due=None, status=None):
    return (customer, tx_id, Decimal(amount), day, due, status)


def pay(pay_id, tx_id, day, amount="100.00", status=None):
    return (pay_id, tx_id, Decimal(amount), day, status)


# Origination 2024-01-01 => due 01-31, MOB-3 date 2024-04-01, MOB-6 date 2024-07-01.
TRANSACTIONS = [
    tx("late15", "t1", D(2024, 1, 1)),
    tx("late16", "t2", D(2024, 1, 1)),
    tx("over30", "t3", D(2024, 1, 1), due=D(2024, 3, 2)),
    tx("over31", "t4", D(2024, 1, 1), due=D(2024, 3, 1)),
    tx("unpaid", "t5", D(2024, 1, 1)),
    tx("partial", "t6", D(2024, 1, 1)),
    tx("overpaid", "t7", D(2024, 1, 1)),
    tx("centshort", "t8", D(2024, 1, 1)),
    tx("failed", "t9", D(2024, 1, 1)),
    tx("cancelled", "t10", D(2024, 1, 1)),
    tx("cancelled", "t11", D(2024, 1, 1), status="cancelled"),
    tx("cancelled", "t12", D(2024, 1, 1), status="refunded"),
    tx("explicitdue", "t13", D(2024, 1, 1), due=D(2024, 3, 15)),
    tx("monthend", "t14", D(2024, 1, 31)),
    tx("onmob3", "t15", D(2024, 1, 1)),
    tx("afterwindow", "t16", D(2024, 1, 1)),
    tx("afterwindow", "t17", D(2024, 6, 25)),
    tx("young", "t18", D(2024, 11, 1)),
    tx("youngok", "t19", D(2024, 11, 20)),
]
PAYMENTS = [
    pay("p1", "t1", D(2024, 2, 15)),  # 15 days after 01-31: not > 15
    pay("p2", "t2", D(2024, 2, 16)),  # 16 days: ever15mob6
    pay("p3", "t3", D(2024, 4, 5)),  # due 03-02: 30 days on 04-01 (not > 30); 34 days reached
    pay("p4", "t4", D(2024, 4, 5)),  # due 03-01: 31 days on 04-01; 35 days reached
    pay("p6a", "t6", D(2024, 1, 20), "50.00"),  # partial on time...
    pay("p6b", "t6", D(2024, 2, 20), "50.00"),  # ...remainder 20 days late
    pay("p7a", "t7", D(2024, 1, 25)),  # settled on time
    pay("p7b", "t7", D(2024, 3, 15), "10.00"),  # overpayment later: changes nothing
    pay("p8", "t8", D(2024, 1, 25), "99.99"),  # a cent short: never settled
    pay("p9a", "t9", D(2024, 1, 25), status="failed"),  # does not count
    pay("p9b", "t9", D(2024, 2, 20), status="completed"),  # 20 days late
    pay("p10", "t10", D(2024, 1, 30)),
    pay("p13", "t13", D(2024, 3, 20)),  # 5 days after the explicit due date 03-15
    pay("p15", "t15", D(2024, 4, 1)),  # paid on the MOB-3 date itself: 61 days reached
    pay("p16", "t16", D(2024, 1, 31)),
    pay("p17", "t17", D(2024, 9, 30)),  # due 07-25, after the MOB-6 date 07-01: 67 days late
    pay("p19", "t19", D(2024, 12, 10)),  # due 12-20: on time
]

# customer: (over30mob3, ever15mob6, over30mob3_evaluable, window_complete, max_days_past_due, inadimplente)
EXPECTED_CUSTOMERS = {
    "late15": (False, False, True, True, 15, False),
    "late16": (False, True, True, True, 16, True),
    "over30": (False, True, True, True, 34, True),
    "over31": (True, True, True, True, 35, True),
    "unpaid": (True, True, True, True, 335, True),  # 12-31 - 01-31 = 335 days by as_of
    "partial": (False, True, True, True, 20, True),
    "overpaid": (False, False, True, True, 0, False),
    "centshort": (True, True, True, True, 335, True),
    "failed": (False, True, True, True, 20, True),
    "cancelled": (False, False, True, True, 0, False),
    "explicitdue": (False, False, True, True, 5, False),
    "monthend": (True, True, True, True, 305, True),  # due 03-01, unpaid: 12-31 - 03-01 = 305
    "onmob3": (False, True, True, True, 61, True),
    "afterwindow": (False, False, True, True, 67, False),
    # originated 11-01: MOB-3 2025-02-01 and MOB-6 2025-05-01 are after as_of; due 12-01 unpaid
    # gives 30 days by as_of, more than 15 inside the (incomplete) window
    "young": (False, True, False, False, 30, True),
    "youngok": (False, False, False, False, 0, False),
}

# (customer, criterion, transaction_id, payment_id, due_date, observation_date, days_past_due)
EXPECTED_VIOLATIONS = sorted(
    [
        ("late16", "ever15mob6", "t2", "p2", D(2024, 1, 31), D(2024, 7, 1), 16),
        ("over30", "ever15mob6", "t3", "p3", D(2024, 3, 2), D(2024, 7, 1), 34),
        ("over31", "over30mob3", "t4", "p4", D(2024, 3, 1), D(2024, 4, 1), 31),
        ("over31", "ever15mob6", "t4", "p4", D(2024, 3, 1), D(2024, 7, 1), 35),
        ("unpaid", "over30mob3", "t5", None, D(2024, 1, 31), D(2024, 4, 1), 61),
        ("unpaid", "ever15mob6", "t5", None, D(2024, 1, 31), D(2024, 7, 1), 152),
        ("partial", "ever15mob6", "t6", "p6b", D(2024, 1, 31), D(2024, 7, 1), 20),
        ("centshort", "over30mob3", "t8", None, D(2024, 1, 31), D(2024, 4, 1), 61),
        ("centshort", "ever15mob6", "t8", None, D(2024, 1, 31), D(2024, 7, 1), 152),
        ("failed", "ever15mob6", "t9", "p9b", D(2024, 1, 31), D(2024, 7, 1), 20),
        # Jan 31 + 3 months = Apr 30, + 6 months = Jul 31 (clamped to month end)
        ("monthend", "over30mob3", "t14", None, D(2024, 3, 1), D(2024, 4, 30), 60),
        ("monthend", "ever15mob6", "t14", None, D(2024, 3, 1), D(2024, 7, 31), 152),
        ("onmob3", "ever15mob6", "t15", "p15", D(2024, 1, 31), D(2024, 7, 1), 61),
        ("young", "ever15mob6", "t18", None, D(2024, 12, 1), D(2024, 12, 31), 30),
    ],
    key=lambda r: (r[0], r[1]),
)


@pytest.fixture(scope="module")
def outputs(spark):
    transactions = spark.createDataFrame(TRANSACTIONS, TX_SCHEMA)
    payments = spark.createDataFrame(PAYMENTS, PAY_SCHEMA)
    return analyse(evaluate(transactions, payments, AS_OF, RULES), AS_OF, RULES, LINEAGE)


def test_customer_flags(outputs) -> None:
    got = {
        r.customer_id: (
            r.over30mob3,
            r.ever15mob6,
            r.over30mob3_evaluable,
            r.window_complete,
            r.max_days_past_due,
            r.inadimplente,
        )
        for r in outputs.customers.collect()
    }
    assert got == EXPECTED_CUSTOMERS


def test_cohort_and_origination(outputs) -> None:
    rows = {r.customer_id: r for r in outputs.customers.collect()}
    assert (rows["monthend"].cohort_month, rows["monthend"].origination_date) == ("2024-01", D(2024, 1, 31))
    assert rows["young"].cohort_month == "2024-11"
    assert all(r.as_of == AS_OF for r in rows.values())


def test_violations(outputs) -> None:
    got = sorted(
        (
            (
                r.customer_id,
                r.criterion,
                r.transaction_id,
                r.payment_id,
                r.due_date,
                r.observation_date,
                r.days_past_due,
            )
            for r in outputs.violations.collect()
        ),
        key=lambda r: (r[0], r[1]),
    )
    assert got == EXPECTED_VIOLATIONS


def test_summary(outputs) -> None:
    row = outputs.summary.first()
    # 16 customers (cancelled-only transactions never make one); 10 delinquent: late16, over30,
    # over31, unpaid, partial, centshort, failed, monthend, onmob3, young
    assert (row.customers, row.delinquent, row.pct_delinquent) == (16, 10, Decimal("62.50"))
    assert (row.over30mob3, row.ever15mob6) == (4, 10)
    # windows complete for all but young and youngok: 14 customers, 9 of them delinquent
    assert (row.customers_window_complete, row.delinquent_window_complete) == (14, 9)
    assert row.pct_delinquent_window_complete == Decimal("64.29")
    assert (row.transactions_snapshot_id, row.payments_snapshot_id) == (1, 2)


def test_by_cohort(outputs) -> None:
    got = {r.cohort_month: (r.customers, r.delinquent, r.pct_delinquent) for r in outputs.by_cohort.collect()}
    assert got == {"2024-01": (14, 9, Decimal("64.29")), "2024-11": (2, 1, Decimal("50.00"))}


def test_data_after_as_of_is_ignored(spark) -> None:
    as_of = D(2024, 2, 10)
    transactions = spark.createDataFrame(
        [tx("a", "t1", D(2024, 1, 1)), tx("a", "t2", D(2024, 2, 11)), tx("b", "t3", D(2024, 3, 1))], TX_SCHEMA
    )
    # paid 02-20, after as_of: unpaid on 02-10, which is 10 days past the 01-31 due date
    payments = spark.createDataFrame([pay("p1", "t1", D(2024, 2, 20))], PAY_SCHEMA)
    out = analyse(evaluate(transactions, payments, as_of, RULES), as_of, RULES, LINEAGE)
    rows = out.customers.collect()
    assert [(r.customer_id, r.ever15mob6, r.over30mob3_evaluable, r.max_days_past_due) for r in rows] == [
        ("a", False, False, 10)
    ]
    assert out.violations.count() == 0


def test_terms_days_zero_makes_every_late_day_count(spark) -> None:
    rules = Rules.load(DEFAULT_RULES, terms_days=0)
    transactions = spark.createDataFrame([tx("a", "t1", D(2024, 1, 1))], TX_SCHEMA)
    payments = spark.createDataFrame([pay("p1", "t1", D(2024, 1, 17))], PAY_SCHEMA)  # 16 days after
    out = analyse(evaluate(transactions, payments, AS_OF, rules), AS_OF, rules, LINEAGE)
    assert out.customers.first().ever15mob6 is True


def test_empty_input_still_gives_a_summary_row(spark) -> None:
    transactions = spark.createDataFrame([], TX_SCHEMA)
    payments = spark.createDataFrame([], PAY_SCHEMA)
    out = analyse(evaluate(transactions, payments, AS_OF, RULES), AS_OF, RULES, LINEAGE)
    row = out.summary.first()
    assert (row.as_of, row.customers, row.delinquent, row.pct_delinquent) == (AS_OF, 0, 0, None)


def test_default_as_of_is_the_latest_date(spark) -> None:
    transactions = spark.createDataFrame([tx("a", "t1", D(2024, 1, 1))], TX_SCHEMA)
    payments = spark.createDataFrame([pay("p1", "t1", D(2024, 3, 5))], PAY_SCHEMA)
    assert default_as_of(transactions, payments) == D(2024, 3, 5)


def test_rules_file_rejects_unknown_keys(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text("terms_days = 10\nover_dayz = 3\n")
    with pytest.raises(ValueError, match="over_dayz"):
        Rules.load(path)
    path.write_text("terms_days = 10\n")
    assert Rules.load(path).terms_days == 10
    assert Rules.load(path, terms_days=0).terms_days == 0


def analysis(spark):
    return Writer.open(spark, "empty", "delinquency", analytics_tables("empty"))


def test_never_loaded_inputs_skip_the_analysis(spark, tmp_path: Path) -> None:
    spark.conf.set("spark.sql.catalog.empty", "org.apache.iceberg.spark.SparkCatalog")
    spark.conf.set("spark.sql.catalog.empty.type", "hadoop")
    spark.conf.set("spark.sql.catalog.empty.warehouse", str(tmp_path))
    spark.sql("CREATE NAMESPACE IF NOT EXISTS empty.analytics")
    with pytest.raises(NeverLoaded, match="curated.transactions does not exist yet"), analysis(spark) as w:
        run(w, "empty", None, RULES, None)
    spark.sql("CREATE NAMESPACE IF NOT EXISTS empty.curated")
    spark.sql(
        "CREATE TABLE empty.curated.transactions (customer_id string, transaction_id string, "
        "amount decimal(18,2), transaction_date date, due_date date, status string) USING iceberg"
    )
    spark.sql(
        "CREATE TABLE empty.curated.payments (payment_id string, transaction_id string, "
        "amount_paid decimal(18,2), payment_date date, status string) USING iceberg"
    )
    with pytest.raises(NeverLoaded, match="curated.transactions has never been loaded"), analysis(spark) as w:
        run(w, "empty", None, RULES, None)
