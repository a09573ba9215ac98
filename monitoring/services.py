"""Monitoring writes: monitors, references, ingest tokens, batches, alerts."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from mlopsportal.dispatch import queue_after_commit
from monitoring import profiles
from monitoring.drift import MIN_REFERENCE_ROWS
from monitoring.ingest import BadBatch, BatchLimits, event_times, parse_batch
from monitoring.models import (
    Alert,
    InferenceBatch,
    IngestToken,
    Monitor,
    Notification,
    NotificationChannel,
    ReferenceProfile,
    RetrainTrigger,
    SchemaMismatch,
    monitoring_storage,
)
from monitoring.schema import NUMBER_TYPES, declared_types_check, received_schema, schema_compare, schema_from_frame
from monitoring.signatures import artifact_read, signature_fetch, training_run_id
from registry import access
from registry.errors import Conflict, PermissionDenied, PortalError, Unavailable
from registry.mirror.sync import sync_execute
from registry.mlflow_client import MlflowRestClient
from registry.models import Project, RegisteredModel, SyncRun
from registry.tokens import secret_hash, secret_new

TOKEN_PREFIX = "mpi_"  # marks a monitoring ingest token in logs and secret scanners

logger = logging.getLogger(__name__)


def batch_limits() -> BatchLimits:
    return BatchLimits(
        max_rows=settings.MONITORING_MAX_ROWS,
        max_columns=settings.MONITORING_MAX_COLUMNS,
        max_decompressed_bytes=settings.MONITORING_MAX_DECOMPRESSED_BYTES,
    )


class NotFound(PortalError):
    status_code = 404
    code = "not_found"


class Unauthenticated(PortalError):
    status_code = 401
    code = "not_authenticated"


def monitor_editable_by(*, monitor_project: Project, user: AbstractBaseUser) -> bool:
    """Admins edit any monitor; engineers the monitors of projects they are members of."""
    return access.member_may(user=user, project=monitor_project, permission="monitoring.change_monitor")


def ensure_editable(project: Project, user: AbstractBaseUser) -> None:
    if not monitor_editable_by(monitor_project=project, user=user):
        raise PermissionDenied(
            "Only the project's members with the Engineer role, or an admin, can change its monitors."
        )


# ---------------------------------------------------------------- monitors


MONITOR_FIELDS = (
    "prediction_column",
    "label_column",
    "event_time_column",
    "numeric_method",
    "numeric_threshold",
    "categorical_method",
    "categorical_threshold",
    "drift_share",
    "window_seconds",
    "window_rows",
    "volume_drop_below",
    "volume_spike_above",
    "require_declared_types",
    "is_active",
)


def _ensure_model_usable(actor: AbstractBaseUser, model_name: str) -> None:
    """The model must be in the mirror and visible to the actor. A model of a project the actor may
    not see is answered exactly like one that does not exist: its signature and training data would
    otherwise reach the monitor through the name alone."""
    if access.model_named(user=actor, name=model_name) is not None:
        return
    if not RegisteredModel.objects.filter(name=model_name).exists():
        # Registered in MLflow a moment ago, perhaps: mirror that one model now instead of making
        # the user wait for the next sync. A new model belongs to no project, so anyone may use it.
        sync = sync_execute(kind=SyncRun.Kind.MODEL, model_name=model_name)
        if sync.status == SyncRun.Status.FAILED:
            raise Unavailable(f"Could not look {model_name!r} up in MLflow: {sync.error}")
        if access.model_named(user=actor, name=model_name) is not None:
            return
    raise PortalError(f"No registered model named {model_name!r}.", fields={"model_name": ["Unknown model."]})


def _experiment_in_mlflow(run_id: str) -> str | None:
    found = MlflowRestClient().run(run_id)
    return found["info"]["experiment_id"] if found else None


def _ensure_run_readable(actor: AbstractBaseUser, run_id: str) -> None:
    """The run's artifacts are read only when the actor may see the run (mirrored or, for a run the
    sync has not seen yet, its experiment as MLflow reports it)."""
    if not access.run_usable(user=actor, run_id=run_id, experiment_in_mlflow=_experiment_in_mlflow):
        raise PortalError(f"MLflow has no run {run_id!r}.", fields={"run_id": ["Unknown run."]})


@transaction.atomic
def monitor_create(
    *,
    actor: AbstractBaseUser | None,
    project: Project,
    name: str,
    model_name: str,
    alias: str = "champion",
    version: int | None = None,
    expected_schema: list[dict[str, Any]] | None = None,
    **options: Any,
) -> Monitor:
    if actor is not None:
        if not actor.has_perm("monitoring.add_monitor"):
            raise PermissionDenied("Your role cannot create monitors.")
        ensure_editable(project, actor)
    if not alias and not version:
        raise PortalError("Name an alias to follow or a version to pin.", fields={"alias": ["Alias or version."]})
    if actor is not None:
        _ensure_model_usable(actor, model_name)
    if Monitor.objects.filter(project=project, name=name).exists():
        raise PortalError(f"The project already has a monitor named “{name}”.", fields={"name": ["Taken."]})
    if expected_schema is None:
        # Pre-filled from the model's signature; empty when MLflow has none (the reference fills it).
        expected_schema = signature_fetch(model_name=model_name, alias=alias, version=version) or []
    unknown = set(options) - set(MONITOR_FIELDS)
    if unknown:
        raise TypeError(f"Unknown monitor options: {', '.join(sorted(unknown))}")
    return Monitor.objects.create(
        project=project,
        name=name,
        model_name=model_name,
        alias=alias,
        version=version,
        expected_schema=expected_schema,
        created_by=actor,
        **options,
    )


@transaction.atomic
def monitor_update(*, actor: AbstractBaseUser, monitor_id: int, **fields: Any) -> Monitor:
    monitor = Monitor.objects.select_for_update().select_related("project").get(pk=monitor_id)
    ensure_editable(monitor.project, actor)
    allowed = {*MONITOR_FIELDS, "name", "model_name", "alias", "version", "expected_schema"}
    if "model_name" in fields:
        _ensure_model_usable(actor, fields["model_name"])
    for key, value in fields.items():
        if key not in allowed:
            raise TypeError(f"Unknown monitor field {key}")
        setattr(monitor, key, value)
    monitor.save()
    return monitor


def feature_kinds(monitor: Monitor, frame: pd.DataFrame | None = None) -> dict[str, str]:
    """Feature -> numeric/categorical from the expected schema, plus the prediction and label columns."""
    kinds = {
        str(col["name"]): profiles.FeatureKind.NUMERIC
        if str(col.get("type")) in NUMBER_TYPES
        else profiles.FeatureKind.CATEGORICAL
        for col in monitor.expected_schema
        if col.get("name")
    }
    for column in (monitor.prediction_column, monitor.label_column):
        if column and frame is not None and column in frame:
            kinds[column] = profiles.infer_kind(frame[column])
    return kinds


# ---------------------------------------------------------------- references


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
        ensure_editable(monitor.project, actor)
    # The same byte limit as a batch: the API reads one byte past it, so a longer body arrives cut
    # short, and a cut CSV still parses (its last row silently shortened).
    frame = parse_batch(body, fmt=fmt, max_bytes=settings.MONITORING_MAX_BATCH_BYTES, limits=batch_limits()).frame
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
    kinds = feature_kinds(monitor, frame)
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
    name = file_stored(
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
        ensure_editable(monitor.project, actor)
        _ensure_model_usable(actor, monitor.model_name)
        if run_id:
            _ensure_run_readable(actor, run_id)
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


# ---------------------------------------------------------------- ingest tokens


@dataclass
class NewToken:
    token: IngestToken
    key: str  # shown once, never stored


def ingest_token_create(*, actor: AbstractBaseUser | None, monitor: Monitor, name: str = "") -> NewToken:
    if actor is not None:
        ensure_editable(monitor.project, actor)
    key = secret_new(TOKEN_PREFIX)
    token = IngestToken.objects.create(
        monitor=monitor, name=name, prefix=key[:12], key_hash=secret_hash(key), created_by=actor
    )
    return NewToken(token=token, key=key)


def ingest_token_revoke(*, actor: AbstractBaseUser, token_id: int) -> IngestToken:
    token = IngestToken.objects.select_related("monitor__project").get(pk=token_id)
    ensure_editable(token.monitor.project, actor)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def ingest_token_check(*, monitor_id: int, key: str) -> Monitor:
    """The monitor a key may post to; 401 for a missing, wrong or revoked key, 404 for an unknown monitor."""
    if not key:
        raise Unauthenticated("Send the monitor's ingest token as “Authorization: Bearer <token>”.")
    live = IngestToken.objects.select_related("monitor").filter(revoked_at__isnull=True)
    token = live.filter(key_hash=secret_hash(key)).first()
    if token is None:
        if not Monitor.objects.filter(pk=monitor_id).exists():
            raise NotFound(f"No monitor {monitor_id}.")
        raise Unauthenticated("The ingest token is wrong or revoked.")
    if token.monitor_id != monitor_id:
        # A valid key for another monitor learns nothing about this one.
        raise NotFound(f"No monitor {monitor_id} for this token.")
    IngestToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token.monitor


# ---------------------------------------------------------------- batches


class StorageRefused(PortalError):
    """The store of batch files refused a file: full (507, nothing to do but wait for space) or not
    writable (503: read-only, permissions). Either way nothing was stored and a retry is safe."""

    retry_after = 60

    def __init__(self, message: str, *, full: bool) -> None:
        super().__init__(message)
        self.status_code = 507 if full else 503
        self.code = "storage_full" if full else "storage_unavailable"


def file_stored(monitor: Monitor, path: str, body: bytes, *, alert: bool) -> str:
    """Saves a batch or reference file in the monitoring storage and returns its name. A disk that is
    full or read-only refuses it whole: what a full disk let through is removed, the caller gets
    StorageRefused, and with `alert` the monitor gets one critical alert per cause (raised once, kept
    open while the cause lasts) so that someone sees why batches stopped arriving."""
    storage = monitoring_storage()
    try:
        return storage.save(path, ContentFile(body))
    except OSError as exc:
        with contextlib.suppress(OSError):
            if storage.exists(path):
                storage.delete(path)
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        cause = "is full" if full else "cannot be written to (read-only, or no permission)"
        if alert:
            alert_raise(
                monitor=monitor,
                kind=Alert.Kind.STORAGE,
                key_suffix="full" if full else "unwritable",
                severity=Alert.Severity.CRITICAL,
                title=f"Batches for {monitor.name} cannot be stored: the batch store {cause}",
                detail=f"{exc.strerror or exc} ({errno.errorcode.get(exc.errno or 0, 'no errno')}), writing {path}. "
                "Serving systems get 507 or 503 with Retry-After and nothing is stored until this is fixed.",
            )
        logger.error("Monitoring storage refused %s: %s", path, exc)
        raise StorageRefused(
            f"The portal's batch store {cause}: nothing was stored. Try again later.", full=full
        ) from exc


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
    parsed = parse_batch(body, fmt=fmt, max_bytes=settings.MONITORING_MAX_BATCH_BYTES, limits=batch_limits())
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
    name = file_stored(
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
                alert_raise(
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
                from monitoring.tasks import batch_bin

                queue_after_commit(batch_bin, batch.pk)
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


def batch_frame(batch: InferenceBatch) -> pd.DataFrame:
    from monitoring.ingest import read_stored

    with monitoring_storage().open(batch.file_name, "rb") as handle:
        return read_stored(handle.read(), batch.format)


def batch_columns(batch: InferenceBatch, names: list[str]) -> pd.DataFrame:
    """The named columns of a stored batch (those it has), read as batch_frame reads them."""
    from monitoring.ingest import read_stored_columns

    with monitoring_storage().open(batch.file_name, "rb") as handle:
        return read_stored_columns(handle, batch.format, names)


def batch_bin(*, batch_id: int) -> InferenceBatch:
    """Bins a stored batch against the monitor's current reference (idempotent)."""
    batch = InferenceBatch.objects.select_related("monitor").get(pk=batch_id)
    reference = reference_current(batch.monitor)
    if reference is None:
        return batch  # binned when a reference arrives (drift jobs bin what is missing)
    if batch.histograms.filter(reference=reference).exists():
        return batch
    profs = {name: profiles.profile_from_dict(data) for name, data in reference.profile.items()}
    # Only the profiled columns: a wide batch's other columns never need to be in memory.
    hists = profiles.bin_frame(profs, batch_columns(batch, list(profs)))
    from monitoring.models import BatchHistogram

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


