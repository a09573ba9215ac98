"""Shadow evaluation: before a promotion is decided, the candidate and the alias's current holder
are run on the rows production actually sent to the model's monitor, side by side.

How it flows: a promotion request is made (registry's `promotion_requested` signal) or a reviewer
presses "Run again" -> `shadow_evaluation_queue` -> the task `shadow_evaluation_execute` on the
shadow queue -> `shadow_evaluation_run`: sample the stored batches (`shadow_sample`), download both
versions in this process (MLflow credentials never leave it), run each in a child process started
for it with no secrets in its environment and a time and memory limit (`replay`), compare
the predictions (`stats`) and store it all. The gate's "shadow" check (`gate.py`) reads the
latest evaluation of the versions it is asked about; it never runs a model itself.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from mlopsportal.dispatch import queue_after_commit
from monitoring.models import InferenceBatch, Monitor, ShadowEvaluation
from monitoring.services import files
from registry.access import model_visible
from registry.errors import PermissionDenied

logger = logging.getLogger(__name__)

REQUEST_PERMISSION = "registry.add_promotionrequest"
# Queued by its pinned name (routed to settings.SHADOW_QUEUE): this module never imports the tasks.
SHADOW_EVALUATION_EXECUTE = "monitoring.tasks.shadow_evaluation_execute"
DECIDE_PERMISSION = "registry.decide_promotionrequest"
DISAGREEMENTS_KEPT = 50  # rows shown on the evaluation page, those that differ most first
REJECTED_BATCHES_KEPT = 20

# MLflow's type names -> the dtype a JSON or CSV number is read as when its producer declared it.
DECLARED_DTYPES = {"double": "float64", "float": "float32", "long": "int64", "integer": "int32", "boolean": "bool"}


# --- which traffic ------------------------------------------------------------------------------


def _traffic(monitor: Monitor, *, now: datetime, days: int) -> QuerySet[InferenceBatch]:
    return monitor.batches.filter(event_time__gt=now - timedelta(days=days), event_time__lte=now).exclude(
        status=InferenceBatch.Status.FAILED
    )


def shadow_monitor(*, model_name: str, alias: str, now: datetime | None = None) -> Monitor | None:
    """The monitor whose traffic stands for production: an active monitor of the model that
    received batches in the last SHADOW_DAYS days, the one following `alias` first."""
    from registry.models import Project, RegisteredModel

    now = now or timezone.now()
    candidates = Monitor.objects.filter(model_name=model_name, is_active=True)
    # Only the model's own project's monitors: the check names the monitor and the page shows its
    # rows to whoever may see the request. A model of no project takes internal projects' monitors.
    model = RegisteredModel.objects.filter(name=model_name).only("project_id").first()
    if model is not None and model.project_id:
        candidates = candidates.filter(project_id=model.project_id)
    else:
        candidates = candidates.filter(project__visibility=Project.Visibility.INTERNAL)
    monitors = sorted(
        candidates,
        key=lambda m: (m.alias != alias or m.version is not None, m.name),
    )
    return next((m for m in monitors if _traffic(m, now=now, days=settings.SHADOW_DAYS).exists()), None)


def _quotas(rows_by_day: dict[str, int], max_rows: int) -> dict[str, int]:
    """Rows to take from each day: an even share, and what a short day leaves goes to the others."""
    quotas = dict.fromkeys(rows_by_day, 0)
    left, open_days = max_rows, sorted(rows_by_day)
    while left > 0 and open_days:
        share = max(left // len(open_days), 1)
        for day in list(open_days):
            take = min(share, rows_by_day[day] - quotas[day], left)
            quotas[day] += take
            left -= take
            if quotas[day] >= rows_by_day[day]:
                open_days.remove(day)
            if left == 0:
                break
    return quotas


def _as_sent(frame: pd.DataFrame, batch: InferenceBatch) -> pd.DataFrame:
    """A JSON or CSV batch's declared types applied (Parquet carries its own)."""
    if batch.format == InferenceBatch.Format.PARQUET:
        return frame
    for column in batch.columns:
        dtype = DECLARED_DTYPES.get(str(column.get("type")))
        if dtype and column.get("name") in frame and not column.get("nulls"):
            frame[column["name"]] = frame[column["name"]].astype(dtype)
    return frame


