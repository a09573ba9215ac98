"""The promote task on a real Celery worker against the real MLflow server, and bypass detection
through the real sync."""

import threading

import pytest
from django.db import connection

from registry.errors import Conflict
from registry.mirror.sync import sync_execute
from registry.models import AuditEvent, RegisteredModel, SyncRun
from registry.promotions import outbox
from registry.promotions.decisions import promotion_approve, promotion_retry
from registry.promotions.models import GateAlert, PromotionOutbox, PromotionRequest, PromotionState
from registry.promotions.outbox import promotion_execute
from registry.promotions.requests import promotion_request_create
from registry.promotions.tasks import promotion_outbox_sweep
from registry.roles import Role
from tests.factories import UserFactory
from tests.waiting import wait_for

from .gate_support import default_policy
from .mlflow_helpers import log_run, register_version, unique


def state_of(promotion: PromotionRequest) -> str:
    return PromotionRequest.objects.values_list("state", flat=True).get(pk=promotion.pk)


@pytest.fixture
def mlflow_model(mlflow_uri, mlflow_client):
    """A model in the real MLflow with v1 (auc 0.80) at @champion and v2 (auc 0.84), mirrored by the sync."""
    name = unique("churn")
    experiment_id = mlflow_client.create_experiment(unique("churn-training"))
    for auc in (0.80, 0.84):
        register_version(mlflow_client, name, log_run(mlflow_client, experiment_id, metrics={"auc": [auc]}))
    mlflow_client.set_registered_model_alias(name, "champion", "1")
    assert sync_execute(kind=SyncRun.Kind.FULL).status == SyncRun.Status.SUCCEEDED
    default_policy(signature_check=False)  # these versions carry no model files, so no signature
    return RegisteredModel.objects.get(name=name)


def champion(mlflow_client, name: str) -> int:
    return int(mlflow_client.get_model_version_by_alias(name, "champion").version)


def _requested(model, engineer) -> PromotionRequest:
    return promotion_request_create(
        requester=engineer, model_name=model.name, version=2, target_alias="champion", justification="AUC up"
    )


def test_an_approved_request_moves_the_alias_once_on_a_real_worker(
    celery_worker, mlflow_model, mlflow_client, engineer, reviewer
):
    promotion = _requested(mlflow_model, engineer)
    promotion_approve(request_id=promotion.pk, reviewer=reviewer)
    wait_for(lambda: state_of(promotion) == PromotionState.PROMOTED, message="promotion")

    assert champion(mlflow_client, mlflow_model.name) == 2
    event = AuditEvent.objects.get(action="promotion.promoted", object_id=str(promotion.pk))
    assert event.data["alias_set"] is True
    assert event.before == {"alias": "champion", "version": 1} and event.after == {"alias": "champion", "version": 2}
    assert PromotionOutbox.objects.get(request=promotion).processed_at is not None
    mlflow_model.refresh_from_db()
    assert mlflow_model.aliases["champion"] == 2
    # The next sync sees the alias where the gate put it: no bypass.
    sync_execute(kind=SyncRun.Kind.FULL)
    assert not GateAlert.objects.exists()


@pytest.mark.django_db
def test_a_second_run_of_the_promotion_does_not_set_the_alias_again(mlflow_model, mlflow_client, engineer, reviewer):
    promotion = _requested(mlflow_model, engineer)
    promotion_approve(request_id=promotion.pk, reviewer=reviewer)
    # A first delivery set the alias in MLflow, then its worker died before recording it.
    mlflow_client.set_registered_model_alias(mlflow_model.name, "champion", "2")
    PromotionRequest.objects.filter(pk=promotion.pk).update(state=PromotionState.PROMOTING, attempts=1)

    promotion_execute(request_id=promotion.pk)

    assert state_of(promotion) == PromotionState.PROMOTED
    event = AuditEvent.objects.get(action="promotion.promoted")
    assert event.data["alias_set"] is False
    assert promotion_execute(request_id=promotion.pk) is None  # already promoted: nothing to do
    assert AuditEvent.objects.filter(action="promotion.promoted").count() == 1


def test_mlflow_down_after_approval_keeps_the_request_promoting_until_mlflow_is_back(
    celery_worker, mlflow_server, mlflow_model, mlflow_client, engineer, reviewer, settings
):
    settings.PORTAL_PROMOTION_RETRY_BACKOFF = 0.5
    settings.PORTAL_PROMOTION_RETRY_MAX_DELAY = 1.0
    settings.PORTAL_PROMOTION_MAX_RETRIES = 1000
    settings.MLFLOW_REQUEST_TIMEOUT = 1.0
    settings.MLFLOW_REQUEST_RETRIES = 0
    promotion = _requested(mlflow_model, engineer)
    mlflow_server.stop()
    try:
        promotion_approve(request_id=promotion.pk, reviewer=reviewer)
        wait_for(
            lambda: PromotionRequest.objects.get(pk=promotion.pk).attempts >= 2,
            message="two attempts against the stopped server",
        )
        assert state_of(promotion) == PromotionState.PROMOTING
    finally:
        mlflow_server.start()
    wait_for(lambda: state_of(promotion) == PromotionState.PROMOTED, message="promotion after MLflow came back")
    assert champion(mlflow_client, mlflow_model.name) == 2
    assert AuditEvent.objects.filter(action="promotion.promoted", data__alias_set=True).count() == 1


