"""The monitoring demo: a monitor with a reference set and two weeks of daily batches that tell a story.

The inputs are those of the registry demo's `churn-classifier` (read from its signature in MLflow
when it is there): three float32 numbers, `plan` and `region`. Days 1-8 look like the reference.
From day 9, `tenure_months` (numeric) shifts up and `plan` (categorical) moves towards "premium".
Day 5 brings batches with an extra float64 column and a type change (`monthly_charges` as float64
where float32 is expected). Day 12 has a volume drop. Drift is computed
synchronously for every day, so the heatmap, alerts and schema log have content on first visit.
Loaded again days later (every `make run`), it adds the days in between, still drifted.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from django.conf import settings
from django.utils import timezone

from monitoring.models import DriftRun, InferenceBatch, Monitor, RetrainTrigger
from monitoring.services import batches, drift_runs, monitors, references
from monitoring.signatures import signature_fetch
from registry.models import Project

DEMO_MONITOR = "Churn model in production"
DEMO_PROJECT_SLUG = "churn-prediction"
DEMO_MODEL_NAME = "churn-classifier"
DAYS = 14
DRIFT_FROM_DAY = 9
SCHEMA_CHANGE_DAY = 5
VOLUME_DROP_DAY = 12
ROWS_PER_DAY = 2000
CATCH_UP_MAX_DAYS = 60  # a demo left alone for months gets its last two months, not every day since

# The churn-classifier's signature, used when MLflow cannot be asked.
SCHEMA = [
    {"name": "tenure_months", "type": "float", "required": True},
    {"name": "monthly_charges", "type": "float", "required": True},
    {"name": "support_calls", "type": "float", "required": True},
    {"name": "plan", "type": "string", "required": True},
    {"name": "region", "type": "string", "required": True},
]


def _frame(rng: np.random.Generator, rows: int, *, drifted: bool) -> pd.DataFrame:
    plans = ["basic", "standard", "premium"]
    plan_p = [0.2, 0.3, 0.5] if drifted else [0.5, 0.35, 0.15]
    frame = pd.DataFrame(
        {
            "tenure_months": rng.gamma(2.0, 20.0 if drifted else 12.0, rows).astype(np.float32),
            "monthly_charges": rng.normal(70, 20, rows).astype(np.float32),
            "support_calls": rng.poisson(1.5, rows).astype(np.float32),
            "plan": rng.choice(plans, rows, p=plan_p),
            "region": rng.choice(["north", "south", "east", "west"], rows, p=[0.3, 0.3, 0.2, 0.2]),
        }
    )
    risk = 0.04 * frame["support_calls"] - 0.03 * frame["tenure_months"] + 0.01 * frame["monthly_charges"]
    frame["churn_score"] = (1 / (1 + np.exp(-risk))).astype(np.float32)
    return frame


def _demo_schema(*, model_name: str, alias: str) -> list[dict[str, object]]:
    """The model's signature in MLflow when the registry demo registered it with these inputs;
    the same list by hand otherwise (MLflow down, or a model of another shape under that name)."""
    signature = signature_fetch(model_name=model_name, alias=alias) or []
    if {c["name"] for c in signature} == {c["name"] for c in SCHEMA}:
        return signature
    return SCHEMA


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _day_load(monitor: Monitor, frame: pd.DataFrame, *, start: datetime, key: str) -> None:
    """One day of traffic in four batches, binned, and the day's drift run."""
    for part, rows_of_part in enumerate(np.array_split(np.arange(len(frame)), 4)):
        batches.batch_ingest(
            monitor=monitor,
            body=_parquet(frame.iloc[rows_of_part].reset_index(drop=True)),
            fmt="parquet",
            idempotency_key=f"{key}-part{part}",
            received_at=start + timedelta(hours=2 + part * 5),
            bin_in_background=False,  # binned just below, before the drift run needs it
        )
    for batch in InferenceBatch.objects.filter(
        monitor=monitor, event_time__gte=start, event_time__lt=start + timedelta(days=1)
    ):
        batches.batch_bin(batch_id=batch.pk)
    drift_runs.drift_run_now(monitor=monitor, window_start=start, trigger=DriftRun.Trigger.DEMO)


