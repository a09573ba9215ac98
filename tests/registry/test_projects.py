"""Creating and editing projects, in the browser and through the API."""

import pytest

from registry.models import Project

pytestmark = pytest.mark.django_db


def test_an_engineer_creates_a_project_in_the_browser_and_leads_it(client, engineer, reviewer):
    client.force_login(engineer)
    response = client.post(
        "/projects/new/",
        {
            "name": "Churn v2",
            "team": "Growth",
            "visibility": "private",
            "description": "Next churn model",
            "members": [reviewer.pk],
        },
    )
    project = Project.objects.get(name="Churn v2")
    assert response.status_code == 302
    assert response.url == project.get_absolute_url()
    roles = dict(project.memberships.values_list("user__username", "role"))
    assert roles == {engineer.username: "lead", reviewer.username: "member"}
    page = client.get(project.get_absolute_url())
    assert b"Churn v2" in page.content and b"Next churn model" in page.content


def test_a_duplicate_project_name_is_refused_with_the_reason_and_nothing_is_created(client, engineer):
    client.force_login(engineer)
    client.post("/api/v1/projects/", {"name": "Fraud"}, content_type="application/json")
    response = client.post("/api/v1/projects/", {"name": "fraud"}, content_type="application/json")
    assert response.status_code == 409
    assert "already exists" in response.json()["error"]["message"]
    assert Project.objects.filter(name__iexact="fraud").count() == 1

    page = client.post("/projects/new/", {"name": "FRAUD", "visibility": "internal"})
    assert page.status_code == 400
    assert "This name is taken." in page.content.decode()


def test_api_validation_errors_name_the_field(client, engineer):
    client.force_login(engineer)
    response = client.post(
        "/api/v1/projects/", {"name": "", "visibility": "secret", "members": ["ghost"]}, content_type="application/json"
    )
    body = response.json()["error"]
    assert response.status_code == 400
    assert set(body["fields"]) == {"name", "visibility", "members"}
    assert body["message"].startswith("name:")
    assert not Project.objects.exists()


def test_a_member_engineer_edits_the_project_and_the_members(client, engineer, reviewer, manager):
    client.force_login(engineer)
    client.post(
        "/api/v1/projects/", {"name": "Forecast", "members": [reviewer.username]}, content_type="application/json"
    )
    response = client.put(
        "/api/v1/projects/forecast/",
        {"name": "Forecast 2", "team": "Supply", "members": [manager.username]},
        content_type="application/json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["slug"] == "forecast-2"
    assert {m["username"]: m["role"] for m in body["members"]} == {
        engineer.username: "lead",
        manager.username: "member",
    }


def test_removing_every_lead_is_refused_and_changes_nothing(client, engineer, reviewer):
    client.force_login(engineer)
    client.post("/api/v1/projects/", {"name": "Ranking"}, content_type="application/json")
    response = client.post(
        "/projects/ranking/edit/", {"name": "Ranking renamed", "visibility": "internal", "members": [reviewer.pk]}
    )
    assert response.status_code == 400
    assert "at least one lead" in response.content.decode()
    project = Project.objects.get(slug="ranking")
    assert project.name == "Ranking"
    assert list(project.memberships.values_list("user__username", "role")) == [(engineer.username, "lead")]


def test_project_list_filters_by_team_and_counts_members_in_constant_queries(client, manager):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import MembershipFactory, ProjectFactory

    def add_projects(first: int, last: int) -> None:
        for n in range(first, last):
            project = ProjectFactory(name=f"P{n:02}", team="A" if n % 2 else "B")
            MembershipFactory.create_batch(3, project=project)

    client.force_login(manager)
    add_projects(0, 4)
    with CaptureQueriesContext(connection) as few:
        client.get("/projects/?team=A")
    add_projects(4, 40)
    with CaptureQueriesContext(connection) as many:
        response = client.get("/projects/?team=A")
    assert len(many) == len(few), "the project list must not query per project"
    page = response.context["page"]
    assert page.paginator.count == 20
    assert all(p.team == "A" and p.member_count == 3 for p in page.object_list)
    assert len(page.object_list) == 20
