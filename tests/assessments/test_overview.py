"""The admin's overview of what needs attention, and the admin site's page for everyone else."""

from datetime import timedelta

import pytest
from django.utils import timezone

from assessments.models import AnswerStatus, AttestedAnswer, Criterion
from monitoring.models import Alert
from monitoring.services.monitors import monitor_create
from registry.models import SyncRun, WorkerHeartbeat
from registry.promotions.models import PromotionRequest, PromotionState
from tests.factories import ModelVersionFactory, ProjectFactory, RegisteredModelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def trouble(engineer):
    """One of each thing the overview is for, in a private project the admin is not a member of."""
    now = timezone.now()
    project = ProjectFactory(name="Quiet pilot", visibility="private")
    SyncRun.objects.create(
        kind=SyncRun.Kind.INCREMENTAL,
        status=SyncRun.Status.FAILED,
        started_at=now - timedelta(minutes=5),
        finished_at=now - timedelta(minutes=5),
        error="MLflow answered 503",
    )
    version = ModelVersionFactory(registered_model=RegisteredModelFactory(name="pilot-model", project=project))
    PromotionRequest.objects.create(
        registered_model=version.registered_model,
        model_version=version,
        target_alias="champion",
        version=version.version,
        requested_by=engineer,
        justification="Better recall",
        state=PromotionState.FAILED,
        decided_at=now - timedelta(minutes=20),
        reason="MLflow refused the alias: permission denied",
    )
    monitor = monitor_create(
        actor=None, project=project, name="pilot-watch", model_name="pilot-model", alias="champion", expected_schema=[]
    )
    Alert.objects.create(
        monitor=monitor,
        kind=Alert.Kind.SCHEMA_MISMATCH,
        severity=Alert.Severity.CRITICAL,
        dedupe_key="pilot-schema",
        title="price arrived as text",
    )
    Alert.objects.create(
        monitor=monitor, kind=Alert.Kind.VOLUME, dedupe_key="pilot-volume", title="Few rows (warning only)"
    )
    criterion = Criterion.objects.filter(kind=Criterion.Kind.ATTESTED).order_by("code").first()
    AttestedAnswer.objects.create(
        project=project,
        criterion=criterion,
        status=AnswerStatus.MET,
        answered_by=engineer,
        answered_at=now - timedelta(days=400),
    )
    WorkerHeartbeat.objects.create(hostname="celery@old-box", last_seen=now - timedelta(hours=3))
    return project


def _section(body: str, key: str) -> str:
    start = body.index(f'id="attention-{key}"')
    return body[start : body.index("</section>", start)]


def test_the_overview_names_each_thing_that_needs_attention_with_a_link(client, portal_admin, trouble):
    client.force_login(portal_admin)
    body = client.get("/overview/").content.decode()

    assert "5 of 5 parts need attention" in body
    assert "Not made good by a later pass yet: MLflow answered 503" in _section(body, "syncs")
    promotions = _section(body, "promotions")
    failed = PromotionRequest.objects.get(state=PromotionState.FAILED)
    assert f'href="/promotions/{failed.pk}/"' in promotions and "permission denied" in promotions
    alerts = _section(body, "alerts")
    assert "price arrived as text" in alerts and "1 open" in alerts and "seen just now" in alerts
    assert "Few rows" not in alerts, "a warning is not a critical alert"
    answers = _section(body, "answers")
    assert f'href="/assessments/{trouble.slug}/"' in answers and "1 answer to confirm again" in answers
    assert "celery@old-box" in _section(body, "workers")


def test_a_calm_portal_says_so_in_words(client, portal_admin):
    WorkerHeartbeat.objects.create(hostname="celery@box", last_seen=timezone.now())
    client.force_login(portal_admin)
    body = client.get("/overview/").content.decode()

    assert "Nothing needs your attention" in body
    assert "No critical alert is open." in body
    assert "Every worker reported in the last 120 seconds." in body


def test_the_overview_costs_the_same_queries_however_much_needs_attention(
    client, portal_admin, trouble, engineer, django_assert_max_num_queries
):
    project = trouble
    monitor = project.monitors.get()
    for n in range(12):
        Alert.objects.create(
            monitor=monitor,
            kind=Alert.Kind.SCHEMA_MISMATCH,
            severity=Alert.Severity.CRITICAL,
            dedupe_key=f"more-{n}",
            title=f"critical {n}",
        )
    client.force_login(portal_admin)
    with django_assert_max_num_queries(20):
        body = client.get("/overview/").content.decode()
    assert "The first 5 of 13." in _section(body, "alerts")


@pytest.mark.parametrize("role", ["manager", "reviewer", "engineer"])
def test_only_admins_get_the_overview(client, request, role):
    client.force_login(request.getfixturevalue(role))
    assert client.get("/overview/").status_code == 403


def test_the_overview_comes_first_in_the_admins_navigation_and_is_their_home(client, portal_admin):
    client.force_login(portal_admin)
    assert client.get("/").headers["Location"] == "/overview/"
    nav = client.get("/overview/").context["nav_items"]
    assert nav[0]["label"] == "Overview" and nav[0]["current"]


def test_other_roles_have_no_overview_entry(client, manager):
    client.force_login(manager)
    assert "Overview" not in [item["label"] for item in client.get("/assessments/").context["nav_items"]]


def test_a_manager_opening_the_admin_site_is_told_it_is_for_administrators(client, manager):
    client.force_login(manager)
    response = client.get("/admin/")
    assert response.status_code == 403
    body = response.content.decode()
    assert "The admin site is for administrators" in body
    assert 'href="/"' in body and 'name="password"' not in body


def test_staff_get_the_admin_site_and_visitors_its_sign_in(client, portal_admin):
    assert client.get("/admin/").headers["Location"].startswith("/admin/login/")
    client.force_login(portal_admin)
    assert client.get("/admin/").status_code == 200
