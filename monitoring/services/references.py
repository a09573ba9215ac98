"""Reference datasets: profiled once, the current one is what drift is judged against."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from monitoring import profiles
from monitoring.drift import MIN_REFERENCE_ROWS
from monitoring.ingest import BadBatch, parse_batch
from monitoring.models import (
    Monitor,
    ReferenceProfile,
    monitoring_storage,
)
from monitoring.schema import schema_from_frame
from monitoring.services import files, monitors
from monitoring.signatures import artifact_read, training_run_id
from registry.errors import PortalError


@transaction.atomic
def reference_upload(
    *,
    actor: AbstractBaseUser | None,
    monitor_id: int,
    body: bytes,
    fmt: str,
    source: str = ReferenceProfile.Source.UPLOAD,
) -> ReferenceProfile:
    """Profiles a reference dataset once and makes it the monitor's current reference."""
    monitor = Monitor.objects.select_for_update().select_related("project").get(pk=monitor_id)
    if actor is not None:
        monitors.ensure_editable(monitor.project, actor)
    # The same byte limit as a batch: the API reads one byte past it, so a longer body arrives cut
    # short, and a cut CSV still parses (its last row silently shortened).
    frame = parse_batch(body, fmt=fmt, max_bytes=settings.MONITORING_MAX_BATCH_BYTES, limits=files.batch_limits()).frame
    rows = len(frame)
    if rows < MIN_REFERENCE_ROWS:
        raise BadBatch(
            f"A reference needs at least {MIN_REFERENCE_ROWS} rows to judge drift against; this one has "
            f"{rows}. With fewer, a test has no power and a distance reads noise as drift.",
            code="reference_too_small",
        )
    if not monitor.expected_schema:
        not_inputs = {monitor.prediction_column, monitor.label_column, monitor.event_time_column} - {""}
        monitor.expected_schema = schema_from_frame(frame.drop(columns=[c for c in not_inputs if c in frame]))
        monitor.save(update_fields=["expected_schema", "updated_at"])
    kinds = monitors.feature_kinds(monitor, frame)
    missing = [name for name in kinds if name not in frame]
    if missing:
        raise BadBatch(f"The reference lacks the monitor's features: {', '.join(missing)}.", code="missing_features")
    # Column by column, and each column let go once profiled: the columns the profile does not use
    # first (a near-cap file is 128 MiB read), then each feature, so the frame shrinks as the profile
    # grows and a column's profiling (one float64 copy of it) comes on top of what is left.
    frame = frame.drop(columns=[name for name in frame.columns if name not in kinds])
    summary: dict[str, Any] = {}
    try:
        for name, kind in kinds.items():
            summary[name] = profiles.profile_column(frame.pop(name), kind=kind).to_dict()
    except ValueError as exc:
        raise BadBatch(str(exc), code="bad_reference") from exc
    del frame
    try:
        # Values near the float limit (1e308) make sums and spreads overflow to inf, which is not JSON.
        json.dumps(summary, allow_nan=False)
    except ValueError as exc:
        raise BadBatch(
            "The reference's values are too large to summarise (a sum or spread overflows to infinity).",
            code="bad_reference",
        ) from exc
    ReferenceProfile.objects.filter(monitor=monitor, is_current=True).update(is_current=False)
    storage = monitoring_storage()
    # The person uploading sees the refusal; no alert (it would be rolled back with this transaction).
    name = files.file_stored(
        monitor, f"references/monitor-{monitor.pk}/{timezone.now():%Y%m%dT%H%M%S}.{fmt}", body, alert=False
    )
    try:
        return ReferenceProfile.objects.create(
            monitor=monitor, file_name=name, rows=rows, profile=summary, source=source, created_by=actor
        )
    except BaseException:
        storage.delete(name)  # the transaction rolls the rows back; the file is ours to remove
        raise


def reference_from_mlflow(
    *, actor: AbstractBaseUser | None, monitor_id: int, artifact_path: str, run_id: str = ""
) -> ReferenceProfile:
    """Profiles a dataset logged as an artifact (CSV or Parquet) of a run in MLflow; without a run id,
    of the run that trained the version the monitor watches."""
    monitor = Monitor.objects.select_related("project").get(pk=monitor_id)
    if actor is not None:
        monitors.ensure_editable(monitor.project, actor)
        monitors.ensure_model_usable(actor, monitor.model_name)
        if run_id:
            monitors.ensure_run_readable(actor, run_id)
    fmt = next((ext for ext in ("csv", "parquet") if artifact_path.lower().endswith(f".{ext}")), None)
    if fmt is None:
        raise PortalError(
            "The artifact must be a .csv or .parquet file.", fields={"artifact_path": ["CSV or Parquet."]}
        )
    run_id = run_id or training_run_id(model_name=monitor.model_name, alias=monitor.alias, version=monitor.version)
    if not run_id:
        raise PortalError(f"MLflow does not know which run trained {monitor.model_ref}; give the run id.")
    body = artifact_read(run_id=run_id, artifact_path=artifact_path, max_bytes=settings.MONITORING_MAX_BATCH_BYTES)
    return reference_upload(
        actor=actor, monitor_id=monitor.pk, body=body, fmt=fmt, source=ReferenceProfile.Source.MLFLOW
    )


def reference_current(monitor: Monitor) -> ReferenceProfile | None:
    return monitor.references.filter(is_current=True).first()