@dataclass(frozen=True)
class ShadowSample:
    batches: list  # [replay.BatchSample]: the rows as production sent them, model inputs only
    labels: pd.Series  # the monitor's label column for the same rows, in the same order (None where absent)
    facts: dict[str, Any]  # what was sampled, as the evaluation stores it


def shadow_sample(*, monitor: Monitor, now: datetime, days: int, max_rows: int, seed: int) -> ShadowSample:
    """At most `max_rows` rows of what production sent `monitor` in the `days` before `now`, spread
    evenly over the days and, within a day, over its batches by size; each batch's rows keep the
    types they were sent with."""
    from monitoring.shadow.replay import BatchSample

    batches = list(_traffic(monitor, now=now, days=days).order_by("event_time", "pk"))
    by_day: dict[str, list[InferenceBatch]] = defaultdict(list)
    for batch in batches:
        by_day[batch.event_time.date().isoformat()].append(batch)
    quotas = _quotas({day: sum(b.rows for b in day_batches) for day, day_batches in by_day.items()}, max_rows)
    rng = np.random.default_rng(seed)
    # Columns the monitor adds for itself are not model inputs: production did not send them to the model.
    not_inputs = {monitor.prediction_column, monitor.label_column, monitor.event_time_column} - {""}
    samples, labels = [], []
    for day, day_batches in sorted(by_day.items()):
        day_rows, left = sum(b.rows for b in day_batches), quotas[day]
        for batch in day_batches:
            take = min(batch.rows, left, math.ceil(quotas[day] * batch.rows / day_rows)) if day_rows else 0
            if take <= 0:
                continue
            left -= take
            frame = files.batch_frame(batch)
            rows = np.sort(rng.choice(len(frame), size=min(take, len(frame)), replace=False))
            picked = _as_sent(frame.iloc[rows].reset_index(drop=True), batch)
            label = monitor.label_column
            labels.append(picked[label] if label and label in picked else pd.Series([None] * len(picked)))
            untyped = (
                tuple(str(c["name"]) for c in batch.columns if c.get("type") == "number")
                if batch.format != InferenceBatch.Format.PARQUET
                else ()
            )
            inputs = picked.drop(columns=[c for c in not_inputs if c in picked])
            samples.append(BatchSample(batch.pk, day, inputs, numbers_as_served=untyped))
    sample = {
        "monitor": monitor.pk,
        "monitor_name": monitor.name,
        "rows": sum(len(s.frame) for s in samples),
        "batches": len(samples),
        "days": len({s.day for s in samples}),
        "from": samples[0].day if samples else None,
        "to": samples[-1].day if samples else None,
        "days_back": days,
        "max_rows": max_rows,
        "traffic_rows": sum(b.rows for b in batches),
        "traffic_batches": len(batches),
    }
    label_series = pd.concat(labels, ignore_index=True) if labels else pd.Series(dtype=object)
    return ShadowSample(samples, label_series, sample)


# --- queueing ---------------------------------------------------------------------------------


def shadow_evaluation_latest(
    *, model_name: str, candidate_version: int, holder_version: int | None
) -> ShadowEvaluation | None:
    return (
        ShadowEvaluation.objects.filter(
            model_name=model_name, candidate_version=candidate_version, holder_version=holder_version
        )
        .select_related("monitor")
        .first()
    )


def shadow_evaluation_queue(
    *,
    model_name: str,
    alias: str,
    candidate_version: int,
    holder_version: int | None,
    request: Any = None,
    requested_by: AbstractBaseUser | None = None,
) -> ShadowEvaluation | None:
    """Queues a replay of the candidate against the holder on the model's production traffic;
    None when no monitor recorded any. A replay of the same comparison already on its way is
    returned instead of a second one."""
    monitor = shadow_monitor(model_name=model_name, alias=alias)
    if monitor is None:
        return None
    fields = {
        "model_name": model_name,
        "candidate_version": candidate_version,
        "holder_version": holder_version,
        "monitor": monitor,
    }
    try:
        with transaction.atomic():
            evaluation = ShadowEvaluation.objects.create(
                **fields, alias=alias, request=request, requested_by=requested_by
            )
    except IntegrityError:  # one_open_shadow_evaluation: join the one queued or running
        return ShadowEvaluation.objects.filter(**fields, status__in=["queued", "running"]).first()
    queue_after_commit(SHADOW_EVALUATION_EXECUTE, evaluation.pk)
    return evaluation


