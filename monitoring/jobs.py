"""Drift jobs, notifications and retrain triggers: the work Celery tasks and commands call."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import time
import zlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import requests
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q, TextField, Value
from django.db.models.functions import Concat
from django.utils import timezone

from mlopsportal.dispatch import queue_after_commit
from monitoring import drift, profiles
from monitoring.models import (
    Alert,
    BatchHistogram,
    DriftRun,
    FeatureDriftResult,
    InferenceBatch,
    Monitor,
    Notification,
    NotificationChannel,
    RetrainEvent,
    RetrainTrigger,
)
from monitoring.services import alert_clear, alert_raise, batch_bin, batch_columns, reference_current
from registry.audit import audit_record
from registry.errors import PortalError

logger = logging.getLogger(__name__)

# A run still "running" after this long was left by a dead worker: another delivery may take it.
STALE_AFTER = timedelta(minutes=15)
TRAILING_WINDOWS = 7


ONE_MICROSECOND = timedelta(microseconds=1)


def row_windows(monitor: Monitor) -> list[tuple[datetime, datetime, bool]]:
    """Row-count windows: consecutive whole batches (by event time) until `window_rows` rows are in.
    Each is (start, end, complete); batches sharing an event time stay in one window."""
    windows: list[tuple[datetime, datetime, bool]] = []
    start: datetime | None = None
    rows = 0
    batches = list(monitor.batches.order_by("event_time", "pk").values_list("event_time", "rows"))
    for i, (event_time, batch_rows) in enumerate(batches):
        start = start or event_time
        rows += batch_rows
        next_time = batches[i + 1][0] if i + 1 < len(batches) else None
        if rows >= (monitor.window_rows or 0) and next_time != event_time:
            windows.append((start, event_time + ONE_MICROSECOND, True))
            start, rows = None, 0
    if start is not None:
        windows.append((start, batches[-1][0] + ONE_MICROSECOND, False))
    return windows


def window_bounds(monitor: Monitor, at: datetime) -> tuple[datetime, datetime]:
    """The window containing `at`: for time windows, aligned to multiples of the window length since
    the epoch (UTC); for row-count windows, the one whose batches span `at` (else the last one)."""
    if monitor.window_rows:
        windows = row_windows(monitor)
        for start, end, _complete in windows:
            if start <= at < end:
                return start, end
        if windows and at >= windows[-1][0]:
            return windows[-1][0], windows[-1][1]
        raise PortalError("No batches in that range: a row-count window starts at its first batch.")
    seconds = monitor.window_seconds
    start = math.floor(at.timestamp() / seconds) * seconds
    return datetime.fromtimestamp(start, tz=UTC), datetime.fromtimestamp(start + seconds, tz=UTC)


def drift_run_prepare(*, monitor: Monitor, window_start: datetime, trigger: str) -> DriftRun:
    """The run of a window, queued. A finished run of the same window is queued again (its results
    are replaced when it runs), never duplicated."""
    start, end = window_bounds(monitor, window_start)
    with transaction.atomic():
        run, created = DriftRun.objects.select_for_update().get_or_create(
            monitor=monitor, window_start=start, defaults={"window_end": end, "trigger": trigger}
        )
        stale = (
            run.status == DriftRun.Status.RUNNING and run.claimed_at and run.claimed_at < timezone.now() - STALE_AFTER
        )
        if not created and (run.status in (DriftRun.Status.DONE, DriftRun.Status.FAILED) or stale):
            # A row-count window still filling up ends later on each run. Queued again, the window
            # gets its attempts afresh (a run stopped after DRIFT_RUN_MAX_ATTEMPTS can be run again).
            run.status, run.trigger, run.error, run.window_end = DriftRun.Status.QUEUED, trigger, "", end
            run.attempts = 0
            run.save(update_fields=["status", "trigger", "error", "window_end", "attempts"])
    return run


def drift_run_claim(*, run_id: int, after_lost_worker: bool = False) -> bool:
    """Takes a queued run, or one a dead worker left running; False when someone else holds it, or
    when the run has used up its attempts. `after_lost_worker`: this delivery is Celery's retry of one
    whose worker process died while computing (killed, out of memory), so the run's "running" claim
    is that dead delivery's and is taken over at once, not after STALE_AFTER.

    Each claim is an attempt. A window whose job takes its worker down every time (a batch that
    exhausts memory, say) would otherwise be retried for ever: once DRIFT_RUN_MAX_ATTEMPTS attempts
    have not finished it, the next delivery stops it as failed, with the reason, instead of running it."""
    now = timezone.now()
    left_running = Q(status=DriftRun.Status.RUNNING)
    if not after_lost_worker:
        left_running &= Q(claimed_at__lt=now - STALE_AFTER)
    claimable = DriftRun.objects.filter(Q(status=DriftRun.Status.QUEUED) | left_running, pk=run_id)
    limit = settings.DRIFT_RUN_MAX_ATTEMPTS
    if claimable.filter(attempts__lt=limit).update(
        status=DriftRun.Status.RUNNING, claimed_at=now, attempts=F("attempts") + 1
    ):
        return True
    claimable.filter(attempts__gte=limit).update(
        status=DriftRun.Status.FAILED,
        finished_at=now,
        error=f"Stopped after {limit} attempts: the worker computing this window was lost each time (killed, "
        "or out of memory?). Nothing of those attempts was kept. Run it again once the cause is found.",
    )
    return False


def _thresholds(monitor: Monitor, kind: str) -> tuple[str | None, float | None]:
    if kind == profiles.FeatureKind.NUMERIC:
        return monitor.numeric_method or None, monitor.numeric_threshold
    return monitor.categorical_method or None, monitor.categorical_threshold


def _label_metric(monitor: Monitor, batches: list[Any]) -> dict[str, Any]:
    """The model's metric on the window, when the batches carry labels: accuracy for a categorical
    prediction, RMSE and MAE for a numeric one. Summed batch by batch from the two columns alone; the
    kind is the one the window's columns would have concatenated (float for floats and integers)."""
    pred, label = monitor.prediction_column, monitor.label_column
    if not (pred and label):
        return {}
    shapes: list[pd.DataFrame] = []  # each batch's pair, empty: its dtypes
    rows = matches = 0
    squares = absolutes = 0.0
    not_numbers: Exception | None = None
    for batch in batches:
        frame = batch_columns(batch, [pred, label])
        if pred not in frame or label not in frame:
            continue
        pair = frame[[pred, label]].dropna()
        del frame
        shapes.append(pair.iloc[:0])
        rows += len(pair)
        matches += int((pair[pred].astype(str) == pair[label].astype(str)).sum())
        try:
            err = pair[pred].to_numpy(float) - pair[label].to_numpy(float)
        except (TypeError, ValueError) as exc:  # raised below if the window's kind is numeric
            not_numbers = exc
            continue
        squares += float(np.dot(err, err))
        absolutes += float(np.abs(err).sum())
    if not shapes or rows == 0:
        return {}
    kind = pd.concat(shapes)[pred]
    if pd.api.types.is_numeric_dtype(kind) and pd.api.types.is_float_dtype(kind):
        if not_numbers is not None:
            raise not_numbers
        return {"rmse": math.sqrt(squares / rows), "mae": absolutes / rows, "labelled_rows": rows}
    return {"accuracy": matches / rows, "labelled_rows": rows}


