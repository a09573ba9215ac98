"""Monitoring criteria from real monitors, batches, channels, alerts and retrain events in the
database (the monitoring app's own models), for a project whose model has a serving alias."""

from datetime import timedelta

import pytest
from django.utils import timezone

from assessments.evidence import SOURCE_MONITORING
from assessments.evidence_sources import project_evidence
from assessments.scoring.checks import run_check
from assessments.scoring.results import Outcome
from monitoring.models import Alert, InferenceBatch, Monitor, NotificationChannel, RetrainEvent, RetrainTrigger
from registry.models import ModelVersion, RegisteredModel
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

SIGNATURE = [{"name": "age", "type": "double", "required": True}]


def served_project(name: str):
    project = ProjectFactory(name=name)
    model = RegisteredModel.objects.create(name=f"{name}-model", project=project, aliases={"champion": 2})
    for version in (1, 2):
        ModelVersion.objects.create(
            registered_model=model,
            version=version,
            signature_inputs=SIGNATURE,
            aliases=["champion"] if version == 2 else [],
            created_at=timezone.now(),
        )
    return project, model


def monitor_on(project, model, *, alias: str = "champion", active: bool = True, **fields) -> Monitor:
    return Monitor.objects.create(
        project=project, name=f"{model.name} {alias}", model_name=model.name, alias=alias, is_active=active, **fields
    )


def batch(monitor: Monitor, *, days_ago: float) -> InferenceBatch:
    at = timezone.now() - timedelta(days=days_ago)
    return InferenceBatch.objects.create(
        monitor=monitor,
        received_at=at,
        event_time=at,
        rows=100,
        columns=[{"name": "age", "type": "float64", "nulls": 0}],
        format="json",
        file_name=f"batches/{monitor.pk}-{days_ago}.json",
        size_bytes=1000,
        sha256="0" * 64,
    )


def evidence(project):
    return project_evidence(project=project, now=timezone.now(), window=timedelta(days=90))


def outcome(key: str, project) -> Outcome:
    found = evidence(project)
    assert SOURCE_MONITORING in found.sources
    return run_check(key, found).outcome


def test_a_monitor_on_the_serving_alias_with_data_this_week_meets_the_monitoring_criterion():
    project, model = served_project("watched")
    batch(monitor_on(project, model), days_ago=2)
    assert outcome("monitor_receiving_data", project) is Outcome.MET


def test_a_monitor_whose_data_stopped_or_that_watches_another_alias_does_not():
    stale, stale_model = served_project("stale")
    batch(monitor_on(stale, stale_model), days_ago=9)
    elsewhere, elsewhere_model = served_project("elsewhere")
    batch(monitor_on(elsewhere, elsewhere_model, alias="challenger"), days_ago=1)
    paused, paused_model = served_project("paused")
    batch(monitor_on(paused, paused_model, active=False), days_ago=1)
    for project in (stale, elsewhere, paused):
        assert outcome("monitor_receiving_data", project) is Outcome.NOT_MET, project.name


def test_a_monitor_pinned_to_the_serving_version_counts():
    project, model = served_project("pinned")
    batch(monitor_on(project, model, alias="", version=2), days_ago=1)
    assert outcome("monitor_receiving_data", project) is Outcome.MET


def test_alerts_are_routed_only_when_every_active_monitor_has_an_active_channel():
    project, model = served_project("routed")
    monitor = monitor_on(project, model)
    assert outcome("alerts_routed", project) is Outcome.NOT_MET
    channel = NotificationChannel.objects.create(monitor=monitor, kind="email", target="team@example.com")
    assert outcome("alerts_routed", project) is Outcome.MET
    NotificationChannel.objects.filter(pk=channel.pk).update(is_active=False)
    assert outcome("alerts_routed", project) is Outcome.NOT_MET


def _mismatch_alert(monitor: Monitor, *, opened_days_ago: int, resolved_days_ago: int | None) -> Alert:
    alert = Alert.objects.create(
        monitor=monitor,
        kind="schema_mismatch",
        dedupe_key=f"schema:{monitor.pk}:{opened_days_ago}",
        title="Column age changed type",
        status="resolved" if resolved_days_ago is not None else "open",
    )
    now = timezone.now()
    Alert.objects.filter(pk=alert.pk).update(
        created_at=now - timedelta(days=opened_days_ago),
        updated_at=now - timedelta(days=resolved_days_ago if resolved_days_ago is not None else 0),
    )
    return alert


def test_schema_mismatches_closed_within_a_week_are_fine_and_one_open_for_ten_days_is_not():
    quick, quick_model = served_project("quick")
    _mismatch_alert(monitor_on(quick, quick_model), opened_days_ago=10, resolved_days_ago=8)
    slow, slow_model = served_project("slow")
    _mismatch_alert(monitor_on(slow, slow_model), opened_days_ago=10, resolved_days_ago=None)
    assert outcome("schema_mismatches_handled", quick) is Outcome.MET
    assert outcome("schema_mismatches_handled", slow) is Outcome.NOT_MET


def test_retraining_counts_only_when_drift_triggered_it():
    project, model = served_project("retrained")
    monitor = monitor_on(project, model)
    trigger = RetrainTrigger.objects.create(monitor=monitor, url="http://127.0.0.1:9/pipeline")
    RetrainEvent.objects.create(trigger=trigger, monitor=monitor, reason="manual", payload={}, status="sent")
    assert outcome("retrain_from_drift", project) is Outcome.NOT_MET
    failed = RetrainEvent.objects.create(trigger=trigger, monitor=monitor, reason="drift", payload={}, status="failed")
    assert outcome("retrain_from_drift", project) is Outcome.NOT_MET  # a trigger that never reached the pipeline
    RetrainEvent.objects.filter(pk=failed.pk).update(status="sent")
    result = run_check("retrain_from_drift", evidence(project))
    assert result.outcome is Outcome.MET and result.links
