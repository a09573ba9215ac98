"""Batch and reference files in the monitoring storage: stored whole or refused, read back by column."""

from __future__ import annotations

import contextlib
import errno
import logging

import pandas as pd
from django.conf import settings
from django.core.files.base import ContentFile

from monitoring.ingest import BatchLimits, read_stored, read_stored_columns
from monitoring.models import (
    Alert,
    InferenceBatch,
    Monitor,
    monitoring_storage,
)
from monitoring.services import alerts
from registry.errors import PortalError

logger = logging.getLogger(__name__)


def batch_limits() -> BatchLimits:
    return BatchLimits(
        max_rows=settings.MONITORING_MAX_ROWS,
        max_columns=settings.MONITORING_MAX_COLUMNS,
        max_decompressed_bytes=settings.MONITORING_MAX_DECOMPRESSED_BYTES,
    )


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
            alerts.alert_raise(
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


def batch_frame(batch: InferenceBatch) -> pd.DataFrame:
    with monitoring_storage().open(batch.file_name, "rb") as handle:
        return read_stored(handle.read(), batch.format)


def batch_columns(batch: InferenceBatch, names: list[str]) -> pd.DataFrame:
    """The named columns of a stored batch (those it has), read as batch_frame reads them."""
    with monitoring_storage().open(batch.file_name, "rb") as handle:
        return read_stored_columns(handle, batch.format, names)
