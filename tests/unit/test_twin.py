"""The DuckDB twin (bench/twin.py) against hand-computed cases and against the Spark pipeline.

Expected values come from hand computation (the boundary fixtures of test_delinquency.py, the
README's worked example) or from running the Spark jobs on the same files; never from the twin.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest

from bench.twin import FIGURES, MalformedInput, to_parquet, twin
from jobs import delinquency, ingest
from jobs.writes import Writer
from lakehouse.generate import Options, generate
from tests.conftest import SAMPLE
from tests.unit.test_delinquency import AS_OF, EXPECTED_CUSTOMERS, EXPECTED_VIOLATIONS, PAYMENTS, TRANSACTIONS

D = dt.date


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------
def write_lines(path: Path, records: list) -> str:
    """JSON Lines; a str is written as it is (a raw line), anything else through json.dumps."""
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return str(path)


def pct(part: int, whole: int) -> float | None:
    """100 * part / whole, rounded half up to 2 decimals: the documented percentage."""
    if not whole:
        return None
    return float((Decimal(100 * part) / Decimal(whole)).quantize(Decimal("0.01"), ROUND_HALF_UP))


def spark_pipeline(spark, tmp_path: Path, catalog: str, inputs: dict[str, list[str]], terms_days=(30,)):
    """Ingest `inputs` into a fresh file catalog, then run the delinquency job once per terms_days.

    Returns the ingestion result and, per terms_days, the job's summary with the customers'
    flags and the violation rows it wrote."""
    spark.conf.set(f"spark.sql.catalog.{catalog}", "org.apache.iceberg.spark.SparkCatalog")
    spark.conf.set(f"spark.sql.catalog.{catalog}.type", "hadoop")
    spark.conf.set(f"spark.sql.catalog.{catalog}.warehouse", str(tmp_path / f"{catalog}-warehouse"))
    loaded = ingest.run(spark, catalog, inputs)
    analyses = {}
    for terms in terms_days:
        rules = delinquency.Rules.load(delinquency.DEFAULT_RULES, terms_days=terms)
        with Writer.open(spark, catalog, "delinquency", delinquency.analytics_tables(catalog)) as writer:
            result = delinquency.run(writer, catalog, None, rules, None)
        on_date = f"as_of = DATE '{result['as_of']}'"
        result["customer_flags"] = {
            r[0]: tuple(r[1:])
            for r in spark.sql(
                "SELECT customer_id, over30mob3, ever15mob6, over30mob3_evaluable, window_complete, "
                f"max_days_past_due, inadimplente FROM {catalog}.analytics.customer_delinquency "
                f"WHERE {on_date}"
            ).collect()
        }
        result["violation_rows"] = sorted(
            tuple(r)
            for r in spark.sql(
                "SELECT customer_id, criterion, transaction_id, payment_id, due_date, observation_date, "
                f"days_past_due FROM {catalog}.analytics.delinquency_violations WHERE {on_date}"
            ).collect()
        )
        analyses[terms] = result
    return loaded, analyses


def assert_same_as_spark(got: dict, loaded: dict, spark_result: dict) -> None:
    """Every headline figure, each source's account, every customer's flags, every violation."""
    assert str(got["as_of"]) == spark_result["as_of"]
    assert {name: got[name] for name in FIGURES} == {name: spark_result[name] for name in FIGURES}
    for source, account in got["accounts"].items():
        spark_account = loaded["sources"][source]
        assert account == {k: spark_account[k] for k in ("received", "accepted", "rejected", "duplicates")}
    assert got["customer_flags"] == spark_result["customer_flags"]
    assert sorted(got["violation_rows"]) == spark_result["violation_rows"]


# ---------------------------------------------------------------------------------------
# Hand-computed cases (no Spark)
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def boundary_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """test_delinquency's boundary fixtures as v2 source files (amounts as numeric strings)."""
    folder = tmp_path_factory.mktemp("boundaries")
    transactions = [
        {
            "transaction_id": tx_id,
            "customer_id": customer,
            "amount": str(amount),
            "transaction_date": day.isoformat(),
            "due_date": due.isoformat() if due else None,
            "status": status,
        }
        for customer, tx_id, amount, day, due, status in TRANSACTIONS
    ]
    payments = [
        {
            "payment_id": pay_id,
            "transaction_id": tx_id,
            "amount_paid": str(amount),
            "payment_date": day.isoformat(),
            "status": status,
        }
        for pay_id, tx_id, amount, day, status in PAYMENTS
    ]
    return (
        write_lines(folder / "transactions.jsonl", transactions),
        write_lines(folder / "payments.jsonl", payments),
    )