def shadow_evaluation_rerun(*, actor: AbstractBaseUser, promotion: Any) -> ShadowEvaluation | None:
    """A reviewer's or requester's "Run again" on a request's review page."""
    if not model_visible(user=actor, registered_model=promotion.registered_model):
        raise PermissionDenied("You cannot see this model.")
    if not (actor.has_perm(DECIDE_PERMISSION) or actor.pk == promotion.requested_by_id):
        raise PermissionDenied("Only reviewers and the requester run the shadow evaluation again.")
    holder = (promotion.registered_model.aliases or {}).get(promotion.target_alias)
    return shadow_evaluation_queue(
        model_name=promotion.registered_model.name,
        alias=promotion.target_alias,
        candidate_version=promotion.version,
        holder_version=int(holder) if holder is not None else None,
        request=promotion,
        requested_by=actor,
    )


def on_promotion_requested(sender: object, promotion: Any, **kwargs: object) -> None:
    """registry's promotion_requested signal: replay every new request's candidate."""
    shadow_evaluation_queue(
        model_name=promotion.registered_model.name,
        alias=promotion.target_alias,
        candidate_version=promotion.version,
        holder_version=promotion.holder_version,
        request=promotion,
    )


# --- running ----------------------------------------------------------------------------------


def shadow_evaluation_claim(*, evaluation_id: int) -> bool:
    """Queued -> running, once: a second delivery of the task finds nothing to do."""
    claimed = ShadowEvaluation.objects.filter(pk=evaluation_id, status=ShadowEvaluation.Status.QUEUED).update(
        status=ShadowEvaluation.Status.RUNNING, started_at=timezone.now(), attempts=1
    )
    return bool(claimed)


def _model_summary(replay: Any, version: int | None) -> dict[str, Any]:
    rejected = [b for b in replay.batches if b.error]
    return {
        "version": version,
        "error": replay.error,
        "environment_failed": replay.environment_failed,
        "accepted_rows": replay.accepted_rows,
        "rejected_rows": replay.rejected_rows,
        "rejected_batches": len(rejected),
        "rejections": [
            {
                "batch_id": b.batch_id,
                "rows": b.rows,
                "reason": b.reason or b.error[:300],
                "error": b.error[:4000],  # MLflow's whole message quotes rows: kept short
                "expected": b.expected,
                "received": b.received,
            }
            for b in rejected[:REJECTED_BATCHES_KEPT]
        ],
        "ms_per_1000_rows": replay.ms_per_1000_rows,
        "load_seconds": round(replay.load_seconds, 3),
        "predict_seconds": round(replay.predict_seconds, 3),
        "process_seconds": round(replay.process_seconds, 3),
        "notes": list(replay.notes),
    }


def _json_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)


def _shared_histograms(holder: pd.Series, candidate: pd.Series, bins: int = 30) -> dict[str, Any]:
    both = np.concatenate([holder.to_numpy(dtype=float), candidate.to_numpy(dtype=float)])
    both = both[np.isfinite(both)]
    edges = np.histogram_bin_edges(both, bins=bins) if both.size else np.array([0.0, 1.0])
    return {
        "edges": edges.tolist(),
        "holder": np.histogram(holder.to_numpy(dtype=float), bins=edges)[0].tolist(),
        "candidate": np.histogram(candidate.to_numpy(dtype=float), bins=edges)[0].tolist(),
    }


