"""Reads from MLflow for monitors: a version's input signature, its training run, a run's artifact.
Short timeouts and no retries: these run inside a form submit or an API call."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings

from monitoring.schema import schema_from_signature
from registry.errors import MlflowRejected, MlflowUnavailable
from registry.mirror.sync_fields import signature_from_mlmodel
from registry.mlflow_client import MlflowRestClient

logger = logging.getLogger(__name__)


def _client() -> MlflowRestClient:
    # No retries: a form submit or an API call must not wait on an absent server.
    return MlflowRestClient(retries=0)


def _version_number(client: MlflowRestClient, *, model_name: str, alias: str, version: int | None) -> int | None:
    return version or (client.alias_version(name=model_name, alias=alias) if alias else None)


def training_run_id(*, model_name: str, alias: str = "", version: int | None = None) -> str:
    """The run that produced the version (pinned, or the alias's holder now); "" when unknown."""
    client = _client()
    try:
        number = _version_number(client, model_name=model_name, alias=alias, version=version)
        found = client.model_version(name=model_name, version=number) if number else None
    except (MlflowUnavailable, MlflowRejected) as exc:  # the caller then asks for a run id
        logger.info("No version for %s: %s", model_name, exc)
        return ""
    return (found or {}).get("run_id", "")


def artifact_read(*, run_id: str, artifact_path: str, max_bytes: int) -> bytes:
    """The bytes of one artifact of a run; PortalError (400) when MLflow cannot give it."""
    import mlflow.artifacts

    from registry.errors import PortalError

    with tempfile.TemporaryDirectory(prefix="portal-reference-") as tmp:
        try:
            # The URI passed explicitly: setting MLflow's global one would leak into every later caller.
            local = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=artifact_path, dst_path=tmp, tracking_uri=settings.MLFLOW_TRACKING_URI
            )
        except Exception as exc:
            raise PortalError(f"MLflow could not give artifact {artifact_path!r} of run {run_id}: {exc}") from exc
        path = Path(local)
        if not path.is_file():
            raise PortalError(f"Artifact {artifact_path!r} of run {run_id} is a directory; name one file.")
        if path.stat().st_size > max_bytes:
            raise PortalError(f"Artifact {artifact_path!r} is {path.stat().st_size} bytes; the limit is {max_bytes}.")
        return path.read_bytes()


def signature_fetch(*, model_name: str, alias: str = "", version: int | None = None) -> list[dict[str, Any]] | None:
    """The model's input schema as [{"name", "type", "required"}], or None when MLflow does not
    answer, the model is unknown or has no signature (the caller then lets the user fill it in).
    Read the way the registry's sync reads signatures: the version's MLmodel file over REST."""
    client = _client()
    try:
        number = _version_number(client, model_name=model_name, alias=alias, version=version)
        location = client.model_version_download_uri(name=model_name, version=number) if number else None
        text = client.artifact_text(f"{location.rstrip('/')}/MLmodel") if location else None
    except (MlflowUnavailable, MlflowRejected) as exc:
        logger.info("No signature for %s (%s): %s", model_name, alias or version, exc)
        return None
    inputs, _outputs = signature_from_mlmodel(text) if text else (None, None)
    return schema_from_signature(inputs) if inputs else None
