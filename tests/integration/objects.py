"""Every value held by every object in the object store, read through the S3 API (so decrypted),
decoded by format: Parquet (values and footer statistics), Avro (Iceberg manifests and manifest
lists, decoded here from the Avro spec), JSON and JSON lines; other objects as raw bytes.

Used to prove an erased id is in no file at all, independently of the engines that wrote them.
"""

from __future__ import annotations

import io
import json
import re
import zlib
from collections.abc import Iterator
from typing import Any

import pyarrow.parquet as pq


def _long(buf: io.BytesIO) -> int:
    shift = result = 0
    while True:
        byte = buf.read(1)[0]
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1)


def _avro_value(schema: Any, buf: io.BytesIO, named: dict[str, Any]) -> Iterator[Any]:
    """Yield every leaf value of one Avro datum of `schema`."""
    if isinstance(schema, str):
        if schema in named:
            yield from _avro_value(named[schema], buf, named)
        elif schema == "null":
            return
        elif schema == "boolean":
            buf.read(1)
        elif schema in ("int", "long"):
            yield _long(buf)
        elif schema == "float":
            buf.read(4)
        elif schema == "double":
            buf.read(8)
        elif schema == "bytes":
            yield buf.read(_long(buf))
        elif schema == "string":
            yield buf.read(_long(buf)).decode("utf-8")
        else:
            raise ValueError(f"unknown Avro type {schema}")
        return
    if isinstance(schema, list):  # union
        yield from _avro_value(schema[_long(buf)], buf, named)
        return
    kind = schema["type"]
    if kind == "record":
        named[schema["name"]] = schema
        for field in schema["fields"]:
            yield from _avro_value(field["type"], buf, named)
    elif kind in ("array", "map"):
        while (count := _long(buf)) != 0:
            if count < 0:
                count = -count
                _long(buf)  # block size in bytes
            for _ in range(count):
                if kind == "map":
                    yield buf.read(_long(buf)).decode("utf-8")
                yield from _avro_value(schema["items" if kind == "array" else "values"], buf, named)
    elif kind == "fixed":
        named[schema["name"]] = schema
        yield buf.read(schema["size"])
    elif kind == "enum":
        _long(buf)
    else:  # a primitive written as {"type": "long", "logicalType": ...}
        yield from _avro_value(kind, buf, named)


def avro_values(data: bytes) -> Iterator[Any]:
    buf = io.BytesIO(data)
    if buf.read(4) != b"Obj\x01":
        raise ValueError("not an Avro container file")
    meta: dict[str, bytes] = {}
    while (count := _long(buf)) != 0:
        if count < 0:
            count = -count
            _long(buf)
        for _ in range(count):
            key = buf.read(_long(buf)).decode()
            meta[key] = buf.read(_long(buf))
    sync = buf.read(16)
    schema = json.loads(meta["avro.schema"])
    codec = meta.get("avro.codec", b"null").decode()
    yield from (v.decode("utf-8", "replace") for v in meta.values())  # header metadata too
    while buf.tell() < len(data):
        count, size = _long(buf), _long(buf)
        block = buf.read(size)
        if codec == "deflate":
            block = zlib.decompress(block, -15)
        elif codec != "null":
            raise ValueError(f"Avro codec {codec} not supported by this reader")
        records = io.BytesIO(block)
        for _ in range(count):
            yield from _avro_value(schema, records, {})
        if buf.read(16) != sync:
            raise ValueError("Avro sync marker mismatch")


def _json_values(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _json_values(v)
    elif isinstance(value, list):
        for v in value:
            yield from _json_values(v)
    else:
        yield value


def parquet_values(data: bytes) -> Iterator[Any]:
    table = pq.read_table(io.BytesIO(data))
    for column in table.columns:
        for value in column.to_pylist():
            yield from _json_values(value)
    metadata = pq.ParquetFile(io.BytesIO(data)).metadata
    for g in range(metadata.num_row_groups):
        for c in range(metadata.num_columns):
            stats = metadata.row_group(g).column(c).statistics
            if stats is not None and stats.has_min_max:
                yield stats.min
                yield stats.max


def object_values(key: str, data: bytes) -> Iterator[Any]:
    """Every value in one object, by its format."""
    if data[:4] == b"PAR1":
        yield from parquet_values(data)
    elif data[:4] == b"Obj\x01":
        yield from avro_values(data)
    elif key.endswith((".json", "_LATEST")) or data[:1] in (b"{", b"["):
        try:
            yield from _json_values(json.loads(data))
        except ValueError:  # JSON lines, or text
            for line in data.decode("utf-8", "replace").splitlines():
                try:
                    yield from _json_values(json.loads(line))
                except ValueError:
                    yield line
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            yield data  # binary of an unknown kind: searched byte for byte
            return
        for line in text.splitlines():  # text (e.g. streaming checkpoints): JSON lines or words
            try:
                yield from _json_values(json.loads(line))
            except ValueError:
                yield from re.findall(r"[\w.-]+", line)


def holds(value: Any, needle: str) -> bool:
    """`value` is the id, or JSON text holding it as a value, or raw bytes containing it."""
    if isinstance(value, str):
        if value == needle:
            return True
        if value[:1] in ("{", "[") and needle in value:
            try:
                return any(holds(v, needle) for v in _json_values(json.loads(value)))
            except ValueError:
                return True
        return False
    if isinstance(value, bytes | bytearray):  # a bound in a manifest, or an unknown binary object
        return bytes(value) == needle.encode() or (len(value) > 64 and needle.encode() in value)
    return False


def objects_holding(s3, buckets: list[str], needle: str) -> list[str]:
    """`bucket/key` of every object that holds `needle`."""
    found = []
    for bucket in buckets:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                data = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                if any(holds(v, needle) for v in object_values(obj["Key"], data)):
                    found.append(f"{bucket}/{obj['Key']}")
    return found