# ---------------------------------------------------------------- alerts


_SEVERITY_RANK = {Alert.Severity.INFO: 0, Alert.Severity.WARNING: 1, Alert.Severity.CRITICAL: 2}


def alert_raise(
    *,
    monitor: Monitor,
    kind: str,
    key_suffix: str,
    severity: str,
    title: str,
    detail: str = "",
    feature: str = "",
    window_start: datetime | None = None,
    run: Any = None,
    batch: InferenceBatch | None = None,
    drifted_features: list[str] | None = None,
) -> tuple[Alert, bool]:
    """One alert per dedupe key (monitor, kind, feature, window): a repeat updates it, never doubles it.
    A resolved alert that fires again reopens; a muted one stays muted until its date. An alert whose
    severity rises (a window alert that becomes critical when a re-run sees more drifted features) is
    sent again, with its new severity."""
    key = f"{monitor.pk}:{kind}:{feature}:{window_start.isoformat() if window_start else ''}:{key_suffix}"
    with transaction.atomic():
        alert, created = Alert.objects.select_for_update().get_or_create(
            dedupe_key=key,
            defaults={
                "monitor": monitor,
                "kind": kind,
                "feature": feature,
                "window_start": window_start,
                "severity": severity,
                "title": title[:300],
                "detail": detail,
                "run": run,
                "batch": batch,
                "drifted_features": drifted_features or [],
            },
        )
        reopened = escalated = False
        if not created:
            escalated = _SEVERITY_RANK.get(severity, 0) > _SEVERITY_RANK.get(alert.severity, 0)
            alert.occurrences = F("occurrences") + 1
            alert.last_seen_at = timezone.now()
            alert.title, alert.detail, alert.severity = title[:300], detail, severity
            alert.run = run or alert.run
            if drifted_features is not None:
                alert.drifted_features = drifted_features
            mute_over = alert.status == Alert.Status.MUTED and alert.muted_until and alert.muted_until <= timezone.now()
            if alert.status == Alert.Status.RESOLVED or mute_over:
                alert.status, alert.muted_until, reopened = Alert.Status.OPEN, None, True
            alert.save()
            alert.refresh_from_db()
            if escalated:
                alert.notifications.filter(status=Notification.Status.SENT).update(status=Notification.Status.PENDING)
        if created or reopened or escalated:
            from monitoring.tasks import alert_notify

            queue_after_commit(alert_notify, alert.pk)
    return alert, created


