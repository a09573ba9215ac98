"""The gate decides on the facts of the moment someone acts: checks run again when a reviewer
approves or rejects (inside the decision's transaction), on every visit of the review page, and once
more before the promote task moves the alias. The request keeps its request-time snapshot beside."""

import pytest

from monitoring.models import Alert, Monitor
from monitoring.services.alerts import alert_raise
from registry.mlflow_client import MlflowRestClient
from registry.models import AuditEvent
from registry.promotions.decisions import promotion_approve
from registry.promotions.models import PromotionOutbox, PromotionState
from registry.promotions.outbox import checks_failing_since_approval, promotion_execute
from registry.promotions.requests import promotion_request_create
from registry.promotions.rules import ChecksFailed

from .registry.gate_support import SIGNATURE, default_policy, mirror_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def request_before_the_monitor(private_project, engineer):
    """A request made while no monitor watched the model: its drift check said "not applicable"."""
    default_policy(drift_check=True, allow_override=True)
    model = mirror_model(
        project=private_project,
        versions={
            1: {"metrics": {"auc": 0.80}, "signature": SIGNATURE},
            2: {"metrics": {"auc": 0.84}, "signature": SIGNATURE},
        },
    )
    promotion = promotion_request_create(
        requester=engineer, model_name=model.name, version=2, target_alias="champion", justification="AUC +0.04."
    )
    assert promotion.checks_passed
    assert {c["check"]: c["status"] for c in promotion.checks}["drift"] == "not_applicable"
    return promotion


def _critical_drift(project, model_name: str = "churn-classifier") -> Alert:
    monitor = Monitor.objects.create(
        project=project, name="Churn in production", model_name=model_name, alias="champion"
    )
    alert, _ = alert_raise(
        monitor=monitor, kind=Alert.Kind.WINDOW_DRIFT, key_suffix="w1", severity="critical", title="Window drifted"
    )
    return alert


def test_approving_after_drift_appeared_is_refused_without_an_override(request_before_the_monitor, reviewer):
    _critical_drift(request_before_the_monitor.registered_model.project)

    with pytest.raises(ChecksFailed, match="drift: 1 open critical drift alert"):
        promotion_approve(request_id=request_before_the_monitor.pk, reviewer=reviewer)

    request_before_the_monitor.refresh_from_db()
    assert request_before_the_monitor.state == PromotionState.PENDING
    assert not request_before_the_monitor.decisions.exists()
    assert not PromotionOutbox.objects.exists()


def test_a_policy_without_override_leaves_only_rejection_when_a_check_fails_now(request_before_the_monitor, reviewer):
    default_policy(drift_check=True, allow_override=False)
    _critical_drift(request_before_the_monitor.registered_model.project)
    with pytest.raises(ChecksFailed, match="does not allow an override"):
        promotion_approve(request_id=request_before_the_monitor.pk, reviewer=reviewer, override_reason="ship it")


def test_an_override_records_the_checks_as_they_were_at_the_decision(request_before_the_monitor, reviewer):
    _critical_drift(request_before_the_monitor.registered_model.project)

    promotion = promotion_approve(
        request_id=request_before_the_monitor.pk, reviewer=reviewer, override_reason="Drift is a known holiday spike."
    )

    decision = promotion.decisions.get()
    assert decision.checks_passed is False
    assert {c["check"]: c["status"] for c in decision.checks}["drift"] == "failed"
    event = AuditEvent.objects.get(action="promotion.approved")
    at_decision = {c["check"]: c["status"] for c in event.data["checks_at_decision"]}
    assert at_decision["drift"] == "failed"
    assert event.data["checks_changed_since_request"] == [
        {
            "check": "drift",
            "before": "not_applicable",
            "after": "failed",
            "summary": {c["check"]: c["summary"] for c in decision.checks}["drift"],
        }
    ]
    # The request-time snapshot is kept as it was.
    promotion.refresh_from_db()
    assert promotion.checks_passed and promotion.override_reason == "Drift is a known holiday spike."


def test_a_request_whose_checks_failed_when_made_but_pass_now_is_approved_without_override(
    private_project, engineer, reviewer
):
    default_policy(drift_check=True, allow_override=True)
    mirror_model(project=private_project)
    alert = _critical_drift(private_project)
    promotion = promotion_request_create(
        requester=engineer, model_name="churn-classifier", version=2, target_alias="champion", justification="."
    )
    assert not promotion.checks_passed
    Alert.objects.filter(pk=alert.pk).update(status=Alert.Status.RESOLVED)

    approved = promotion_approve(request_id=promotion.pk, reviewer=reviewer)

    assert approved.state == PromotionState.APPROVED and approved.override_reason == ""
    assert approved.decisions.get().checks_passed is True


def test_the_review_page_shows_the_checks_now_beside_the_request_time_snapshot(
    client, request_before_the_monitor, reviewer
):
    alert = _critical_drift(request_before_the_monitor.registered_model.project)
    client.force_login(reviewer)

    page = client.get(f"/promotions/{request_before_the_monitor.pk}/").content.decode()

    assert "1 changed since the request" in page
    assert "Failing" in page and "Not applicable" in page
    assert "Churn in production" in page and alert.get_absolute_url() in page  # names the monitor, links the alert
    assert 'id="gate-override"' in page  # the override field follows today's checks, not the snapshot
    for column in SIGNATURE:
        assert f"<code>{column['name']}</code> {column['type']}" in page  # inputs of candidate and holder


def test_the_promote_task_refuses_when_a_check_fails_that_passed_at_approval(request_before_the_monitor, reviewer):
    promotion_approve(request_id=request_before_the_monitor.pk, reviewer=reviewer)
    _critical_drift(request_before_the_monitor.registered_model.project)  # between approval and the task

    # Nothing listens on the discard port: had the task called MLflow, it would raise MlflowUnavailable.
    promotion = promotion_execute(
        request_id=request_before_the_monitor.pk, client=MlflowRestClient("http://127.0.0.1:9", retries=0)
    )

    assert promotion.state == PromotionState.FAILED
    assert "checks changed since the approval" in promotion.reason and "drift" in promotion.reason
    assert AuditEvent.objects.filter(action="promotion.failed").exists()


def test_a_failure_the_approval_overrode_does_not_stop_the_promote_task(request_before_the_monitor, reviewer):
    _critical_drift(request_before_the_monitor.registered_model.project)
    promotion_approve(request_id=request_before_the_monitor.pk, reviewer=reviewer, override_reason="ok")

    refused = checks_failing_since_approval(request_before_the_monitor)

    assert refused == ""  # drift failed at the approval too, and the reviewer overrode it
