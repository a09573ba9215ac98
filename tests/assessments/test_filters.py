"""The portfolio's filters (page, CSV export, API) refuse a value no project can have with a 400 and
a message, before it reaches the database. (A NUL character is refused earlier, for every URL, by the
portal's middleware.)"""

import pytest

from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

BAD_FILTERS = [
    ({"level": "abc"}, "level: Choose a level from 0 to 2."),
    ({"level": "7"}, "level: Choose a level from 0 to 2."),
    ({"team": "x" * 81}, "team: A team name has at most 80 characters."),
]


@pytest.fixture
def signed_in(client, manager):
    ProjectFactory(name="Listed", team="Risk")
    client.force_login(manager)
    return client


@pytest.mark.parametrize(("query", "message"), BAD_FILTERS)
def test_the_portfolio_page_refuses_a_bad_filter_with_a_400_and_says_why(signed_in, query, message):
    response = signed_in.get("/assessments/", query)
    assert response.status_code == 400
    body = response.content.decode()
    assert message in body
    assert "Listed" not in body  # nothing listed on a filter that was not understood


@pytest.mark.parametrize(("query", "message"), BAD_FILTERS)
def test_the_portfolio_csv_refuses_a_bad_filter_with_a_400_and_says_why(signed_in, query, message):
    response = signed_in.get("/assessments/portfolio.csv", query)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not response.get("Content-Disposition")


@pytest.mark.parametrize(("query", "message"), BAD_FILTERS)
def test_the_portfolio_api_refuses_a_bad_filter_with_the_portals_json_error(signed_in, query, message):
    response = signed_in.get("/api/v1/assessments/portfolio/", query)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == 400 and error["message"] == message
    assert list(error["fields"]) == list(query)


def test_good_filters_still_list_the_matching_projects(signed_in):
    ProjectFactory(name="Elsewhere", team="Growth")
    page = signed_in.get("/assessments/", {"team": "Risk", "level": ""})
    assert page.status_code == 200
    assert "Listed" in page.content.decode() and "Elsewhere" not in page.content.decode()
    api = signed_in.get("/api/v1/assessments/portfolio/", {"team": "Risk"}).json()
    assert [r["project"]["name"] for r in api["results"]] == ["Listed"]
