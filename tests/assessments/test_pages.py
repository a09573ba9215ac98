"""Portfolio and scorecard pages, exports and API, for every role."""

import csv
import io

import pytest

from assessments import services
from assessments.models import AttestedAnswer, ScorecardSnapshot
from tests.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "no_role", "manager", "reviewer", "engineer", "portal_admin"]


@pytest.fixture
def as_role(client, request, private_project):
    def login(role: str):
        if role == "no_role":
            client.force_login(UserFactory(username="nobody"))
        elif role != "anonymous":
            client.force_login(request.getfixturevalue(role))
        return client

    return login


SLUG = "private-pilot"
READ = {"anonymous": 302, "no_role": 403, "manager": 200, "reviewer": 200, "engineer": 200, "portal_admin": 200}
API_READ = {**READ, "anonymous": 401}
PAGES = {
    "portfolio": ("/assessments/", READ),
    "portfolio csv": ("/assessments/portfolio.csv", READ),
    "scorecard": (f"/assessments/{SLUG}/", READ),
    "scorecard csv": (f"/assessments/{SLUG}/scorecard.csv", READ),
    "scorecard json": (f"/assessments/{SLUG}/scorecard.json", READ),
    "api portfolio": ("/api/v1/assessments/portfolio/", API_READ),
    "api scorecard": (f"/api/v1/assessments/scorecards/{SLUG}/", API_READ),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", PAGES.keys())
def test_each_role_reads_exactly_the_assessment_pages_it_may(as_role, page, role):
    url, expected = PAGES[page]
    assert as_role(role).get(url).status_code == expected[role], f"{role} on {url}"


ANSWER = {"status": "met", "evidence_url": "https://wiki.example.com/card", "note": "Written"}


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("anonymous", 302),
        ("no_role", 403),
        ("manager", 403),
        ("reviewer", 403),
        ("engineer", 302),
        ("portal_admin", 302),
    ],
)
def test_only_engineers_of_the_project_and_admins_answer_through_the_page(as_role, role, expected, private_project):
    response = as_role(role).post(f"/assessments/{SLUG}/answers/DOC-1/", ANSWER)
    assert response.status_code == expected
    stored = AttestedAnswer.objects.filter(project=private_project, criterion__code="DOC-1").exists()
    assert stored == (role in ("engineer", "portal_admin"))
    if expected == 302 and role != "anonymous":
        assert response.url.endswith("#criterion-DOC-1")


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("anonymous", 401),
        ("no_role", 403),
        ("manager", 403),
        ("reviewer", 403),
        ("engineer", 201),
        ("portal_admin", 201),
    ],
)
def test_only_engineers_of_the_project_and_admins_answer_through_the_api(as_role, role, expected):
    response = as_role(role).post(
        f"/api/v1/assessments/scorecards/{SLUG}/answers/",
        {**ANSWER, "criterion": "DOC-1"},
        content_type="application/json",
    )
    assert response.status_code == expected
    if expected != 201:
        assert response.json()["error"]["message"]


