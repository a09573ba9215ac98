"""The promotion gate's rules, enforced by the services and the database."""

import threading

import pytest
from django.db import IntegrityError, connection, transaction

from registry.errors import Conflict, PermissionDenied, PortalError
from registry.models import AuditEvent
from registry.promotions import checks_run, outbox
from registry.promotions.bypass import promotions_stale_supersede
from registry.promotions.checks import CheckOutcome, CheckStatus
from registry.promotions.decisions import promotion_approve, promotion_reject
from registry.promotions.models import PromotionDecision, PromotionOutbox, PromotionRequest, PromotionState
from registry.promotions.policies import policy_for, policy_save
from registry.promotions.requests import (
    promotion_cancel,
    promotion_request_create,
    promotion_rollback_request,
    rollback_target,
)
from registry.roles import Role
from tests.factories import PromotionRequestFactory, UserFactory

from .gate_support import SIGNATURE, default_policy, mirror_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def model(db):
    default_policy()
    return mirror_model()


def _request(engineer, **kwargs):
    values = {
        "model_name": "churn-classifier",
        "version": 2,
        "target_alias": "champion",
        "justification": "Better AUC.",
    }
    return promotion_request_create(requester=engineer, **{**values, **kwargs})


def test_a_request_snapshots_the_version_and_runs_the_checks(model, engineer):
    promotion = _request(engineer)
    assert promotion.state == PromotionState.PENDING
    version = model.versions.get(version=2)
    assert (promotion.version, promotion.run_id, promotion.source) == (2, version.run_id, version.source)
    assert promotion.signature_inputs == SIGNATURE
    assert promotion.holder_version == 1
    by_name = {check["check"]: check for check in promotion.checks}
    assert by_name["metric"]["status"] == "passed"
    assert by_name["metric"]["details"]["holder"] == 0.80
    assert by_name["signature"]["status"] == "passed"
    assert promotion.checks_passed
    assert AuditEvent.objects.filter(action="promotion.requested", object_id=str(promotion.pk)).count() == 1


def test_drift_and_maturity_report_not_configured_until_an_app_registers_them(model, engineer, monkeypatch):
    # Monitoring and assessments register theirs when their apps load; start from a gate without them.
    monkeypatch.setattr(checks_run, "GATE_CHECKS", {})
    default_policy(maturity_min_level=1)
    promotion = _request(engineer)
    by_name = {check["check"]: check for check in promotion.checks}
    assert by_name["drift"]["status"] == "not_configured"
    assert by_name["maturity"]["status"] == "not_configured"
    assert promotion.checks_passed  # "not configured" never blocks

    monkeypatch.setitem(
        checks_run.GATE_CHECKS,
        "drift",
        lambda context: CheckOutcome("drift", CheckStatus.FAILED, f"critical drift on v{context.candidate.version}"),
    )
    promotion = _request(engineer, version=2, target_alias="production")
    by_name = {check["check"]: check for check in promotion.checks}
    assert by_name["drift"] == {"check": "drift", "status": "failed", "summary": "critical drift on v2", "details": {}}
    assert not promotion.checks_passed


def test_a_worse_metric_fails_the_check_with_the_numbers(engineer):
    default_policy()
    mirror_model(versions={1: {"metrics": {"auc": 0.85}}, 2: {"metrics": {"auc": 0.80}}})
    promotion = _request(engineer)
    metric = next(check for check in promotion.checks if check["check"] == "metric")
    assert metric["status"] == "failed"
    assert metric["details"]["candidate"] == 0.80 and metric["details"]["holder"] == 0.85
    assert not promotion.checks_passed


def test_only_governed_aliases_and_existing_versions_can_be_requested(model, engineer):
    with pytest.raises(PortalError, match="not governed"):
        _request(engineer, target_alias="staging")
    with pytest.raises(PortalError, match="no version 9"):
        _request(engineer, version=9)
    with pytest.raises(Conflict, match="already holds"):
        _request(engineer, version=1)


def test_reviewers_and_managers_cannot_request(model, reviewer, manager):
    for user in (reviewer, manager):
        with pytest.raises(PermissionDenied):
            _request(user)
    assert not PromotionRequest.objects.exists()


def test_one_open_request_per_version_and_alias(model, engineer):
    _request(engineer)
    with pytest.raises(Conflict, match="already has an open request"):
        _request(engineer)
    assert PromotionRequest.objects.count() == 1


def test_the_database_refuses_a_second_open_request_for_the_same_version_and_alias(model, engineer):
    promotion = _request(engineer)
    promotion.pk = None
    with pytest.raises(IntegrityError), transaction.atomic():
        promotion.save()


def test_requester_cannot_approve_their_own_request(model, engineer):
    engineer.groups.add(*UserFactory(username="tmp", roles=[Role.REVIEWER]).groups.all())
    engineer = type(engineer).objects.get(pk=engineer.pk)  # roles are cached per instance
    promotion = _request(engineer)
    with pytest.raises(PermissionDenied, match="someone else"):
        promotion_approve(request_id=promotion.pk, reviewer=engineer)
    assert not PromotionDecision.objects.exists()