def test_a_promotion_that_runs_out_of_retries_fails_with_an_alert_and_can_be_retried(
    celery_worker, mlflow_server, mlflow_model, mlflow_client, engineer, reviewer, settings
):
    settings.PORTAL_PROMOTION_MAX_RETRIES = 0
    settings.MLFLOW_REQUEST_TIMEOUT = 1.0
    settings.MLFLOW_REQUEST_RETRIES = 0
    promotion = _requested(mlflow_model, engineer)
    mlflow_server.stop()
    try:
        promotion_approve(request_id=promotion.pk, reviewer=reviewer)
        wait_for(lambda: state_of(promotion) == PromotionState.FAILED, message="failure")
    finally:
        mlflow_server.start()
    failed = PromotionRequest.objects.get(pk=promotion.pk)
    assert "did not answer" in failed.reason
    alert = GateAlert.objects.get(kind=GateAlert.Kind.PROMOTION_FAILED)
    assert alert.request_id == promotion.pk
    assert AuditEvent.objects.filter(action="promotion.failed").count() == 1

    promotion_retry(request_id=promotion.pk, user=reviewer)
    wait_for(lambda: state_of(promotion) == PromotionState.PROMOTED, message="promotion after retry")
    assert champion(mlflow_client, mlflow_model.name) == 2
    assert GateAlert.objects.get(pk=alert.pk).resolved_at is not None


def test_the_sweeper_dispatches_an_outbox_row_a_crash_left_behind(
    celery_worker, mlflow_model, mlflow_client, engineer, reviewer, monkeypatch, settings
):
    monkeypatch.setattr(outbox, "promotion_dispatch", lambda request_id: None)  # the crash: nothing dispatched
    promotion = _requested(mlflow_model, engineer)
    promotion_approve(request_id=promotion.pk, reviewer=reviewer)
    assert state_of(promotion) == PromotionState.APPROVED
    monkeypatch.undo()

    promotion_outbox_sweep.delay()
    wait_for(lambda: state_of(promotion) == PromotionState.PROMOTED, message="promotion by the sweeper")
    assert champion(mlflow_client, mlflow_model.name) == 2


def test_twenty_concurrent_approvals_change_the_alias_in_mlflow_exactly_once(
    celery_worker, mlflow_model, mlflow_client, engineer
):
    """On PostgreSQL the row lock (SELECT ... FOR UPDATE) orders the twenty; on SQLite, which has no
    row locks, each approval is an IMMEDIATE transaction that takes the file's write lock at BEGIN
    and the others wait for it (busy timeout), so they are serialised too. Either way the first
    wins and every later one finds the request decided: Conflict."""
    reviewers = [UserFactory(username=f"rev{i}", roles=[Role.REVIEWER]) for i in range(20)]
    promotion = _requested(mlflow_model, engineer)
    barrier = threading.Barrier(20)
    conflicts: list[int] = []

    def approve(user) -> None:
        try:
            barrier.wait()
            promotion_approve(request_id=promotion.pk, reviewer=user)
        except Conflict:
            conflicts.append(user.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(user,)) for user in reviewers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wait_for(lambda: state_of(promotion) == PromotionState.PROMOTED, message="promotion")
    assert len(conflicts) == 19
    assert PromotionOutbox.objects.count() == 1
    assert champion(mlflow_client, mlflow_model.name) == 2
    assert AuditEvent.objects.filter(action="promotion.promoted", data__alias_set=True).count() == 1


@pytest.mark.django_db
def test_an_alias_moved_directly_in_mlflow_raises_a_bypass_alert_and_supersedes_pending_requests(
    mlflow_model, mlflow_client, engineer
):
    pending = _requested(mlflow_model, engineer)
    mlflow_client.set_registered_model_alias(mlflow_model.name, "champion", "2")

    sync_execute(kind=SyncRun.Kind.FULL)

    alert = GateAlert.objects.get(kind=GateAlert.Kind.BYPASS)
    assert (alert.alias, alert.old_version, alert.new_version) == ("champion", 1, 2)
    event = AuditEvent.objects.get(action="alias.bypassed")
    assert event.before == {"alias": "champion", "version": 1} and event.after == {"alias": "champion", "version": 2}
    assert mlflow_model.name in event.summary
    assert state_of(pending) == PromotionState.SUPERSEDED


def test_the_client_reads_a_missing_alias_as_none_and_sets_it(mlflow_uri, mlflow_client):
    from registry.mlflow_client import MlflowRestClient

    name = unique("aliases")
    register_version(mlflow_client, name, log_run(mlflow_client, mlflow_client.create_experiment(unique("e"))))
    client = MlflowRestClient()
    assert client.alias_version(name=name, alias="champion") is None
    assert client.alias_version(name=unique("no-such-model"), alias="champion") is None
    client.alias_set(name=name, alias="champion", version=1)
    assert client.alias_version(name=name, alias="champion") == 1