def test_boundary_cases_match_the_hand_computed_flags(boundary_files) -> None:
    tx, pay = boundary_files
    got = twin([tx], [pay], as_of=AS_OF, details=True)
    assert got["as_of"] == AS_OF
    assert got["customer_flags"] == EXPECTED_CUSTOMERS
    assert sorted(got["violation_rows"], key=lambda r: (r[0], r[1])) == EXPECTED_VIOLATIONS
    assert (got["origination"]["monthend"], got["origination"]["young"]) == (D(2024, 1, 31), D(2024, 11, 1))
    # the summary, counted from the hand-computed flags:
    # (over30mob3, ever15mob6, over30mob3_evaluable, window_complete, max_days_past_due, inadimplente)
    flags = EXPECTED_CUSTOMERS.values()
    complete = [f for f in flags if f[3]]
    delinquent, delinquent_complete = sum(f[5] for f in flags), sum(f[5] for f in complete)
    assert {name: got[name] for name in FIGURES} == {
        "customers": len(flags),
        "delinquent": delinquent,
        "pct_delinquent": pct(delinquent, len(flags)),
        "over30mob3": sum(f[0] for f in flags),
        "ever15mob6": sum(f[1] for f in flags),
        "customers_window_complete": len(complete),
        "delinquent_window_complete": delinquent_complete,
        "pct_delinquent_window_complete": pct(delinquent_complete, len(complete)),
        "violations": len(EXPECTED_VIOLATIONS),
    }
    assert (got["pct_delinquent"], got["pct_delinquent_window_complete"]) == (62.5, 64.29)
    # every record valid, ids unique
    assert got["accounts"]["transactions"] == {
        "received": len(TRANSACTIONS),
        "accepted": len(TRANSACTIONS),
        "rejected": 0,
        "duplicates": 0,
    }


def test_readme_worked_example(tmp_path: Path) -> None:
    # R$ 1,000.00 on 2024-01-31, due 2024-03-01; 600.00 paid 02-20, 400.00 paid 04-10 (settles it).
    # MOB-3 date 2024-04-30: settled, so not over30mob3. MOB-6 date 2024-07-31: 40 days late at
    # worst (04-10 - 03-01), > 15: ever15mob6, inadimplente; one violation row.
    tx = write_lines(
        tmp_path / "t.jsonl",
        [{"transaction_id": "T1", "customer_id": "C1", "amount": 1000.00, "date": "2024-01-31"}],
    )
    pay = write_lines(
        tmp_path / "p.jsonl",
        [
            {"payment_id": "P1", "transaction_id": "T1", "amount_paid": 600.00, "date_paid": "2024-02-20"},
            {"payment_id": "P2", "transaction_id": "T1", "amount_paid": 400.00, "date_paid": "2024-04-10"},
        ],
    )
    got = twin([tx], [pay], as_of=D(2024, 12, 31), details=True)
    assert got["customer_flags"] == {"C1": (False, True, True, True, 40, True)}
    assert got["violation_rows"] == [("C1", "ever15mob6", "T1", "P2", D(2024, 3, 1), D(2024, 7, 31), 40)]
    assert (got["customers"], got["delinquent"], got["pct_delinquent"], got["violations"]) == (1, 1, 100.0, 1)


