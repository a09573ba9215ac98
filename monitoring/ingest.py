"""Reading an inference batch (JSON records, CSV or Parquet) into a DataFrame, refusing bad input
with a precise reason before anything is stored. Pure: bytes in, DataFrame or BadBatch out."""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
import re
import struct
from collections import Counter
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from registry.errors import PortalError


@dataclass(frozen=True)
class BatchLimits:
    """What one batch may hold once read, checked before the work that size would cost: Parquet from
    its metadata (a 91 KB zstd file can hold 20 M rows), CSV and JSON from the header and a count."""

    max_rows: int = 2_000_000
    max_columns: int = 2_000
    max_decompressed_bytes: int = 128 * 1024 * 1024


UNLIMITED = BatchLimits(max_rows=2**62, max_columns=2**62, max_decompressed_bytes=2**62)

PARQUET_MAGIC = b"PAR1"
MAX_COLUMN_NAME = 120
BOM = b"\xef\xbb\xbf"
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


def _not_utf8(body: bytes, offset: int) -> BadBatch:
    return BadBatch(
        f"The body is not UTF-8: byte 0x{body[offset]:02x} at offset {offset} cannot be decoded.", code="not_utf8"
    )


def _text(body: bytes) -> str:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_utf8(body, exc.start) from exc
    return text.removeprefix("\ufeff")


UTF8_CHUNK = 1 << 20


def _check_utf8(body: bytes) -> None:
    """Refuses a body that is not UTF-8 without holding its decoded copy: a megabyte at a time."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(body)
    for start in range(0, len(body), UTF8_CHUNK):
        # The decoder holds up to three bytes of a character begun in the previous chunk.
        pending = len(decoder.getstate()[0])
        try:
            decoder.decode(view[start : start + UTF8_CHUNK], final=start + UTF8_CHUNK >= len(body))
        except UnicodeDecodeError as exc:
            raise _not_utf8(body, start - pending + exc.start) from exc


def _check_column_names(names: list[str]) -> None:
    # Feature names are stored in 120 characters (drift results, histograms, alerts); NUL is no text
    # PostgreSQL stores.
    for name in names:
        if "\x00" in name:
            raise BadBatch(f"Column name {name[:60]!r} holds a NUL character.", code="bad_column_name")
        if len(name) > MAX_COLUMN_NAME:
            raise BadBatch(
                f"Column name {name[:60]!r}… is {len(name):,} characters long; the limit is {MAX_COLUMN_NAME}.",
                code="bad_column_name",
            )


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


_WHITESPACE = re.compile(r"[ \t\n\r]*")
# Strings and brackets, to step over a value without building it.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')
NOT_RECORDS = 'Send a JSON list of records (objects), or {"records": [...]}.'


def _skip(text: str, i: int) -> int:
    return _WHITESPACE.match(text, i).end()


def _expected(text: str, i: int, what: str) -> BadBatch:
    line = text.count("\n", 0, i) + 1
    column = i - text.rfind("\n", 0, i)
    return BadBatch(f"The JSON cannot be parsed: expecting {what} at line {line} column {column}.", code="parse_error")


def _skip_value(text: str, i: int, decoder: json.JSONDecoder) -> int:
    """The end of the value at i, stepping over a list or object without building it."""
    if not text.startswith(("[", "{"), i):
        return decoder.raw_decode(text, i)[1]
    depth = 0
    for token in _JSON_TOKEN.finditer(text, i):
        if token.group() in "[{":
            depth += 1
        elif token.group() in "]}":
            depth -= 1
            if depth == 0:
                return token.end()
    raise _expected(text, len(text), "the end of a list or object")


def _records_start(text: str, decoder: json.JSONDecoder) -> tuple[int, bool]:
    """Where the records list's items begin, for a list or {"records": [...]}; and whether the
    records sit in an object (whose other keys are stepped over, never built)."""
    i = _skip(text, 0)
    if text.startswith("[", i):
        return i + 1, False
    if not text.startswith("{", i):
        decoder.decode(text)  # a parse error says what is wrong; a scalar is no batch
        raise BadBatch(NOT_RECORDS, code="parse_error")
    i = _skip(text, i + 1)
    while not text.startswith("}", i):
        key, i = _property_name(text, i)
        if key == "records":
            if not text.startswith("[", i):
                raise BadBatch(NOT_RECORDS, code="parse_error")
            return i + 1, True
        i = _skip(text, _skip_value(text, i, decoder))
        if text.startswith(",", i):
            i = _skip(text, i + 1)
        elif not text.startswith("}", i):
            raise _expected(text, i, "',' or '}'")
    raise BadBatch(NOT_RECORDS, code="parse_error")


def _property_name(text: str, i: int) -> tuple[str, int]:
    """An object's property name and its colon at `i`: the name, and where its value starts."""
    if not text.startswith('"', i):
        raise _expected(text, i, "a property name in double quotes")
    name, i = json.decoder.scanstring(text, i + 1)
    i = _skip(text, i)
    if not text.startswith(":", i):
        raise _expected(text, i, "':'")
    return name, _skip(text, i + 1)