def test_the_database_refuses_a_decision_by_the_requester(model, engineer):
    promotion = _request(engineer)
    with pytest.raises(IntegrityError), transaction.atomic():
        PromotionDecision.objects.create(request=promotion, reviewer=engineer, requester=engineer, verdict="approve")


def test_engineers_cannot_approve(model, engineer, outsider):
    promotion = _request(engineer)
    with pytest.raises(PermissionDenied):
        promotion_approve(request_id=promotion.pk, reviewer=outsider)


def test_one_approval_approves_and_writes_one_outbox_row(model, engineer, reviewer, django_capture_on_commit_callbacks):
    promotion = _request(engineer)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        promotion = promotion_approve(request_id=promotion.pk, reviewer=reviewer, comment="ok")
    assert promotion.state == PromotionState.APPROVED
    assert PromotionOutbox.objects.filter(request=promotion).count() == 1
    assert len(callbacks) == 2  # dispatch the task, mail the requester
    assert AuditEvent.objects.filter(action="promotion.approved", actor=reviewer).count() == 1


def test_n_of_m_approvals_and_one_decision_per_reviewer(model, engineer, reviewer):
    default_policy(approvals_required=2)
    second = UserFactory(username="rita", roles=[Role.REVIEWER])
    promotion = _request(engineer)
    assert promotion.approvals_required == 2
    promotion_approve(request_id=promotion.pk, reviewer=reviewer)
    promotion.refresh_from_db()
    assert promotion.state == PromotionState.PENDING
    assert not PromotionOutbox.objects.exists()
    with pytest.raises(Conflict, match="already decided"):
        promotion_approve(request_id=promotion.pk, reviewer=reviewer)
    promotion_approve(request_id=promotion.pk, reviewer=second)
    promotion.refresh_from_db()
    assert promotion.state == PromotionState.APPROVED
    assert PromotionOutbox.objects.count() == 1


def test_any_rejection_rejects_and_needs_a_comment(model, engineer, reviewer, mailoutbox):
    default_policy(approvals_required=2)
    second = UserFactory(username="rita", roles=[Role.REVIEWER])
    promotion = _request(engineer)
    promotion_approve(request_id=promotion.pk, reviewer=reviewer)
    with pytest.raises(PortalError, match="why"):
        promotion_reject(request_id=promotion.pk, reviewer=second, comment=" ")
    promotion_reject(request_id=promotion.pk, reviewer=second, comment="Leaky feature.")
    promotion.refresh_from_db()
    assert promotion.state == PromotionState.REJECTED
    assert not PromotionOutbox.objects.exists()


def test_an_approval_on_a_decided_request_is_a_conflict_that_changes_nothing(model, engineer, reviewer):
    second = UserFactory(username="rita", roles=[Role.REVIEWER])
    promotion = _request(engineer)
    promotion_reject(request_id=promotion.pk, reviewer=reviewer, comment="No.")
    with pytest.raises(Conflict) as raised:
        promotion_approve(request_id=promotion.pk, reviewer=second)
    assert raised.value.status_code == 409
    assert PromotionDecision.objects.count() == 1


def test_a_stale_request_cannot_be_approved(model, engineer, reviewer):
    promotion = _request(engineer)
    version = model.versions.get(version=2)
    version.source = "mlflow-artifacts:/models/elsewhere"
    version.save()
    with pytest.raises(Conflict, match="changed in MLflow"):
        promotion_approve(request_id=promotion.pk, reviewer=reviewer)
    with pytest.raises(Conflict, match="about version 2, not 3"):
        promotion_approve(request_id=promotion.pk, reviewer=reviewer, expected_version=3)
    promotion.refresh_from_db()
    assert promotion.state == PromotionState.PENDING
    assert not PromotionDecision.objects.exists()
    assert promotions_stale_supersede() == 1
    promotion.refresh_from_db()
    assert promotion.state == PromotionState.SUPERSEDED


def test_failed_checks_block_approval_unless_the_policy_allows_a_written_override(engineer, reviewer):
    policy = default_policy()
    mirror_model(versions={1: {"metrics": {"auc": 0.85}}, 2: {"metrics": {"auc": 0.70}}})
    promotion = _request(engineer)
    with pytest.raises(Conflict, match="does not allow an override"):
        promotion_approve(request_id=promotion.pk, reviewer=reviewer)
    policy.allow_override = True
    policy.save()
    with pytest.raises(Conflict, match="override reason"):
        promotion_approve(request_id=promotion.pk, reviewer=reviewer)
    promotion = promotion_approve(
        request_id=promotion.pk, reviewer=reviewer, override_reason="AUC dropped on purpose: fairer model."
    )
    assert promotion.state == PromotionState.APPROVED
    assert promotion.overridden
    event = AuditEvent.objects.get(action="promotion.approved")
    assert "OVERRIDING" in event.summary
    assert event.data["override_reason"].startswith("AUC dropped")


def test_a_policy_can_restrict_approvers_to_named_users(model, engineer, reviewer, portal_admin):
    policy = default_policy()
    named = UserFactory(username="rita", roles=[Role.REVIEWER])
    policy.approver_users.set([named])
    promotion = _request(engineer)
    with pytest.raises(PermissionDenied, match="names who may decide"):
        promotion_approve(request_id=promotion.pk, reviewer=reviewer)
    promotion_approve(request_id=promotion.pk, reviewer=named)