def alert_clear(*, monitor: Monitor, kind: str, feature: str | None, window_start: datetime | None) -> int:
    """A re-run of a window that no longer drifts resolves the alerts it had raised; `feature=None`
    resolves those of every feature of that kind and window."""
    if feature is None:
        return Alert.objects.filter(
            monitor=monitor, kind=kind, window_start=window_start, status=Alert.Status.OPEN
        ).update(status=Alert.Status.RESOLVED, updated_at=timezone.now())
    prefix = f"{monitor.pk}:{kind}:{feature}:{window_start.isoformat() if window_start else ''}:"
    return Alert.objects.filter(dedupe_key__startswith=prefix, status=Alert.Status.OPEN).update(
        status=Alert.Status.RESOLVED, updated_at=timezone.now()
    )


def _alert_for_change(actor: AbstractBaseUser, alert_id: int) -> Alert:
    alert = Alert.objects.select_for_update().select_related("monitor__project").get(pk=alert_id)
    if not actor.has_perm("monitoring.change_alert"):
        raise PermissionDenied("Your role cannot change alerts.")
    ensure_editable(alert.monitor.project, actor)
    return alert


@transaction.atomic
def alert_acknowledge(*, actor: AbstractBaseUser, alert_id: int) -> Alert:
    alert = _alert_for_change(actor, alert_id)
    if alert.status != Alert.Status.OPEN:
        raise Conflict(f"Only an open alert can be acknowledged; this one is {alert.get_status_display().lower()}.")
    alert.status, alert.status_changed_by = Alert.Status.ACKNOWLEDGED, actor
    alert.save()
    return alert