def test_as_of_defaults_to_the_latest_curated_date(tmp_path: Path) -> None:
    # The latest date is a failed payment's (it does not settle anything, but it is curated data);
    # the rejected record's later date does not count. On 2024-03-05 t1 (due 01-31, unpaid) is 34
    # days late: ever15mob6; MOB-3 (04-01) is not reached yet. t2 (05-01) is after as_of.
    tx = write_lines(
        tmp_path / "t.jsonl",
        [
            {"transaction_id": "t1", "customer_id": "a", "amount": 10, "date": "2024-01-01"},
            {"transaction_id": "t2", "customer_id": "b", "amount": 10, "date": "2024-01-02"},
            {"transaction_id": "t3", "customer_id": "b", "amount": 0, "date": "2024-09-09"},  # rejected
        ],
    )
    pay = write_lines(
        tmp_path / "p.jsonl",
        [
            {"payment_id": "p1", "transaction_id": "t1", "amount_paid": 10, "payment_date": "2024-03-05",
             "status": "failed"},
            {"payment_id": "p2", "transaction_id": "t2", "amount_paid": 10, "payment_date": "2024-02-01"},
        ],
    )  # fmt: skip
    got = twin([tx], [pay], details=True)
    assert got["as_of"] == D(2024, 3, 5)
    assert got["customer_flags"] == {
        "a": (False, True, False, False, 34, True),
        "b": (False, False, False, False, 0, False),
    }
    assert got["accounts"]["transactions"] == {"received": 3, "accepted": 2, "rejected": 1, "duplicates": 0}


def test_no_accepted_record_gives_zero_customers(tmp_path: Path) -> None:
    tx = write_lines(tmp_path / "t.jsonl", [{"transaction_id": "t1", "amount": 10, "date": "2024-01-01"}])
    got = twin([tx], [])
    assert (got["as_of"], got["customers"], got["pct_delinquent"], got["violations"]) == (None, 0, None, 0)


# ---------------------------------------------------------------------------------------
# Against the Spark pipeline
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("catalog", "schema", "dirty_ratio", "seed"),
    [("twincheck_v2", "v2", 0.05, 7), ("twincheck_v1", "v1", 0.0, 11)],
)
def test_generated_data_matches_spark(spark, tmp_path: Path, catalog, schema, dirty_ratio, seed) -> None:
    counts = generate(Options(customers=300, out=tmp_path, schema=schema, dirty_ratio=dirty_ratio, seed=seed))
    if dirty_ratio:
        assert sum(v for k, v in counts.items() if "." in k) > 0  # some dirty records were written
    inputs = {
        "transactions": [str(tmp_path / "transactions.jsonl")],
        "payments": [str(tmp_path / "payments.jsonl")],
    }
    loaded, analyses = spark_pipeline(spark, tmp_path, catalog, inputs)
    got = twin(inputs["transactions"], inputs["payments"], details=True)
    assert_same_as_spark(got, loaded, analyses[30])
    assert got["delinquent"] > 0 and got["violations"] > 0  # the comparison is not vacuous


def test_sample_arrays_match_spark(spark, tmp_path: Path) -> None:
    inputs = {
        "transactions": [str(SAMPLE / "transactions.json")],
        "payments": [str(SAMPLE / "payments.json")],
    }
    loaded, analyses = spark_pipeline(spark, tmp_path, "twincheck_sample", inputs, terms_days=(0, 30))
    for terms, expected_pct in ((0, 100.0), (30, 0.0)):  # the README: 100% with 0 days, 0% with 30
        got = twin(inputs["transactions"], inputs["payments"], terms_days=terms, details=True)
        assert (got["customers"], got["pct_delinquent"]) == (100, expected_pct)
        assert_same_as_spark(got, loaded, analyses[terms])