def drift_run_compute(*, run_id: int) -> DriftRun:
    """Computes one claimed window: per-feature results, verdict, volume, metric, alerts, retrain."""
    run = DriftRun.objects.select_related("monitor__project").get(pk=run_id)
    monitor = run.monitor
    reference = reference_current(monitor)
    batches = list(monitor.batches.filter(event_time__gte=run.window_start, event_time__lt=run.window_end))
    rows = sum(b.rows for b in batches)
    if reference is None:
        DriftRun.objects.filter(pk=run.pk).update(
            status=DriftRun.Status.DONE,
            finished_at=timezone.now(),
            rows=rows,
            batches=len(batches),
            why="No reference dataset yet: upload one to compute drift.",
        )
        run.refresh_from_db()
        return run
    for batch in batches:
        batch_bin(batch_id=batch.pk)  # a no-op for batches binned on arrival
    profs = {name: profiles.profile_from_dict(data) for name, data in reference.profile.items()}
    by_feature: dict[str, list[profiles.Histogram]] = {}
    for hist in BatchHistogram.objects.filter(batch__in=batches, reference=reference).only("feature", "histogram"):
        by_feature.setdefault(hist.feature, []).append(profiles.histogram_from_dict(hist.histogram))

    results: list[tuple[str, drift.FeatureResult]] = []
    for name, profile in profs.items():
        role = (
            "prediction"
            if name == monitor.prediction_column
            else "label"
            if name == monitor.label_column
            else "feature"
        )
        hists = by_feature.get(name)
        if not hists:
            empty = (
                profiles.NumericHistogram(counts=np.zeros(profile.counts.size, dtype=np.int64))
                if isinstance(profile, profiles.NumericProfile)
                else profiles.CategoricalHistogram()
            )
            hists = [empty]
        method, threshold = _thresholds(monitor, profile.kind)
        try:
            result = drift.feature_drift(
                name, profile, profiles.merge_histograms(hists), method=method, threshold=threshold
            )
        except KeyError:  # a method that does not apply to this kind (e.g. KS on a category)
            result = drift.feature_drift(name, profile, profiles.merge_histograms(hists))
        results.append((role, result))
    results = _decide_near_thresholds_exactly(results, profs, batches)

    verdict = drift.window_verdict(
        [r for role, r in results if role == "feature"],
        share=monitor.drift_share,
        others=[r for role, r in results if role != "feature"],
    )
    trailing = list(
        DriftRun.objects.filter(monitor=monitor, window_start__lt=run.window_start, status=DriftRun.Status.DONE)
        .order_by("-window_start")
        .values_list("rows", flat=True)[:TRAILING_WINDOWS]
    )
    volume = drift.volume_check(
        rows,
        [] if monitor.window_rows else trailing,  # row-count windows hold the same rows by construction
        drop_below=monitor.volume_drop_below,
        spike_above=monitor.volume_spike_above,
    )
    metrics = _label_metric(monitor, batches)

    with transaction.atomic():
        run.results.all().delete()  # a re-run replaces the window's results
        FeatureDriftResult.objects.bulk_create(
            [
                FeatureDriftResult(
                    run=run,
                    feature=r.feature,
                    kind=r.kind,
                    role=role,
                    method=r.method,
                    statistic=_finite(r.statistic),
                    p_value=None if r.p_value is None else _finite(r.p_value),
                    threshold=r.threshold,
                    drifted=r.drifted,
                    reference_n=r.reference_n,
                    current_n=r.current_n,
                    why=r.why,
                    scores={k: _finite(v) for k, v in r.scores.items()},
                )
                for role, r in results
            ]
        )
        DriftRun.objects.filter(pk=run.pk).update(
            status=DriftRun.Status.DONE,
            finished_at=timezone.now(),
            reference=reference,
            rows=rows,
            batches=len(batches),
            drifted=verdict.drifted,
            drifted_share=verdict.share,
            why=verdict.why,
            volume={
                "rows": volume.rows,
                "trailing_median": volume.trailing_median,
                "ratio": volume.ratio,
                "anomaly": volume.anomaly,
                "why": volume.why,
                "metrics": metrics,
            },
            error="",
        )
        run.refresh_from_db()
        _alerts_for_run(run, results, verdict, volume)
        if verdict.drifted:
            retrain_request(monitor=monitor, run=run, reason=RetrainEvent.Reason.DRIFT)
    return run