@transaction.atomic
def alert_resolve(*, actor: AbstractBaseUser, alert_id: int) -> Alert:
    alert = _alert_for_change(actor, alert_id)
    alert.status, alert.status_changed_by, alert.muted_until = Alert.Status.RESOLVED, actor, None
    alert.save()
    return alert


@transaction.atomic
def alert_mute(*, actor: AbstractBaseUser, alert_id: int, until: datetime) -> Alert:
    alert = _alert_for_change(actor, alert_id)
    if until <= timezone.now():
        raise PortalError("Mute until a time in the future.", fields={"until": ["Must be in the future."]})
    if until > timezone.now() + timedelta(days=365):
        raise PortalError("Mute for a year at most.", fields={"until": ["At most a year ahead."]})
    alert.status, alert.muted_until, alert.status_changed_by = Alert.Status.MUTED, until, actor
    alert.save()
    return alert


ALERT_ACTIONS = ("acknowledge", "resolve", "mute")
ALERT_BULK_MAX = 500  # a page shows 50; a pipeline may send more, but not without limit


@transaction.atomic
def alert_bulk_change(
    *, actor: AbstractBaseUser, alert_ids: list[int], action: str, until: datetime | None = None
) -> list[Alert]:
    """Applies one action to many alerts, all or nothing: each id is resolved through the access
    rules first (an alert the actor may not see is answered as missing, 404, naming the ids), then
    each goes through the single action's own service in this one transaction, so the first refusal
    (an alert not open to acknowledge, a project the actor may not change) rolls back the others."""
    if action not in ALERT_ACTIONS:
        raise PortalError(f"action: one of {', '.join(ALERT_ACTIONS)}.", fields={"action": ["Unknown action."]})
    ids = list(dict.fromkeys(alert_ids))  # in the order given, each once
    if not ids:
        raise PortalError("Choose at least one alert.", fields={"ids": ["At least one alert id."]})
    if len(ids) > ALERT_BULK_MAX:
        raise PortalError(
            f"At most {ALERT_BULK_MAX} alerts at once.", fields={"ids": [f"At most {ALERT_BULK_MAX} ids."]}
        )
    if action == "mute" and until is None:
        raise PortalError("Mute until when?", fields={"until": ["Required to mute."]})
    visible = set(
        Alert.objects.filter(pk__in=ids, monitor__project__in=access.projects_visible_to(user=actor)).values_list(
            "pk", flat=True
        )
    )
    missing = [i for i in ids if i not in visible]
    if missing:
        names = ", ".join(str(i) for i in missing[:10])
        raise NotFound(f"No alert {names}.", fields={"ids": [f"No alert {names}."]})
    changed = []
    for alert_id in sorted(ids):  # a fixed order of row locks: two bulk changes never deadlock
        try:
            if action == "acknowledge":
                changed.append(alert_acknowledge(actor=actor, alert_id=alert_id))
            elif action == "resolve":
                changed.append(alert_resolve(actor=actor, alert_id=alert_id))
            else:
                changed.append(alert_mute(actor=actor, alert_id=alert_id, until=until))
        except PortalError as error:  # the same refusal, saying which alert and that none changed
            raise type(error)(f"Alert {alert_id}: {error.message} Nothing was changed.", fields=error.fields) from error
    return changed


