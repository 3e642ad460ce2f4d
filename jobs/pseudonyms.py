"""Keyed pseudonyms, computed where the data is written, so the key never reaches Trino.

`<column>_pseudonym` = "anon_" + the first 20 hex digits of HMAC-SHA256(key, UTF-8 of the value):
the same value gets the same pseudonym in every table (joins and distinct counts still work),
and without the key it cannot be reversed or recomputed from a guessed id. Trino's masks for
analysts swap the identifier for this column; they carry no key.

HMAC is built from Spark's SHA-256 (RFC 2104: H((K^opad) || H((K^ipad) || m))). The two padded
keys travel as a one-row broadcast table, never as literals, so no query plan shows them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobs.context import job_env

if TYPE_CHECKING:  # Spark is imported where it is used: the CLI names pseudonym columns without it
    from pyspark.sql import Column, DataFrame, SparkSession

KEY_ENV = "LAKEHOUSE_PSEUDONYM_KEY"
PREFIX = "anon_"
HEX_DIGITS = 20
SUFFIX = "_pseudonym"
_IPAD, _OPAD = "_pseudonym_ipad", "_pseudonym_opad"


class MissingKey(RuntimeError):
    """The pseudonymisation key was not given to the job."""


def pseudonym_column(column: str) -> str:
    return f"{column}{SUFFIX}"


def padded_keys(key_hex: str) -> tuple[bytes, bytes]:
    """(K ^ ipad, K ^ opad) for a key of at most 64 bytes, as RFC 2104 defines them."""
    key = bytes.fromhex(key_hex)
    if len(key) > 64:
        raise ValueError("the pseudonymisation key must be at most 64 bytes")
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def current_key() -> str:
    key = job_env().get(KEY_ENV)
    if not key:
        raise MissingKey(f"{KEY_ENV} is not set: run jobs through `lakehouse` (it passes the key)")
    return key


def key_table(spark: SparkSession, key_hex: str | None = None) -> DataFrame:
    ipad, opad = padded_keys(key_hex or current_key())
    return spark.createDataFrame([(bytearray(ipad), bytearray(opad))], f"{_IPAD} binary, {_OPAD} binary")


def _hmac_hex(value: Column) -> Column:
    from pyspark.sql import functions as F

    inner = F.unhex(F.sha2(F.concat(F.col(_IPAD), F.encode(value, "UTF-8")), 256))
    return F.sha2(F.concat(F.col(_OPAD), inner), 256)


def with_pseudonyms(df: DataFrame, columns: list[str], key_hex: str | None = None) -> DataFrame:
    """`df` plus `<column>_pseudonym` for each of `columns` (NULL where the value is NULL)."""
    from pyspark.sql import functions as F

    if not columns:
        return df
    keyed = df.crossJoin(F.broadcast(key_table(df.sparkSession, key_hex)))
    for column in columns:
        value = F.col(column).cast("string")
        keyed = keyed.withColumn(
            pseudonym_column(column),
            F.when(value.isNotNull(), F.concat(F.lit(PREFIX), F.substring(_hmac_hex(value), 1, HEX_DIGITS))),
        )
    return keyed.drop(_IPAD, _OPAD)


def rewrite(spark: SparkSession, table: str, columns: list[str], key_hex: str | None = None) -> None:
    """Recompute `<column>_pseudonym` for every row of `table` (a new column after an upgrade,
    or a new key): one overwrite, one atomic Iceberg commit. Costs a full rewrite of the table."""
    from pyspark.sql import functions as F

    from jobs.checkpoint import checkpoint

    current = spark.table(table)
    order = current.columns
    base = current.drop(*[pseudonym_column(c) for c in columns])
    # materialised first: the overwrite replaces the very files it reads
    fresh = checkpoint(with_pseudonyms(base, columns, key_hex).select(*order))
    fresh.writeTo(table).overwrite(F.lit(True))