def test_an_api_answer_to_an_automatic_criterion_is_refused_with_a_message(client, engineer, private_project):
    client.force_login(engineer)
    response = client.post(
        f"/api/v1/assessments/scorecards/{SLUG}/answers/",
        {**ANSWER, "criterion": "EXP-1"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "automatically" in response.json()["error"]["message"]


def test_a_non_member_gets_404_for_a_private_projects_scorecard_everywhere(client, outsider, private_project):
    client.force_login(outsider)
    for url in [
        f"/assessments/{SLUG}/",
        f"/assessments/{SLUG}/scorecard.csv",
        f"/assessments/{SLUG}/scorecard.json",
        f"/api/v1/assessments/scorecards/{SLUG}/",
    ]:
        assert client.get(url).status_code == 404, url
    assert client.post(f"/assessments/{SLUG}/answers/DOC-1/", ANSWER).status_code == 404
    services.scorecard_recompute(project_id=private_project.pk)
    assert SLUG not in client.get("/assessments/").content.decode()
    assert SLUG not in [r["project"]["slug"] for r in client.get("/api/v1/assessments/portfolio/").json()["results"]]


def test_a_reviewer_accepts_and_challenges_from_the_scorecard(client, engineer, reviewer, private_project):
    services.answer_set(project=private_project, criterion_code="DOC-1", user=engineer, **ANSWER)
    client.force_login(reviewer)
    page = client.get(f"/assessments/{SLUG}/").content.decode()
    assert f'action="/assessments/{SLUG}/answers/DOC-1/review/"' in page
    client.post(f"/assessments/{SLUG}/answers/DOC-1/review/", {"decision": "challenged", "comment": "Empty page"})
    answer = AttestedAnswer.objects.get(project=private_project, criterion__code="DOC-1")
    assert answer.review_state == "challenged" and answer.review_comment == "Empty page"
    assert "Met, but challenged" in client.get(f"/assessments/{SLUG}/").content.decode()


def test_a_manager_sees_the_scorecard_without_answer_forms(client, manager, private_project):
    client.force_login(manager)
    page = client.get(f"/assessments/{SLUG}/").content.decode()
    assert "Level" in page and "What to tackle next" in page
    assert '/answers/DOC-1/"' not in page
    assert "Save answer" not in page


def test_the_scorecard_shows_level_gaps_evidence_charts_and_history(client, engineer, private_project):
    client.force_login(engineer)
    services.scorecard_recompute(project_id=private_project.pk)
    services.answer_set(project=private_project, criterion_code="DOC-1", user=engineer, **ANSWER)
    services.scorecard_recompute(project_id=private_project.pk)
    page = client.get(f"/assessments/{SLUG}/").content.decode()
    assert 'class="level-big-n level-0">0<' in page
    assert "Save answer" in page
    assert "https://wiki.example.com/card" in page  # the answer's evidence link
    assert 'id="category-figure"' in page and 'id="history-figure"' in page
    assert "vendor/plotly/plotly.min.js" in page and "cdn" not in page.lower()
    assert "No evidence yet" in page or "nothing to judge" in page


def test_the_scorecard_folds_its_criteria_by_category_and_its_gaps_past_five(client, engineer, private_project):
    client.force_login(engineer)
    services.scorecard_recompute(project_id=private_project.pk)
    response = client.get(f"/assessments/{SLUG}/")
    page = response.content.decode()
    gaps = len(response.context["card"].gaps)

    assert gaps > 5
    assert page.count('<details class="card criteria-card"') == len(response.context["category_rows"])
    assert f"{gaps - 5} more gaps</summary>" in page
    assert page.count('<li class="gap') == gaps  # all of them on the page, the rest folded


def test_the_scorecard_exports_as_csv_and_json(client, manager, private_project):
    client.force_login(manager)
    rows = list(csv.DictReader(io.StringIO(client.get(f"/assessments/{SLUG}/scorecard.csv").content.decode())))
    assert len(rows) >= 30 and {"code", "outcome", "evidence"} <= set(rows[0])
    data = client.get(f"/assessments/{SLUG}/scorecard.json").json()
    assert data["level"] == 0 and len(data["criteria"]) >= 30 and data["gaps"]
    api = client.get(f"/api/v1/assessments/scorecards/{SLUG}/").json()
    assert api["criteria"] == data["criteria"]


def test_the_portfolio_counts_levels_filters_and_exports(client, manager, engineer):
    high = ProjectFactory(name="High", team="Risk")
    low = ProjectFactory(name="Low", team="Growth")
    ProjectFactory(name="Unscored", team="Growth")
    for project in (high, low):
        services.scorecard_recompute(project_id=project.pk)
    ScorecardSnapshot.objects.filter(project=high).update(level=2, overall_percent=100, progress_to_next=100)
    client.force_login(manager)
    page = client.get("/assessments/").content.decode()
    assert "High" in page and "Low" in page and "not scored yet" in page
    assert 'id="heatmap-figure"' in page
    only_2 = client.get("/assessments/?level=2").content.decode()
    assert "High" in only_2 and ">Low<" not in only_2
    growth = list(csv.DictReader(io.StringIO(client.get("/assessments/portfolio.csv?team=Growth").content.decode())))
    assert sorted(r["project"] for r in growth) == ["Low", "Unscored"]
    api = client.get("/api/v1/assessments/portfolio/?level=2").json()
    assert [r["project"]["name"] for r in api["results"]] == ["High"]
    assert client.get("/api/v1/assessments/portfolio/?level=7").status_code == 400


def test_the_portfolio_shows_the_trend_since_30_and_90_days(client, manager):
    from datetime import timedelta

    from django.utils import timezone

    project = ProjectFactory(name="Trending")
    snapshot = services.scorecard_recompute(project_id=project.pk)
    ScorecardSnapshot.objects.filter(pk=snapshot.pk).update(computed_at=timezone.now() - timedelta(days=100))
    ScorecardSnapshot.objects.create(
        project=project,
        computed_at=timezone.now(),
        level=1,
        overall_percent=snapshot.overall_percent + 20,
        progress_to_next=50,
        fingerprint="later",
    )
    client.force_login(manager)
    row = client.get("/api/v1/assessments/portfolio/").json()["results"][0]
    assert row["trend_90_days"] == 20 and row["trend_30_days"] == 20 and row["level_change_90_days"] == 1
    assert "▲ level +1" in client.get("/assessments/").content.decode()


def test_a_level_lost_shows_red_whatever_the_points_did(client, manager):
    from datetime import timedelta

    from django.utils import timezone

    project = ProjectFactory(name="Fell")
    for days, level, percent in ((40, 2, 30.0), (0, 0, 62.3)):
        ScorecardSnapshot.objects.create(
            project=project,
            computed_at=timezone.now() - timedelta(days=days),
            level=level,
            overall_percent=percent,
            progress_to_next=40,
            fingerprint=f"f{days}",
        )
    client.force_login(manager)
    page = client.get("/assessments/").content.decode()
    assert '<span class="trend trend-down">▼ level -2' in page and "+32.3 pts" in page
    assert "trend-up" not in page
    assert "Progress toward a level counts every applicable criterion" in page


def test_the_maturity_entry_is_in_the_navigation_for_managers(client, manager):
    client.force_login(manager)
    assert 'href="/assessments/"' in client.get("/projects/").content.decode()


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("anonymous", 401),
        ("no_role", 403),
        ("engineer", 403),
        ("reviewer", 200),
        ("manager", 200),
        ("portal_admin", 200),
    ],
)
def test_reviewers_managers_and_admins_review_through_the_api(as_role, role, expected, private_project, outsider):
    services.answer_set(
        project=private_project, criterion_code="DOC-1", user=outsider_member(private_project, outsider), **ANSWER
    )
    response = as_role(role).post(
        f"/api/v1/assessments/scorecards/{SLUG}/answers/DOC-1/review/",
        {"decision": "challenged", "comment": "Link is empty"},
        content_type="application/json",
    )
    assert response.status_code == expected
    answer = AttestedAnswer.objects.get(project=private_project, criterion__code="DOC-1")
    assert (answer.review_state == "challenged") == (expected == 200)
    if expected != 200:
        assert response.json()["error"]["message"]


def outsider_member(project, user):
    """An engineer of the project other than the fixture users, so every role may review the answer."""
    project.memberships.create(user=user, role="member")
    return user


def test_an_api_challenge_without_a_comment_is_refused(client, engineer, reviewer, private_project):
    services.answer_set(project=private_project, criterion_code="DOC-1", user=engineer, **ANSWER)
    client.force_login(reviewer)
    response = client.post(
        f"/api/v1/assessments/scorecards/{SLUG}/answers/DOC-1/review/",
        {"decision": "challenged"},
        content_type="application/json",
    )
    assert response.status_code == 400 and "missing" in response.json()["error"]["message"]
