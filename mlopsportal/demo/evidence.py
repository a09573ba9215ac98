"""Demo evidence the other demos do not create, so the three demo projects land at levels 0, 1 and 2
by their evidence:

- Fraud detection (level 1): a weekly training pipeline in MLflow (job runs with git commit, dataset,
  params and metrics over six weeks), a registered `fraud-scorer` with a signature and a `champion`
  alias, mirrored and linked; a monitor on `fraud-scorer@champion` that received a batch yesterday.
- Churn prediction (level 2), on top of the registry and monitoring demos: the churn monitor sends
  its alerts to the team's mailbox, the schema-mismatch alert was resolved within the week, and a
  drift window triggered a retraining the pipeline accepted.

Idempotent: MLflow parts are tagged `portal.demo`; portal rows are get-or-create. Loaded again days
later (every `make run`), the demo pipelines catch up on the scheduled runs they would have logged
meanwhile, so the levels still rest on current evidence.
"""

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from django.apps import apps
from django.db import transaction
from django.utils import timezone

from mlopsportal.demo.mlflow_content import sklearn_model_log
from registry.mlflow_client import mlflow_fluent_at
from registry.models import Project

logger = logging.getLogger(__name__)

FRAUD_SLUG = "fraud-detection"
FRAUD_EXPERIMENT = "fraud-scoring"
FRAUD_MODEL = "fraud-scorer"
CHURN_SLUG = "churn-prediction"
DEMO_TAG = "portal.demo"
DAY_MS = 86_400_000
# A demo started again after a pause catches up on at most this many days of scheduled runs.
CATCH_UP_MAX_DAYS = 60
CATCH_UP_TAGS = {"mlflow.source.type", "mlflow.source.name", "mlflow.source.git.commit"}
FRAUD_COMMITS = ("7d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e", "a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e")


def _fraud_mlflow(tracking_uri: str) -> None:
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    found = client.get_experiment_by_name(FRAUD_EXPERIMENT)
    experiment_id = found.experiment_id if found else client.create_experiment(FRAUD_EXPERIMENT)

    def logged(part: str) -> bool:
        runs = client.search_runs([experiment_id], filter_string=f"tags.`{DEMO_TAG}` = '{part}'", max_results=1)
        return bool(runs)

    now_ms = int(time.time() * 1000)
    for week in range(6):  # the scheduled weekly retraining of the last six weeks
        part = f"fraud-weekly-{week}"
        if logged(part):
            continue
        run = client.create_run(
            experiment_id,
            start_time=now_ms - (7 * week + 2) * DAY_MS,
            run_name=f"weekly-retrain-{week}",
            tags={
                DEMO_TAG: part,
                "mlflow.source.type": "JOB",
                "mlflow.source.name": "pipelines/train_fraud.py",
                "mlflow.source.git.commit": FRAUD_COMMITS[week % 2],
                "portal.trigger": "schedule",
            },
        )
        run_id = run.info.run_id
        client.log_param(run_id, "max_iter", "300")
        client.log_param(run_id, "class_weight", "balanced")
        client.log_metric(run_id, "auc", 0.91 + 0.004 * (6 - week))
        client.log_metric(run_id, "recall_at_0.5pct", 0.62 + 0.01 * (6 - week))
        dataset = Dataset(
            name=f"transactions-week-{week}",
            digest=f"{week:02d}fa9e31",
            source_type="s3",
            source=f"s3://demo-bucket/fraud/transactions-week-{week}.parquet",
        )
        client.log_inputs(run_id, [DatasetInput(dataset, [InputTag("mlflow.data.context", "training")])])
        client.set_terminated(run_id, end_time=now_ms - (7 * week + 2) * DAY_MS + 600_000)

    if not logged("fraud-model"):
        rng = np.random.default_rng(7)
        frame = pd.DataFrame({"amount": rng.gamma(2.0, 40.0, 500), "merchant_risk": rng.random(500)})
        target = ((frame["amount"] > 150) & (frame["merchant_risk"] > 0.7)).astype(int)
        model = LogisticRegression(max_iter=300, class_weight="balanced").fit(frame, target)
        with mlflow_fluent_at(tracking_uri):
            mlflow.set_experiment(experiment_id=experiment_id)
            tags = {
                DEMO_TAG: "fraud-model",
                "mlflow.source.type": "JOB",
                "mlflow.source.name": "pipelines/train_fraud.py",
                "mlflow.source.git.commit": FRAUD_COMMITS[0],
                "portal.trigger": "schedule",
            }
            with mlflow.start_run(run_name="weekly-retrain-register", tags=tags):
                mlflow.log_params({"max_iter": 300, "class_weight": "balanced"})
                mlflow.log_metric("auc", 0.93)
                mlflow.log_input(
                    mlflow.data.from_pandas(frame, name="transactions-latest", source="s3://demo-bucket/fraud/latest"),
                    context="training",
                )
                sklearn_model_log(
                    model,
                    name="model",
                    signature=infer_signature(frame, model.predict(frame)),
                    registered_model_name=FRAUD_MODEL,
                )
    model = client.get_registered_model(FRAUD_MODEL)
    if "champion" not in model.aliases:
        latest = max(int(v.version) for v in client.search_model_versions(f"name = '{FRAUD_MODEL}'"))
        client.set_registered_model_alias(FRAUD_MODEL, "champion", str(latest))