# A batch of two transaction files and two payment files, with the contract's corner cases. The
# comments say what the rules make of each record; the test checks the twin agrees with Spark.
EDGE_TRANSACTIONS_1 = [
    '{"transaction_id": 1, "customer_id": "A", "amount": 150.50, "date": "2024-01-31"}',  # id 1 -> "1"
    '{"transaction_id": "2", "customer_id": " B ", "amount": "200.00", "transaction_date": '
    '"2024-02-29T10:00:00Z", "status": " Refunded "}',  # trimmed; refunded: not an obligation
    '{"transaction_id": "3", "customer_id": "C", "amount": 10.500, "date": "2024-03-31",'
    ' "due_date": "2024-04-15"}',  # 10.50, an explicit due date
    '{"transaction_id": "4", "customer_id": "D", "amount": 10.005, "date": "2024-01-01"}',  # too precise
    '{"transaction_id": "5", "customer_id": "E", "amount": "1e2", "date": "2024-01-01 08:30"}',  # 100.00
    '{"transaction_id": "6", "customer_id": "F", "amount": 100, "date": "2024-02-30"}',  # no such day
    '{"transaction_id": "7", "customer_id": "G", "amount": 100, "date": "2024-01-15", "due_date": ""}',
    '{"transaction_id": "8", "customer_id": "H", "amount": 100, "transaction_date": "",'
    ' "date": "2024-01-20"}',  # an empty transaction_date is missing: `date` counts
    '{"transaction_id": "9", "customer_id": "I", "amount": 9999999999999.99, "date": "2024-01-01"}',
    '{"transaction_id": "9b", "customer_id": "I", "amount": 10000000000000, "date": "2024-01-01"}',  # too big
    '{"transaction_id": "10", "customer_id": "J", "amount": "\\t5", "date": "2024-01-01"}',  # 5.00
    '{"transaction_id": 1.5e7, "customer_id": "K", "amount": 5, "date": "2024-01-01"}',  # id "1.5E7"
    '{"transaction_id": "11", "customer_id": "L", "amount": 100, "date": "2024-05-05",'
    ' "status": "CANCELLED"}',  # status case-insensitive: not an obligation
    '"just text"',
    "42",
    "",
    "   ",
    '{"transaction_id": "12", "customer_id": "M", "amount": 100.0, "date": "2024-01-10"}',  # replaced later
    '{"transaction_id": "13", "customer_id": "N", "amount": 70, "date": "2024-01-10"}',
    '{"transaction_id": "13", "customer_id": "N", "amount": 70, "date": "2024-01-10"}',  # exact duplicate
    '{"transaction_id": "14", "customer_id": "A", "amount": 40, "date": "2024-08-31"}',
    '{"transaction_id": "15", "customer_id": "", "amount": 40, "date": "2024-08-31"}',  # no customer
    '{"transaction_id": "16", "customer_id": "O", "amount": -3, "date": "2024-02-01"}',  # not positive
    '{"transaction_id": "17", "customer_id": "P", "amount": 30, "date": "2024-02-01",'
    ' "due_date": "2024-13-45"}',  # invalid due date
    '{"transaction_id": "18", "customer_id": "Q", "amount": "abc", "date": "2024-02-01"}',
    '{"customer_id": "R", "amount": 1, "date": "2024-02-01"}',  # no id
    '{"transaction_id": "19", "customer_id": "S", "amount": 1, "date": "01/02/2024"}',
    '{"transaction_id": "20", "customer_id": "T", "amount": 60, "date": "2024-06-30", "status": "pending",'
    ' "metadata": {"installments": 3, "discount_applied": true}}',
]
EDGE_TRANSACTIONS_2 = [  # a JSON array, later in the batch: its versions win
    {"transaction_id": "12", "customer_id": "M", "amount": 300, "date": "2024-01-10"},
    {"transaction_id": "13", "customer_id": "N", "amount": 70, "date": "2024-01-10"},  # same again
    {"transaction_id": "5", "customer_id": "E", "amount": 0, "date": "2024-01-01"},  # invalid: 5 stays
    None,  # not an object
    '{"transaction_id": "21", "customer_id": "U", "amount": 25, "date": "2024-03-03"}',  # text of a record
]
EDGE_PAYMENTS_1 = [
    {"payment_id": 1, "transaction_id": 1, "amount_paid": 100.25, "date_paid": "2024-03-05"},
    {"payment_id": "2", "transaction_id": "1", "amount_paid": 50.25, "payment_date": "2024-04-20",
     "status": "COMPLETED"},  # settles 1 (due 03-01) 50 days late
    {"payment_id": "p10", "transaction_id": "3", "amount_paid": 5.25, "payment_date": "2024-05-20"},
    {"payment_id": "p9", "transaction_id": "3", "amount_paid": 5.25, "payment_date": "2024-05-20"},  # first
    {"payment_id": "5a", "transaction_id": "5", "amount_paid": 100, "payment_date": "2024-01-20",
     "status": "failed"},  # does not count
    {"payment_id": "5b", "transaction_id": "5", "amount_paid": 100, "payment_date": "2024-03-01",
     "status": "processing"},  # does not count: 5 never settled
    {"payment_id": "7", "transaction_id": "7", "amount_paid": 100, "payment_date": "2024-02-13"},
    {"payment_id": "8", "transaction_id": "8", "amount_paid": 99.99, "payment_date": "2024-02-10"},  # short
    {"payment_id": "9", "transaction_id": "9", "amount_paid": 9999999999999.99, "payment_date": "2024-01-05"},
    {"payment_id": "10", "transaction_id": "10", "amount_paid": 5, "payment_date": "2024-05-01",
     "metadata": {"fee_amount": 0.015}},  # fee too precise: rejected, so 10 stays unpaid
    {"payment_id": "10b", "transaction_id": "10", "amount_paid": 5, "payment_date": "2024-05-02",
     "metadata": {"fee_amount": "abc"}},  # fee not numeric: rejected
    {"payment_id": "10c", "transaction_id": "10", "amount_paid": 5, "payment_date": "2024-05-03",
     "metadata": {"fee_amount": -1.5, "processor": "stone"}},  # a fee may be negative: settles 10
    {"payment_id": "12", "transaction_id": "12", "amount_paid": 100, "payment_date": "2024-02-09"},
    {"payment_id": "12b", "transaction_id": "12", "amount_paid": 200, "payment_date": "2024-04-01"},
    {"payment_id": "13", "transaction_id": "13", "amount_paid": 70, "payment_date": "2024-02-09"},
    {"payment_id": "14", "transaction_id": "14", "amount_paid": 40, "payment_date": "2024-12-01"},
    {"payment_id": "x", "amount_paid": 40, "payment_date": "2024-12-01"},  # no transaction_id
    {"payment_id": "20", "transaction_id": "20", "amount_paid": 60, "payment_date": "2024-07-30T23:59:59"},
    {"payment_id": "21", "transaction_id": "21", "amount_paid": 25, "payment_date": "2025-01-15"},
    {"payment_id": "99", "transaction_id": "nope", "amount_paid": 1, "payment_date": "2024-02-01"},  # orphan
]  # fmt: skip
EDGE_PAYMENTS_2 = [
    '{"payment_id": "12b", "transaction_id": "12", "amount_paid": 200, "payment_date": "2024-03-01"}',
    '{"payment_id": "13", "transaction_id": "13", "amount_paid": 70, "payment_date": "2024-02-09"}',
]


