"""MLflow's REST JSON turned into the mirror's fields: pure functions, no queries (registry/mirror/sync.py
explains what the sync relies on)."""

import json
import logging
import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import yaml

from registry.models import Experiment, Run

logger = logging.getLogger(__name__)

LOGGED_MODEL_SOURCE = re.compile(r"^models:/(m-[0-9a-f]+)")


def ms_to_datetime(ms: int | str | None) -> datetime | None:
    if ms in (None, "", 0, "0"):
        return None
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC)


def _tags(items: Iterable[dict[str, Any]] | None) -> dict[str, str]:
    return {item["key"]: item.get("value", "") for item in items or []}


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None  # JSON columns cannot hold NaN or infinity


def experiment_fields(data: dict[str, Any]) -> dict[str, Any]:
    stage = data.get("lifecycle_stage", "active")
    return {
        "name": data.get("name", ""),
        "lifecycle_stage": Experiment.Lifecycle.DELETED if stage == "deleted" else Experiment.Lifecycle.ACTIVE,
        "artifact_location": data.get("artifact_location", "") or "",
        "tags": _tags(data.get("tags")),
        "created_at": ms_to_datetime(data.get("creation_time")),
        "updated_at": ms_to_datetime(data.get("last_update_time")),
    }


def _dataset(item: dict[str, Any]) -> dict[str, Any]:
    dataset = item.get("dataset", {})
    source = dataset.get("source", "")
    try:  # MLflow stores the source as a JSON document, usually {"uri": ...}
        parsed = json.loads(source)
        if isinstance(parsed, dict):
            source = parsed.get("uri") or parsed.get("url") or parsed.get("path") or source
    except (TypeError, ValueError):
        pass
    return {
        "name": dataset.get("name", ""),
        "digest": dataset.get("digest", ""),
        "source": source,
        "source_type": dataset.get("source_type", ""),
        "context": _tags(item.get("tags")).get("mlflow.data.context", ""),
    }


def run_fields(data: dict[str, Any]) -> dict[str, Any]:
    info, body = data.get("info", {}), data.get("data", {})
    tags = _tags(body.get("tags"))
    metrics: dict[str, float | None] = {}
    steps: dict[str, int] = {}
    for metric in body.get("metrics", []):
        metrics[metric["key"]] = _finite(metric.get("value"))
        steps[metric["key"]] = int(metric.get("step", 0) or 0)
    return {
        "name": info.get("run_name") or tags.get("mlflow.runName", ""),
        "status": info.get("status", Run.Status.RUNNING),
        "lifecycle_stage": info.get("lifecycle_stage", "active"),
        "start_time": ms_to_datetime(info.get("start_time")),
        "end_time": ms_to_datetime(info.get("end_time")),
        "user": tags.get("mlflow.user") or info.get("user_id", "") or "",
        "artifact_uri": info.get("artifact_uri", "") or "",
        "params": {p["key"]: p.get("value", "") for p in body.get("params", [])},
        "metrics": metrics,
        "metric_steps": steps,
        "tags": tags,
        "source_name": tags.get("mlflow.source.name", "")[:1000],
        "source_type": tags.get("mlflow.source.type", "")[:20],
        "git_commit": tags.get("mlflow.source.git.commit", "")[:64],
        "datasets": [_dataset(item) for item in data.get("inputs", {}).get("dataset_inputs", [])],
        "logged_models": [
            {"model_id": out.get("model_id", ""), "step": int(out.get("step", 0) or 0)}
            for out in data.get("outputs", {}).get("model_outputs", [])
        ],
    }


def run_watermark_ms(data: dict[str, Any]) -> int:
    info = data.get("info", {})
    return max(int(info.get("start_time") or 0), int(info.get("end_time") or 0))


def registered_model_fields(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": data.get("description", "") or "",
        "tags": _tags(data.get("tags")),
        "aliases": {a["alias"]: int(a["version"]) for a in data.get("aliases", [])},
        "created_at": ms_to_datetime(data.get("creation_timestamp")),
        "updated_at": ms_to_datetime(data.get("last_updated_timestamp")),
    }


def version_fields(data: dict[str, Any], *, aliases: dict[str, int]) -> dict[str, Any]:
    version = int(data["version"])
    source = data.get("source", "") or ""
    logged_model = LOGGED_MODEL_SOURCE.match(source)
    return {
        "run_id": data.get("run_id", "") or "",
        "model_id": data.get("model_id") or (logged_model.group(1) if logged_model else ""),
        "status": data.get("status", "") or "",
        "source": source[:1000],
        "description": data.get("description", "") or "",
        "tags": _tags(data.get("tags")),
        "aliases": sorted(alias for alias, v in aliases.items() if v == version),
        "created_at": ms_to_datetime(data.get("creation_timestamp")),
        "updated_at": ms_to_datetime(data.get("last_updated_timestamp")),
    }


def _column_type(spec: dict[str, Any]) -> str:
    kind = spec.get("type", "")
    if kind == "tensor":
        tensor = spec.get("tensor-spec", {})
        return f"tensor<{tensor.get('dtype', '?')}>{list(tensor.get('shape', []))}"
    if kind == "array":
        return f"array<{_column_type(spec.get('items', {}))}>"
    if kind == "object":
        inner = ", ".join(f"{p}: {_column_type(s)}" for p, s in spec.get("properties", {}).items())
        return f"object<{inner}>"
    return str(kind)


def signature_columns(schema_json: str | None) -> list[dict[str, Any]] | None:
    """One side of an MLmodel signature (a JSON string) as [{"name", "type", "required"}]."""
    if not schema_json:
        return None
    specs = json.loads(schema_json) if isinstance(schema_json, str) else schema_json
    return [
        {"name": spec.get("name"), "type": _column_type(spec), "required": bool(spec.get("required", True))}
        for spec in specs
    ]


def signature_from_mlmodel(text: str) -> tuple[list[dict[str, Any]] | None, list[dict[str, Any]] | None]:
    """(inputs, outputs) from an MLmodel file; (None, None) when the model has no signature."""
    document = yaml.safe_load(text) or {}
    signature = document.get("signature") or {}
    return signature_columns(signature.get("inputs")), signature_columns(signature.get("outputs"))
