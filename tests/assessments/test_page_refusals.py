"""The assessment pages answer a service's refusal the portal's one way (registry.live.action_refused):
the Not allowed page with the reason for a 403, a flash on the scorecard otherwise, JSON for a script."""

import pytest
from django.contrib.messages import get_messages

from assessments import services
from assessments.models import AttestedAnswer

pytestmark = pytest.mark.django_db

SLUG = "private-pilot"
ANSWER = {"status": "met", "evidence_url": "https://wiki.example.com/card", "note": "Written"}


def test_reviewing_your_own_answer_on_the_page_shows_not_allowed_with_the_reason(client, portal_admin, private_project):
    services.answer_set(project=private_project, criterion_code="DOC-1", user=portal_admin, **ANSWER)
    client.force_login(portal_admin)
    response = client.post(f"/assessments/{SLUG}/answers/DOC-1/review/", {"decision": "accepted"})
    assert response.status_code == 403
    assert "Not allowed" in response.content.decode()
    assert "You cannot review your own answer." in response.content.decode()
    assert AttestedAnswer.objects.get(project=private_project).review_state == "pending"


def test_an_answer_to_an_automatic_criterion_is_flashed_on_the_scorecard_at_the_criterion(
    client, engineer, private_project
):
    client.force_login(engineer)
    response = client.post(f"/assessments/{SLUG}/answers/EXP-1/", ANSWER)
    assert response.status_code == 302 and response.url.endswith(f"/assessments/{SLUG}/#criterion-EXP-1")
    flashed = [str(m) for m in get_messages(response.wsgi_request)]
    assert flashed == ["EXP-1 is checked automatically from the evidence; it takes no answer."]
    assert not AttestedAnswer.objects.exists()


def test_a_script_posting_a_refused_answer_gets_the_api_error_shape(client, engineer, private_project):
    client.force_login(engineer)
    response = client.post(f"/assessments/{SLUG}/answers/EXP-1/", ANSWER, headers={"Accept": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_answer" and "checked automatically" in error["message"]


def test_the_overview_tells_a_manager_it_is_for_administrators(client, manager):
    client.force_login(manager)
    response = client.get("/overview/")
    assert response.status_code == 403
    assert "The overview is for administrators." in response.content.decode()