def _fraud_portal(project: Project, *, now: datetime) -> None:
    from monitoring.models import Monitor, NotificationChannel
    from monitoring.services.batches import batch_ingest
    from monitoring.services.monitors import monitor_create

    Experiment = apps.get_model("registry", "Experiment")
    RegisteredModel = apps.get_model("registry", "RegisteredModel")
    Experiment.objects.filter(name=FRAUD_EXPERIMENT, project__isnull=True).update(project=project)
    RegisteredModel.objects.filter(name=FRAUD_MODEL, project__isnull=True).update(project=project)
    monitor = Monitor.objects.filter(project=project, model_name=FRAUD_MODEL).first()
    if monitor is None:
        monitor = monitor_create(
            actor=None,
            project=project,
            name="fraud-scorer in production",
            model_name=FRAUD_MODEL,
            alias="champion",
            expected_schema=[
                {"name": "amount", "type": "double", "required": True},
                {"name": "merchant_risk", "type": "double", "required": True},
            ],
        )
    NotificationChannel.objects.get_or_create(
        monitor=monitor, kind=NotificationChannel.Kind.EMAIL, defaults={"target": "risk-ml@example.com"}
    )
    yesterday = now - timedelta(days=1)
    rows = [{"amount": 20.0 + i * 3.5, "merchant_risk": (i % 10) / 10} for i in range(200)]
    batch_ingest(
        monitor=monitor,
        body=json.dumps(rows).encode(),
        fmt="json",
        idempotency_key=f"demo-fraud-{yesterday:%Y-%m-%d}",
        received_at=yesterday,
    )


def _churn_portal(project: Project) -> None:
    """What the churn team did about its monitor: alerts to a mailbox, the schema fix, a drift retrain."""
    from mlopsportal.demo.monitoring import DEMO_TRIGGER
    from monitoring.models import Alert, Monitor, NotificationChannel, RetrainEvent, RetrainTrigger

    monitor = Monitor.objects.filter(project=project).order_by("pk").first()
    if monitor is None:
        return
    NotificationChannel.objects.get_or_create(
        monitor=monitor, kind=NotificationChannel.Kind.EMAIL, defaults={"target": "growth-ml@example.com"}
    )
    for alert in Alert.objects.filter(monitor=monitor, kind=Alert.Kind.SCHEMA_MISMATCH).exclude(status="resolved"):
        # The producer was fixed two days after the mismatch appeared.
        Alert.objects.filter(pk=alert.pk).update(status="resolved", updated_at=alert.created_at + timedelta(days=2))
    trigger, _ = RetrainTrigger.objects.get_or_create(monitor=monitor, defaults=DEMO_TRIGGER)
    if not RetrainEvent.objects.filter(monitor=monitor, reason=RetrainEvent.Reason.DRIFT, status="sent").exists():
        drifted = monitor.drift_runs.filter(drifted=True).order_by("window_start").first()
        RetrainEvent.objects.create(
            trigger=trigger,
            monitor=monitor,
            run=drifted,
            reason=RetrainEvent.Reason.DRIFT,
            payload={"model": monitor.model_name, "reason": "drift", "demo": True},
            status="sent",
            response_status=201,
            sent_at=timezone.now() - timedelta(days=3),
        )