def test_edge_batch_matches_spark(spark, tmp_path: Path) -> None:
    tx1 = tmp_path / "transactions-1.jsonl"
    tx1.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(EDGE_TRANSACTIONS_1).encode() + b"\r\n")  # BOM, CRLF
    tx2 = tmp_path / "transactions-2.json"
    tx2.write_text(json.dumps(EDGE_TRANSACTIONS_2, indent=2))
    pay1 = tmp_path / "payments-1.json"
    pay1.write_text(json.dumps(EDGE_PAYMENTS_1, indent=1))
    pay2 = write_lines(tmp_path / "payments-2.jsonl", EDGE_PAYMENTS_2)
    inputs = {"transactions": [str(tx1), str(tx2)], "payments": [str(pay1), pay2]}
    loaded, analyses = spark_pipeline(spark, tmp_path, "twincheck_edge", inputs)
    got = twin(inputs["transactions"], inputs["payments"], details=True)
    assert_same_as_spark(got, loaded, analyses[30])
    # and a few things worked out by hand
    assert got["accounts"]["transactions"] == {
        "received": 31,
        "accepted": 15,
        "rejected": 13,
        "duplicates": 3,
    }
    assert set(got["customer_flags"]) == set("ACEGHIJKMNTU")  # B, L: refunded, cancelled; D, F...: rejected


def spark_catalog(spark, tmp_path: Path, name: str) -> str:
    spark.conf.set(f"spark.sql.catalog.{name}", "org.apache.iceberg.spark.SparkCatalog")
    spark.conf.set(f"spark.sql.catalog.{name}.type", "hadoop")
    spark.conf.set(f"spark.sql.catalog.{name}.warehouse", str(tmp_path / name))
    return name


GOOD_PAYMENT = {"payment_id": "1", "transaction_id": "1", "amount_paid": 5, "date_paid": "2024-01-01"}


