"""Keeps the mirror (Experiment, Run, RegisteredModel, ModelVersion) equal to the MLflow server.

Designed around the quirks of MLflow 3's REST API:
- runs have no last-update time: the incremental pass re-reads runs that started or ended after the
  last watermark (minus an overlap for client clocks; the watermark never passes the sync's own
  clock, so a run stamped in the future cannot hide later ones) and runs still running; a metric logged late
  to a finished run, or a run deleted later, is only seen by the periodic full reconcile;
- model-version tag and alias changes do not move `last_updated_timestamp`, and version searches
  can return empty aliases: aliases are read from the registered model on every pass (one cheap
  listing), versions are re-read when their model changed and on every full reconcile;
- page tokens are offsets: a full pass never marks a row deleted because it was missing from a
  listing; it asks MLflow for that one object first.

Writes are upserts keyed on MLflow's ids that leave unchanged rows alone, so a re-run changes
nothing. Each stage (experiments with their runs; models with their versions and aliases) reads
everything from MLflow before it writes, in one transaction: a pass that fails part-way (MLflow
stopped mid-sync) never leaves a row looking up to date whose children it did not read, so the
next pass, incremental or full, still sees the difference and catches up (the runs watermark
moves only when a pass succeeds). A SyncRun row in state "running" is the lock (a partial unique
constraint allows one).

This module takes the lock and runs the stages (registry/mirror/sync_stages.py); MLflow's JSON
becomes the mirror's fields in registry/mirror/sync_fields.py.
"""

import logging
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from registry.errors import MlflowRejected, MlflowUnavailable
from registry.mirror.sync_stages import SyncCounts, SyncPass
from registry.mlflow_client import MlflowRestClient
from registry.models import SyncRun
from registry.signals import mirror_changed

logger = logging.getLogger(__name__)

# --- the lock and the entry point -------------------------------------------------------------


def _lock_take(*, kind: str, target: str, uri: str, requested_by: AbstractBaseUser | None) -> SyncRun | None:
    now = timezone.now()
    SyncRun.objects.filter(status=SyncRun.Status.RUNNING, started_at__lt=now - settings.PORTAL_SYNC_STALE_AFTER).update(
        status=SyncRun.Status.FAILED, finished_at=now, error="Abandoned: the process running this sync stopped."
    )
    try:
        with transaction.atomic():
            return SyncRun.objects.create(
                kind=kind, target=target, mlflow_uri=uri, started_at=now, requested_by=requested_by
            )
    except IntegrityError:
        return None


def last_watermark_ms() -> int | None:
    """The newest run time seen by the last successful incremental or full sync (MLflow's clock)."""
    return (
        SyncRun.objects.filter(
            status=SyncRun.Status.SUCCEEDED,
            kind__in=[SyncRun.Kind.INCREMENTAL, SyncRun.Kind.FULL],
            runs_watermark_ms__isnull=False,
        )
        .order_by("-started_at")
        .values_list("runs_watermark_ms", flat=True)
        .first()
    )


def sync_execute(
    *,
    kind: str = SyncRun.Kind.INCREMENTAL,
    model_name: str = "",
    requested_by: AbstractBaseUser | None = None,
    requested_by_id: int | None = None,
    tracking_uri: str | None = None,
    raise_errors: bool = False,
) -> SyncRun:
    """Run one sync pass now and return its record. A pass that cannot take the lock returns a
    "skipped" record. A failure is recorded on the SyncRun (status failed, error) and re-raised
    when `raise_errors` (Celery retries MlflowUnavailable)."""
    if requested_by is None and requested_by_id is not None:
        requested_by = get_user_model().objects.filter(pk=requested_by_id).first()
    client = MlflowRestClient(tracking_uri)
    previous = last_watermark_ms()
    if kind == SyncRun.Kind.INCREMENTAL and previous is None:
        kind = SyncRun.Kind.FULL  # nothing to be incremental from yet
    if kind == SyncRun.Kind.MODEL and not model_name:
        raise ValueError("A model sync needs the model's name.")
    sync = _lock_take(kind=kind, target=model_name, uri=client.tracking_uri, requested_by=requested_by)
    if sync is None:
        now = timezone.now()
        return SyncRun.objects.create(
            kind=kind,
            target=model_name,
            mlflow_uri=client.tracking_uri,
            status=SyncRun.Status.SKIPPED,
            started_at=now,
            finished_at=now,
            duration_ms=0,
            requested_by=requested_by,
        )
    counts = SyncCounts()
    started = time.monotonic()
    work = SyncPass(client, counts)
    try:
        if kind == SyncRun.Kind.MODEL:
            work.models(full=False, only=model_name)
            work.links()
            work.signatures(only=model_name)
        else:
            full = kind == SyncRun.Kind.FULL
            overlap_ms = int(settings.PORTAL_SYNC_OVERLAP.total_seconds() * 1000)
            since = None if full or previous is None else previous - overlap_ms
            work.tracking(full=full, since_ms=since)
            work.models(full=full)
            work.links()
            work.signatures()
    except (MlflowUnavailable, MlflowRejected, Exception) as exc:
        sync.status, sync.error = SyncRun.Status.FAILED, f"{type(exc).__name__}: {exc}"[:5000]
        logger.warning("MLflow sync %s failed: %s", sync.pk, sync.error)
        _finish(sync, counts, started)
        if raise_errors:
            raise
        return sync
    sync.status = SyncRun.Status.SUCCEEDED
    if kind != SyncRun.Kind.MODEL:
        # Never later than this pass's own start: a run a client stamped in the future would
        # otherwise move the watermark past every run logged until then.
        started_ms = int(sync.started_at.timestamp() * 1000)
        sync.runs_watermark_ms = min(max(work.watermark_ms, previous or 0), started_ms)
    _finish(sync, counts, started)
    if counts.total_changes():
        mirror_changed.send(sender=SyncRun, sync_run=sync)
    return sync


def _finish(sync: SyncRun, counts: SyncCounts, started: float) -> None:
    sync.finished_at = timezone.now()
    sync.duration_ms = int((time.monotonic() - started) * 1000)
    sync.counts = counts.by_kind
    sync.save(update_fields=["status", "error", "finished_at", "duration_ms", "counts", "runs_watermark_ms"])
