"""Drift runs: one per monitor and window, queued, claimed, computed, alerted on."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from mlopsportal.dispatch import queue_after_commit, send_now
from monitoring import drift, profiles
from monitoring.models import (
    Alert,
    BatchHistogram,
    DriftRun,
    FeatureDriftResult,
    InferenceBatch,
    Monitor,
    ReferenceProfile,
    RetrainEvent,
)
from monitoring.services import alerts, exact_recheck, references, retrain, window_metrics, windows
from monitoring.services import batches as batches_service
from registry.errors import PortalError

DRIFT_RUN_EXECUTE = "monitoring.tasks.drift_run_execute"

# A run still "running" after this long was left by a dead worker: another delivery may take it.
STALE_AFTER = timedelta(minutes=15)
TRAILING_WINDOWS = 7


def drift_run_prepare(*, monitor: Monitor, window_start: datetime, trigger: str) -> DriftRun:
    """The run of a window, queued. A finished run of the same window is queued again (its results
    are replaced when it runs), never duplicated."""
    start, end = windows.window_bounds(monitor, window_start)
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


def drift_run_enqueue(*, monitor_id: int, window_start: datetime, trigger: str) -> DriftRun:
    """The window's run, queued for a worker once the transaction commits."""
    monitor = Monitor.objects.get(pk=monitor_id)
    run = drift_run_prepare(monitor=monitor, window_start=window_start, trigger=trigger)
    queue_after_commit(DRIFT_RUN_EXECUTE, run.pk)
    return run


def drift_run_execute(*, run_id: int, after_lost_worker: bool = False) -> DriftRun | None:
    """A worker's delivery of a queued run: claimed, then computed; a failure is recorded on the run
    and raised. None when another delivery holds the run, it is done, or it used up its attempts."""
    if not drift_run_claim(run_id=run_id, after_lost_worker=after_lost_worker):
        return None
    return _computed_or_failed(run_id)


def drift_run_now(*, monitor: Monitor, window_start: datetime, trigger: str) -> DriftRun:
    """Synchronously: prepare, claim and compute one window (command, demo)."""
    run = drift_run_prepare(monitor=monitor, window_start=window_start, trigger=trigger)
    if not drift_run_claim(run_id=run.pk):
        raise PortalError("Another job is computing this window right now; try again in a moment.")
    return _computed_or_failed(run.pk)


def _computed_or_failed(run_id: int) -> DriftRun:
    try:
        return drift_run_compute(run_id=run_id)
    except Exception as exc:
        DriftRun.objects.filter(pk=run_id).update(status=DriftRun.Status.FAILED, error=str(exc)[:2000])
        raise


def drift_runs_schedule() -> None:
    """From beat: queue the last complete window of every monitor that lacks a finished run, and
    re-queue runs a dead worker left behind."""
    for monitor, start in windows.due_windows():
        run = drift_run_prepare(monitor=monitor, window_start=start, trigger=DriftRun.Trigger.SCHEDULE)
        if run.status == DriftRun.Status.QUEUED:
            send_now(DRIFT_RUN_EXECUTE, run.pk)
    for run_id in runs_to_resume():
        send_now(DRIFT_RUN_EXECUTE, run_id)


def drift_run_compute(*, run_id: int) -> DriftRun:
    """Computes one claimed window: per-feature results, verdict, volume, metric, alerts, retrain."""
    run = DriftRun.objects.select_related("monitor__project").get(pk=run_id)
    monitor = run.monitor
    reference = references.reference_current(monitor)
    batches = list(monitor.batches.filter(event_time__gte=run.window_start, event_time__lt=run.window_end))
    if reference is None:
        return _done_without_reference(run, batches)
    results = _feature_results(monitor, reference, batches)
    verdict = drift.window_verdict(
        [r for role, r in results if role == "feature"],
        share=monitor.drift_share,
        others=[r for role, r in results if role != "feature"],
    )
    volume = _volume(run, rows=sum(b.rows for b in batches))
    metrics = window_metrics.label_metric(monitor, batches)
    return _recorded(run, reference, batches, results, verdict, volume, metrics)


def _done_without_reference(run: DriftRun, batches: list[InferenceBatch]) -> DriftRun:
    DriftRun.objects.filter(pk=run.pk).update(
        status=DriftRun.Status.DONE,
        finished_at=timezone.now(),
        rows=sum(b.rows for b in batches),
        batches=len(batches),
        why="No reference dataset yet: upload one to compute drift.",
    )
    run.refresh_from_db()
    return run


def _role(monitor: Monitor, name: str) -> str:
    if name == monitor.prediction_column:
        return "prediction"
    return "label" if name == monitor.label_column else "feature"


def _feature_results(
    monitor: Monitor, reference: ReferenceProfile, batches: list[InferenceBatch]
) -> list[tuple[str, drift.FeatureResult]]:
    """Each profiled column's result (with its role: feature, prediction or label), from the window's
    merged histograms; those near their threshold decided again on the raw values."""
    for batch in batches:
        batches_service.batch_bin(batch_id=batch.pk)  # a no-op for batches binned on arrival
    profs = {name: profiles.profile_from_dict(data) for name, data in reference.profile.items()}
    by_feature: dict[str, list[profiles.Histogram]] = {}
    for hist in BatchHistogram.objects.filter(batch__in=batches, reference=reference).only("feature", "histogram"):
        by_feature.setdefault(hist.feature, []).append(profiles.histogram_from_dict(hist.histogram))
    results = [
        (_role(monitor, name), _feature_result(monitor, name, profile, by_feature.get(name)))
        for name, profile in profs.items()
    ]
    return exact_recheck.decide_near_thresholds_exactly(results, profs, batches)