def _records_end(text: str, i: int, in_object: bool, decoder: json.JSONDecoder) -> None:
    """What follows the records list must close the document: the object's other keys, then nothing."""
    i = _skip(text, i)
    if in_object:
        while not text.startswith("}", i):
            if not text.startswith(",", i):
                raise _expected(text, i, "',' or '}'")
            _, i = _property_name(text, _skip(text, i + 1))
            i = _skip(text, _skip_value(text, i, decoder))
        i = _skip(text, i + 1)
    if i != len(text):
        raise _expected(text, i, "the end of the document")


def _json_columns(
    text: str, limits: BatchLimits, keep: frozenset[str] | None = None
) -> tuple[dict[str, list[Any]], int]:
    """Walks the records one at a time into columns, refusing at the first record over a cap: the
    records are never all built as dicts (a 40 MB body of tiny records made a gigabyte of them).
    With `keep`, only those columns are kept (a stored batch read for some of its columns)."""
    decoder = json.JSONDecoder(parse_constant=_reject_constant)
    i, in_object = _records_start(text, decoder)
    columns: dict[str, list[Any]] = {}
    rows = 0
    i = _skip(text, i)
    if text.startswith("]", i):
        _records_end(text, i + 1, in_object, decoder)
        return columns, rows
    while True:
        if rows == limits.max_rows:
            _check_rows(rows + 1, limits)  # another record follows
        if not text.startswith("{", i):
            raise BadBatch(f"Record {rows} is not an object.", code="parse_error")
        record, i = decoder.raw_decode(text, i)
        kept = 0
        for key, value in record.items():
            if keep is not None and key not in keep:
                continue
            kept += 1
            if isinstance(value, dict | list):
                raise BadBatch(f"Record {rows}, column {key!r}: nested values are not supported.", code="parse_error")
            # JSON's \ud800 escapes decode to lone surrogates, which no UTF-8 file or database takes.
            for text_ in (key, value) if isinstance(value, str) else (key,):
                if not _encodable(text_):
                    raise BadBatch(f"Record {rows}: a lone surrogate (\\ud800-\\udfff) is not text.", code="not_utf8")
            column = columns.get(key)
            if column is None:
                column = columns[key] = [None] * rows
                _check_columns(len(columns), limits)
            column.append(value)
        rows += 1
        if kept != len(columns):
            for column in columns.values():
                if len(column) < rows:
                    column.append(None)
        i = _skip(text, i)
        if text.startswith(",", i):
            i = _skip(text, i + 1)
        elif text.startswith("]", i):
            _records_end(text, i + 1, in_object, decoder)
            return columns, rows
        else:
            raise _expected(text, i, "',' or ']'")


def _parse_json(body: bytes, limits: BatchLimits) -> pd.DataFrame:
    text = _text(body)
    try:
        columns, rows = _json_columns(text, limits)
    except json.JSONDecodeError as exc:
        raise BadBatch(
            f"The JSON cannot be parsed: {exc.msg} at line {exc.lineno} column {exc.colno}.", code="parse_error"
        ) from exc
    except RecursionError as exc:
        raise BadBatch("The JSON is nested too deeply to be a batch of records.", code="parse_error") from exc
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise BadBatch(f"The JSON cannot be parsed: {exc}", code="parse_error") from exc
    del text
    if not rows:
        raise BadBatch("The batch has no records.", code="empty")
    if not columns:
        raise BadBatch("The records have no columns.", code="empty")
    return pd.DataFrame(columns)