def _pipeline_caught_up(client: Any, experiment_name: str, *, every: timedelta, now: datetime) -> int:
    """The demo's scheduled pipeline kept running while the demo was not: its latest job run is
    repeated at the pipeline's cadence up to `now` (same commit, params, metrics and datasets), so
    a demo started again days later still shows a training cadence. Returns the runs logged."""
    from mlflow.entities import Metric, Param

    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return 0
    latest = client.search_runs(
        [experiment.experiment_id],
        filter_string="tags.`mlflow.source.type` = 'JOB'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not latest:
        return 0
    template = latest[0]
    every_ms, now_ms = int(every.total_seconds() * 1000), int(now.timestamp() * 1000)
    slot = max(template.info.start_time + every_ms, now_ms - CATCH_UP_MAX_DAYS * DAY_MS)
    tags = {key: value for key, value in template.data.tags.items() if key in CATCH_UP_TAGS}
    logged = 0
    while slot <= now_ms:
        run_id = client.create_run(
            experiment.experiment_id,
            start_time=slot,
            run_name=f"scheduled-{datetime.fromtimestamp(slot / 1000, tz=UTC):%Y-%m-%d}",
            tags={**tags, DEMO_TAG: f"{experiment_name}-scheduled-{slot}", "portal.trigger": "schedule"},
        ).info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric(key, value, slot, 0) for key, value in template.data.metrics.items()],
            params=[Param(key, value) for key, value in template.data.params.items()],
        )
        if template.inputs and template.inputs.dataset_inputs:
            client.log_inputs(run_id, template.inputs.dataset_inputs)
        client.set_terminated(run_id, end_time=slot + 600_000)
        slot += every_ms
        logged += 1
    return logged


def demo_evidence_load(*, now: datetime | None = None) -> None:
    """`now` is the demo's clock (tests move it forward to see a demo started again days later)."""
    from django.conf import settings
    from mlflow import MlflowClient

    from mlopsportal.demo.mlflow_content import CHURN_EXPERIMENT
    from registry.errors import MlflowUnavailable
    from registry.mlflow_client import MlflowRestClient

    now = now or timezone.now()
    fraud = Project.objects.filter(slug=FRAUD_SLUG).first()
    churn = Project.objects.filter(slug=CHURN_SLUG).first()
    if apps.is_installed("monitoring") and churn is not None:
        with transaction.atomic():
            _churn_portal(churn)
    try:
        MlflowRestClient().ping()
    except MlflowUnavailable as exc:
        logger.warning("Demo: skipping the demo pipelines in MLflow: %s", exc)
        return
    uri = settings.MLFLOW_TRACKING_URI
    if fraud is not None:
        _fraud_mlflow(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    # The cadence each demo pipeline shows: churn retrains every other day, fraud weekly.
    for experiment_name, every in ((CHURN_EXPERIMENT, timedelta(days=2)), (FRAUD_EXPERIMENT, timedelta(days=7))):
        _pipeline_caught_up(client, experiment_name, every=every, now=now)
    from registry.mirror.sync import sync_execute

    sync = sync_execute(kind="full")
    if sync.status != "succeeded":
        logger.warning("Demo: the MLflow sync for the demo pipelines did not succeed: %s", sync.error)
    if fraud is not None and apps.is_installed("monitoring"):
        with transaction.atomic():
            _fraud_portal(fraud, now=now)