def shadow_results(
    *, samples: list, labels: pd.Series, candidate: Any, holder: Any | None, monitor: Monitor, metric: str
) -> dict[str, Any]:
    """Pure given the replays: what the page and the gate read (JSON)."""
    from monitoring.shadow import stats as shadow_stats

    results: dict[str, Any] = {
        "candidate": _model_summary(candidate, None),
        "holder": _model_summary(holder, None) if holder is not None else None,
        "kind": None,
        "rows_compared": 0,
    }
    if holder is None or candidate.error or holder.error:
        return results
    common = candidate.predictions.index.intersection(holder.predictions.index)
    if common.empty:
        return results
    cand, hold = candidate.predictions.loc[common], holder.predictions.loc[common]
    kind = shadow_stats.predictions_kind(hold, cand)
    results["kind"], results["rows_compared"] = kind, len(common)
    if kind == "classes":
        results["agreement"] = shadow_stats.class_agreement(hold.astype(str), cand.astype(str)).as_dict()
        method, threshold = monitor.categorical_method, monitor.categorical_threshold
    else:
        results["differences"] = shadow_stats.value_differences(hold, cand).as_dict()
        results["histograms"] = _shared_histograms(hold, cand)
        method, threshold = monitor.numeric_method, monitor.numeric_threshold
    results["prediction_drift"] = shadow_stats.prediction_drift(hold, cand, method=method, threshold=threshold)
    label = labels.loc[common] if len(labels) else pd.Series(dtype=object)
    if len(label) and label.notna().any():
        chosen = metric if metric and shadow_stats.metric_function(metric) else ""
        fallback = "accuracy" if kind == "classes" else "rmse"
        comparison = shadow_stats.metric_comparison(
            metric=chosen or fallback, labels=label, holder=hold, candidate=cand, seed=len(common)
        )
        # Only the policy's own metric gates; a fallback is shown for information.
        results["metric"] = {**comparison.as_dict(), "from_policy": bool(chosen)} if comparison else None
        if not chosen:
            results["metric_note"] = (
                f"The policy's metric {metric!r} cannot be computed from rows; showing {fallback}."
                if metric
                else f"The policy names no metric; showing {fallback}."
            )
    else:
        results["metric"] = None
        results["metric_note"] = "No labels in the sampled rows: production performance cannot be measured."
    positions = shadow_stats.most_different_rows(hold, cand, limit=DISAGREEMENTS_KEPT)
    frames = pd.concat([s.frame.assign(_batch=s.batch_id, _day=s.day) for s in samples], ignore_index=True)
    rows = []
    for position in positions:
        row = frames.iloc[int(position)]
        rows.append(
            {
                "batch_id": int(row["_batch"]),
                "day": row["_day"],
                "holder": _json_value(hold.loc[position]),
                "candidate": _json_value(cand.loc[position]),
                "label": _json_value(label.loc[position]) if len(label) else None,
                "inputs": {str(k): _json_value(v) for k, v in row.items() if k not in ("_batch", "_day")},
            }
        )
    results["disagreements"] = rows
    return results


def comparison_words(results: dict[str, Any], *, evaluation: ShadowEvaluation) -> list[str]:
    """The comparison in sentences, for the evaluation page."""
    holder, candidate = f"v{evaluation.holder_version}", f"v{evaluation.candidate_version}"
    lines = []
    if agreement := results.get("agreement"):
        low, high = agreement["interval"]
        lines.append(
            f"{candidate} predicts the same class as {holder} on {(1 - agreement['share']) * 100:.1f} % of "
            f"{agreement['rows']:,} rows; it differs on {agreement['disagreeing']:,} "
            f"({agreement['share'] * 100:.1f} %, 95 % interval {low * 100:.1f}–{high * 100:.1f} %)."
        )
    if differences := results.get("differences"):
        lines.append(
            f"|{candidate} − {holder}|: median {differences['median_abs']:.4g}, p95 {differences['p95_abs']:.4g}, "
            f"max {differences['max_abs']:.4g}; on average {candidate} is {differences['mean_difference']:+.4g}."
        )
    if drift := results.get("prediction_drift"):
        verdict = "drift apart" if drift.get("drifted") else "do not drift apart"
        lines.append(
            f"With the monitor's own statistics the two prediction distributions {verdict}: {drift.get('why', '')}"
        )
    return lines