def _midnight(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _days_caught_up(monitor: Monitor, *, today: datetime) -> int:
    """The serving system kept sending while the demo was not running: the days since the last
    demo window, up to yesterday, arrive now (still drifted), so the monitor stays current."""
    last = monitor.drift_runs.order_by("-window_start").values_list("window_start", flat=True).first()
    if last is None:
        return 0
    first = max(last + timedelta(days=1), today - timedelta(days=CATCH_UP_MAX_DAYS))
    missed = [first + timedelta(days=n) for n in range((today - first).days)]
    rng = np.random.default_rng(int(today.timestamp()))
    for start in missed:
        _day_load(monitor, _frame(rng, ROWS_PER_DAY, drifted=True), start=start, key=f"demo-{start:%Y-%m-%d}")
    return len(missed)


def demo_load(*, project_slug: str, model_name: str, alias: str = "champion", now: datetime | None = None) -> Monitor:
    """Creates (once) the demo monitor with its reference, 14 daily batches and their drift runs.
    Safe to run twice: a later run only adds the days that passed since the last one."""
    today = _midnight(now or timezone.now())
    project = Project.objects.get(slug=project_slug)
    monitor = Monitor.objects.filter(project=project, name=DEMO_MONITOR).first()
    if monitor is None:
        monitor = monitors.monitor_create(
            actor=None,
            project=project,
            name=DEMO_MONITOR,
            model_name=model_name,
            alias=alias,
            expected_schema=_demo_schema(model_name=model_name, alias=alias),
            prediction_column="churn_score",
            drift_share=0.3,  # two of five inputs drifting is an episode worth retraining for
        )
    if monitor.batches.exists():
        _days_caught_up(monitor, today=today)
        return monitor
    rng = np.random.default_rng(42)
    references.reference_upload(
        actor=None, monitor_id=monitor.pk, body=_parquet(_frame(rng, 20_000, drifted=False)), fmt="parquet"
    )
    RetrainTrigger.objects.get_or_create(monitor=monitor, defaults=DEMO_TRIGGER)
    first_day = today - timedelta(days=DAYS)
    for day in range(1, DAYS + 1):
        rows = ROWS_PER_DAY // 4 if day == VOLUME_DROP_DAY else ROWS_PER_DAY
        frame = _frame(rng, rows, drifted=day >= DRIFT_FROM_DAY)
        if day == SCHEMA_CHANGE_DAY:
            frame["monthly_charges"] = frame["monthly_charges"].astype(np.float64)  # an upstream change
            frame["discount_rate"] = rng.uniform(0, 0.3, rows)  # a new upstream column, float64
        _day_load(monitor, frame, start=first_day + timedelta(days=day - 1), key=f"demo-day{day}")
    return monitor


# `make run` serves a stand-in Kubeflow pipeline there (mlopsportal/demo/pipeline.py): "Trigger
# retraining" reaches it and the monitor shows its real answer. Not on drift: the demo's drift
# episode is history, and retraining is the tour's step to take.
DEMO_TRIGGER = {
    "url": settings.PORTAL_DEMO_PIPELINE_URL,
    "preset": RetrainTrigger.Preset.KUBEFLOW,
    "options": {"pipeline_id": "churn-retrain", "pipeline_version_id": "churn-retrain-v1"},
    "on_drift": False,
    "is_active": True,
}


def demo_window_start(day: int) -> datetime:
    return _midnight(timezone.now()) - timedelta(days=DAYS) + timedelta(days=day - 1)


def demo_step(*, now: datetime | None = None) -> None:
    """The step `manage.py demo` runs (registered in MonitoringConfig.ready)."""
    if Project.objects.filter(slug=DEMO_PROJECT_SLUG).exists():
        demo_load(project_slug=DEMO_PROJECT_SLUG, model_name=DEMO_MODEL_NAME, now=now)


# The pending requests whose shadow evaluation the tour tells (v3 agrees with v2, v4 is refused on
# every batch) are replayed here, before the worker starts, so their review pages tell it on first
# visit; each costs ~10 s of `make run`'s start, so the others' are left to the worker.
SHADOW_STORY_VERSIONS = (3, 4)


def demo_shadow_step() -> None:
    """The story's pending requests get their shadow evaluation on the churn monitor's last week,
    run here rather than left to a worker. A replay older than the check's freshness limit (a demo
    loaded days ago) is run again."""
    from monitoring.shadow import evaluations as shadow
    from registry.promotions.models import PromotionRequest, PromotionState

    pending = PromotionRequest.objects.filter(
        registered_model__name=DEMO_MODEL_NAME, state=PromotionState.PENDING, version__in=SHADOW_STORY_VERSIONS
    ).select_related("registered_model")
    for promotion in pending:
        holder = (promotion.registered_model.aliases or {}).get(promotion.target_alias)
        holder_version = int(holder) if holder is not None else None
        latest = shadow.shadow_evaluation_latest(
            model_name=DEMO_MODEL_NAME, candidate_version=promotion.version, holder_version=holder_version
        )
        if latest is not None and latest.status == latest.Status.DONE and shadow.shadow_is_fresh(latest):
            continue
        evaluation = shadow.shadow_evaluation_queue(
            model_name=DEMO_MODEL_NAME,
            alias=promotion.target_alias,
            candidate_version=promotion.version,
            holder_version=holder_version,
            request=promotion,
        )
        if evaluation is not None and shadow.shadow_evaluation_claim(evaluation_id=evaluation.pk):
            shadow.shadow_evaluation_run(evaluation_id=evaluation.pk)