_BLANK = re.compile(rb"(?:\xef\xbb\xbf)?\s*")


def _parse_csv(body: bytes, limits: BatchLimits) -> pd.DataFrame:
    # Read from the bytes themselves: a decoded copy of a 50 MB body, and a StringIO of it (four bytes
    # a character), cost five times the body before pandas started.
    _check_utf8(body)
    if _BLANK.fullmatch(body):
        raise BadBatch("The batch is empty.", code="empty")
    reader = csv.reader(io.TextIOWrapper(io.BytesIO(body), encoding="utf-8-sig", newline=""))
    try:
        header = next(reader, [])
    except csv.Error as exc:  # e.g. a field over the csv module's 131,072-character limit
        raise BadBatch(f"The CSV header cannot be read: {exc}", code="parse_error") from exc
    _check_columns(len(header), limits)
    _check_column_names(header)
    # pandas takes a first row wider than the header as an index of the extra fields: the values
    # were silently shifted, and a row of a million fields made a million-level index (1.8 GB).
    with contextlib.suppress(csv.Error):  # a field over the csv module's limit: pandas judges the row
        first = next(reader, None)
        if first is not None and len(first) > len(header):
            raise BadBatch(f"Row 1 has {len(first):,} fields; the header names {len(header):,}.", code="parse_error")
    # Lines bound the rows from above (a quoted field may span lines): cheap, and only an upper bound.
    lines = body.count(b"\n") + body.count(b"\r") - body.count(b"\r\n")
    if lines > limits.max_rows + 1:
        _check_rows(lines - 1, limits)
    duplicates = sorted(name for name, n in Counter(header).items() if n > 1)
    if duplicates:
        raise BadBatch(f"Duplicate column names: {', '.join(duplicates)}.", code="duplicate_columns")
    # Every cell takes at least eight bytes once read, an empty one too: 50 MB of commas is 400 MB.
    cells = (lines + 1) * len(header)
    if cells * 8 > limits.max_decompressed_bytes:
        raise BadBatch(
            f"The CSV may hold {cells:,} cells, {cells * 8:,} bytes once read; the limit is "
            f"{limits.max_decompressed_bytes:,}.",
            code="too_large",
            status=413,
        )
    buffer = io.BytesIO(body)
    buffer.seek(len(BOM) if body.startswith(BOM) else 0)
    try:
        frame = pd.read_csv(buffer, encoding="utf-8", index_col=False)
    except (pd.errors.ParserError, ValueError, csv.Error) as exc:
        raise BadBatch(f"The CSV cannot be parsed: {exc}", code="parse_error") from exc
    return frame


# Bytes per value once a column is read into memory; variable-width columns count their encoded size.
PHYSICAL_WIDTHS = {"BOOLEAN": 1, "INT32": 4, "FLOAT": 4, "INT64": 8, "DOUBLE": 8, "INT96": 12}
TEXT_TYPES = (pa.string(), pa.large_string(), pa.binary(), pa.large_binary())


def _decoded_bytes(metadata: pq.FileMetaData) -> int:
    """What the file's columns take in memory once read, from its metadata alone. The stored sizes
    say little: a column of one repeated value is a few bytes however many rows it has. Values, not
    rows, are counted (a list column holds many per row); text takes at least a pointer per value."""
    total = 0
    for i in range(metadata.num_row_groups):
        group = metadata.row_group(i)
        for j in range(group.num_columns):
            column = group.column(j)
            width = PHYSICAL_WIDTHS.get(column.physical_type)
            values = max(column.num_values, group.num_rows)
            total += values * width if width else max(column.total_uncompressed_size, values * 8)
    return total


