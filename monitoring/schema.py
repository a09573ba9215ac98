"""Compare an inference batch with the input schema a monitor expects (the model's signature).

Types use MLflow's signature names: double (float64), float (float32), long (int64), integer (int32),
boolean, string, binary, datetime. A typed batch (Parquet) is compared type for type, so float64
sent where float32 is expected is a change; an untyped one (CSV, JSON) only says number, string or
boolean, and is compared by family, so a number is fine where float32 is expected but a string is
not. JSON and CSV cannot show float32 against float64: a producer that wants its exact types
checked declares them (`X-Column-Types: feature_a=float32,feature_b=float64`), and a monitor can
require that declaration of every untyped batch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

NUMBER_TYPES = {"double", "float", "long", "integer"}
FAMILY = {
    "double": "number",
    "float": "number",
    "long": "number",
    "integer": "number",
    "number": "number",
    "boolean": "boolean",
    "string": "string",
    "binary": "binary",
    "datetime": "datetime",
}
# What a producer may declare for a column of an untyped batch: MLflow's names and NumPy's.
DECLARED_NAMES = {
    **{name: name for name in ("double", "float", "long", "integer", "boolean", "string", "datetime")},
    "float64": "double",
    "float32": "float",
    "int64": "long",
    "int32": "integer",
    "bool": "boolean",
    "str": "string",
    "object": "string",
    "datetime64": "datetime",
}
MAX_DECLARED_COLUMNS = 10_000


def declared_types_parse(header: str) -> dict[str, str]:
    """`name=type,name=type` -> {name: MLflow type}; ValueError says what is wrong."""
    declared: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in header.split(","))):
        name, sep, kind = part.partition("=")
        name, kind = name.strip(), kind.strip().lower()
        if not sep or not name:
            raise ValueError(f"“{part[:80]}” is not name=type.")
        if kind not in DECLARED_NAMES:
            raise ValueError(f"“{kind[:40]}” is not a type (use one of: {', '.join(sorted(DECLARED_NAMES))}).")
        declared[name] = DECLARED_NAMES[kind]
        if len(declared) > MAX_DECLARED_COLUMNS:
            raise ValueError(f"More than {MAX_DECLARED_COLUMNS} columns declared.")
    return declared


def declared_types_check(frame: pd.DataFrame, declared: dict[str, str]) -> list[str]:
    """Declarations the data contradicts: a column declared but absent, or declared a number while
    its values are text (and so on for each family). Empty when the declaration can be trusted."""
    problems = []
    for name, kind in declared.items():
        if name not in frame:
            problems.append(f"{name} is declared {kind} but not in the batch")
            continue
        seen = mlflow_type_of(frame[name].dtype, typed=False)
        if frame[name].notna().any() and FAMILY.get(seen) != FAMILY.get(kind):
            problems.append(f"{name} is declared {kind} but its values are {seen}")
    return problems


# Types a strict model accepts in place of the expected one without losing information.
SAFE_WIDENINGS = {("integer", "long"), ("integer", "double"), ("long", "double"), ("float", "double")}


class Change:
    MISSING = "missing"
    EXTRA = "extra"
    TYPE = "type_change"
    NULLS = "nulls_in_required"


@dataclass(frozen=True)
class SchemaDiff:
    column: str
    change: str
    expected: str  # "" for an extra column
    received: str  # "" for a missing column
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mlflow_type_of(dtype: Any, *, typed: bool) -> str:
    """The MLflow signature type of a pandas dtype; for untyped input, only its family."""
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_numeric_dtype(dtype):
        if not typed:
            return "number"
        if pd.api.types.is_float_dtype(dtype):
            return "float" if str(dtype).lower() in ("float32", "float16") else "double"
        return "integer" if str(dtype).lower() in ("int32", "int16", "int8", "uint8", "uint16") else "long"
    return "string"


def received_schema(
    frame: pd.DataFrame, *, typed: bool, declared: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Each column's type as sent: the data's own for a typed batch, the producer's declaration for
    a declared column of an untyped one, else only the family."""
    declared = declared or {}
    return [
        {
            "name": str(name),
            "type": declared.get(str(name)) or mlflow_type_of(frame[name].dtype, typed=typed),
            "nulls": int(frame[name].isna().sum()),
        }
        for name in frame.columns
    ]


def _type_compatible(expected: str, received: str, *, typed: bool) -> bool:
    if expected == received:
        return True
    if not typed:
        return FAMILY.get(expected, expected) == FAMILY.get(received, received)
    return False


def schema_compare(
    expected: list[dict[str, Any]],
    frame: pd.DataFrame,
    *,
    typed: bool,
    ignore: set[str] | None = None,
    declared: dict[str, str] | None = None,
) -> list[SchemaDiff]:
    """Differences between the expected inputs and a batch's columns, in the order an engineer reads them:
    missing inputs, type changes, nulls in required inputs, then unexpected extra inputs.

    `ignore` names columns that are not model inputs but are allowed (prediction, label, event time);
    `declared` the exact types a producer of an untyped batch declared, compared type for type."""
    ignore = ignore or set()
    declared = declared or {}
    received = {col["name"]: col for col in received_schema(frame, typed=typed, declared=declared)}
    expected_names = [str(col["name"]) for col in expected if col.get("name")]
    diffs: list[SchemaDiff] = []
    for col in expected:
        name = col.get("name")
        if not name:
            continue
        want = str(col.get("type", "double"))
        required = bool(col.get("required", True))
        got = received.get(name)
        if got is None:
            if required:
                diffs.append(SchemaDiff(name, Change.MISSING, want, "", f"{name}: expected {want}, not received"))
            continue
        exact = typed or name in declared
        if not _type_compatible(want, got["type"], typed=exact):
            if exact and (want, got["type"]) in SAFE_WIDENINGS:
                note = "wider than expected; a strict model rejects it"
            elif FAMILY.get(want) != FAMILY.get(got["type"]):
                note = f"{FAMILY.get(got['type'], got['type'])} where a {FAMILY.get(want, want)} is expected"
            else:
                note = "narrower or different precision"
            diffs.append(
                SchemaDiff(
                    name, Change.TYPE, want, got["type"], f"{name}: expected {want}, received {got['type']} ({note})"
                )
            )
        if required and got["nulls"]:
            diffs.append(
                SchemaDiff(name, Change.NULLS, want, got["type"], f"{name}: required, {got['nulls']} null value(s)")
            )
    for name, got in received.items():
        if name not in expected_names and name not in ignore:
            diffs.append(
                SchemaDiff(name, Change.EXTRA, "", got["type"], f"{name}: not expected, received {got['type']}")
            )
    return diffs


def schema_from_frame(frame: pd.DataFrame, *, typed: bool = True) -> list[dict[str, Any]]:
    """An expected schema read off a reference frame, for monitors whose model has no signature."""
    return [
        {"name": col["name"], "type": col["type"] if col["type"] != "number" else "double", "required": True}
        for col in received_schema(frame, typed=typed)
    ]


def schema_from_signature(inputs: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Normalises MLflow signature inputs ({"name", "type", "required"?}) to the monitor's schema."""
    out: list[dict[str, Any]] = []
    for col in inputs or []:
        if not col.get("name"):
            continue
        out.append(
            {"name": str(col["name"]), "type": str(col.get("type", "double")), "required": col.get("required", True)}
        )
    return out
