"""A project's page at a glance: its maturity level, monitors, open alerts and pending promotions,
each linking on, in a fixed number of queries."""

import pytest
from django.utils import timezone

from assessments.models import ScorecardSnapshot
from monitoring.models import Alert
from monitoring.services.monitors import monitor_create
from tests.factories import ModelVersionFactory, ProjectFactory, PromotionRequestFactory, RegisteredModelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(engineer, manager, reviewer):
    project = ProjectFactory(name="Churn", visibility="private")
    project.memberships.create(user=engineer, role="lead")
    project.memberships.create(user=manager, role="member")
    project.memberships.create(user=reviewer, role="member")
    return project


def _monitor(project, name):
    return monitor_create(
        actor=None, project=project, name=name, model_name="churn-model", alias="champion", expected_schema=[]
    )


def _alert(monitor, key, severity=Alert.Severity.WARNING):
    return Alert.objects.create(
        monitor=monitor, kind=Alert.Kind.VOLUME, severity=severity, dedupe_key=key, title=f"alert {key}"
    )


def _pending(project, engineer, alias):
    model = RegisteredModelFactory(name=f"model-{alias}", project=project)
    version = ModelVersionFactory(registered_model=model)
    return PromotionRequestFactory(
        model_version=version, target_alias=alias, requested_by=engineer, justification="Better recall"
    )


def test_the_page_shows_level_monitors_open_alerts_and_pending_promotions_with_links(
    client, manager, project, engineer
):
    ScorecardSnapshot.objects.create(
        project=project,
        computed_at=timezone.now(),
        level=1,
        overall_percent=60,
        progress_to_next=40,
        fingerprint="x",
    )
    monitor = _monitor(project, "churn-watch")
    critical = _alert(monitor, "critical-one", Alert.Severity.CRITICAL)
    _alert(monitor, "warning-one")
    promotion = _pending(project, engineer, "champion")

    client.force_login(manager)
    body = client.get(project.get_absolute_url()).content.decode()

    assert f'<a href="/assessments/{project.slug}/">Level 1</a>' in body
    assert "40 % of the way to level 2" in body
    assert f'href="{monitor.get_absolute_url()}">churn-watch</a>' in body
    assert body.index("alert critical-one") < body.index("alert warning-one"), "the critical alert first"
    assert f'href="{critical.get_absolute_url()}"' in body
    assert f'href="/promotions/{promotion.pk}/">model-champion v{promotion.version} → @champion</a>' in body


def test_an_empty_project_says_so_in_words(client, manager, project):
    client.force_login(manager)
    body = client.get(project.get_absolute_url()).content.decode()
    assert "Not scored yet" in body
    assert "No monitor watches this project's models yet." in body
    assert "No open alerts" in body
    assert "No promotion of this project's models is waiting for a decision." in body
    assert "New monitor" not in body, "a manager does not create monitors"


def test_an_engineer_of_the_project_is_offered_a_new_monitor(client, engineer, project):
    client.force_login(engineer)
    assert 'href="/monitors/new/">New monitor</a>' in client.get(project.get_absolute_url()).content.decode()


def _queries_for(client, project, django_assert_max_num_queries, cap):
    with django_assert_max_num_queries(cap) as captured:
        assert client.get(project.get_absolute_url()).status_code == 200
    return len(captured.captured_queries)


def test_the_page_costs_the_same_queries_however_many_monitors_alerts_and_requests(
    client, manager, project, engineer, django_assert_max_num_queries
):
    client.force_login(manager)
    first = _monitor(project, "watch-0")
    _alert(first, "a-0")
    _pending(project, engineer, "alias-0")
    few = _queries_for(client, project, django_assert_max_num_queries, 40)
    for n in range(1, 8):
        monitor = _monitor(project, f"watch-{n}")
        _alert(monitor, f"a-{n}")
        _pending(project, engineer, f"alias-{n}")
    many = _queries_for(client, project, django_assert_max_num_queries, 40)
    # One count is added once there are more requests than the page names; alerts are counted from
    # the monitors' rows.
    assert many == few + 1
    body = client.get(project.get_absolute_url()).content.decode()
    assert "8 open in all" in body and "All 8 in the queue" in body


def test_with_one_monitor_the_rest_of_its_alerts_are_one_link_away(client, manager, project):
    monitor = _monitor(project, "only-watch")
    for n in range(6):
        _alert(monitor, f"only-{n}")
    client.force_login(manager)
    body = client.get(project.get_absolute_url()).content.decode()
    assert f'href="/alerts/?monitor={monitor.pk}&amp;status=open">All 6 open alerts</a>' in body