def _binary_as_text(schema: pa.Schema) -> pa.Schema:
    plain = {pa.binary(): pa.string(), pa.large_binary(): pa.large_string()}
    return pa.schema([field.with_type(plain.get(field.type, field.type)) for field in schema], metadata=schema.metadata)


def _text_bytes(table: pa.Table, names: list[str]) -> int:
    """The bytes the dictionary-read text columns take once each row has its own value."""
    total = 0
    for name in names:
        for chunk in table.column(name).chunks:
            lengths = pc.binary_length(chunk.dictionary)
            total += pc.sum(pc.take(lengths, chunk.indices)).as_py() or 0
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
            pa.BufferReader(body), thrift_string_size_limit=max_bytes, thrift_container_size_limit=1_000_000
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
        schema = parquet.schema_arrow
        duplicates = sorted(name for name, n in Counter(schema.names).items() if n > 1)
        if duplicates:
            raise BadBatch(f"Duplicate column names: {', '.join(duplicates)}.", code="duplicate_columns")
        _check_column_names(schema.names)
        nested = [field.name for field in schema if pa.types.is_nested(field.type)]
        if nested:
            raise BadBatch(
                f"Column {nested[0]!r} holds nested values (lists, structs or maps), which are not supported.",
                code="parse_error",
            )
        # Text is read as a dictionary and measured before it is expanded: one 1 MB string in 3,000
        # rows, a few hundred bytes in the file and in its metadata, used to become 3 GB of text.
        text = [field.name for field in schema if field.type in TEXT_TYPES]
        if text:
            parquet = pq.ParquetFile(
                pa.BufferReader(body),
                read_dictionary=text,
                thrift_string_size_limit=max_bytes,
                thrift_container_size_limit=1_000_000,
            )
        table = parquet.read()
        del parquet
        expanded = decompressed + _text_bytes(table, text)
        if expanded > limits.max_decompressed_bytes:
            raise BadBatch(
                f"The Parquet file holds {expanded:,} bytes once its text is expanded; the limit is "
                f"{limits.max_decompressed_bytes:,}.",
                code="too_large",
                status=413,
            )
        if text:
            # Bytes become text, as JSON and CSV batches have it; bytes that are not UTF-8 fail the
            # cast here (a 400), where they used to be stored and fail every drift job of their window.
            table = table.cast(_binary_as_text(schema))
        # The pandas metadata in the file is the sender's: not JSON, the wrong shape or a dtype that
        # does not exist all fail here, inside the try. The table's buffers are freed column by column
        # as pandas takes them over, so the data is not held twice.
        frame = table.to_pandas(split_blocks=True, self_destruct=True)
        del table
        return frame
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
    _check_column_names(list(frame.columns))
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


def read_stored_columns(handle: BinaryIO, fmt: str, names: list[str]) -> pd.DataFrame:
    """The named columns of a stored batch file (those it has), as read_stored reads them, without
    holding the rest: Parquet reads only their column chunks from the file, CSV keeps only them as it
    parses, JSON (no columns to skip) walks every record but keeps only their values. A drift job
    reads one feature of each of a window's files; reading a 50 MB JSON batch whole took 173 MB."""
    wanted = frozenset(names)
    if fmt == "parquet":
        size = handle.seek(0, io.SEEK_END)
        handle.seek(0)
        parquet = pq.ParquetFile(handle, thrift_string_size_limit=max(size, 1), thrift_container_size_limit=1_000_000)
        present = [name for name in parquet.schema_arrow.names if name in wanted]
        table = parquet.read(columns=present)
        table = table.cast(_binary_as_text(table.schema))
        frame = table.to_pandas(split_blocks=True, self_destruct=True)
    elif fmt == "csv":
        handle.seek(len(BOM) if handle.read(len(BOM)) == BOM else 0)
        frame = pd.read_csv(handle, encoding="utf-8", index_col=False, usecols=lambda column: column in wanted)
    else:
        columns, _ = _json_columns(_text(handle.read()), UNLIMITED, keep=wanted)
        frame = pd.DataFrame(columns)
    frame.columns = [str(c) for c in frame.columns]
    return frame[[name for name in names if name in frame]]
