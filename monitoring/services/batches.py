"""Inference batches: stored with their schema check, binned against the current reference."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from mlopsportal.dispatch import queue_after_commit
from monitoring import profiles
from monitoring.ingest import BadBatch, event_times, parse_batch
from monitoring.models import (
    Alert,
    BatchHistogram,
    InferenceBatch,
    Monitor,
    SchemaMismatch,
    monitoring_storage,
)
from monitoring.schema import declared_types_check, received_schema, schema_compare
from monitoring.services import alerts, files, references

BATCH_BIN = "monitoring.tasks.batch_bin"  # queued by name: services never import tasks


@dataclass
class IngestResult:
    batch: InferenceBatch
    created: bool
    mismatch: SchemaMismatch | None


def batch_ingest(
    *,
    monitor: Monitor,
    body: bytes,
    fmt: str,
    idempotency_key: str = "",
    received_at: datetime | None = None,
    bin_in_background: bool = True,
    declared_types: dict[str, str] | None = None,
) -> IngestResult:
    """Stores a batch and its schema check, or refuses it whole. A repeated Idempotency-Key returns
    the first batch and stores nothing. The batch is binned by a worker after commit, unless the
    caller bins it itself (`bin_in_background=False`: the demo, which computes drift at once)."""
    if idempotency_key:
        existing = InferenceBatch.objects.filter(monitor=monitor, idempotency_key=idempotency_key).first()
        if existing is not None:
            # A retry sends the same bytes; other bytes under the same key are another batch, and
            # answering with the first one would drop them silently.
            if existing.sha256 != hashlib.sha256(body).hexdigest():
                raise BadBatch(
                    f"Idempotency-Key {idempotency_key!r} was used for a different batch (received "
                    f"{existing.received_at:%Y-%m-%d %H:%M:%S} UTC); use a new key for new data.",
                    code="idempotency_key_reused",
                    status=422,
                )
            return IngestResult(existing, False, getattr(existing, "schema_mismatch", None))
    parsed = parse_batch(body, fmt=fmt, max_bytes=settings.MONITORING_MAX_BATCH_BYTES, limits=files.batch_limits())
    frame = parsed.frame
    # Parquet carries its own types; a declaration only speaks for JSON and CSV.
    declared = {} if parsed.typed else (declared_types or {})
    if not parsed.typed and monitor.require_declared_types and not declared:
        raise BadBatch(
            f"{monitor.name} checks exact input types, which JSON and CSV cannot show: declare them in an "
            "X-Column-Types header (e.g. feature_a=float32,feature_b=float64) or send Parquet.",
            code="types_required",
        )
    contradicted = declared_types_check(frame, declared)
    if contradicted:
        raise BadBatch("The declared column types do not match the data: " + "; ".join(contradicted) + ".")
    received_at = received_at or timezone.now()
    event_time = received_at
    if monitor.event_time_column:
        event_time = event_times(frame, monitor.event_time_column).min().to_pydatetime()
    ignore = {monitor.prediction_column, monitor.label_column, monitor.event_time_column} - {""}
    diffs = schema_compare(monitor.expected_schema, frame, typed=parsed.typed, ignore=ignore, declared=declared)
    storage = monitoring_storage()
    name = files.file_stored(
        monitor, f"batches/monitor-{monitor.pk}/{received_at:%Y/%m/%d}/{secrets.token_hex(8)}.{fmt}", body, alert=True
    )
    try:
        with transaction.atomic():
            batch = InferenceBatch.objects.create(
                monitor=monitor,
                idempotency_key=idempotency_key,
                received_at=received_at,
                event_time=event_time,
                rows=len(frame),
                columns=received_schema(frame, typed=parsed.typed, declared=declared),
                format=fmt,
                file_name=name,
                size_bytes=len(body),
                sha256=hashlib.sha256(body).hexdigest(),
            )
            mismatch = None
            if diffs:
                mismatch = SchemaMismatch.objects.create(
                    monitor=monitor, batch=batch, diffs=[d.to_dict() for d in diffs]
                )
                alerts.alert_raise(
                    monitor=monitor,
                    kind=Alert.Kind.SCHEMA_MISMATCH,
                    # One alert per distinct change, whichever batch repeats it.
                    key_suffix=hashlib.sha1(
                        repr(sorted((d.column, d.change, d.received) for d in diffs)).encode()
                    ).hexdigest()[:16],
                    severity=Alert.Severity.CRITICAL,
                    title=f"Schema mismatch on {monitor.name}: "
                    + ", ".join(f"{d.column} ({d.change.replace('_', ' ')})" for d in diffs),
                    detail="\n".join(d.detail for d in diffs),
                    batch=batch,
                )
            if bin_in_background:
                queue_after_commit(BATCH_BIN, batch.pk)
    except IntegrityError:
        # A concurrent retry with the same key won: keep its batch, drop our file.
        storage.delete(name)
        existing = InferenceBatch.objects.filter(monitor=monitor, idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return IngestResult(existing, False, getattr(existing, "schema_mismatch", None))
    except BaseException:
        storage.delete(name)
        raise
    return IngestResult(batch, True, mismatch)


def batch_bin(*, batch_id: int) -> InferenceBatch:
    """Bins a stored batch against the monitor's current reference (idempotent)."""
    batch = InferenceBatch.objects.select_related("monitor").get(pk=batch_id)
    reference = references.reference_current(batch.monitor)
    if reference is None:
        return batch  # binned when a reference arrives (drift jobs bin what is missing)
    if batch.histograms.filter(reference=reference).exists():
        return batch
    profs = {name: profiles.profile_from_dict(data) for name, data in reference.profile.items()}
    # Only the profiled columns: a wide batch's other columns never need to be in memory.
    hists = profiles.bin_frame(profs, files.batch_columns(batch, list(profs)))
    with transaction.atomic():
        BatchHistogram.objects.bulk_create(
            [
                BatchHistogram(batch=batch, reference=reference, feature=name, histogram=h.to_dict())
                for name, h in hists.items()
            ],
            ignore_conflicts=True,
        )
        InferenceBatch.objects.filter(pk=batch.pk).update(status=InferenceBatch.Status.BINNED, binned_at=timezone.now())
    batch.refresh_from_db()
    return batch
