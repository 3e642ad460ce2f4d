"""Keyed pseudonyms, computed where the data is written, so the key never reaches Trino.

`<column>_pseudonym` = "anon_" + the first 20 hex digits of HMAC-SHA256(key, UTF-8 of the value):
the same value gets the same pseudonym in every table (joins and distinct counts still work),
and without the key it cannot be reversed or recomputed from a guessed id. Trino's masks for
analysts swap the identifier for this column; they carry no key.

HMAC (RFC 2104: H((K^opad) || H((K^ipad) || m))) is computed by the jobs' JVM class
lakehouse.spark.HmacSha256 (jobs/java) from the two padded keys, which travel as a one-row
broadcast table, never as literals, so no query plan shows them. It hashes each padded key once
per task: the same pseudonyms as the expression of Spark's `sha2` calls the jobs used before,
in about half the time (local Spark, 2,000,000 rows with two pseudonym columns, warm
rounds: 1.7-2.2 s against 2.9-3.6 s).
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


HMAC_UDF = "lakehouse_hmac_sha256"  # the session's name for lakehouse.spark.HmacSha256


def hmac_function(spark: SparkSession) -> str:
    """HMAC_UDF, registered in `spark`: (value's bytes, ipad, opad) -> HMAC-SHA256 as 64 hex digits."""
    from pyspark.sql.types import StringType

    from jobs.jvm import jobs_class

    jobs_class(spark, "HmacSha256")  # a clear error when the jobs' jar is missing
    spark.udf.registerJavaFunction(HMAC_UDF, "lakehouse.spark.HmacSha256", StringType())
    return HMAC_UDF


def with_pseudonyms(df: DataFrame, columns: list[str], key_hex: str | None = None) -> DataFrame:
    """`df` plus `<column>_pseudonym` for each of `columns` (NULL where the value is NULL)."""
    from pyspark.sql import functions as F

    if not columns:
        return df
    hmac = hmac_function(df.sparkSession)
    keyed = df.crossJoin(F.broadcast(key_table(df.sparkSession, key_hex)))

    def pseudonym(column: str) -> Column:  # NULL for NULL: the function's result, then concat's
        utf8 = F.col(column).cast("string").cast("binary")  # a string's own bytes, not re-encoded
        digest = F.call_udf(hmac, utf8, F.col(_IPAD), F.col(_OPAD))
        return F.concat(F.lit(PREFIX), F.substring(digest, 1, HEX_DIGITS))

    return keyed.withColumns({pseudonym_column(c): pseudonym(c) for c in columns}).drop(_IPAD, _OPAD)


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