@pytest.mark.parametrize(
    "line",
    [
        # two records run together, the second cut short: a truncated file
        '{"transaction_id": "1", "customer_id": "A", "amount": 5, "date": "2024-01-01"}{"transaction_id": "2',
        '{"transaction_id": "1", "customer_id": "A", "amount": 5, "date": "2024-01-01"} trailing',
    ],
)
def test_a_line_that_is_not_one_json_value_refuses_the_batch_on_both_sides(
    spark, tmp_path: Path, line
) -> None:
    tx = write_lines(tmp_path / "t.jsonl", [line])
    good = write_lines(tmp_path / "p.jsonl", [GOOD_PAYMENT])
    with pytest.raises(ingest.MalformedInput, match="t.jsonl: line 1"):
        ingest.run(
            spark,
            spark_catalog(spark, tmp_path, "twincheck_twovalues"),
            {"transactions": [tx], "payments": [good]},
        )
    with pytest.raises(MalformedInput, match="t.jsonl: record 1"):
        twin([tx], [good])


def test_a_truncated_array_refuses_the_batch_on_both_sides(spark, tmp_path: Path) -> None:
    truncated = tmp_path / "t.json"
    truncated.write_text((SAMPLE / "transactions.json").read_text()[:2000])
    good = write_lines(tmp_path / "p.jsonl", [GOOD_PAYMENT])
    with pytest.raises(ingest.MalformedInput):
        ingest.run(
            spark,
            spark_catalog(spark, tmp_path, "twincheck_truncated"),
            {"transactions": [str(truncated)], "payments": [good]},
        )
    with pytest.raises(MalformedInput, match="t.json"):
        twin([str(truncated)], [good])


def test_valid_json_of_the_wrong_shape_is_rejected_on_both_sides(spark, tmp_path: Path) -> None:
    tx = write_lines(
        tmp_path / "t.jsonl",
        [
            '{"transaction_id": "1", "customer_id": "A", "amount": 5, "date": "2024-01-01", "metadata": "x"}',
            '{"transaction_id": "2", "customer_id": "B", "amount": 7, "date": "2024-01-02"}',
        ],
    )
    good = write_lines(tmp_path / "p.jsonl", [GOOD_PAYMENT])
    result = ingest.run(
        spark, spark_catalog(spark, tmp_path, "twincheck_shape"), {"transactions": [tx], "payments": [good]}
    )
    spark_tx = result["sources"]["transactions"]
    assert (spark_tx["received"], spark_tx["accepted"], spark_tx["rejected"]) == (2, 1, 1)  # by hand
    twin_tx = twin([tx], [good])["accounts"]["transactions"]
    assert (twin_tx["received"], twin_tx["accepted"], twin_tx["rejected"]) == (2, 1, 1)


def test_single_quoted_records_are_refused_by_the_strict_twin(tmp_path: Path) -> None:
    # Not JSON. Spark rejects such a record (unexpected_structure: its JSON functions accept
    # single quotes, its typed reader does not); the twin's strict parser refuses the batch. The
    # one known difference between the two; generated data never has it.
    line = "{'transaction_id': '1', 'customer_id': 'A', 'amount': 5, 'date': '2024-01-01'}"
    tx = write_lines(tmp_path / "t.jsonl", [line])
    with pytest.raises(MalformedInput, match="t.jsonl: record 1"):
        twin([tx], [])


# ---------------------------------------------------------------------------------------
# The ingestion anchor: JSON -> typed Parquet
# ---------------------------------------------------------------------------------------
def test_to_parquet_writes_the_curated_rows(tmp_path: Path) -> None:
    out = to_parquet([str(SAMPLE / "transactions.json")], [str(SAMPLE / "payments.json")], tmp_path)
    assert out["rows"] == {"transactions": 100, "payments": 100}  # the README: 100 and 100 accepted
    assert set(out["seconds"]) == {"read", "validate", "write", "total"}
    con = duckdb.connect()
    # payment 10 arrives as the integer 10 with amount 550.0: stored as "10" and 550.00
    row = con.execute(
        f"SELECT amount_paid, payment_date FROM '{tmp_path / 'payments.parquet'}' WHERE payment_id = '10'"
    ).fetchone()
    assert row == (Decimal("550.00"), D(2024, 3, 20))
    described = con.execute(f"DESCRIBE SELECT * FROM '{tmp_path / 'transactions.parquet'}'").fetchall()
    types = {r[0]: r[1] for r in described}
    assert (types["amount"], types["transaction_date"], types["installments"]) == (
        "DECIMAL(18,2)",
        "DATE",
        "INTEGER",
    )