# ---------------------------------------------------------------- channels and trigger


def channel_remove(*, actor: AbstractBaseUser, channel_id: int) -> None:
    channel = NotificationChannel.objects.select_related("monitor__project").get(pk=channel_id)
    ensure_editable(channel.monitor.project, actor)
    channel.delete()


def channel_add(
    *, actor: AbstractBaseUser | None, monitor: Monitor, kind: str, target: str, secret: str = ""
) -> NotificationChannel:
    if actor is not None:
        ensure_editable(monitor.project, actor)
    return NotificationChannel.objects.create(monitor=monitor, kind=kind, target=target.strip(), secret=secret)


def retrain_trigger_set(
    *,
    actor: AbstractBaseUser | None,
    monitor: Monitor,
    url: str,
    preset: str = RetrainTrigger.Preset.GENERIC,
    auth_header: str | None = None,
    **fields: Any,
) -> RetrainTrigger:
    """Create or replace the monitor's trigger. The auth header is write-only: None keeps the saved
    one (forms never show it back), "" removes it."""
    if actor is not None:
        ensure_editable(monitor.project, actor)
    if auth_header is not None:
        fields["auth_header"] = auth_header
    trigger, _ = RetrainTrigger.objects.update_or_create(
        monitor=monitor, defaults={"url": url, "preset": preset, **fields}
    )
    return trigger
