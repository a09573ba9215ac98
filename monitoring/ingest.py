"""Reading an inference batch (JSON records, CSV or Parquet) into a DataFrame, refusing bad input
with a precise reason before anything is stored. Pure: bytes in, DataFrame or BadBatch out."""

from __future__ import annotations

import csv
import io
import json
import struct
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from registry.errors import PortalError


@dataclass(frozen=True)
class BatchLimits:
    """What one batch may hold once read, checked before the work that size would cost: Parquet from
    its metadata (a 91 KB zstd file can hold 20 M rows), CSV and JSON from the header and a count."""

    max_rows: int = 2_000_000
    max_columns: int = 2_000
    max_decompressed_bytes: int = 256 * 1024 * 1024


UNLIMITED = BatchLimits(max_rows=2**62, max_columns=2**62, max_decompressed_bytes=2**62)

PARQUET_MAGIC = b"PAR1"
FORMATS = ("json", "csv", "parquet")
CONTENT_TYPES = {
    "application/json": "json",
    "text/csv": "csv",
    "application/csv": "csv",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
    "application/parquet": "parquet",
}


class BadBatch(PortalError):
    status_code = 400
    code = "bad_batch"

    def __init__(self, message: str, *, code: str = "bad_batch", status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status_code = status


@dataclass
class ParsedBatch:
    frame: pd.DataFrame
    format: str
    typed: bool  # Parquet carries exact types; JSON and CSV only say number, string or boolean


def format_for(content_type: str, filename: str = "") -> str | None:
    base = (content_type or "").split(";")[0].strip().lower()
    if base in CONTENT_TYPES:
        return CONTENT_TYPES[base]
    for ext in FORMATS:
        if filename.lower().endswith(f".{ext}"):
            return ext
    return None


def _text(body: bytes) -> str:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadBatch(
            f"The body is not UTF-8: byte 0x{body[exc.start]:02x} at offset {exc.start} cannot be decoded.",
            code="not_utf8",
        ) from exc
    return text.removeprefix("\ufeff")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _reject_constant(name: str) -> Any:
    raise BadBatch(f"JSON value {name} is not allowed: send null for a missing value.", code="non_finite")


def _check_rows(rows: int, limits: BatchLimits) -> None:
    if rows > limits.max_rows:
        message = f"The batch has {rows:,} rows; the limit is {limits.max_rows:,}."
        raise BadBatch(message, code="too_many_rows", status=413)


def _check_columns(columns: int, limits: BatchLimits) -> None:
    if columns > limits.max_columns:
        message = f"The batch has {columns:,} columns; the limit is {limits.max_columns:,}."
        raise BadBatch(message, code="too_many_columns", status=413)


def _parse_json(body: bytes, limits: BatchLimits) -> pd.DataFrame:
    text = _text(body)
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise BadBatch(
            f"The JSON cannot be parsed: {exc.msg} at line {exc.lineno} column {exc.colno}.", code="parse_error"
        ) from exc
    except RecursionError as exc:
        raise BadBatch("The JSON is nested too deeply to be a batch of records.", code="parse_error") from exc
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise BadBatch(f"The JSON cannot be parsed: {exc}", code="parse_error") from exc
    if isinstance(data, dict) and "records" in data:
        data = data["records"]
    if not isinstance(data, list):
        raise BadBatch('Send a JSON list of records (objects), or {"records": [...]}.', code="parse_error")
    if not data:
        raise BadBatch("The batch has no records.", code="empty")
    _check_rows(len(data), limits)
    columns: set[str] = set()
    for i, row in enumerate(data):
        if not isinstance(row, dict):
            raise BadBatch(f"Record {i} is not an object.", code="parse_error")
        columns.update(row)
        if len(columns) > limits.max_columns:
            _check_columns(len(columns), limits)
        for key, value in row.items():
            if isinstance(value, dict | list):
                raise BadBatch(f"Record {i}, column {key!r}: nested values are not supported.", code="parse_error")
            # JSON's \ud800 escapes decode to lone surrogates, which no UTF-8 file or database takes.
            for text_ in (key, value) if isinstance(value, str) else (key,):
                if not _encodable(text_):
                    raise BadBatch(f"Record {i}: a lone surrogate (\\ud800-\\udfff) is not text.", code="not_utf8")
    return pd.DataFrame.from_records(data)


def _parse_csv(body: bytes, limits: BatchLimits) -> pd.DataFrame:
    text = _text(body)
    if not text.strip():
        raise BadBatch("The batch is empty.", code="empty")
    try:
        header = next(csv.reader(io.StringIO(text, newline="")), [])
    except csv.Error as exc:  # e.g. a field over the csv module's 131,072-character limit
        raise BadBatch(f"The CSV header cannot be read: {exc}", code="parse_error") from exc
    _check_columns(len(header), limits)
    # Lines bound the rows from above (a quoted field may span lines): cheap, and only an upper bound.
    lines = text.count("\n") + text.count("\r") - text.count("\r\n")
    if lines > limits.max_rows + 1:
        _check_rows(lines - 1, limits)
    duplicates = sorted(name for name, n in Counter(header).items() if n > 1)
    if duplicates:
        raise BadBatch(f"Duplicate column names: {', '.join(duplicates)}.", code="duplicate_columns")
    try:
        frame = pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, ValueError, csv.Error) as exc:
        raise BadBatch(f"The CSV cannot be parsed: {exc}", code="parse_error") from exc
    return frame


