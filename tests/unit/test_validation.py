"""Every validation rule, both schema versions, typed values: one case per rule boundary."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from jobs.ingest import parse, validate
from jobs.sources import PAYMENTS, TRANSACTIONS
from tests.unit.helpers import records

TX_V1 = '{"transaction_id": "1", "customer_id": "A", "amount": 100.0, "date": "2024-01-01"}'


def reasons_of(spark, source, raw: str) -> list[str]:
    row = validate(parse(records(spark, [raw]), source), source).first()
    return sorted(row.reasons)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (TX_V1, []),
        ('{"transaction_id": 7, "customer_id": "A", "amount": 1, "date": "2024-01-01"}', []),
        ('{"transaction_id": "1", "customer_id": "A", "amount": "150.50", "date": "2024-01-01"}', []),
        ('{"transaction_id": "1", "customer_id": "A", "amount": 1, "date": "2024-01-01T00:00:00"}', []),
        ('{"customer_id": "A", "amount": 1, "date": "2024-01-01"}', ["missing_transaction_id"]),
        (
            '{"transaction_id": "", "customer_id": "A", "amount": 1, "date": "2024-01-01"}',
            ["missing_transaction_id"],
        ),
        (
            '{"transaction_id": "1", "customer_id": "  ", "amount": 1, "date": "2024-01-01"}',
            ["missing_customer_id"],
        ),
        ('{"transaction_id": "1", "customer_id": "A", "date": "2024-01-01"}', ["missing_amount"]),
        (
            '{"transaction_id": "1", "customer_id": "A", "amount": "abc", "date": "2024-01-01"}',
            ["amount_not_numeric"],
        ),
        (
            '{"transaction_id": "1", "customer_id": "A", "amount": 0, "date": "2024-01-01"}',
            ["amount_not_positive"],
        ),
        (
            '{"transaction_id": "1", "customer_id": "A", "amount": -5.5, "date": "2024-01-01"}',
            ["amount_not_positive"],
        ),
        ('{"transaction_id": "1", "customer_id": "A", "amount": 1}', ["missing_transaction_date"]),
        (
            '{"transaction_id": "1", "customer_id": "A", "amount": 1, "date": "invalid-date"}',
            ["invalid_transaction_date"],
        ),
        (
            '{"transaction_id": "1", "customer_id": "A", "amount": 1, "date": "2024-02-30"}',
            ["invalid_transaction_date"],
        ),
        (
            '{"transaction_id": "1", "customer_id": "A", "amount": 1, "date": "01/02/2024"}',
            ["invalid_transaction_date"],
        ),
        (
            '{"transaction_id": "1", "customer_id": "A", "amount": 1, "transaction_date": "2024-01-01",'
            ' "due_date": "2024-13-45"}',
            ["invalid_due_date"],
        ),
        (
            '{"amount": "x", "date": "nope"}',
            [
                "amount_not_numeric",
                "invalid_transaction_date",
                "missing_customer_id",
                "missing_transaction_id",
            ],
        ),
        ("42", ["not_a_json_object"]),
        ('"just text"', ["not_a_json_object"]),
        ("[1, 2]", ["not_a_json_object"]),
        (
            '{"transaction_id": "1", "customer_id": "A", "amount": 1, "date": "2024-01-01", "metadata": "x"}',
            ["unexpected_structure"],
        ),
        # single quotes are not JSON: the record is kept in raw and rejected, never half-read
        (
            "{'transaction_id': '1', 'customer_id': 'A', 'amount': 1, 'date': '2024-01-01'}",
            ["unexpected_structure"],
        ),
        # amounts are never rounded or truncated silently
        (
            '{"transaction_id": "1", "customer_id": "A", "amount": 10.005, "date": "2024-01-01"}',
            ["amount_too_precise"],
        ),
        (
            '{"transaction_id": "1", "customer_id": "A", "amount": "0.001", "date": "2024-01-01"}',
            ["amount_too_precise"],
        ),
        ('{"transaction_id": "1", "customer_id": "A", "amount": 10.500, "date": "2024-01-01"}', []),
        (
            '{"transaction_id": "1", "customer_id": "A", "amount": 9999999999999.99, "date": "2024-01-01"}',
            [],
        ),
        (
            '{"transaction_id": "1", "customer_id": "A", "amount": 10000000000000, "date": "2024-01-01"}',
            ["amount_out_of_range"],
        ),
        (
            '{"transaction_id": "1", "customer_id": "A", "amount": 1e30, "date": "2024-01-01"}',
            ["amount_out_of_range"],
        ),
        (
            '{"transaction_id": "1", "customer_id": "A", "amount": "NaN", "date": "2024-01-01"}',
            ["amount_not_numeric"],
        ),
        # amounts in other notations: an exponent, no digit before the point, a sign
        (
            '{"transaction_id": "1", "customer_id": "A", "amount": "1E-7", "date": "2024-01-01"}',
            ["amount_too_precise"],
        ),
        (
            '{"transaction_id": "1", "customer_id": "A", "amount": 1e-7, "date": "2024-01-01"}',
            ["amount_too_precise"],
        ),
        (
            '{"transaction_id": "1", "customer_id": "A", "amount": "1e-7", "date": "2024-01-01"}',
            ["amount_too_precise"],
        ),
        ('{"transaction_id": "1", "customer_id": "A", "amount": "1.5e2", "date": "2024-01-01"}', []),
        ('{"transaction_id": "1", "customer_id": "A", "amount": "+.5", "date": "2024-01-01"}', []),
        (
            '{"transaction_id": "1", "customer_id": "A", "amount": "-0.00", "date": "2024-01-01"}',
            ["amount_not_positive"],
        ),
        (
            '{"transaction_id": "1", "customer_id": "A", "amount": "1.2.3", "date": "2024-01-01"}',
            ["amount_not_numeric"],
        ),
        (
            '{"transaction_id": "1", "customer_id": "A", "amount": "9999999999999999.99", '
            '"date": "2024-01-01"}',
            ["amount_out_of_range"],
        ),
        (
            '{"transaction_id": "1", "customer_id": "A", "amount": "10000000000000000", '
            '"date": "2024-01-01"}',
            ["amount_out_of_range"],
        ),
    ],
)
def test_transaction_rules(spark, raw: str, expected: list[str]) -> None:
    assert reasons_of(spark, TRANSACTIONS, raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"payment_id": 10, "transaction_id": "10", "amount_paid": 550.0, "date_paid": "2024-03-20"}', []),
        ('{"payment_id": "1", "amount_paid": 5, "date_paid": "2024-03-20"}', ["missing_transaction_id"]),
        ('{"transaction_id": "1", "amount_paid": 5, "payment_date": "2024-03-20"}', ["missing_payment_id"]),
        (
            '{"payment_id": "1", "transaction_id": "1", "amount_paid": 0, "payment_date": "2024-03-20"}',
            ["amount_paid_not_positive"],
        ),
        (
            '{"payment_id": "1", "transaction_id": "1", "amount_paid": 5, "payment_date": "invalid-date"}',
            ["invalid_payment_date"],
        ),
        (
            '{"payment_id": "1", "transaction_id": "1", "amount_paid": 5.123, "payment_date": "2024-03-20"}',
            ["amount_paid_too_precise"],
        ),
        (
            '{"payment_id": "1", "transaction_id": "1", "amount_paid": "12345678901234567", '
            '"payment_date": "2024-03-20"}',
            ["amount_paid_out_of_range"],
        ),
        (
            '{"payment_id": "1", "transaction_id": "1", "amount_paid": 5, "payment_date": "2024-03-20",'
            ' "metadata": {"fee_amount": 0.015}}',
            ["fee_amount_too_precise"],
        ),
        # a fee in plain cents: its range is checked as an amount's is; a fee has no sign rule
        (
            '{"payment_id": "1", "transaction_id": "1", "amount_paid": 5, "payment_date": "2024-03-20",'
            ' "metadata": {"fee_amount": "10000000000000.00"}}',
            ["fee_amount_out_of_range"],
        ),
        (
            '{"payment_id": "1", "transaction_id": "1", "amount_paid": 5, "payment_date": "2024-03-20",'
            ' "metadata": {"fee_amount": "-1.50"}}',
            [],
        ),
    ],
)
def test_payment_rules(spark, raw: str, expected: list[str]) -> None:
    assert reasons_of(spark, PAYMENTS, raw) == expected


def test_v2_transaction_is_typed(spark) -> None:
    raw = (
        '{"transaction_id": 5, "customer_id": "C9", "amount": "150.50", "currency": "BRL",'
        ' "transaction_date": "2024-03-05T00:00:00", "due_date": "2024-04-04",'
        ' "payment_terms": "30_days", "status": "completed",'
        ' "metadata": {"product_category": "services", "sales_rep": "rep_001",'
        ' "channel": "online", "discount_applied": true, "installments": 3}}'
    )
    row = validate(parse(records(spark, [raw]), TRANSACTIONS), TRANSACTIONS).first()
    assert row.reasons == []
    assert row.transaction_id == "5"
    assert row.amount == Decimal("150.50")
    assert row.transaction_date == dt.date(2024, 3, 5)
    assert row.due_date == dt.date(2024, 4, 4)
    assert (row.status, row.product_category, row.channel) == ("completed", "services", "online")
    assert (row.discount_applied, row.installments) == ("true", 3)
    assert row.schema_version == "v2"


@pytest.mark.parametrize(
    ("amount", "typed"),
    [
        ("3261.65", "3261.65"),
        ('"7"', "7.00"),
        ("10.500", "10.50"),
        ('"1.5e2"', "150.00"),
        ('"+.5"', "0.50"),
        ('"5."', "5.00"),
        ('"-12.3"', "-12.30"),
        ("9999999999999.99", "9999999999999.99"),
    ],
)
def test_an_amount_is_typed_to_its_exact_cents(spark, amount: str, typed: str) -> None:
    raw = f'{{"transaction_id": "1", "customer_id": "A", "amount": {amount}, "date": "2024-01-01"}}'
    row = validate(parse(records(spark, [raw]), TRANSACTIONS), TRANSACTIONS).first()
    assert row.amount == Decimal(typed)


def test_v1_payment_aliases_date_paid(spark) -> None:
    raw = '{"payment_id": "1", "transaction_id": "1", "amount_paid": 100.0, "date_paid": "2024-02-01"}'
    row = validate(parse(records(spark, [raw]), PAYMENTS), PAYMENTS).first()
    assert row.payment_date == dt.date(2024, 2, 1)
    assert row.amount_paid == Decimal("100.00")
    assert row.customer_id is None
    assert row.schema_version == "v1"


def test_v2_payment_metadata(spark) -> None:
    raw = (
        '{"payment_id": "P1", "transaction_id": "T1", "customer_id": "C1", "amount_paid": 10,'
        ' "payment_date": "2024-01-02", "status": "failed", "payment_type": "partial_1",'
        ' "metadata": {"processor": "stone", "fee_amount": 0.2, "reference_number": "R1",'
        ' "ip_address": "10.0.0.1", "user_agent": "okhttp/4.12"}}'
    )
    row = validate(parse(records(spark, [raw]), PAYMENTS), PAYMENTS).first()
    assert (row.fee_amount, row.ip_address, row.user_agent) == (Decimal("0.20"), "10.0.0.1", "okhttp/4.12")
    assert (row.status, row.payment_type, row.processor) == ("failed", "partial_1", "stone")


@pytest.mark.parametrize(
    "raw",
    [
        '{"transaction_id": "1", "customer_id": "A", "amo',
        '{"a": [1, 2}',
        "[1, 2",
        # two records run together, the second cut short: Spark's reader alone keeps the first
        '{"transaction_id": "1", "customer_id": "A", "amount": 1, "date": "2024-01-01"}{"transaction_id": "2',
        '{"transaction_id": "1", "customer_id": "A", "amount": 1, "date": "2024-01-01"} trailing',
        # two whole records on one line, ending like one: only the text between them tells
        '{"transaction_id": "1", "customer_id": "A"}{"transaction_id": "2", "customer_id": "B"}',
        '{"transaction_id": "1", "customer_id": "A"} {"transaction_id": "2", "customer_id": "B"}',
    ],
)
def test_truncated_json_is_malformed_not_rejected(spark, raw: str) -> None:
    row = parse(records(spark, [raw]), TRANSACTIONS).first()
    assert row.malformed is True