def test_only_the_requester_cancels_a_pending_request(model, engineer, outsider, reviewer):
    promotion = _request(engineer)
    with pytest.raises(PermissionDenied):
        promotion_cancel(request_id=promotion.pk, user=outsider)
    promotion_cancel(request_id=promotion.pk, user=engineer)
    promotion.refresh_from_db()
    assert promotion.state == PromotionState.CANCELLED
    with pytest.raises(Conflict):
        promotion_approve(request_id=promotion.pk, reviewer=reviewer)


def test_reviewers_get_mail_when_a_request_awaits_them_and_the_requester_when_decided(
    model, engineer, reviewer, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        promotion = _request(engineer)
    assert [m.to for m in mailoutbox] == [[reviewer.email]]
    assert "awaits your review" in mailoutbox[0].subject
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        promotion_reject(request_id=promotion.pk, reviewer=reviewer, comment="Not yet.")
    for callback in callbacks:
        callback()
    assert mailoutbox[-1].to == [engineer.email]
    assert "rejected" in mailoutbox[-1].subject


def test_policy_changes_are_admin_only_and_audited_with_before_and_after(model, portal_admin, reviewer):
    with pytest.raises(PermissionDenied):
        policy_save(editor=reviewer, registered_model=model, approvals_required=3)
    policy_save(editor=portal_admin, registered_model=model, approvals_required=2, governed_aliases=["champion"])
    policy_save(editor=portal_admin, registered_model=model, approvals_required=3, governed_aliases=["champion"])
    event = AuditEvent.objects.filter(action="policy.changed").get()
    assert event.before["approvals_required"] == 2 and event.after["approvals_required"] == 3
    assert policy_for(registered_model=model).approvals_required == 3


def test_a_rollback_points_the_alias_back_through_the_gate_with_a_single_approval(model, engineer, reviewer):
    default_policy(approvals_required=2)
    PromotionRequestFactory(
        model_version=model.versions.get(version=2),
        holder_version=1,
        requested_by=engineer,
        state=PromotionState.PROMOTED,
        promoted_at="2026-01-01T00:00Z",
    )
    model.aliases = {"champion": 2}
    model.save()
    assert rollback_target(registered_model=model, alias="champion") == 1
    promotion = promotion_rollback_request(
        requester=engineer, model_name=model.name, alias="champion", justification="v2 misbehaves"
    )
    assert promotion.is_rollback and promotion.version == 1 and promotion.approvals_required == 1


@pytest.mark.django_db(transaction=True)
def test_twenty_reviewers_approving_at_once_write_exactly_one_outbox_row(engineer, monkeypatch):
    """On PostgreSQL the row lock (SELECT ... FOR UPDATE) orders the twenty; on SQLite, which has no
    row locks, each approval is an IMMEDIATE transaction that takes the file's write lock at BEGIN
    and the others wait for it (busy timeout), so they are serialised too. Either way the first
    wins and every later one finds the request decided: Conflict."""
    dispatched: list[int] = []
    monkeypatch.setattr(outbox, "promotion_dispatch", dispatched.append)
    default_policy()
    mirror_model()
    reviewers = [UserFactory(username=f"rev{i}", roles=[Role.REVIEWER]) for i in range(20)]
    promotion = _request(engineer)
    barrier = threading.Barrier(20)
    outcomes: list[str] = []

    def approve(user) -> None:
        try:
            barrier.wait()
            promotion_approve(request_id=promotion.pk, reviewer=user)
            outcomes.append("approved")
        except Conflict:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(user,)) for user in reviewers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["approved"] + ["conflict"] * 19
    assert PromotionOutbox.objects.count() == 1
    assert PromotionDecision.objects.count() == 1
    assert dispatched == [promotion.pk]
    assert AuditEvent.objects.filter(action="promotion.approved").count() == 1


def test_a_policy_can_restrict_approvers_to_a_group(model, engineer, reviewer):
    from django.contrib.auth.models import Group

    board = Group.objects.create(name="Model risk board")
    member = UserFactory(username="bo", roles=[Role.REVIEWER])
    member.groups.add(board)
    default_policy(approver_group=board)
    promotion = _request(engineer)
    with pytest.raises(PermissionDenied, match="names who may decide"):
        promotion_approve(request_id=promotion.pk, reviewer=reviewer)
    assert promotion_approve(request_id=promotion.pk, reviewer=member).state == PromotionState.APPROVED


def test_a_registered_check_that_crashes_blocks_instead_of_breaking_the_request(model, engineer, monkeypatch):
    def broken(context):
        raise RuntimeError("monitoring database unreachable")

    monkeypatch.setitem(checks_run.GATE_CHECKS, "drift", broken)
    promotion = _request(engineer)
    drift = next(check for check in promotion.checks if check["check"] == "drift")
    assert drift["status"] == "failed" and "monitoring database unreachable" in drift["summary"]
    assert not promotion.checks_passed