# The exact re-check of a feature near its threshold holds at most this many of the window's values:
# a uniform sample of that many rows across the window's batches when it has more. Its sort and merge
# take a few arrays of the sample's size (8 bytes a value): with 2,000,000 values the check of a
# 24.8 M-row window traces 64 MB and adds ~95 MB to a worker, where holding every value took 1.9 GB
# traced and 2 GB more RSS (tests/monitoring/test_memory_bounds.py). A sample this size has
# its empirical CDF within 0.001 of the window's with 95 % probability (DKW inequality), on the order
# of the reference side, which is a sample of at most profiles.DEFAULT_SAMPLE_SIZE quantiles; and the
# KS p-value is the sample's own (drift.exact_numeric_drift), so a sampled test stays a valid test.
EXACT_MAX_VALUES = 2_000_000
EXACT_SAMPLE_SEED = 2026  # fixed: a window re-run draws the same sample and reaches the same verdict


def _numeric_values(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A column as bin_frame bins it: numbers, anything else NaN."""
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


# The re-check of one feature at the cap holds its sample and, deciding it, about three arrays of the
# sample's size (sort and merge): 4 x EXACT_MAX_VALUES values. One pass over the window's files reads
# as many features as stay within that: their samples, their columns of the largest batch (read
# together) and one decision's arrays. Reading each file once per feature made the re-check of 25
# features on a window of 90 batches of 1,000 rows open 2,250 files (10-16 s, bench/drift.py); they
# now take one pass (90 files, 2-3 s). A window over the cap still takes a pass per feature: two
# samples of 2,000,000 values held at once took the check of test_memory_bounds' 6 M-row window to
# 105 MB traced (63 MB one at a time).
EXACT_PASS_VALUES = 4 * EXACT_MAX_VALUES
_READ_ERRORS = (OSError, ValueError, pa.ArrowException)


class _WindowSample:
    """One feature's finite values in the window, taken batch by batch (in event-time order): all of
    them, or when the window has more than `limit` rows, `limit` rows drawn uniformly without
    replacement across its batches (seeded by the feature's name), their finite values."""

    def __init__(self, name: str, rows: np.ndarray, limit: int) -> None:
        self.sampled = int(rows.sum()) > limit
        self.rng = np.random.default_rng([EXACT_SAMPLE_SEED, zlib.crc32(name.encode())])
        self.quota = self.rng.multivariate_hypergeometric(rows, limit, method="marginals") if self.sampled else rows
        self.out = np.empty(int(self.quota.sum()), dtype=np.float64)
        self.filled = self.finite = 0

    def add(self, index: int, column: np.ndarray) -> None:
        """The column of the batch at `index`."""
        self.finite += int(np.isfinite(column).sum())
        if self.sampled:
            take = min(int(self.quota[index]), column.size)
            column = column[np.sort(self.rng.choice(column.size, size=take, replace=False))]
        column = column[np.isfinite(column)][: self.out.size - self.filled]
        self.out[self.filled : self.filled + column.size] = column
        self.filled += column.size

    def values(self) -> tuple[np.ndarray, int]:
        return self.out[: self.filled], self.finite


def _window_samples(batches: list[Any], names: list[str], limit: int) -> dict[str, tuple[np.ndarray, int] | Exception]:
    """Each named feature's finite values in the window (a sample of `limit` rows when it has more,
    as _WindowSample draws it) and how many the window has; or the error that stopped its read. Each
    batch file is opened once for all of them, its wanted columns folded into each feature's sample
    and dropped before the next file. A file whose columns cannot be read together is read again one
    column at a time, so that a column that cannot be read fails only its own feature."""
    batches = sorted(batches, key=lambda b: (b.event_time, b.pk))
    rows = np.array([max(b.rows, 0) for b in batches], dtype=np.int64)
    samples: dict[str, _WindowSample] = {}
    failed: dict[str, Exception] = {}
    for name in names:
        try:
            samples[name] = _WindowSample(name, rows, limit)
        except _READ_ERRORS as exc:
            failed[name] = exc
    for index, batch in enumerate(batches):
        if not samples:
            break
        try:
            frame: pd.DataFrame | None = batch_columns(batch, list(samples))
        except _READ_ERRORS:
            frame = None
        for name in list(samples):
            try:
                source = batch_columns(batch, [name]) if frame is None else frame
                if name in source:
                    samples[name].add(index, _numeric_values(source, name))
                del source
            except _READ_ERRORS as exc:
                failed[name] = exc
                del samples[name]
        del frame
    return {name: failed[name] if name in failed else samples.pop(name).values() for name in names}


def _window_values(batches: list[Any], name: str, limit: int) -> tuple[np.ndarray, int]:
    """One feature's finite values in the window, and how many the window has (_window_samples)."""
    got = _window_samples(batches, [name], limit)[name]
    if isinstance(got, Exception):
        raise got
    return got


def _exact_passes(names: list[str], batches: list[Any]) -> list[list[str]]:
    """The features near their threshold, in groups that hold at most EXACT_PASS_VALUES values: each
    one's sample and column of the largest batch, and the arrays deciding one of them (one feature a
    group, at least)."""
    rows = [max(b.rows, 0) for b in batches]
    sample = min(sum(rows), EXACT_MAX_VALUES)  # every feature's: the quotas are drawn from the same rows
    size = max(1, (EXACT_PASS_VALUES - 3 * sample) // max(sample + max(rows, default=0), 1))
    return [names[i : i + size] for i in range(0, len(names), size)]


def _decide_near_thresholds_exactly(
    results: list[tuple[str, drift.FeatureResult]], profs: dict[str, profiles.Profile], batches: list[Any]
) -> list[tuple[str, drift.FeatureResult]]:
    """Features whose binned estimate lay within its error bound of the threshold are decided again on
    their exact value, from the window's raw files (kept for this) and the reference's stored sample,
    on at most EXACT_MAX_VALUES of the window's values each. Each pass over the files reads a group of
    them (_exact_passes), each file once; a group is decided and dropped before the next is read. A
    file that cannot be read leaves the binned verdict, which says so."""
    near = {r.feature: r for _role, r in results if r.needs_exact}
    exact: dict[str, drift.FeatureResult] = {}
    for group in _exact_passes(list(near), batches):
        samples = _window_samples(batches, group, EXACT_MAX_VALUES)
        for name in group:
            r, got = near[name], samples.pop(name)
            if isinstance(got, Exception):
                logger.warning("Exact drift check of %s skipped, a batch file could not be read: %s", name, got)
                exact[name] = replace(r, why=f"{r.why}; near the threshold, but the raw files could not be re-read")
                continue
            values, finite = got
            del got
            exact[name] = drift.exact_numeric_drift(r, profs[name], values, threshold=r.threshold, window_n=finite)
            del values
    return [(role, exact[r.feature] if r.needs_exact else r) for role, r in results]


def _finite(value: float) -> float:
    return float(value) if math.isfinite(value) else 1e300


def _alerts_for_run(
    run: DriftRun, results: list[tuple[str, drift.FeatureResult]], verdict: drift.WindowVerdict, volume: Any
) -> None:
    """One alert per window with drifted columns, naming them (inputs first, then the prediction and
    label columns): critical when the window drifts by the monitor's rule, a warning when fewer
    inputs than the rule's share (or only the prediction or label column) drifted. Its key is the
    monitor, kind and window, so a re-run of the window or a retried job updates that one alert
    (alert_raise) and a re-run where nothing drifts resolves it. Per-feature alerts, which earlier
    versions raised, are resolved when their window is computed again: the window's alert says it."""
    monitor, start = run.monitor, run.window_start
    alert_clear(monitor=monitor, kind=Alert.Kind.FEATURE_DRIFT, feature=None, window_start=start)
    # Sorted: the results follow the reference profile's keys, whose order jsonb does not keep.
    inputs = sorted(r.feature for role, r in results if r.drifted and role == "feature")
    others = sorted(r.feature for role, r in results if r.drifted and role != "feature")
    if inputs or others:
        when = f"{start:%Y-%m-%d %H:%M}"
        named = ", ".join(inputs + others)
        title = (
            f"Window of {when} drifted on {monitor.name}: {named}"
            if verdict.drifted
            else f"{len(inputs + others)} column{'s' if len(inputs + others) > 1 else ''} drifted in the window "
            f"of {when} on {monitor.name}, too few for the window to drift: {named}"
        )
        alert_raise(
            monitor=monitor,
            kind=Alert.Kind.WINDOW_DRIFT,
            key_suffix="",
            window_start=start,
            severity=Alert.Severity.CRITICAL if verdict.drifted else Alert.Severity.WARNING,
            title=title,
            detail=verdict.why,
            run=run,
            drifted_features=inputs + others,
        )
    else:
        alert_clear(monitor=monitor, kind=Alert.Kind.WINDOW_DRIFT, feature="", window_start=start)
    if volume.anomaly:
        alert_raise(
            monitor=monitor,
            kind=Alert.Kind.VOLUME,
            key_suffix="",
            window_start=start,
            severity=Alert.Severity.WARNING,
            title=f"Volume {volume.anomaly} in the window of {start:%Y-%m-%d %H:%M} on {monitor.name}",
            detail=volume.why,
            run=run,
        )
    else:
        alert_clear(monitor=monitor, kind=Alert.Kind.VOLUME, feature="", window_start=start)


def drift_run_now(*, monitor: Monitor, window_start: datetime, trigger: str) -> DriftRun:
    """Synchronously: prepare, claim and compute one window (command, demo)."""
    run = drift_run_prepare(monitor=monitor, window_start=window_start, trigger=trigger)
    if not drift_run_claim(run_id=run.pk):
        raise PortalError("Another job is computing this window right now; try again in a moment.")
    try:
        return drift_run_compute(run_id=run.pk)
    except Exception as exc:
        DriftRun.objects.filter(pk=run.pk).update(status=DriftRun.Status.FAILED, error=str(exc)[:2000])
        raise


def runs_to_resume(*, now: datetime | None = None) -> list[int]:
    """Runs a dead worker left running, and queued runs whose task never arrived: beat sends them again
    (the claim makes a duplicate delivery harmless)."""
    cutoff = (now or timezone.now()) - STALE_AFTER
    stuck = Q(status=DriftRun.Status.RUNNING, claimed_at__lt=cutoff) | Q(
        status=DriftRun.Status.QUEUED, created_at__lt=cutoff
    ) & (Q(claimed_at__isnull=True) | Q(claimed_at__lt=cutoff))
    return list(DriftRun.objects.filter(stuck).values_list("pk", flat=True))


# Work recorded while the broker was down never reached a worker (mlopsportal/dispatch.py). After
# MONITORING_LOST_WORK_AFTER_SECONDS, lost_work_sweep sends it again; every task it sends is idempotent,
# so work that was merely slow and gets sent twice costs a no-op. Older than the lookback, work was
# done or shows as failed.
LOST_WORK_LOOKBACK = timedelta(days=1)
LOST_WORK_BATCH = 500  # per kind and sweep: a long outage's backlog drains over a few minutes


@dataclass(frozen=True)
class LostWork:
    batches: list[int]  # received, not binned, and their monitor has a reference to bin against
    drift_runs: list[int]  # queued, never claimed
    alerts: list[int]  # open, the monitor has an active channel, no notification was ever created
    notifications: list[int]  # pending, never attempted
    retrain_events: list[int]  # pending, never attempted


def lost_work(*, now: datetime | None = None) -> LostWork:
    """What was recorded between LOST_WORK_LOOKBACK and MONITORING_LOST_WORK_AFTER_SECONDS ago and
    never started."""
    now = now or timezone.now()
    since, until = now - LOST_WORK_LOOKBACK, now - timedelta(seconds=settings.MONITORING_LOST_WORK_AFTER_SECONDS)

    def ids(queryset: Any) -> list[int]:
        return list(queryset.order_by("pk").values_list("pk", flat=True).distinct()[:LOST_WORK_BATCH])

    return LostWork(
        batches=ids(
            InferenceBatch.objects.filter(
                status=InferenceBatch.Status.RECEIVED,
                received_at__range=(since, until),
                monitor__references__is_current=True,
            )
        ),
        drift_runs=ids(
            DriftRun.objects.filter(
                status=DriftRun.Status.QUEUED, claimed_at__isnull=True, created_at__range=(since, until)
            )
        ),
        alerts=ids(
            Alert.objects.filter(
                status=Alert.Status.OPEN, created_at__range=(since, until), monitor__channels__is_active=True
            ).filter(notifications__isnull=True)
        ),
        notifications=ids(
            Notification.objects.filter(
                status=Notification.Status.PENDING, attempts=0, created_at__range=(since, until)
            )
        ),
        retrain_events=ids(
            RetrainEvent.objects.filter(
                status=RetrainEvent.Status.PENDING, attempts=0, created_at__range=(since, until)
            )
        ),
    )


def due_windows(*, now: datetime | None = None) -> list[tuple[Monitor, datetime]]:
    """The last complete window of each active monitor that has no finished run yet."""
    now = now or timezone.now()
    due = []
    for monitor in Monitor.objects.filter(is_active=True):
        if monitor.window_rows:
            done = set(
                DriftRun.objects.filter(monitor=monitor, status=DriftRun.Status.DONE).values_list(
                    "window_start", "window_end"
                )
            )
            due += [
                (monitor, start)
                for start, end, complete in row_windows(monitor)
                if complete and (start, end) not in done
            ]
            continue
        start, _ = window_bounds(monitor, now - timedelta(seconds=monitor.window_seconds))
        if not DriftRun.objects.filter(monitor=monitor, window_start=start, status=DriftRun.Status.DONE).exists():
            due.append((monitor, start))
    return due


# ---------------------------------------------------------------- notifications


def notifications_create(*, alert_id: int) -> list[int]:
    alert = Alert.objects.get(pk=alert_id)
    if alert.status == Alert.Status.MUTED:
        return []
    ids = []
    for channel in NotificationChannel.objects.filter(monitor_id=alert.monitor_id, is_active=True):
        notification, _ = Notification.objects.get_or_create(alert=alert, channel=channel)
        if notification.status != Notification.Status.SENT:
            ids.append(notification.pk)
    return ids


def alert_payload(alert: Alert) -> dict[str, Any]:
    return {
        "event": "monitoring.alert",
        "alert": {
            "id": alert.pk,
            "kind": alert.kind,
            "severity": alert.severity,
            "status": alert.status,
            "title": alert.title,
            "detail": alert.detail,
            "feature": alert.feature,
            "drifted_features": alert.drifted_features,
            "window_start": alert.window_start.isoformat() if alert.window_start else None,
            "url": alert.get_absolute_url(),
        },
        "monitor": {"id": alert.monitor_id, "name": alert.monitor.name, "model": alert.monitor.model_ref},
    }


def signature_header(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>", hex: the receiver recomputes it with the shared secret."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class DeliveryFailed(Exception):
    """A notification or retrain call failed in a way worth retrying (network, timeout, 5xx, 429)."""


ANSWER_KEPT_BYTES = 4000  # what is kept of a pipeline's answer, shown with the retrain event


def _post_within(url: str, *, body: bytes, headers: dict[str, str], keep_answer: bool) -> tuple[int, str]:
    """POST to someone else's endpoint: its HTTP status and (if asked) the start of its answer. Bounded
    by MONITORING_WEBHOOK_TIMEOUT: requests' timeout bounds connecting and each wait for data, so an
    endpoint that hangs is given up after that long. The answer is read a byte at a time against the
    same deadline: requests' timeout is per read, so an answer trickled slowly would otherwise hold
    the worker as long as the sender liked. Raises DeliveryFailed naming the timeout."""
    timeout = settings.MONITORING_WEBHOOK_TIMEOUT
    deadline = time.monotonic() + timeout
    try:
        with requests.post(url, data=body, headers=headers, timeout=timeout, stream=True) as response:
            answer = bytearray()
            if keep_answer:
                for byte in response.iter_content(chunk_size=1):
                    answer += byte
                    if len(answer) >= ANSWER_KEPT_BYTES:
                        break
                    if time.monotonic() > deadline:
                        raise DeliveryFailed(
                            f"HTTP {response.status_code}, but its answer was still arriving "
                            f"at the {timeout:g} s timeout"
                        )
            return response.status_code, answer.decode("utf-8", "replace")
    except requests.Timeout as exc:
        raise DeliveryFailed(f"no answer within the {timeout:g} s timeout") from exc
    except requests.RequestException as exc:
        raise DeliveryFailed(f"could not reach the endpoint: {exc}") from exc


def notification_send(*, notification_id: int) -> Notification:
    notification = Notification.objects.select_related("alert__monitor", "channel").get(pk=notification_id)
    if notification.status == Notification.Status.SENT:
        return notification
    alert, channel = notification.alert, notification.channel
    Notification.objects.filter(pk=notification.pk).update(attempts=F("attempts") + 1)
    attempt = notification.attempts + 1
    try:
        if channel.kind == NotificationChannel.Kind.EMAIL:
            recipients = [a.strip() for a in channel.target.split(",") if a.strip()]
            send_mail(
                subject=f"[{alert.get_severity_display()}] {alert.title}"[:200],
                message=f"{alert.detail}\n\nEvidence: {alert.get_absolute_url()}",
                from_email=None,
                recipient_list=recipients,
            )
        else:
            body = json.dumps(alert_payload(alert), sort_keys=True).encode()
            timestamp = str(int(timezone.now().timestamp()))
            headers = {
                "Content-Type": "application/json",
                "X-Portal-Timestamp": timestamp,
                "X-Portal-Delivery": f"notification-{notification.pk}",
            }
            if channel.secret:
                headers["X-Portal-Signature"] = signature_header(channel.secret, timestamp, body)
            status, _ = _post_within(channel.target, body=body, headers=headers, keep_answer=False)
            if status >= 300:
                raise DeliveryFailed(f"the webhook answered HTTP {status}")
    except (DeliveryFailed, OSError) as exc:  # SMTP failures are OSErrors
        Notification.objects.filter(pk=notification.pk).update(
            status=Notification.Status.FAILED, last_error=f"Attempt {attempt}: {exc}"[:2000]
        )
        raise DeliveryFailed(str(exc)) from exc
    Notification.objects.filter(pk=notification.pk).update(
        status=Notification.Status.SENT, sent_at=timezone.now(), last_error=""
    )
    notification.refresh_from_db()
    return notification


def delivery_failure_explained(
    *, notification_id: int | None = None, retrain_event_id: int | None = None, what_next: str
) -> None:
    """Adds what happens next to a failed delivery's error, as the monitor's page shows it: "next
    attempt in 4 s", or "gave up after 6 attempts"."""
    if notification_id is not None:
        Notification.objects.filter(pk=notification_id, status=Notification.Status.FAILED).update(
            last_error=Concat(F("last_error"), Value(f"; {what_next}"), output_field=TextField())
        )
    if retrain_event_id is not None:
        RetrainEvent.objects.filter(pk=retrain_event_id, status=RetrainEvent.Status.FAILED).update(
            response_body=Concat(F("response_body"), Value(f"; {what_next}"), output_field=TextField())
        )


# ---------------------------------------------------------------- retraining


def retrain_payload(
    trigger: RetrainTrigger, monitor: Monitor, run: DriftRun | None, reason: str, actor: Any
) -> dict[str, Any]:
    drifted = []
    scores: dict[str, Any] = {}
    if run is not None:
        for result in run.results.all():
            scores[result.feature] = {
                "method": result.method,
                "statistic": result.statistic,
                "threshold": result.threshold,
                "drifted": result.drifted,
            }
            if result.drifted:
                drifted.append(result.feature)
    generic = {
        "event": "monitoring.retrain_requested",
        "reason": reason,
        "requested_by": getattr(actor, "username", None),
        "monitor": {"id": monitor.pk, "name": monitor.name, "project": monitor.project.slug},
        "model": {"name": monitor.model_name, "alias": monitor.alias or None, "version": monitor.version},
        "window": {
            "start": run.window_start.isoformat() if run else None,
            "end": run.window_end.isoformat() if run else None,
        },
        "drifted_features": drifted,
        "scores": scores,
    }
    if trigger.preset != RetrainTrigger.Preset.KUBEFLOW:
        return generic
    options = trigger.options or {}
    # Kubeflow Pipelines v2 REST API, POST /apis/v2beta1/runs: parameters must be scalars.
    body: dict[str, Any] = {
        "display_name": f"retrain {monitor.model_name} ({reason}) {timezone.now():%Y-%m-%d %H:%M}",
        "description": f"Requested by the MLOps portal monitor {monitor.name}",
        "pipeline_version_reference": {
            "pipeline_id": options.get("pipeline_id", ""),
            "pipeline_version_id": options.get("pipeline_version_id", ""),
        },
        "runtime_config": {
            "parameters": {
                "model_name": monitor.model_name,
                "model_alias": monitor.alias,
                "monitor_id": monitor.pk,
                "reason": reason,
                "window_start": generic["window"]["start"] or "",
                "drifted_features": ",".join(drifted),
            }
        },
    }
    if options.get("experiment_id"):
        body["experiment_id"] = options["experiment_id"]
    return body


def retrain_request(
    *, monitor: Monitor, run: DriftRun | None, reason: str, actor: AbstractBaseUser | None = None
) -> RetrainEvent | None:
    """Records a retrain request and sends it after commit. A drift-triggered request inside the
    cooldown of an earlier one is dropped: one drift episode, one retraining. The button ignores it."""
    with transaction.atomic():
        trigger = RetrainTrigger.objects.select_for_update().filter(monitor=monitor, is_active=True).first()
        if trigger is None or (reason == RetrainEvent.Reason.DRIFT and not trigger.on_drift):
            return None
        if reason == RetrainEvent.Reason.DRIFT:
            since = timezone.now() - timedelta(hours=trigger.cooldown_hours)
            if trigger.events.filter(created_at__gte=since).exclude(status=RetrainEvent.Status.FAILED).exists():
                return None
        event = RetrainEvent.objects.create(
            trigger=trigger,
            monitor=monitor,
            run=run,
            reason=reason,
            requested_by=actor,
            payload=retrain_payload(trigger, monitor, run, reason, actor),
        )
        _audit(monitor, actor, event)
        from monitoring.tasks import retrain_send

        queue_after_commit(retrain_send, event.pk)
    return event


def _audit(monitor: Monitor, actor: Any, event: RetrainEvent) -> None:
    audit_record(
        action="monitor.retrain_triggered",
        actor=actor,
        obj=monitor,
        project=monitor.project,
        summary=f"Retraining of {monitor.model_ref} requested ({event.get_reason_display().lower()})",
        data={"retrain_event": event.pk, "run": event.run_id, "url": event.trigger.url, "reason": event.reason},
    )


def retrain_send(*, event_id: int) -> RetrainEvent:
    event = RetrainEvent.objects.select_related("trigger").get(pk=event_id)
    if event.status == RetrainEvent.Status.SENT:
        return event
    RetrainEvent.objects.filter(pk=event.pk).update(attempts=F("attempts") + 1)
    attempt = event.attempts + 1
    headers = {"Content-Type": "application/json", "X-Portal-Delivery": f"retrain-{event.pk}"}
    if event.trigger.auth_header:
        headers["Authorization"] = event.trigger.auth_header
    try:
        status, answer = _post_within(
            event.trigger.url, body=json.dumps(event.payload).encode(), headers=headers, keep_answer=True
        )
    except DeliveryFailed as exc:
        RetrainEvent.objects.filter(pk=event.pk).update(
            status=RetrainEvent.Status.FAILED, response_status=None, response_body=f"Attempt {attempt}: {exc}"[:4000]
        )
        raise
    ok = status < 300
    RetrainEvent.objects.filter(pk=event.pk).update(
        status=RetrainEvent.Status.SENT if ok else RetrainEvent.Status.FAILED,
        response_status=status,
        response_body=answer[:ANSWER_KEPT_BYTES],
        sent_at=timezone.now() if ok else None,
    )
    if not ok and (status >= 500 or status == 429):
        raise DeliveryFailed(f"the pipeline endpoint answered HTTP {status}")
    event.refresh_from_db()
    return event