# Bytes per value once a column is read into memory; variable-width columns count their encoded size.
PHYSICAL_WIDTHS = {"BOOLEAN": 1, "INT32": 4, "FLOAT": 4, "INT64": 8, "DOUBLE": 8, "INT96": 12}


def _decoded_bytes(metadata: pq.FileMetaData) -> int:
    """What the file's columns take in memory once read, from its metadata alone. The stored sizes
    say little: a column of one repeated value is a few bytes however many rows it has."""
    total = 0
    for i in range(metadata.num_row_groups):
        group = metadata.row_group(i)
        for j in range(group.num_columns):
            column = group.column(j)
            width = PHYSICAL_WIDTHS.get(column.physical_type)
            total += group.num_rows * width if width else column.total_uncompressed_size
    return total


def _parse_parquet(body: bytes, *, max_bytes: int, limits: BatchLimits) -> pd.DataFrame:
    if len(body) < 12 or body[:4] != PARQUET_MAGIC or body[-4:] != PARQUET_MAGIC:
        raise BadBatch("Not a Parquet file: it must start and end with the magic bytes PAR1.", code="not_parquet")
    (footer_length,) = struct.unpack("<I", body[-8:-4])
    if footer_length > len(body) - 12:
        raise BadBatch(
            f"The Parquet footer claims {footer_length} bytes but the file has only {len(body)}: truncated or corrupt.",
            code="corrupt_parquet",
        )
    try:
        parquet = pq.ParquetFile(
            io.BytesIO(body), thrift_string_size_limit=max_bytes, thrift_container_size_limit=1_000_000
        )
        metadata = parquet.metadata
        _check_columns(metadata.num_columns, limits)
        _check_rows(metadata.num_rows, limits)
        decompressed = _decoded_bytes(metadata)
        if decompressed > limits.max_decompressed_bytes:
            raise BadBatch(
                f"The Parquet file holds {decompressed:,} bytes once decompressed; the limit is "
                f"{limits.max_decompressed_bytes:,}.",
                code="too_large",
                status=413,
            )
        names = parquet.schema_arrow.names
        duplicates = sorted(name for name, n in Counter(names).items() if n > 1)
        if duplicates:
            raise BadBatch(f"Duplicate column names: {', '.join(duplicates)}.", code="duplicate_columns")
        table = parquet.read()
        # The pandas metadata in the file is the sender's: not JSON, the wrong shape or a dtype that
        # does not exist all fail here, inside the try.
        return table.to_pandas()
    except BadBatch:
        raise
    except (pa.ArrowException, OSError, ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise BadBatch(f"The Parquet file cannot be read: {exc}", code="corrupt_parquet") from exc


def parse_batch(body: bytes, *, fmt: str, max_bytes: int, limits: BatchLimits | None = None) -> ParsedBatch:
    if len(body) > max_bytes:
        raise BadBatch(f"The batch is {len(body)} bytes; the limit is {max_bytes}.", code="too_large", status=413)
    if not body:
        raise BadBatch("The batch is empty.", code="empty")
    limits = limits or BatchLimits()
    if fmt == "json":
        frame = _parse_json(body, limits)
    elif fmt == "csv":
        frame = _parse_csv(body, limits)
    elif fmt == "parquet":
        frame = _parse_parquet(body, max_bytes=max_bytes, limits=limits)
    else:
        raise BadBatch(f"Unknown format {fmt!r}: send JSON, CSV or Parquet.", code="unsupported_media_type", status=415)
    if len(frame) == 0:
        raise BadBatch("The batch has a header but no rows.", code="empty")
    frame.columns = [str(c) for c in frame.columns]
    duplicates = sorted(name for name, n in Counter(frame.columns).items() if n > 1)
    if duplicates:
        raise BadBatch(f"Duplicate column names: {', '.join(duplicates)}.", code="duplicate_columns")
    _reject_infinities(frame)
    return ParsedBatch(frame=frame, format=fmt, typed=fmt == "parquet")


def _reject_infinities(frame: pd.DataFrame) -> None:
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_float_dtype(column.dtype):
            values = column.to_numpy(dtype=np.float64, na_value=np.nan)
            bad = np.isinf(values)
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise BadBatch(
                    f"Column {name!r} holds an infinite value (first at row {row}); send null for a missing value.",
                    code="non_finite",
                )


def event_times(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame:
        raise BadBatch(f"The event time column {column!r} is missing.", code="missing_event_time")
    try:
        times = pd.to_datetime(frame[column], utc=True, errors="raise", format="mixed")
    except (ValueError, TypeError) as exc:
        raise BadBatch(f"Column {column!r} holds values that are not times: {exc}", code="bad_event_time") from exc
    if times.isna().any():
        raise BadBatch(f"Column {column!r} has empty event times.", code="bad_event_time")
    return times


def read_stored(body: bytes, fmt: str) -> pd.DataFrame:
    """Re-reads a stored batch file (already validated when it arrived)."""
    return parse_batch(body, fmt=fmt, max_bytes=max(len(body), 1), limits=UNLIMITED).frame
