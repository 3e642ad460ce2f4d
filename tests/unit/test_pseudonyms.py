"""Keyed pseudonyms computed by Spark equal HMAC-SHA256 computed here with Python's hmac."""

from __future__ import annotations

import base64
import hashlib
import hmac

from jobs.pseudonyms import with_pseudonyms
from tests.conftest import UNIT_PSEUDONYM_KEY


def reference(value: str, key_hex: str) -> str:
    digest = hmac.new(bytes.fromhex(key_hex), value.encode(), hashlib.sha256).hexdigest()
    return "anon_" + digest[:20]


def test_spark_pseudonyms_are_hmac_sha256_and_keep_nulls(spark) -> None:
    # values of one SHA-256 block with the padded key, of several, empty, outside the BMP
    long_value = "cliente-" + "x" * 200
    df = spark.createDataFrame(
        [("A", "rep_1"), ("ção-42", None), (None, "x"), ("", long_value), ("😀 ok", "é" * 28)],
        "customer_id string, sales_rep string",
    )
    rows = with_pseudonyms(df, ["customer_id", "sales_rep"]).collect()
    assert [(r.customer_id_pseudonym, r.sales_rep_pseudonym) for r in rows] == [
        (reference("A", UNIT_PSEUDONYM_KEY), reference("rep_1", UNIT_PSEUDONYM_KEY)),
        (reference("ção-42", UNIT_PSEUDONYM_KEY), None),
        (None, reference("x", UNIT_PSEUDONYM_KEY)),
        (reference("", UNIT_PSEUDONYM_KEY), reference(long_value, UNIT_PSEUDONYM_KEY)),
        (reference("😀 ok", UNIT_PSEUDONYM_KEY), reference("é" * 28, UNIT_PSEUDONYM_KEY)),
    ]


def test_another_key_gives_other_pseudonyms_and_no_plan_shows_the_key(spark) -> None:
    other = "ff" * 32
    df = with_pseudonyms(spark.createDataFrame([("A",)], "customer_id string"), ["customer_id"], other)
    assert df.first().customer_id_pseudonym == reference("A", other)
    # and back: a task thread that hashed with one key does not keep using it
    again = with_pseudonyms(spark.createDataFrame([("A",)], "customer_id string"), ["customer_id"])
    assert again.first().customer_id_pseudonym == reference("A", UNIT_PSEUDONYM_KEY)
    plan = df._jdf.queryExecution().toString().lower()
    for secret in (bytes.fromhex(other), bytes(b ^ 0x36 for b in bytes.fromhex(other).ljust(64, b"\0"))):
        # every way a plan prints bytes: hex, spaced hex (Spark's binary literals), base64
        spaced = " ".join(f"{b:02x}" for b in secret[:8])
        assert secret.hex() not in plan and spaced not in plan
        assert base64.b64encode(secret).decode().lower()[:16] not in plan