def _feature_result(
    monitor: Monitor, name: str, profile: profiles.Profile, hists: list[profiles.Histogram] | None
) -> drift.FeatureResult:
    if not hists:
        empty = (
            profiles.NumericHistogram(counts=np.zeros(profile.counts.size, dtype=np.int64))
            if isinstance(profile, profiles.NumericProfile)
            else profiles.CategoricalHistogram()
        )
        hists = [empty]
    method, threshold, note = configured_method(monitor, profile.kind)
    result = drift.feature_drift(name, profile, profiles.merge_histograms(hists), method=method, threshold=threshold)
    return replace(result, why=note + result.why) if note else result


def configured_method(monitor: Monitor, kind: str) -> tuple[str | None, float | None, str]:
    """The monitor's method and threshold for a column of this kind (None: the default), and why they
    are not used (else ""). A method that does not apply to the kind (KS on a categorical column; a
    monitor saved before monitors.monitor_create refused that, or changed in the admin) is not used:
    the default method decides at its default threshold, and the column's result says so."""
    numeric = kind == profiles.FeatureKind.NUMERIC
    method = (monitor.numeric_method if numeric else monitor.categorical_method) or None
    threshold = monitor.numeric_threshold if numeric else monitor.categorical_threshold
    if method is not None and not drift.method_applies(kind, method):
        why = (
            f"The monitor's {kind} method {method} does not apply to a {kind} column, so the default method "
            "decides at its default threshold. "
        )
        return None, None, why
    return method, threshold, ""


def _volume(run: DriftRun, *, rows: int) -> drift.VolumeCheck:
    """The window's rows against the trailing windows' (a time window's; row-count windows hold the
    same rows by construction)."""
    monitor = run.monitor
    trailing = list(
        DriftRun.objects.filter(monitor=monitor, window_start__lt=run.window_start, status=DriftRun.Status.DONE)
        .order_by("-window_start")
        .values_list("rows", flat=True)[:TRAILING_WINDOWS]
    )
    return drift.volume_check(
        rows,
        [] if monitor.window_rows else trailing,
        drop_below=monitor.volume_drop_below,
        spike_above=monitor.volume_spike_above,
    )


def _recorded(
    run: DriftRun,
    reference: ReferenceProfile,
    batches: list[InferenceBatch],
    results: list[tuple[str, drift.FeatureResult]],
    verdict: drift.WindowVerdict,
    volume: drift.VolumeCheck,
    metrics: dict[str, Any],
) -> DriftRun:
    """The window's results replace any earlier ones, with its alerts and (drifted) a retrain request,
    in one transaction."""
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
            rows=sum(b.rows for b in batches),
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
            retrain.retrain_request(monitor=run.monitor, run=run, reason=RetrainEvent.Reason.DRIFT)
    return run


def _finite(value: float) -> float:
    return float(value) if math.isfinite(value) else 1e300


def _alerts_for_run(
    run: DriftRun, results: list[tuple[str, drift.FeatureResult]], verdict: drift.WindowVerdict, volume: Any
) -> None:
    """One alert per window with drifted columns, naming them (inputs first, then the prediction and
    label columns): critical when the window drifts by the monitor's rule, a warning when fewer
    inputs than the rule's share (or only the prediction or label column) drifted. Its key is the
    monitor, kind and window, so a re-run of the window or a retried job updates that one alert
    (alerts.alert_raise) and a re-run where nothing drifts resolves it. Per-feature alerts, which earlier
    versions raised, are resolved when their window is computed again: the window's alert says it."""
    monitor, start = run.monitor, run.window_start
    alerts.alert_clear(monitor=monitor, kind=Alert.Kind.FEATURE_DRIFT, feature=None, window_start=start)
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
        alerts.alert_raise(
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
        alerts.alert_clear(monitor=monitor, kind=Alert.Kind.WINDOW_DRIFT, feature="", window_start=start)
    if volume.anomaly:
        alerts.alert_raise(
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
        alerts.alert_clear(monitor=monitor, kind=Alert.Kind.VOLUME, feature="", window_start=start)


def runs_to_resume(*, now: datetime | None = None) -> list[int]:
    """Runs a dead worker left running, and queued runs whose task never arrived: beat sends them again
    (the claim makes a duplicate delivery harmless)."""
    cutoff = (now or timezone.now()) - STALE_AFTER
    stuck = Q(status=DriftRun.Status.RUNNING, claimed_at__lt=cutoff) | Q(
        status=DriftRun.Status.QUEUED, created_at__lt=cutoff
    ) & (Q(claimed_at__isnull=True) | Q(claimed_at__lt=cutoff))
    return list(DriftRun.objects.filter(stuck).values_list("pk", flat=True))
