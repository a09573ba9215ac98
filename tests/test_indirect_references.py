"""Identifiers named in a request body or reached through another object go through the access
module like those in the URL: an object the user may not see behaves like one that does not exist.

The attacker in each test is `outsider`, an engineer who belongs to no project: they may create a
project of their own (and so monitors in it) but may not see the private project's things."""

import pytest
from django.utils import timezone

from monitoring.models import Monitor, NotificationChannel, ReferenceProfile
from monitoring.services.monitors import monitor_create, monitor_update
from registry.errors import PortalError
from registry.models import SyncRun
from registry.promotions.models import PromotionRequest
from tests.factories import ExperimentFactory, ProjectFactory, RegisteredModelFactory, RunFactory

from .registry.gate_support import default_policy, mirror_model

pytestmark = pytest.mark.django_db

SECRET_MODEL = "pilot-demand-model"


@pytest.fixture
def secret_model(private_project):
    return RegisteredModelFactory(name=SECRET_MODEL, project=private_project, created_at=timezone.now())


@pytest.fixture
def secret_run(private_project):
    return RunFactory(experiment=ExperimentFactory(project=private_project))


@pytest.fixture
def outsiders_project(outsider):
    project = ProjectFactory(name="Outsider sandbox", visibility="private")
    project.memberships.create(user=outsider, role="lead")
    return project


def _monitor_body(project, model_name: str) -> dict:
    return {"project": project.slug, "name": "probe", "model_name": model_name, "alias": "champion"}


def test_a_monitor_cannot_point_at_a_model_of_a_project_the_user_cannot_see(
    client, outsider, outsiders_project, secret_model, mlflow_uri
):
    # The name the mirror does not know is looked up in the real MLflow server, which has neither.
    client.force_login(outsider)

    hidden = client.post("/api/v1/monitors/", _monitor_body(outsiders_project, SECRET_MODEL), "application/json")
    missing = client.post("/api/v1/monitors/", _monitor_body(outsiders_project, "no-such-model"), "application/json")

    assert hidden.status_code == missing.status_code == 400
    assert hidden.json() == missing.json() | {  # the same answer, but for the name it repeats
        "error": missing.json()["error"] | {"message": f"No registered model named {SECRET_MODEL!r}."}
    }
    assert hidden.json()["error"]["fields"] == {"model_name": ["Unknown model."]}
    assert not Monitor.objects.exists()


def test_a_member_may_point_a_monitor_at_their_projects_model(client, engineer, private_project, secret_model):
    client.force_login(engineer)
    body = _monitor_body(private_project, SECRET_MODEL) | {"expected_schema": [{"name": "x", "type": "double"}]}
    response = client.post("/api/v1/monitors/", body, "application/json")
    assert response.status_code == 201, response.content
    assert Monitor.objects.get().model_name == SECRET_MODEL


def test_editing_a_monitor_to_watch_a_hidden_model_is_refused(outsider, outsiders_project, secret_model):
    RegisteredModelFactory(name="my-model", project=outsiders_project)
    monitor = monitor_create(
        actor=outsider, project=outsiders_project, name="mine", model_name="my-model", expected_schema=[]
    )
    with pytest.raises(PortalError, match="No registered model"):
        monitor_update(actor=outsider, monitor_id=monitor.pk, model_name=SECRET_MODEL)
    monitor.refresh_from_db()
    assert monitor.model_name == "my-model"


def _reference_from_run(client, outsider, outsiders_project, run_id: str):
    """The outsider asks their own monitor to take its reference from the run named `run_id`."""
    RegisteredModelFactory(name="my-model", project=outsiders_project)
    monitor = monitor_create(
        actor=outsider, project=outsiders_project, name="mine", model_name="my-model", expected_schema=[]
    )
    client.force_login(outsider)
    return client.post(
        f"/api/v1/monitors/{monitor.pk}/reference-from-mlflow/",
        {"artifact_path": "data/train.csv", "run_id": run_id},
        "application/json",
    )


def test_a_reference_cannot_be_read_from_a_run_the_user_cannot_see(client, outsider, outsiders_project, secret_run):
    response = _reference_from_run(client, outsider, outsiders_project, secret_run.run_id)
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"run_id": ["Unknown run."]}
    assert not ReferenceProfile.objects.exists()


def test_a_reference_cannot_be_read_through_a_monitor_made_before_the_model_was_hidden(
    client, outsider, outsiders_project, secret_model
):
    # A monitor that names the model from before it moved into the private project: the model's
    # training run must still not be readable through it.
    monitor = Monitor.objects.create(project=outsiders_project, name="old", model_name=SECRET_MODEL, alias="champion")
    client.force_login(outsider)
    response = client.post(
        f"/api/v1/monitors/{monitor.pk}/reference-from-mlflow/", {"artifact_path": "data/train.csv"}, "application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"model_name": ["Unknown model."]}
    assert not ReferenceProfile.objects.exists()


def test_a_monitors_notification_addresses_are_listed_only_to_those_who_may_change_them(client, outsider, engineer):
    project = ProjectFactory(name="Shared", visibility="internal")
    project.memberships.create(user=engineer, role="lead")
    monitor = Monitor.objects.create(project=project, name="m", model_name="m", alias="champion")
    NotificationChannel.objects.create(monitor=monitor, kind="email", target="oncall@example.com")

    client.force_login(outsider)
    assert client.get(f"/api/v1/monitors/{monitor.pk}/").status_code == 200  # internal: visible
    refused = client.get(f"/api/v1/monitors/{monitor.pk}/channels/")
    assert refused.status_code == 403
    assert b"oncall@example.com" not in refused.content

    client.force_login(engineer)
    listed = client.get(f"/api/v1/monitors/{monitor.pk}/channels/")
    assert listed.status_code == 200 and listed.json()[0]["target"] == "oncall@example.com"


def test_the_sync_status_does_not_name_a_private_model_to_non_members(client, outsider, engineer, secret_model):
    SyncRun.objects.create(
        kind=SyncRun.Kind.MODEL,
        target=SECRET_MODEL,
        status=SyncRun.Status.FAILED,
        error=f"MLflow refused GET registered-models/get?name={SECRET_MODEL} (404)",
        mlflow_uri="http://127.0.0.1:9",
        started_at=timezone.now(),
    )
    client.force_login(outsider)
    for url in ("/api/v1/sync/", "/mlflow/sync/"):
        response = client.get(url)
        assert response.status_code == 200
        assert SECRET_MODEL.encode() not in response.content, url
    client.force_login(engineer)
    assert SECRET_MODEL.encode() in client.get("/api/v1/sync/").content


def test_an_engineer_cannot_request_the_promotion_of_another_teams_model(client, outsider):
    team = ProjectFactory(name="Other team", visibility="internal")
    default_policy()
    mirror_model(project=team)
    client.force_login(outsider)
    response = client.post(
        "/api/v1/promotions/",
        {"model": "churn-classifier", "version": 2, "target_alias": "champion", "justification": "mine now"},
        "application/json",
    )
    assert response.status_code == 403, response.content
    assert not PromotionRequest.objects.exists()


def test_a_run_id_that_neither_the_mirror_nor_mlflow_knows_is_an_unknown_run(
    client, outsider, outsiders_project, mlflow_uri
):
    response = _reference_from_run(client, outsider, outsiders_project, "f" * 32)
    assert response.status_code == 400 and response.json()["error"]["fields"] == {"run_id": ["Unknown run."]}