def shadow_evaluation_run(*, evaluation_id: int) -> ShadowEvaluation:
    """The job: sample, download, replay, compare, store. The portal's own failures (MLflow away,
    a batch file gone) mark the evaluation "could not run"; a model's failures are its results."""
    from monitoring.shadow.environments import ModelEnvironments
    from monitoring.shadow.replay import ReplayLimits, model_download, replay
    from registry.promotions.policies import policy_for

    evaluation = ShadowEvaluation.objects.select_related("monitor").get(pk=evaluation_id)
    try:
        drawn = shadow_sample(
            monitor=evaluation.monitor,
            now=evaluation.created_at,
            days=settings.SHADOW_DAYS,
            max_rows=settings.SHADOW_MAX_ROWS,
            seed=evaluation.pk,
        )
        samples, labels, sample = drawn.batches, drawn.labels, drawn.facts
        if not samples:
            raise RuntimeError(f"{evaluation.monitor.name} recorded no rows in the last {settings.SHADOW_DAYS} days.")
        limits = ReplayLimits(seconds=settings.SHADOW_SECONDS, memory_mb=settings.SHADOW_MEMORY_MB)
        with tempfile.TemporaryDirectory(prefix="portal-shadow-") as tmp:
            versions = {"candidate": evaluation.candidate_version, "holder": evaluation.holder_version}
            paths = {
                role: model_download(
                    model_name=evaluation.model_name,
                    version=version,
                    tracking_uri=settings.MLFLOW_TRACKING_URI,
                    into=Path(tmp) / role,
                )
                for role, version in versions.items()
                if version is not None
            }
            environments = ModelEnvironments(
                manager=settings.SHADOW_ENV_MANAGER,
                root=settings.SHADOW_ENV_DIR,
                build_seconds=settings.SHADOW_ENV_BUILD_SECONDS,
            )
            replayed = replay(models=paths, batches=samples, limits=limits, environments=environments).models
        from registry.models import RegisteredModel

        registered = RegisteredModel.objects.filter(name=evaluation.model_name).first()
        policy = policy_for(registered_model=registered) if registered else None
        results = shadow_results(
            samples=samples,
            labels=labels,
            candidate=replayed["candidate"],
            holder=replayed.get("holder"),
            monitor=evaluation.monitor,
            metric=policy.metric_name if policy else "",
        )
        results["candidate"]["version"] = evaluation.candidate_version
        if results["holder"] is not None:
            results["holder"]["version"] = evaluation.holder_version
    except Exception as exc:
        logger.exception("Shadow evaluation %s could not run", evaluation_id)
        ShadowEvaluation.objects.filter(pk=evaluation_id).update(
            status=ShadowEvaluation.Status.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        evaluation.refresh_from_db()
        return evaluation
    ShadowEvaluation.objects.filter(pk=evaluation_id).update(
        status=ShadowEvaluation.Status.DONE, sample=sample, results=results, error="", finished_at=timezone.now()
    )
    evaluation.refresh_from_db()
    return evaluation


def shadow_is_fresh(evaluation: ShadowEvaluation, *, now: datetime | None = None) -> bool:
    finished = evaluation.finished_at or evaluation.created_at
    return (now or timezone.now()) - finished <= timedelta(hours=settings.SHADOW_MAX_AGE_HOURS)


def shadow_evaluations_lost(*, now: datetime | None = None) -> list[int]:
    """For the lost-work sweep: replays still queued after MONITORING_LOST_WORK_AFTER_SECONDS (their
    message may never have reached the broker; a second delivery finds them claimed) to send again.
    A replay left running far past its limits lost its worker: it is marked as not run, so the
    check says so and "Run again" starts a new one instead of joining a dead one."""
    now = now or timezone.now()
    dead_after = timedelta(seconds=settings.SHADOW_JOB_SECONDS + 60)  # the task's hard time limit
    ShadowEvaluation.objects.filter(status=ShadowEvaluation.Status.RUNNING, started_at__lt=now - dead_after).update(
        status=ShadowEvaluation.Status.FAILED,
        error="The worker running the replay stopped before it finished; run it again.",
        finished_at=now,
    )
    waiting = ShadowEvaluation.objects.filter(
        status=ShadowEvaluation.Status.QUEUED,
        created_at__lt=now - timedelta(seconds=settings.MONITORING_LOST_WORK_AFTER_SECONDS),
    )
    return list(waiting.order_by("pk").values_list("pk", flat=True)[:100])
