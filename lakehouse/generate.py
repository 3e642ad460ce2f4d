"""Deterministic synthetic transactions and payments, streamed to disk in constant memory.

Customers get several transactions each; payments are on time, late (1-120 days), partial,
over- or unpaid. At `dirty_ratio`, a record is replaced or followed by one of the dirty kinds
the ingestion contract must handle (missing ids, bad amounts, bad dates, duplicates...).
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

START = dt.date(2024, 1, 1)
CATEGORIES = ["electronics", "furniture", "services", "groceries", "apparel"]
CHANNELS = ["online", "store", "partner"]
METHODS = ["pix", "boleto", "credit_card", "debit_card"]
PROCESSORS = ["stone", "cielo", "pagseguro"]


@dataclass
class Options:
    customers: int
    out: Path
    fmt: str = "ndjson"  # or "array"
    schema: str = "v2"  # or "v1"
    dirty_ratio: float = 0.0
    seed: int = 42
    transactions: int | None = None  # stop after this many transactions (instead of `customers`)
    prefix: str = ""  # prepended to every id, so several data sets can share one stack


class JsonWriter:
    """Writes records as JSON Lines or as one pretty JSON array, without holding them."""

    def __init__(self, fh: IO[str], fmt: str):
        self.fh, self.fmt, self.count = fh, fmt, 0
        if fmt == "array":
            fh.write("[\n")

    def write(self, record: Any) -> None:
        text = json.dumps(record, ensure_ascii=False)
        if self.fmt == "array":
            self.fh.write(("" if self.count == 0 else ",\n") + "    " + text)
        else:
            self.fh.write(text + "\n")
        self.count += 1

    def close(self) -> None:
        if self.fmt == "array":
            self.fh.write("\n]\n")


def _money(value: float) -> float:
    return round(value, 2)


def _transaction(
    rng: random.Random, o: Options, tx_id: int, customer: str, day: dt.date, amount: float
) -> dict[str, Any]:
    if o.schema == "v1":
        return {
            "transaction_id": f"{o.prefix}T{tx_id:09d}",
            "customer_id": customer,
            "amount": amount,
            "date": day.isoformat(),
        }
    return {
        "transaction_id": f"{o.prefix}T{tx_id:09d}",
        "customer_id": customer,
        "amount": amount,
        "currency": "BRL",
        "transaction_date": day.isoformat(),
        "due_date": (day + dt.timedelta(days=30)).isoformat(),
        "payment_terms": "30_days",
        "status": rng.choices(["completed", "pending", "refunded", "cancelled"], [90, 6, 2, 2])[0],
        "metadata": {
            "product_category": rng.choice(CATEGORIES),
            "sales_rep": f"rep_{rng.randint(1, 40):03d}",
            "channel": rng.choice(CHANNELS),
            "discount_applied": rng.random() < 0.2,
            "installments": rng.choice([1, 1, 1, 2, 3, 6]),
        },
    }


def _payment(
    rng: random.Random,
    o: Options,
    pay_id: int,
    tx_id: int,
    customer: str,
    day: dt.date,
    amount: float,
    kind: str,
) -> dict[str, Any]:
    if o.schema == "v1":
        return {
            "payment_id": f"{o.prefix}P{pay_id:09d}",
            "transaction_id": f"{o.prefix}T{tx_id:09d}",
            "amount_paid": amount,
            "date_paid": day.isoformat(),
        }
    return {
        "payment_id": f"{o.prefix}P{pay_id:09d}",
        "transaction_id": f"{o.prefix}T{tx_id:09d}",
        "customer_id": customer,
        "amount_paid": amount,
        "currency": "BRL",
        "payment_date": day.isoformat(),
        "payment_method": rng.choice(METHODS),
        "payment_type": kind,
        "status": rng.choices(["completed", "processing", "failed"], [94, 3, 3])[0],
        "metadata": {
            "processor": rng.choice(PROCESSORS),
            "fee_amount": _money(amount * 0.02),
            "reference_number": f"REF{pay_id:010d}",
            "ip_address": f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            "user_agent": rng.choice(["Mozilla/5.0 (Android 14)", "Mozilla/5.0 (iPhone)", "okhttp/4.12"]),
        },
    }


def _payments_for(rng: random.Random, due: dt.date, amount: float) -> list[tuple[int, float, str]]:
    """(days after due date, amount, payment_type) for one transaction."""
    behaviour = rng.choices(["on_time", "late", "partial", "over", "unpaid"], [60, 20, 10, 5, 5])[0]
    if behaviour == "on_time":
        return [(rng.randint(-20, 0), amount, "full")]
    if behaviour == "late":
        return [(rng.randint(1, 120), amount, "full")]
    if behaviour == "partial":
        first = _money(amount * rng.choice([0.3, 0.5, 0.7]))
        return [
            (rng.randint(-10, 0), first, "partial_1"),
            (rng.randint(1, 90), _money(amount - first), "partial_2"),
        ]
    if behaviour == "over":
        return [(rng.randint(-10, 5), _money(amount * 1.1), "full")]
    return []


DIRTY_TRANSACTION = [
    "missing_id",
    "empty_customer",
    "amount_text",
    "amount_negative",
    "bad_date",
    "bad_due_date",
    "numeric_string_amount",
    "exact_duplicate",
    "changed_duplicate",
]
DIRTY_PAYMENT = [
    "missing_id",
    "amount_text",
    "amount_zero",
    "bad_date",
    "numeric_string_amount",
    "exact_duplicate",
    "changed_duplicate",
]


def _dirty(
    rng: random.Random, record: dict[str, Any], kind: str, id_key: str, amount_key: str, date_key: str
) -> list[dict[str, Any]]:
    """The record(s) to write instead of `record` for one dirty kind."""
    bad = json.loads(json.dumps(record))
    if kind == "missing_id":
        bad.pop(id_key)
    elif kind == "empty_customer":
        bad["customer_id"] = ""
    elif kind == "amount_text":
        bad[amount_key] = "abc"
    elif kind == "amount_negative":
        bad[amount_key] = -abs(bad[amount_key])
    elif kind == "amount_zero":
        bad[amount_key] = 0
    elif kind == "bad_date":
        bad[date_key] = "invalid-date"
    elif kind == "bad_due_date":
        bad["due_date"] = "2024-13-45"
    elif kind == "numeric_string_amount":  # valid: a numeric string is accepted
        bad[amount_key] = f"{bad[amount_key]:.2f}"
    elif kind == "exact_duplicate":
        return [record, record]
    elif kind == "changed_duplicate":
        changed = json.loads(json.dumps(record))
        changed[amount_key] = _money(changed[amount_key] + 1)
        return [record, changed]
    return [bad]


def _customers(o: Options) -> Iterator[str]:
    width = max(6, len(str(o.customers)))
    n = 0
    while o.transactions is not None or n < o.customers:
        n += 1
        yield f"{o.prefix}C{n:0{width}d}"


def generate(o: Options) -> dict[str, int]:
    """Write transactions.<ext> and payments.<ext> into o.out; return records written."""
    rng = random.Random(o.seed)
    o.out.mkdir(parents=True, exist_ok=True)
    ext = "json" if o.fmt == "array" else "jsonl"
    tx_key = "date" if o.schema == "v1" else "transaction_date"
    pay_date_key = "date_paid" if o.schema == "v1" else "payment_date"
    kinds: Counter[str] = Counter()
    tx_id = pay_id = 0
    with ExitStack() as stack:
        tx_out = JsonWriter(stack.enter_context((o.out / f"transactions.{ext}").open("w")), o.fmt)
        pay_out = JsonWriter(stack.enter_context((o.out / f"payments.{ext}").open("w")), o.fmt)
        for customer in _customers(o):
            if o.transactions is not None and tx_id >= o.transactions:
                break
            first_day = START + dt.timedelta(days=rng.randint(0, 300))
            for _ in range(rng.randint(1, 5)):
                if o.transactions is not None and tx_id >= o.transactions:
                    break
                tx_id += 1
                day = first_day + dt.timedelta(days=rng.randint(0, 150))
                amount = _money(rng.uniform(20, 5000))
                tx = _transaction(rng, o, tx_id, customer, day, amount)
                if rng.random() < o.dirty_ratio:
                    kind = rng.choice(DIRTY_TRANSACTION)
                    kinds[f"transactions.{kind}"] += 1
                    for rec in _dirty(rng, tx, kind, "transaction_id", "amount", tx_key):
                        tx_out.write(rec)
                else:
                    tx_out.write(tx)
                due = day + dt.timedelta(days=30)
                for offset, paid, ptype in _payments_for(rng, due, amount):
                    pay_id += 1
                    pay = _payment(
                        rng, o, pay_id, tx_id, customer, due + dt.timedelta(days=offset), paid, ptype
                    )
                    if rng.random() < o.dirty_ratio:
                        kind = rng.choice(DIRTY_PAYMENT)
                        kinds[f"payments.{kind}"] += 1
                        for rec in _dirty(rng, pay, kind, "payment_id", "amount_paid", pay_date_key):
                            pay_out.write(rec)
                    else:
                        pay_out.write(pay)
        tx_out.close()
        pay_out.close()
    return {"transactions": tx_out.count, "payments": pay_out.count, **kinds}
