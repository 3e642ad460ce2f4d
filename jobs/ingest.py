"""Lossless batch ingestion of transactions and payments into Iceberg.

Every input record lands in raw.<source> exactly as received; then it is either accepted into
curated.<source> (typed, deduplicated by natural id, MERGE INTO) or written to
curated.rejected_records with every rule it failed. curated.ingestion_log gets one row per
batch and source, and the invariant received = accepted + rejected + duplicates is checked
before anything is written. Files already ingested (same content hash) are skipped, so
re-running the same input changes nothing.

The transformation functions are pure (DataFrame in, DataFrame out); Spark I/O is in the
functions at the bottom and in main().
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import hashlib
import json
import re
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from itertools import accumulate
from pathlib import Path
from typing import Any

from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, Observation, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, StringType

from jobs import pseudonyms
from jobs.checkpoint import checkpoint
from jobs.context import catalog_name
from jobs.faults import fault_point
from jobs.jvm import with_parsed_json
from jobs.protocol import DEFAULT_WAIT, EXIT_INPUT_REFUSED, EXIT_LOCK_TIMEOUT
from jobs.pseudonyms import pseudonym_column, with_pseudonyms
from jobs.session import run_job
from jobs.sources import CORRUPT, SOURCES, Source
from jobs.tables import TABLES, ensure
from jobs.threads import side_by_side
from jobs.timing import recording, step
from jobs.writes import LockTimeout, Writer, current_snapshot, temp_view

DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$"


class MalformedInput(ValueError):
    """An input file is not valid JSON (e.g. truncated); the whole batch is refused."""


# ---------------------------------------------------------------------------------------
# Input files
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InputFile:
    """One distinct file content in a batch; `names` are every path that had it."""

    path: str  # absolute local path of the first name: the one read
    sha256: str
    fmt: str  # "array" or "ndjson"
    order: int  # position in the batch: later files win ties on the same id
    names: tuple[str, ...] = ()
    records: int | None = None  # counted here, apart from Spark; None when it could not be
    # the bytes, for a small JSON Lines object already fetched (the stream's files): its records
    # become rows straight from here, with no second read and no per-file Spark plan
    content: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def all_names(self) -> tuple[str, ...]:
        return self.names or (self.path,)


def expand_paths(spec: str) -> list[str]:
    """A file, a directory (its *.json, *.jsonl, *.ndjson files) or a glob, sorted.

    Raises:
        FileNotFoundError: nothing matches.
    """
    path = Path(spec)
    if path.is_dir():
        found = sorted(
            str(p.resolve())
            for p in path.iterdir()
            if p.is_file() and p.suffix in {".json", ".jsonl", ".ndjson"}
        )
    elif path.is_file():
        found = [str(path.resolve())]
    else:
        found = sorted(str(Path(p).resolve()) for p in glob.glob(spec) if Path(p).is_file())
    if not found:
        raise FileNotFoundError(f"No input file matches {spec!r} (a file, directory or glob)")
    return found


def is_remote(path: str) -> bool:
    """An object-store URI (s3a://...), read through Spark; anything else is a local path."""
    return "://" in path and not path.startswith("file:")


def format_of(head: bytes) -> str:
    """'array' when the first non-blank character is '[', else 'ndjson' (JSON Lines)."""
    stripped = head.lstrip()
    if stripped.startswith(b"\xef\xbb\xbf"):  # UTF-8 byte order mark
        stripped = stripped[3:].lstrip()
    return "array" if stripped[:1] == b"[" else "ndjson"  # an empty file has no records either way


def detect_format(path: str) -> str:
    with open(path, "rb") as fh:
        while chunk := fh.read(4096):
            if chunk.strip():
                return format_of(chunk)
    return "ndjson"


def file_sha256(path: str) -> str:
    return scan_file(path)[0]


def _lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The lines of a byte stream as Spark's text reader splits them (at LF, CR or CR LF)."""
    tail = b""
    for chunk in chunks:
        data = tail + chunk
        parts = data.split(b"\n") if b"\r" not in data else re.split(rb"\r\n?|\n", data)
        tail = parts.pop()
        yield from parts
    yield tail


def _without_bom(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The chunks, without a UTF-8 byte-order mark at the very start (Spark's reader drops it)."""
    first = True
    for chunk in chunks:
        yield chunk[len(BOM) :] if first and chunk.startswith(BOM) else chunk
        first = False


def count_records(fmt: str, chunks: Iterable[bytes]) -> int | None:
    """Records in a file, counted in Python, independently of the Spark job that reads it: the
    non-blank lines of JSON Lines (blank: spaces only, as the job trims), or the elements of a
    JSON array (None when the array does not parse: the job refuses it anyway)."""
    if fmt == "ndjson":
        return sum(1 for line in _lines(_without_bom(chunks)) if line.strip(b" "))
    try:
        return len(json.loads(b"".join(chunks)))
    except ValueError:
        return None


def scan_file(path: str) -> tuple[str, int | None]:
    """(SHA-256 of the content, records counted), in one read of the file."""
    digest = hashlib.sha256()
    fmt = detect_format(path)

    def chunks() -> Iterator[bytes]:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
                yield chunk

    records = count_records(fmt, chunks())
    return digest.hexdigest(), records


def describe_files(paths: list[str], fetch: Callable[[str], bytes | None] | None = None) -> list[InputFile]:
    """One InputFile per distinct content: the same bytes under two names are read once.

    Object-store URIs are fetched whole with `fetch` (the stream's files are small); a URI that
    no longer exists (moved to quarantine by an earlier attempt) is left out.
    """
    by_hash: dict[str, list[str]] = {}
    facts: dict[str, tuple[str, int | None, bytes | None]] = {}
    for path in paths:
        kept = None
        if is_remote(path):
            assert fetch is not None, "object-store inputs need a fetch function"
            data = fetch(path)
            if data is None:
                continue
            sha, fmt = hashlib.sha256(data).hexdigest(), format_of(data[:4096])
            records = count_records(fmt, [data])
            kept = data if fmt == "ndjson" and len(data) <= IN_MEMORY_BYTES else None
        else:
            fmt = detect_format(path)
            sha, records = scan_file(path)
        by_hash.setdefault(sha, []).append(path)
        facts.setdefault(sha, (fmt, records, kept))
    return [
        InputFile(names[0], sha, facts[sha][0], order, tuple(names), facts[sha][1], facts[sha][2])
        for order, (sha, names) in enumerate(by_hash.items())
    ]


def json_error_position(path: str, fetch: Callable[[str], bytes | None] | None = None) -> str:
    """Where Python's parser first fails in `path` (only used to explain a refused file)."""
    try:
        if is_remote(path) and fetch is not None:
            json.loads(fetch(path) or b"")
        else:
            with open(path, encoding="utf-8") as fh:
                json.load(fh)
    except json.JSONDecodeError as exc:
        return f"line {exc.lineno} column {exc.colno} (char {exc.pos}): {exc.msg}"
    except (OSError, UnicodeDecodeError) as exc:
        return str(exc)
    return "unknown position"


# ---------------------------------------------------------------------------------------
# Reading records (one row per input record, exactly as received)
# ---------------------------------------------------------------------------------------
class InputChanged(RuntimeError):
    """An input file changed while it was being ingested; nothing of the batch is committed."""

    @classmethod
    def of(cls, source: str, what: str) -> InputChanged:
        return cls(
            f"{source}: an input file changed while it was being ingested: {what}; nothing of the batch "
            "is committed. Ingest it again once the file is complete."
        )


Layout = tuple[int, ...]  # a JSON Lines file's lines in each partition Spark read it in, in order


def line_layout(lines: DataFrame) -> Layout:
    """How many lines each partition of `spark.read.text` output of ONE file holds: one pass over
    the file, a row per partition to the driver."""
    counts: dict[int, int] = dict(lines.groupBy(F.spark_partition_id().alias("p")).count().collect())
    return tuple(counts.get(p, 0) for p in range(max(counts, default=-1) + 1))


# What a read task raises for a line that is not where its file's layout counted it (see
# number_lines); `lines_in_place` turns the failed job into InputChanged.
LINES_MOVED = "LAKEHOUSE_LINES_MOVED"


def number_lines(lines: DataFrame, layout: Layout, name: str = "") -> DataFrame:
    """Adds record_number = 1-based line number to `spark.read.text` output of ONE file (`name`),
    split as `layout` says.

    Set-based: a partition's rows keep file order, so the line number is the row's index in its
    partition plus the number of lines in the partitions before it. A row beyond the lines its
    partition held when `layout` was counted (the file changed since) fails its task: numbered,
    it would take the number of a line of the next partition.
    """
    offsets = list(accumulate(layout, initial=0))[:-1] or [0]
    pid = F.spark_partition_id()
    row = F.monotonically_increasing_id() - F.shiftleft(pid.cast("long"), 33)
    counted = F.get(F.array(*[F.lit(n) for n in layout or (0,)]).cast("array<bigint>"), pid)
    offset = F.get(F.array(*[F.lit(n) for n in offsets]).cast("array<bigint>"), pid)
    moved = F.raise_error(F.lit(f"{LINES_MOVED}: {name} has more lines where it was counted"))
    return (
        lines.withColumn("_row", row)
        .withColumn(
            "record_number",
            F.when(F.col("_row") >= F.coalesce(counted, F.lit(0)), moved).otherwise(
                offset + F.col("_row") + 1
            ),
        )
        .drop("_row")
    )


# The error of a task that raised it: an analysis error's text holds the plan, marker included.
MOVED = re.compile(rf"\[USER_RAISED_EXCEPTION\] {LINES_MOVED}: (.*?) has more lines")


@contextmanager
def lines_in_place(source: str) -> Iterator[None]:
    """Raises InputChanged for a Spark job that failed on a line not where it was counted."""
    try:
        yield
    except Exception as exc:
        moved = None if isinstance(exc, AnalysisException) else MOVED.search(str(exc))
        if moved is None:
            raise
        raise InputChanged.of(source, f"{moved[1]}: its lines moved since they were counted") from exc


class Layouts:
    """How Spark split each JSON Lines file of a batch (file_order -> Layout), measured by the
    batch's first read of its files. A second read reuses them instead of counting the lines
    again, and checks as it reads that every partition holds exactly the lines it held then: none
    more (number_lines), and as many in all (`verify`, after the second read's action). So its line
    numbers are right even if a file changed between the first read's count and its records."""

    def __init__(self) -> None:
        self.lines: dict[int, Layout] = {}
        self.checks: list[tuple[InputFile, Observation]] = []

    def numbered(self, lines: DataFrame, f: InputFile) -> DataFrame:
        """`lines` of `f` numbered (number_lines), with its measured layout or a new one."""
        layout = self.lines.get(f.order)
        if layout is None:
            self.lines[f.order] = line_layout(lines)
            return number_lines(lines, self.lines[f.order], f.path)
        check = Observation(f"lines_{f.order}_{uuid.uuid4().hex[:8]}")
        self.checks.append((f, check))
        return number_lines(lines, layout, f.path).observe(check, F.count(F.lit(1)).alias("lines"))

    def verify(self, source: str) -> None:
        """Raises InputChanged when a file read with a reused layout has fewer lines now."""
        for f, check in self.checks:
            found, expected = check.get["lines"], sum(self.lines[f.order])
            if found != expected:
                raise InputChanged.of(
                    source, f"{f.path}: it had {found:,} lines, {expected:,} when first read"
                )


# The fewest pieces Spark cuts a read's files into (none under spark.sql.files.openCostInBytes): by
# default the cores the application has when it plans the read (on a cluster: its executors' then).
MIN_PARTITIONS = "spark.sql.files.minPartitionNum"


@contextmanager
def splits_pinned(spark: SparkSession) -> Iterator[None]:
    """Every file read in this block cut alike: MIN_PARTITIONS set to the cores the application
    has at its start, for the block (the job's session; restored after). A batch's raw read
    numbers lines with the layouts of its first read (Layouts), which hold only if Spark cuts each
    file the same way both times. Unpinned, an executor lost or added between the two reads changes
    the pieces of a file under spark.sql.files.maxPartitionBytes per core, which fails the batch as
    if the file had changed."""
    before = spark.conf.get(MIN_PARTITIONS, None)
    if before is None:
        cores = spark.conf.get("spark.sql.leafNodeDefaultParallelism", None)
        spark.conf.set(MIN_PARTITIONS, cores or str(spark.sparkContext.defaultParallelism))
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(MIN_PARTITIONS)


def read_file(spark: SparkSession, f: InputFile, layouts: Layouts) -> DataFrame:
    """One row per record: file_order, record_number, raw_json."""
    uri = f.path if is_remote(f.path) else Path(f.path).as_uri()
    if f.fmt == "array":
        whole = spark.read.text(uri, wholetext=True).withColumn(
            "_items", F.from_json("value", ArrayType(StringType()))
        )
        items = whole.where(F.col("_items").isNotNull()).select(
            F.posexplode("_items").alias("pos", "raw_json")
        )
        good = items.select(
            (F.col("pos") + 1).cast("long").alias("record_number"),
            F.coalesce("raw_json", F.lit("null")).alias("raw_json"),
        )
        # an array that does not parse yields one marker row (record 0) so it can be refused
        bad = whole.where(F.col("_items").isNull()).select(
            F.lit(0).cast("long").alias("record_number"), F.lit(None).cast("string").alias("raw_json")
        )
        records = good.unionByName(bad)
    else:
        lines = layouts.numbered(spark.read.text(uri), f).withColumnRenamed("value", "raw_json")
        records = lines.where(F.trim("raw_json") != "").select("record_number", "raw_json")
    return records.select(F.lit(f.order).alias("file_order"), "record_number", "raw_json")


# A record names its file by `file_order` only: the file's path and hash are added where a table
# stores them (file_columns), not carried by every row through the batch's shuffle and checkpoint.
RECORD_SCHEMA = "file_order int, record_number long, raw_json string"
IN_MEMORY_BYTES = 4 << 20  # a fetched JSON Lines object up to this size is read from its bytes
BOM = b"\xef\xbb\xbf"


def records_in_memory(f: InputFile) -> list[tuple[int, int, str]]:
    """The rows read_file() gives for a JSON Lines file, from its bytes: lines split on LF, CR or
    CRLF (as Spark's text reader), a leading UTF-8 byte-order mark dropped (as Spark's), numbered
    from 1, blank lines (spaces only) numbered but left out."""
    assert f.content is not None
    return [
        (f.order, number, line.decode("utf-8", errors="replace"))
        for number, line in enumerate(_lines(_without_bom([f.content])), 1)
        if line.strip(b" ")
    ]


def read_records(spark: SparkSession, files: list[InputFile], layouts: Layouts | None = None) -> DataFrame:
    """One row per record of `files` (file_order, record_number, raw_json): small fetched objects
    from their bytes, in one frame; the others read by Spark, JSON Lines files numbered with
    their `layouts` where known (then checked), else measured into them."""
    layouts = Layouts() if layouts is None else layouts
    in_memory = [row for f in files if f.content is not None for row in records_in_memory(f)]
    frames = [read_file(spark, f, layouts) for f in files if f.content is None]
    if in_memory or not frames:
        frames.append(spark.createDataFrame(in_memory, RECORD_SCHEMA))
    out = frames[0]
    for frame in frames[1:]:
        out = out.unionByName(frame)
    return out


def file_columns(files: list[InputFile]) -> dict[str, Column]:
    """`source_file` and `file_sha256` of a record of `files` (named so), from its file_order: an
    element of a literal array (constant time per row, whatever the number of files)."""
    size = max(f.order for f in files) + 1
    paths: list[str | None] = [None] * size
    hashes: list[str | None] = [None] * size
    for f in files:
        paths[f.order], hashes[f.order] = f.path, f.sha256

    def pick(values: list[str | None], name: str) -> Column:
        return F.get(F.array(*[F.lit(v).cast("string") for v in values]), F.col("file_order")).alias(name)

    return {"source_file": pick(paths, "source_file"), "file_sha256": pick(hashes, "file_sha256")}


def batch_time(started: dt.datetime) -> Column:
    """The time a batch started, as a TIMESTAMP column of its records (they have `record_number`).

    Not a timestamp literal: Spark writes such a literal into the code it generates, so each batch's
    own time would make new code for its raw, rejected and curated writes, compiled again (Janino),
    run interpreted and compiled again by the JIT, batch after batch of a long-lived application. An
    array literal reaches that code as an object instead, and its element is picked by an index the
    optimizer cannot fold back into a literal: computed from the row, and always 0.
    """
    zero = F.least(F.col("record_number"), F.lit(0)).cast("int")  # a record's number is never negative
    return F.get(F.array(F.lit(started).cast("timestamp")), zero)


# ---------------------------------------------------------------------------------------
# Parsing, validation and typing
# ---------------------------------------------------------------------------------------
def parse(records: DataFrame, source: Source) -> DataFrame:
    """Adds `rec` (the record parsed against the declared source schema) and `malformed`.

    A record that starts like JSON ('{' or '[') but is not exactly one JSON value is malformed:
    the file is broken (truncated, two records run together, junk after a record), which
    refuses the batch. Spark's JSON reader alone would accept the first value and drop the rest,
    so validity is checked separately, strictly (Jackson's defaults: no single quotes, commas
    between values). Anything else that is not an object is a record-level problem and gets
    rejected with reason not_a_json_object.
    """
    trimmed = F.trim("raw_json")
    strict = F.json_array_length(F.concat(F.lit("["), F.col("raw_json"), F.lit("]"))) == 1
    # The strict check is a second pass over the text: only for records that could need it, those
    # the reader found corrupt, or that may have something after their first value. (`contains`
    # compares bytes; `instr` steps through characters to count a position: for 2,000,000
    # transactions its two scans cost about 1 s more, local Spark, two cores.)
    suspicious = (
        (F.col("rec").isNull() | F.col(f"rec.{CORRUPT}").isNotNull())
        | ~trimmed.endswith("}")
        | F.col("raw_json").contains("}{")
        | F.col("raw_json").contains("} ")
    )
    one_value = F.when(suspicious, F.coalesce(strict, F.lit(False))).otherwise(F.lit(True))
    parsed = with_parsed_json(
        records,
        "raw_json",
        "_parsed",
        source.schema,
        {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT, "allowSingleQuotes": "false"},
    )
    return (
        parsed.withColumn("is_object", trimmed.startswith("{"))
        .withColumn("rec", F.when(F.col("is_object"), F.col("_parsed")))
        .drop("_parsed")
        .withColumn(
            "malformed",
            (F.col("record_number") == 0)
            | (trimmed.startswith("[") & ~F.coalesce(strict, F.lit(False)))
            | (F.col("is_object") & ~one_value),
        )
    )


# Every value the rules and the typed columns read is computed once per record, as a column of its
# own (`fields`): Spark eliminates a repeated subexpression only where it is always evaluated, not
# inside a CASE branch, and the rules are mostly branches, so the same trim or decimal parse written
# in several rules would run once per rule.
FIELD = "_field_"  # the field's text, trimmed, empty as missing
CENTS = "_cents_"  # an amount's text as DECIMAL(18,2), when that is its exact value (`_cents`)
WIDE = "_wide_"  # any other amount's text as DECIMAL(38,18): every digit a rule may need to see
DAY = "_day_"  # a date's text as DATE


def _clean(col: Column) -> Column:
    """Trimmed string; empty counts as missing."""
    trimmed = F.trim(col)
    return F.when(trimmed == "", None).otherwise(trimmed)


def text(name: str) -> Column:
    """A field's cleaned text (top level, or `metadata.<name>`)."""
    return F.col(FIELD + name)


def amounts(source: Source) -> tuple[str, ...]:
    """The fields read as amounts (checked by `amount_checks`, typed DECIMAL(18,2))."""
    return (source.amount_column, *(["fee_amount"] if "fee_amount" in source.metadata_fields else []))


def dates(source: Source) -> tuple[str, ...]:
    """The curated date columns (the v1 name of the record's date is read as an alias)."""
    return (source.date_column, *(["due_date"] if "due_date" in source.fields else []))


def fields(parsed: DataFrame, source: Source) -> DataFrame:
    """`parsed` with the cleaned text of every field (the record's date: its curated name, else its
    v1 alias, which has no column of its own), and every amount and date parsed, once per record."""

    def cleaned(name: str) -> Column:
        value = _clean(F.col(f"rec.{name}"))
        if name == source.date_column:
            return F.coalesce(value, _clean(F.col(f"rec.{source.date_alias}")))
        return value

    with_text = parsed.select(
        "*",
        *[cleaned(name).alias(FIELD + name) for name in source.fields if name != source.date_alias],
        *[_clean(F.col(f"rec.metadata.{name}")).alias(FIELD + name) for name in source.metadata_fields],
    )
    with_cents = with_text.select(
        "*",
        *[_cents(text(name)).alias(CENTS + name) for name in amounts(source)],
        *[_day(text(name)).alias(DAY + name) for name in dates(source)],
    )
    return with_cents.select(
        "*",
        *[
            F.when(F.col(CENTS + name).isNull(), text(name).try_cast("decimal(38,18)")).alias(WIDE + name)
            for name in amounts(source)
        ],
    )


def _cents(cleaned: Column) -> Column:
    """An amount's cleaned text as DECIMAL(18,2) when that is exactly its value: at most two
    characters after the point, no exponent, under 10^16; else null (the text is then read as
    DECIMAL(38,18)).

    The common case costs no rounding: the rules on a DECIMAL(38,18) value round it to cents twice
    (the too-precise check, then the typed column), each a division of Java BigDecimals: a sixth of
    classifying a record apart from its JSON parse (JFR, the bench's 2M ingest). A value read here
    exactly is what the wide value rounds to, so the rules give the same. (Local Spark, parse and
    validate 2,000,000 transactions, alternating: 5.0-6.2 s instead of 5.6-7.2 s, 1 s less CPU.)
    """
    point = F.instr(cleaned, ".")
    short = (point == 0) | (F.length(cleaned) - point <= 2)
    plain = short & ~cleaned.contains("e") & ~cleaned.contains("E")
    return F.when(plain, cleaned.try_cast("decimal(18,2)"))


def _day(cleaned: Column) -> Column:
    """A date's cleaned text as DATE: YYYY-MM-DD, optionally followed by a time (then dropped);
    null when it is not such a date."""
    # the common case, exactly YYYY-MM-DD, without a regular expression
    plain = (
        (F.length(cleaned) == 10) & (F.substring(cleaned, 5, 1) == "-") & (F.substring(cleaned, 8, 1) == "-")
    )
    return F.when(plain | cleaned.rlike(DATE_PATTERN), F.substring(cleaned, 1, 10).try_cast("date"))


# The largest amount accepted: 15 significant digits. JSON numbers reach Spark as binary doubles,
# which hold every amount with cents up to here exactly and none much beyond (curated tables use
# DECIMAL(18,2)); a larger amount is rejected, not silently changed.
MAX_AMOUNT = Decimal("9999999999999.99")


def amount_checks(name: str) -> list[tuple[str, Column]]:
    """Rules for an amount given as text: nothing is rounded or truncated silently.

    `<name>_not_numeric`: not a number; `<name>_out_of_range`: above MAX_AMOUNT (or below its
    negative); `<name>_too_precise`: a fraction of a cent (more than two significant decimals).
    """
    raw, cents, wide = text(name), F.col(CENTS + name), F.col(WIDE + name)
    exact = cents.isNotNull()  # then `wide` is null: not read
    # only for what neither decimal reads
    as_double = F.when(~exact & wide.isNull(), raw.try_cast("double"))
    numeric = exact | wide.isNotNull() | (as_double.isNotNull() & ~F.isnan(as_double))
    too_large = F.when(exact, F.abs(cents) > F.lit(MAX_AMOUNT)).otherwise(
        wide.isNull() | (F.abs(wide) > F.lit(MAX_AMOUNT).cast("decimal(38,18)"))
    )
    return [
        (f"{name}_not_numeric", raw.isNotNull() & ~numeric),
        (f"{name}_out_of_range", numeric & too_large),
        (f"{name}_too_precise", wide.isNotNull() & (wide != F.round(wide, 2))),
    ]


def typed_columns(source: Source) -> dict[str, Column]:
    """Curated column -> expression over the record's `fields`, including v1 aliases."""
    cols: dict[str, Column] = {}
    for name, sql_type in source.columns:
        if name in dates(source):
            cols[name] = F.col(DAY + name)
        elif name in amounts(source):
            # exact, or rounded twice (text to 18 decimals, then to 2): for an accepted amount (at
            # most two decimals) the same value as text straight to DECIMAL(18,2); the two differ
            # only for amounts that fail <amount>_too_precise, whose typed values are never stored
            cols[name] = F.coalesce(F.col(CENTS + name), F.col(WIDE + name).try_cast("decimal(18,2)"))
        elif name in source.metadata_fields and sql_type != "STRING":
            cols[name] = text(name).try_cast(sql_type.lower())
        else:
            cols[name] = text(name)
    return cols


def rejection_reasons(source: Source) -> Column:
    """Every rule the record fails, as an array of rule names (empty when valid)."""

    def invalid_date(name: str) -> Column:  # present, but not a date
        return text(name).isNotNull() & F.col(DAY + name).isNull()

    cents, wide = F.col(CENTS + source.amount_column), F.col(WIDE + source.amount_column)
    checks: list[tuple[str, Column]] = [
        (f"missing_{name}", text(name).isNull()) for name in (*source.required_ids, source.amount_column)
    ]
    checks += amount_checks(source.amount_column)
    checks += [
        (
            f"{source.amount_column}_not_positive",
            F.when(cents.isNotNull(), cents <= 0).otherwise(wide.isNotNull() & (wide <= 0)),
        ),
        (f"missing_{source.date_column}", text(source.date_column).isNull()),
        (f"invalid_{source.date_column}", invalid_date(source.date_column)),
    ]
    if "due_date" in dates(source):
        checks.append(("invalid_due_date", invalid_date("due_date")))
    for name in amounts(source)[1:]:  # an optional amount (the fee), checked like one when present
        checks += amount_checks(name)
    flagged = F.array(*[F.when(cond, F.lit(name)) for name, cond in checks])
    # valid JSON, but a field of the wrong JSON type (e.g. "metadata": "x"): the typed values
    # cannot be trusted, the record is rejected as a whole
    wrong_shape = F.col("rec").isNull() | F.col(f"rec.{CORRUPT}").isNotNull()
    return (
        F.when(~F.col("is_object"), F.array(F.lit("not_a_json_object")))
        .when(wrong_shape, F.array(F.lit("unexpected_structure")))
        # the failed rules without the NULLs of the passed ones (array_except is compiled code; a
        # lambda with filter() would be interpreted row by row, and every check with it)
        .otherwise(F.array_except(flagged, F.array(F.lit(None).cast("string"))))
    )


def validate(parsed: DataFrame, source: Source) -> DataFrame:
    """Adds `reasons`, the typed curated columns and `record_hash` (hash of the typed values)."""
    names = [name for name, _ in source.columns]
    # one projection for all of them: each withColumn() call is an analysis of the whole plan on
    # the driver (for a source's dozen typed columns, about half a second while the cores wait)
    typed = {name: F.when(F.col("is_object"), expr) for name, expr in typed_columns(source).items()}
    out = fields(parsed, source).withColumns({"reasons": rejection_reasons(source), **typed})
    schema_version = F.when(
        F.col(f"rec.{source.date_column}").isNotNull()
        | F.col("rec.metadata").isNotNull()
        | F.col("rec.currency").isNotNull(),
        "v2",
    ).otherwise("v1")
    helpers = [c for c in out.columns if c.startswith((FIELD, CENTS, WIDE, DAY))]
    return out.withColumns(
        {
            "record_hash": F.sha2(F.to_json(F.struct(*[F.col(n) for n in names])), 256),
            "schema_version": F.when(F.col("is_object"), schema_version),
        }
    ).drop(*helpers)


# A batch up to this many records is compared with the curated table by broadcasting its ids
# into the table's scan (no shuffle of the table's rows), a larger one by a shuffle join.
SMALL_BATCH_RECORDS = 250_000
FILE_OPEN_COST = 512 * 1024  # bytes: what opening a file costs, compared to reading it


def is_small(files: list[InputFile]) -> bool:
    """Whether `files` hold at most SMALL_BATCH_RECORDS records, every file's count known."""
    counted = [f.records for f in files]
    return None not in counted and sum(n or 0 for n in counted) <= SMALL_BATCH_RECORDS


def classify(
    validated: DataFrame, current: DataFrame, source: Source, id_range: tuple[Any, Any] | None = None
) -> DataFrame:
    """Gives each valid or rejected record exactly one `outcome`.

    - rejected: failed at least one rule.
    - duplicate: a valid record that is not the last one for its id in the batch (files in
      batch order, then record number), or the last one but identical to the curated row.
    - accepted: the last valid record for its id, new or different from the curated row
      (`change` says insert or update).
    `superseded` marks duplicates whose content differs from the record that won.

    `id_range`, for a small batch: its lowest and highest id (None, None when it has none).
    """
    key = source.id_column
    valid = F.size("reasons") == 0
    # One pass, partitioned by id like the join with the curated table that follows (one shuffle
    # serves both): the valid versions of an id come first, latest first, so they rank 1, 2...;
    # the rank of a rejected record means nothing.
    last_first = Window.partitionBy(key).orderBy(
        F.col("_valid").desc(), F.col("file_order").desc(), F.col("record_number").desc()
    )
    ranked = (
        validated.withColumn("_valid", valid)
        .withColumn("_rank", F.row_number().over(last_first))
        .withColumn("_winner_hash", F.first("record_hash").over(last_first))
    )
    existing = current.select(F.col(key).alias("_cur_id"), F.col("record_hash").alias("_cur_hash"))
    if id_range is not None:
        # a small batch into a large table: only the curated rows of the batch's ids take part,
        # found by probing the table's scan with the broadcast ids instead of shuffling every
        # curated row (the caller materialises a small batch first: its ids and its records
        # come from one read of the files). The scan is bounded by the batch's lowest and highest
        # id: a data file whose id bounds (Iceberg's column metrics) lie outside is not read, so
        # new records with increasing ids read none of the history; random ids skip nothing.
        ids = validated.select(F.col(key).alias("_cur_id")).where(F.col("_cur_id").isNotNull()).distinct()
        lowest, highest = id_range
        in_range = F.col("_cur_id").between(lowest, highest) if lowest is not None else F.lit(False)
        existing = F.broadcast(existing.where(in_range).join(F.broadcast(ids), "_cur_id", "left_semi"))
    joined = ranked.join(existing, ranked[key] == existing["_cur_id"], "left")
    outcome = (
        F.when(~F.col("_valid"), "rejected")
        .when(F.col("_rank") > 1, "duplicate")
        .when(F.col("_cur_hash") == F.col("record_hash"), "duplicate")
        .otherwise("accepted")
    )
    change = F.when(outcome == "accepted", F.when(F.col("_cur_id").isNull(), "insert").otherwise("update"))
    superseded = F.col("_valid") & (F.col("_rank") > 1) & (F.col("record_hash") != F.col("_winner_hash"))
    return (
        joined.withColumn("outcome", outcome)
        .withColumn("change", change)
        .withColumn("superseded", superseded)
        .drop("_valid", "_rank", "_winner_hash", "_cur_id", "_cur_hash")
    )


@dataclass
class Account:
    """Per-source counts of one batch."""

    received: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    inserted: int = 0
    updated: int = 0
    superseded: int = 0

    def balanced(self) -> bool:
        return self.received == self.accepted + self.rejected + self.duplicates


def outcome_tests() -> dict[str, Column]:
    """Account field -> which classified records it counts."""
    return {
        "accepted": F.col("outcome") == "accepted",
        "rejected": F.col("outcome") == "rejected",
        "duplicates": F.col("outcome") == "duplicate",
        "inserted": F.col("change") == "insert",
        "updated": F.col("change") == "update",
        "superseded": F.col("superseded"),
    }


def outcome_sums() -> list[Column]:
    """The aggregates of the batch's outcome counts, one per Account field."""
    return [F.sum(F.when(test, 1).otherwise(0)).alias(name) for name, test in outcome_tests().items()]


def first_malformed(classified: DataFrame) -> dict[int, int]:
    """file_order -> the number of its first malformed record, for each file that has one (a row
    per such file, whatever the batch's size)."""
    rows = (
        classified.where(F.col("malformed"))
        .groupBy("file_order")
        .agg(F.min("record_number").alias("first"))
        .collect()
    )
    return {r.file_order: r.first for r in rows}


def account(records: DataFrame | int, classified: DataFrame, counts: dict[str, int] | None = None) -> Account:
    """Counts from two independent sides: records in the files, and outcomes after all joins
    (`counts`, when the caller observed them as the outcomes were computed)."""
    received = records if isinstance(records, int) else records.count()
    if counts is None:
        counts = classified.agg(*outcome_sums()).collect()[0].asDict()  # one row, even for no records
    return Account(received=received, **{name: int(counts[name] or 0) for name in outcome_tests()})


# ---------------------------------------------------------------------------------------
# Tables (contracts in jobs/tables.py)
# ---------------------------------------------------------------------------------------
def tables_written(sources: list[str]) -> list[str]:
    """Every table an ingest of `sources` writes (namespace.table)."""
    names = ["curated.rejected_records", "curated.ingestion_log"]
    for name in sources:
        names += [f"raw.{name}", f"curated.{name}"]
    return names


def backfill_pseudonyms(spark: SparkSession, catalog: str, name: str, added: list[str]) -> None:
    """A table that just gained pseudonym columns (an upgrade) gets them filled for every row."""
    contract = TABLES[name]
    missing = [c for c in contract.pseudonymised if pseudonym_column(c) in added]
    if missing:
        pseudonyms.rewrite(spark, contract.full_name(catalog), missing)


def keys_of(catalog: str, names: list[str]) -> dict[str, list[str]]:
    """Catalog-qualified table -> its natural key, for the writer's locks and undo."""
    return {TABLES[n].full_name(catalog): list(TABLES[n].key) for n in names}


# ---------------------------------------------------------------------------------------
# The batch
# ---------------------------------------------------------------------------------------
@dataclass
class Prepared:
    source: Source
    files: list[InputFile]
    skipped: list[InputFile]
    classified: DataFrame | None = None
    account: Account = field(default_factory=Account)
    # the records that were classified, as `fingerprint` counts them: what the raw write, which
    # reads the files again, must find
    fingerprint: tuple[int, int] = (0, 0)
    layouts: Layouts = field(default_factory=Layouts)  # how its files were split: the raw read reuses them


def already_ingested(spark: SparkSession, catalog: str, sources: list[str]) -> dict[str, set[str]]:
    """Source -> the content hashes of every file it ingested (one query for all the sources)."""
    listed = ", ".join(f"'{name}'" for name in sources)
    rows = spark.sql(
        f"SELECT DISTINCT source, f.sha256 FROM {catalog}.curated.ingestion_log "
        f"LATERAL VIEW explode(files) t AS f WHERE source IN ({listed})"
    ).collect()  # one row per ingested file: small, bounded by the number of files
    seen: dict[str, set[str]] = {name: set() for name in sources}
    for source, sha256 in rows:
        seen[source].add(sha256)
    return seen


def malformed_files(
    first: dict[int, int],
    files: list[InputFile],
    fetch: Callable[[str], bytes | None] | None = None,
) -> dict[str, str]:
    """Path -> where it first fails to parse, for every file with a malformed record (`first`:
    file_order -> its first malformed record)."""
    return {
        f.path: json_error_position(f.path, fetch)
        if f.fmt == "array"
        else f"line {first[f.order]}: not valid JSON (truncated?)"
        for f in files
        if f.order in first
    }


def prepare(
    spark: SparkSession,
    catalog: str,
    source: Source,
    paths: list[str],
    force: bool,
    fetch: Callable[[str], bytes | None] | None = None,
    quarantine: Callable[[InputFile, str], None] | None = None,
    seen: set[str] | None = None,
) -> Prepared:
    """Read, parse, validate and classify one source; nothing is written here.

    A malformed file refuses the whole batch, unless `quarantine` is given (the stream): then
    each malformed file is handed to it and the batch goes on without it.

    Raises:
        MalformedInput: a file is not valid JSON; names the file and the position.
    """
    with step(f"{source.name}: describe files"):
        files = describe_files(paths, fetch)
    if seen is None:  # not looked up by the caller
        with step(f"{source.name}: files already ingested"):
            seen = set() if force else already_ingested(spark, catalog, [source.name])[source.name]
    todo = [f for f in files if f.sha256 not in seen]
    prepared = Prepared(source, todo, [f for f in files if f.sha256 in seen])
    if not todo:
        return prepared
    with step(f"{source.name}: parse, validate, classify"), lines_in_place(source.name):
        classified, counts, malformed, fingerprint = classified_records(
            spark, catalog, source, todo, prepared.layouts
        )
    problems: dict[str, str] = {}
    if malformed:  # rare: where each broken file first fails, from one more pass
        with step(f"{source.name}: malformed files"):
            problems = malformed_files(first_malformed(classified), todo, fetch)
    if problems and quarantine is None:
        listed = "\n  ".join(f"{path}: {where}" for path, where in sorted(problems.items())[:5])
        raise MalformedInput(f"{source.name}: malformed input, batch refused, nothing written:\n  {listed}")
    if problems and quarantine is not None:  # (without a quarantine, refused above)
        for f in todo:
            if f.path in problems:
                quarantine(f, problems[f.path])
        todo = [f for f in todo if f.path not in problems]
        prepared.files = todo
        if not todo:
            return prepared
        classified.unpersist()
        prepared.layouts = Layouts()
        with lines_in_place(source.name):
            classified, counts, _, fingerprint = classified_records(
                spark, catalog, source, todo, prepared.layouts
            )
    prepared.classified, prepared.fingerprint = classified, fingerprint
    with step(f"{source.name}: accounting"), lines_in_place(source.name):
        # counted from the files apart from Spark, independently of every join and window since
        counted = [f.records for f in todo if f.records is not None]
        received = sum(counted) if len(counted) == len(todo) else read_records(spark, todo)
        prepared.account = account(received, classified, counts)
    if not prepared.account.balanced():
        raise RuntimeError(f"{source.name}: accounting invariant failed, nothing written: {prepared.account}")
    return prepared


def release(p: Prepared) -> None:
    """Free a prepared batch's checkpoint (a batch that will not be committed)."""
    if p.classified is not None:
        p.classified.unpersist()


# What identifies the records of a batch: how many, and the XOR of each one's 64-bit hash of its
# file, line number and text (the same whatever the order or partitioning of the rows).
FINGERPRINT = ("_records", "_records_xor")
RECORD_HASH = "_record_fp"  # a record's 64-bit hash, carried to where it is counted


def record_hash() -> Column:
    """A record's 64-bit hash of its file, line number and text (rows of RECORD_SCHEMA)."""
    return F.xxhash64("file_order", "record_number", F.coalesce("raw_json", F.lit("")))


def fingerprint_sums(hashes: Column) -> list[Column]:
    """The aggregates of a batch's `fingerprint`, over its records' `hashes` (`record_hash`).

    Observed in the last stage of a job only: Spark counts a task's observed metrics again when
    it re-runs the task, and it re-runs finished tasks of a shuffle's map side when their output
    is lost (a worker gone); it counts the tasks of the job's last stage once.
    """
    return [F.count(F.lit(1)).alias(FINGERPRINT[0]), F.bit_xor(hashes).alias(FINGERPRINT[1])]


def fingerprint(observation: Observation) -> tuple[int, int]:
    metrics = observation.get
    return int(metrics.get(FINGERPRINT[0]) or 0), int(metrics.get(FINGERPRINT[1]) or 0)


def classified_records(
    spark: SparkSession, catalog: str, source: Source, files: list[InputFile], layouts: Layouts | None = None
) -> tuple[DataFrame, dict[str, int], int, tuple[int, int]]:
    """Every record of `files` with its outcome, computed once: the files are parsed a single
    time and the batch's rejected and curated writes read this checkpoint. Returns it with its
    outcome counts, its number of malformed records and the `fingerprint` of its records, counted
    as it was computed (observed metrics: no second pass over the batch).

    A record's text is kept only where a write needs it from here: a rejected record's. The
    others' text, most of each row's bytes, is not carried through the shuffle by id and the
    checkpoint; raw is written from a second read of the files (`write_raw`), which must find the
    same fingerprint. (Local Spark, 2,000,000 transactions: classifying took 13.5-13.9 s instead of
    15.3-15.6 s, 26-27 s of the JVM's CPU instead of 30-31 s.)

    The writer's recovery has already undone any attempt that died before committing, so the
    curated table holds committed batches only: the batch is compared with exactly those.
    Checkpointed, not just cached: it cuts the plan's reference to the curated table, which
    MERGE INTO cannot plan through (and it pins the curated state the batch was compared to).
    """
    # Iceberg packs a scan's files into read tasks counting each file as at least its open cost
    # (4 MB by default): the many small files that appends leave between two compactions would
    # make one task per few files; counted nearer their size, they share a few tasks.
    current = spark.read.option("file-open-cost", str(FILE_OPEN_COST)).table(
        f"{catalog}.curated.{source.name}"
    )
    records = read_records(spark, files, layouts).withColumn(RECORD_HASH, record_hash())
    validated = (
        validate(parse(records, source), source)
        .drop("rec")
        .withColumn("raw_json", F.when(F.size("reasons") > 0, F.col("raw_json")))
    )
    small = is_small(files)
    id_range = None
    if small:  # computed once, its id range observed as it is
        bounds = Observation(f"{source.name}_ids_{uuid.uuid4().hex[:8]}")
        key = F.col(source.id_column)
        lowest, highest = F.min(key).alias("lowest"), F.max(key).alias("highest")
        validated = checkpoint(validated.observe(bounds, lowest, highest))
        id_range = (bounds.get.get("lowest"), bounds.get.get("highest"))
    # a name of its own: two jobs of one service may classify the same source side by side
    observation = Observation(f"{source.name}_outcomes_{uuid.uuid4().hex[:8]}")
    classified = checkpoint(
        classify(validated, current, source, id_range)
        .observe(
            observation,
            *outcome_sums(),
            F.count_if(F.col("malformed")).alias("_malformed"),
            *fingerprint_sums(F.col(RECORD_HASH)),
        )
        .drop(RECORD_HASH)
    )
    metrics = observation.get  # filled by the checkpoint's own pass
    counts = {name: int(metrics.get(name) or 0) for name in outcome_tests()}
    return classified, counts, int(metrics.get("_malformed") or 0), fingerprint(observation)


# An append gets a write task per this many rows, at most one per core.
ROWS_PER_WRITE_TASK = 250_000


def per_core(df: DataFrame, rows: int) -> DataFrame:
    """`df` (`rows` rows) in at most one partition per core, for an append: each write task makes
    its own files (no shuffle before a write), so more tasks than cores would only make more,
    smaller files (a batch's month partitions times its tasks), each one more object to write now
    and to open for every later scan. Up to ROWS_PER_WRITE_TASK rows, one task: a small batch's
    curated rows spread over a dozen months write a dozen files, not two dozen half as large."""
    tasks = min(df.sparkSession.sparkContext.defaultParallelism, -(-rows // ROWS_PER_WRITE_TASK))
    return df.coalesce(max(1, tasks))


def write_raw(spark: SparkSession, table: str, p: Prepared, batch_id: str, now: Column, forced: bool) -> None:
    """raw.<source>: one row per record as received, from a second read of the batch's files
    (the classified records keep only the rejected ones' text), their lines numbered with the
    layouts the first read counted. What it reads must have those layouts and the fingerprint of
    what was classified, or it raises InputChanged and the writer undoes the batch.
    Forced re-reads add only records (file content, record number) not already there: raw keeps
    the first arrival."""
    check = Observation(f"{p.source.name}_raw_{uuid.uuid4().hex[:8]}")
    records = read_records(spark, p.files, p.layouts).observe(check, *fingerprint_sums(record_hash()))
    file = file_columns(p.files)
    raw = records.select(
        "raw_json",
        file["source_file"],
        file["file_sha256"],
        "record_number",
        F.sha2(F.coalesce("raw_json", F.lit("")), 256).alias("content_hash"),
        F.lit(batch_id).alias("batch_id"),
        now.alias("ingested_at"),
    )
    if not forced:
        with lines_in_place(p.source.name):
            per_core(raw, p.account.received).writeTo(table).append()
    else:
        # computed once, its fingerprint observed as it is, whatever MERGE's plan does with its source
        with lines_in_place(p.source.name):
            batch = checkpoint(raw)
        try:
            with temp_view(batch, "_raw_batch") as view:
                spark.sql(f"""
                    MERGE INTO {table} t USING {view} s
                    ON t.file_sha256 = s.file_sha256 AND t.record_number = s.record_number
                    WHEN NOT MATCHED THEN INSERT *""")
        finally:
            batch.unpersist()
    p.layouts.verify(p.source.name)
    found = fingerprint(check)
    if found != p.fingerprint:
        same = " (the same number, not the same records)" if found[0] == p.fingerprint[0] else ""
        raise InputChanged.of(
            p.source.name,
            f"read again for raw, it held {found[0]:,} records, {p.fingerprint[0]:,} were classified{same}",
        )


def write_rejected(
    spark: SparkSession, table: str, p: Prepared, batch_id: str, now: Column, forced: bool
) -> None:
    """curated.rejected_records: every failed record with all its reasons. A forced re-read
    replaces the rejections of its files (the rules may have changed), never duplicates them."""
    assert p.classified is not None
    s = p.source
    file = file_columns(p.files)
    rejected = p.classified.where(F.col("outcome") == "rejected").select(
        F.lit(s.name).alias("source"),
        F.lit(batch_id).alias("batch_id"),
        file["source_file"],
        file["file_sha256"],
        "record_number",
        "raw_json",
        "reasons",
        now.alias("rejected_at"),
    )
    if not forced:
        if p.account.rejected:
            per_core(rejected, p.account.rejected).writeTo(table).append()
        return
    hashes = ", ".join(f"'{f.sha256}'" for f in p.files)
    with temp_view(rejected, "_rejected_batch") as view:
        spark.sql(f"""
            MERGE INTO {table} t USING {view} s
            ON t.source = s.source AND t.file_sha256 = s.file_sha256 AND t.record_number = s.record_number
            WHEN MATCHED THEN UPDATE SET *
            WHEN NOT MATCHED THEN INSERT *
            WHEN NOT MATCHED BY SOURCE AND t.source = '{s.name}' AND t.file_sha256 IN ({hashes})
                THEN DELETE""")


def merge_curated(spark: SparkSession, table: str, p: Prepared, batch_id: str, now: Column) -> None:
    """curated.<source>: the batch's new records appended, its changed records merged by id.

    The batch was classified against this table under its write lock, so an id classified new
    is not there: new records need no join with the table's history, only changed ones do
    (merge-on-read: a changed row costs a position delete, not a rewrite of its file).
    """
    assert p.classified is not None
    if not p.account.accepted:
        return
    s = p.source
    contract = TABLES[f"curated.{s.name}"]
    accepted = (
        p.classified.where(F.col("outcome") == "accepted")
        .withColumn("source_file", file_columns(p.files)["source_file"])
        .withColumn("batch_id", F.lit(batch_id))
        .withColumn("ingested_at", now)
    )
    rows = with_pseudonyms(accepted, [*contract.pseudonymised]).select(*contract.column_names, "change")
    fault_point("ingest.before_curated_merge")
    if p.account.inserted:
        inserts = rows.where(F.col("change") == "insert").drop("change")
        per_core(inserts, p.account.inserted).writeTo(table).append()
    if p.account.updated:
        with temp_view(rows.where(F.col("change") == "update").drop("change"), "_changes") as view:
            spark.sql(f"""
                MERGE INTO {table} t USING {view} s ON t.{s.id_column} = s.{s.id_column}
                WHEN MATCHED THEN UPDATE SET *""")


@dataclass
class Batch:
    """A prepared source on its way to the tables: its batch id and, once written, the snapshots
    its tables had after its writes (rejected_records': after every batch of the run wrote it)."""

    p: Prepared
    batch_id: str
    snaps: dict[str, int | None] = field(default_factory=dict)


def write_log(
    spark: SparkSession,
    table: str,
    batches: list[Batch],
    started: dt.datetime,
    stream_batch: str | None = None,
) -> None:
    """curated.ingestion_log: a row per batch with its account, its files (every name), the
    snapshots it produced, and for the stream its micro-batch (query:id). Written last, one
    commit for all the batches."""
    finished = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = [
        (
            b.batch_id,
            b.p.source.name,
            started,
            finished,
            [(name, f.sha256, f.fmt) for f in b.p.files for name in f.all_names],
            b.p.account.received,
            b.p.account.accepted,
            b.p.account.rejected,
            b.p.account.duplicates,
            b.p.account.inserted,
            b.p.account.updated,
            b.p.account.superseded,
            b.snaps["raw_snapshot_id"],
            b.snaps["curated_snapshot_id"],
            b.snaps["rejected_snapshot_id"],
            stream_batch,
        )
        for b in batches
    ]
    names = TABLES["curated.ingestion_log"].column_names
    spark.createDataFrame(rows, spark.table(table).select(*names).schema).writeTo(table).append()


def write_batch(spark: SparkSession, catalog: str, b: Batch, now: Column, forced: bool) -> None:
    """One source's raw, rejected and curated writes; notes the snapshots of its raw and curated
    tables in `b`. Raw is written side by side with rejected and curated: they are different
    tables, and the raw write, which reads the files again, needs nothing from the others. While
    one write's driver plans or commits, or its last task runs, the other's tasks use the cores.
    If either fails, the other is stopped."""
    p, s = b.p, b.p.source
    raw_t, curated_t = f"{catalog}.raw.{s.name}", f"{catalog}.curated.{s.name}"

    def raw() -> None:
        with step(f"{s.name}: write raw"):
            write_raw(spark, raw_t, p, b.batch_id, now, forced)
        fault_point("ingest.after_raw")

    def outcomes() -> None:
        with step(f"{s.name}: write rejected"):
            write_rejected(spark, f"{catalog}.curated.rejected_records", p, b.batch_id, now, forced)
        with step(f"{s.name}: merge curated"):
            merge_curated(spark, curated_t, p, b.batch_id, now)

    with step(f"{s.name}: write side by side"):
        side_by_side(spark, {f"{s.name} raw": raw, f"{s.name} rejected and curated": outcomes})
    b.snaps = {
        t: current_snapshot(spark, name)
        for t, name in (("raw_snapshot_id", raw_t), ("curated_snapshot_id", curated_t))
    }


def commit(
    writer: Writer,
    catalog: str,
    batches: list[Batch],
    started: dt.datetime,
    forced: bool = False,
    stream_batch: str | None = None,
) -> None:
    """Write every batch (one per source), then their log rows, as one run of the writer: all of
    it commits, or the writer undoes whatever of it was written (see jobs/writes.py).

    The sources are written side by side (each its raw beside its rejected and curated, in
    `write_batch`): every table but rejected_records is one source's, and both sources only
    append to that one. A forced re-read MERGEs into rejected_records instead (replacing the
    rejections of its files): then the sources are written one after the other. The run's id
    names its batches; every snapshot it commits is tagged with it.
    """
    spark = writer.spark
    keys = keys_of(catalog, tables_written([b.p.source.name for b in batches]))
    now = batch_time(started)
    calls = {b.p.source.name: partial(write_batch, spark, catalog, b, now, forced) for b in batches}
    with writer.run("+".join(b.batch_id for b in batches), keys):
        if forced:
            for call in calls.values():
                call()
        else:
            with step("sources written side by side"):
                side_by_side(spark, calls)
        fault_point("ingest.after_curated")
        with step("write log"):
            rejected = current_snapshot(spark, f"{catalog}.curated.rejected_records")
            for b in batches:
                b.snaps["rejected_snapshot_id"] = rejected
            write_log(spark, f"{catalog}.curated.ingestion_log", batches, started, stream_batch)
        fault_point("ingest.after_log")


def new_batch_id(started: dt.datetime, source: str, files: list[InputFile]) -> str:
    digest = hashlib.sha256("".join(f.sha256 for f in files).encode()).hexdigest()[:8]
    return f"{started:%Y%m%dT%H%M%SZ}-{source[:3]}-{digest}-{uuid.uuid4().hex[:4]}"


def ingest_micro_batch(
    spark: SparkSession,
    catalog: str,
    source: str,
    uris: list[str],
    stream_batch: str,
    fetch: Callable[[str], bytes | None],
    quarantine: Callable[[InputFile, str], None],
    wait: float = DEFAULT_WAIT,
) -> dict[str, Any]:
    """One streaming micro-batch: the same path as a batch ingest of `uris`, exactly once.

    A micro-batch replayed after a crash (its tables committed, Spark's checkpoint not) is found
    by its `stream_batch` in the ingestion log and skipped; files already ingested are skipped
    by content as in batch; malformed files go to `quarantine` instead of refusing the batch.
    """
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    written = tables_written([source])
    with (
        recording() as timings,
        splits_pinned(spark),
        Writer.open(spark, catalog, f"stream {source}", list(keys_of(catalog, written)), wait) as writer,
    ):
        ensure(spark, catalog, written)
        log = f"{catalog}.curated.ingestion_log"
        if spark.table(log).where(F.col("stream_batch") == stream_batch).limit(1).count():
            return {"stream_batch": stream_batch, "replayed": True}
        p = prepare(spark, catalog, SOURCES[source], uris, False, fetch, quarantine)
        result: dict[str, Any] = {"stream_batch": stream_batch, "replayed": False, "files": len(p.files)}
        try:
            if p.files:
                batch = Batch(p, new_batch_id(started, source, p.files))
                commit(writer, catalog, [batch], started, stream_batch=stream_batch)
                result["batch_id"] = batch.batch_id
        finally:
            release(p)
        result.update(vars(p.account))
    result["timings"] = timings
    return result


def run(
    spark: SparkSession,
    catalog: str,
    inputs: dict[str, list[str]],
    force: bool = False,
    wait: float = DEFAULT_WAIT,
) -> dict[str, Any]:
    """Ingest every given source; returns the per-source account."""
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    written = tables_written(list(inputs))
    with (
        recording() as timings,
        splits_pinned(spark),
        Writer.open(spark, catalog, "ingest", list(keys_of(catalog, written)), wait) as writer,
    ):
        fault_point("ingest.locked")
        with step("tables"):
            for name, columns in ensure(spark, catalog, written).items():
                backfill_pseudonyms(spark, catalog, name, columns)
        with step("files already ingested"):
            seen = (
                {name: set() for name in inputs} if force else already_ingested(spark, catalog, list(inputs))
            )
        calls = {
            name: partial(prepare, spark, catalog, SOURCES[name], paths, force, seen=seen[name])
            for name, paths in inputs.items()
        }
        # The sources are described (hashed, their records counted), read and classified side by
        # side: while one source's driver works (Python and JVM calls, one at a time) or its last
        # tasks run, the other's tasks use the cores. Most of a small batch's time is the driver's;
        # a large batch gains its idle gaps (fresh bench stacks, 2,000,000 transactions, two runs
        # each: 0.75-0.77 s of wall time per second of task CPU against 0.79). Memory is no higher:
        # the running tasks share the execution memory as before, and both sources' checkpoints
        # were held together until the commits anyway. Nothing is written yet; then the sources are
        # written side by side too, in one run of the writer (`commit`).
        with step("sources side by side"):
            prepared = side_by_side(spark, calls, discard=release)
        batches = {
            name: Batch(p, new_batch_id(started, name, p.files)) for name, p in prepared.items() if p.files
        }
        try:
            if batches:
                commit(writer, catalog, list(batches.values()), started, force)
        finally:  # the checkpoints, whether the batches committed or not
            for p in prepared.values():
                release(p)
        result: dict[str, Any] = {"catalog": catalog, "sources": {}}
        for name, p in prepared.items():
            entry: dict[str, Any] = {"skipped_files": [n for f in p.skipped for n in f.all_names]}
            if name in batches:
                entry["batch_id"] = batches[name].batch_id
                entry["snapshots"] = batches[name].snaps
            entry.update(vars(p.account))
            result["sources"][name] = entry
    result["timings"] = timings
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", help="file, directory or glob")
    parser.add_argument("--payments", help="file, directory or glob")
    parser.add_argument("--catalog", default=catalog_name())
    parser.add_argument(
        "--force", action="store_true", help="re-read files already ingested (curated stays idempotent)"
    )
    parser.add_argument("--wait", type=float, default=DEFAULT_WAIT, help="seconds to wait for table locks")
    args = parser.parse_args(argv)
    inputs = {
        name: expand_paths(spec)
        for name, spec in (("transactions", args.transactions), ("payments", args.payments))
        if spec
    }
    if not inputs:
        parser.error("give --transactions and/or --payments")
    return run_job(
        "ingest",
        lambda spark: run(spark, args.catalog, inputs, args.force, args.wait),
        # a file that changed while it was ingested may be complete at the next try: a plain failure
        {MalformedInput: EXIT_INPUT_REFUSED, LockTimeout: EXIT_LOCK_TIMEOUT, InputChanged: 1},
    )


if __name__ == "__main__":
    sys.exit(main())
