"""The gate's API: the same rules as the pages, JSON errors with the right 4xx, in the schema."""

import pytest

from registry.promotions.models import PromotionRequest, PromotionState
from registry.roles import Role
from registry.services import api_token_rotate
from tests.factories import UserFactory

from .gate_support import default_policy, mirror_model

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "manager", "reviewer", "engineer", "portal_admin", "outsider", "other_reviewer"]


@pytest.fixture
def model(private_project):
    default_policy()
    return mirror_model(project=private_project)


@pytest.fixture
def api(client, request):
    def as_role(role: str):
        if role == "other_reviewer":
            client.force_login(UserFactory(username="rex", roles=[Role.REVIEWER]))
        elif role != "anonymous":
            client.force_login(request.getfixturevalue(role))
        return client

    return as_role


@pytest.fixture
def pending(api, model, engineer):
    response = api("engineer").post(
        "/api/v1/promotions/",
        {"model": model.name, "version": 2, "target_alias": "champion", "justification": "From the pipeline."},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    api("anonymous").logout()
    return response.json()


def test_a_pipeline_requests_a_promotion_with_a_token_and_reads_its_checks(client, model, engineer):
    headers = {"HTTP_AUTHORIZATION": f"Token {api_token_rotate(user=engineer)}"}
    response = client.post(
        "/api/v1/promotions/",
        {"model": model.name, "version": 2, "target_alias": "champion", "justification": "nightly run 42"},
        content_type="application/json",
        **headers,
    )
    assert response.status_code == 201
    body = response.json()
    assert body["state"] == "pending" and body["version"] == 2 and body["holder_version"] == 1
    assert {check["check"]: check["status"] for check in body["checks"]}["metric"] == "passed"
    read = client.get(f"/api/v1/promotions/{body['id']}/", **headers).json()
    assert read["checks"] == body["checks"] and read["approvals"] == 0


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("anonymous", 401),
        ("manager", 403),
        ("reviewer", 403),
        ("engineer", 201),
        ("portal_admin", 201),
        ("outsider", 400),  # cannot see the private project's model: "no such model"
    ],
)
def test_only_engineers_and_admins_create_requests(api, model, role, expected):
    response = api(role).post(
        "/api/v1/promotions/",
        {"model": model.name, "version": 2, "target_alias": "champion", "justification": "x"},
        content_type="application/json",
    )
    assert response.status_code == expected
    if expected != 201:
        assert response.json()["error"]["message"]


READS = {
    "list": ("/api/v1/promotions/", {"anonymous": 401, "manager": 200, "reviewer": 200, "engineer": 200}),
    "read": ("/api/v1/promotions/{id}/", {"anonymous": 401, "manager": 200, "reviewer": 200, "engineer": 200}),
    "audit": ("/api/v1/audit-events/", {"anonymous": 401, "manager": 200, "reviewer": 200, "engineer": 403}),
}
READS["list"][1].update(portal_admin=200, outsider=200, other_reviewer=200)
READS["read"][1].update(portal_admin=200, outsider=404, other_reviewer=404)
READS["audit"][1].update(portal_admin=200, outsider=403, other_reviewer=200)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("read", READS.keys())
def test_each_role_reads_exactly_what_it_may(api, pending, read, role):
    url, expected = READS[read]
    response = api(role).get(url.format(id=pending["id"]))
    assert response.status_code == expected[role], f"{role} {read}"
    if read == "list" and role in ("outsider", "other_reviewer"):
        assert response.json()["results"] == []  # the private project's requests stay hidden


COMMANDS = {
    "approve": {"anonymous": 401, "manager": 403, "reviewer": 200, "engineer": 403, "portal_admin": 200},
    "reject": {"anonymous": 401, "manager": 403, "reviewer": 200, "engineer": 403, "portal_admin": 200},
    "cancel": {"anonymous": 401, "manager": 403, "reviewer": 403, "engineer": 200, "portal_admin": 200},
}
for expected in COMMANDS.values():
    expected.update(outsider=404 if expected["engineer"] == 200 else 403, other_reviewer=404)
COMMANDS["cancel"]["other_reviewer"] = 404


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("command", COMMANDS.keys())
def test_each_role_may_send_exactly_the_commands_it_holds(api, pending, command, role):
    response = api(role).post(
        f"/api/v1/promotions/{pending['id']}/{command}/", {"comment": "fine"}, content_type="application/json"
    )
    assert response.status_code == COMMANDS[command][role], f"{role} {command}: {response.content}"
    state = PromotionRequest.objects.get(pk=pending["id"]).state
    if response.status_code == 200:
        assert state == {"approve": "approved", "reject": "rejected", "cancel": "cancelled"}[command]
    else:
        assert state == PromotionState.PENDING
        assert response.json()["error"]["message"]


def test_the_requester_cannot_approve_through_the_api(client, pending, engineer):
    engineer.groups.add(*UserFactory(username="tmp", roles=[Role.REVIEWER]).groups.all())
    client.force_login(type(engineer).objects.get(pk=engineer.pk))
    response = client.post(f"/api/v1/promotions/{pending['id']}/approve/", {}, content_type="application/json")
    assert response.status_code == 403
    assert "someone else" in response.json()["error"]["message"]


def test_a_stale_approval_is_a_409_that_changes_nothing(api, pending, model):
    client = api("reviewer")
    response = client.post(
        f"/api/v1/promotions/{pending['id']}/approve/", {"version": 1}, content_type="application/json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "stale"
    model.aliases = {"champion": 3}  # the alias moved since the request was made
    model.save()
    response = client.post(f"/api/v1/promotions/{pending['id']}/approve/", {}, content_type="application/json")
    assert response.status_code == 409
    assert "moved" in response.json()["error"]["message"]
    assert PromotionRequest.objects.get(pk=pending["id"]).decisions.count() == 0


def test_a_stale_rejection_is_a_409_that_changes_nothing(api, pending):
    response = api("reviewer").post(
        f"/api/v1/promotions/{pending['id']}/reject/", {"comment": "no", "version": 1}, content_type="application/json"
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "stale"
    assert PromotionRequest.objects.get(pk=pending["id"]).decisions.count() == 0


def test_requests_filter_by_state_model_and_alias(api, pending, model):
    client = api("reviewer")
    assert [r["id"] for r in client.get("/api/v1/promotions/?state=pending").json()["results"]] == [pending["id"]]
    assert client.get("/api/v1/promotions/?state=promoted").json()["results"] == []
    assert client.get(f"/api/v1/promotions/?model={model.name}&target_alias=champion").json()["count"] == 1
    assert client.get("/api/v1/promotions/?model=other").json()["count"] == 0


def test_the_audit_log_api_filters_by_action_and_user(api, pending):
    client = api("reviewer")
    events = client.get("/api/v1/audit-events/?action=promotion.&user=erin").json()["results"]
    assert [e["action"] for e in events] == ["promotion.requested"]
    assert events[0]["actor"] == "erin" and events[0]["after"]["state"] == "pending"
    assert client.get("/api/v1/audit-events/?since=not-a-date").status_code == 400


@pytest.mark.parametrize("query", ["since=not-a-date", "until=2026-02-30"])
def test_an_audit_log_date_that_does_not_parse_is_a_400_naming_the_field(api, pending, query):
    response = api("reviewer").get(f"/api/v1/audit-events/?{query}")
    assert response.status_code == 400
    body = response.json()["error"]
    assert query.split("=")[0] in body["fields"]  # the field, where a bare "date" named neither


def test_the_gate_endpoints_are_in_the_openapi_schema(api):
    schema = api("reviewer").get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    for expected in (
        "/api/v1/promotions/",
        "/api/v1/promotions/{id}/",
        "/api/v1/promotions/{id}/approve/",
        "/api/v1/promotions/{id}/reject/",
        "/api/v1/promotions/{id}/cancel/",
        "/api/v1/audit-events/",
    ):
        assert expected in paths, expected


@pytest.mark.parametrize(("role", "expected"), [("engineer", 403), ("manager", 403), ("reviewer", 200)])
def test_reviewers_retry_a_failed_promotion_through_the_api(api, pending, role, expected):
    PromotionRequest.objects.filter(pk=pending["id"]).update(
        state=PromotionState.FAILED, decided_at="2026-01-01T00:00Z", reason="MLflow did not answer"
    )
    response = api(role).post(f"/api/v1/promotions/{pending['id']}/retry/", content_type="application/json")
    assert response.status_code == expected
    state = PromotionRequest.objects.get(pk=pending["id"]).state
    assert state == (PromotionState.APPROVED if expected == 200 else PromotionState.FAILED)


def test_a_decision_in_the_api_carries_the_checks_it_was_made_on(api, pending):
    client = api("reviewer")
    approved = client.post(f"/api/v1/promotions/{pending['id']}/approve/", {}, content_type="application/json")
    assert approved.status_code == 200, approved.content
    decision = client.get(f"/api/v1/promotions/{pending['id']}/").json()["decisions"][0]
    assert decision["checks_passed"] is True
    assert {c["check"] for c in decision["checks"]} >= {"metric", "signature"}


def test_an_unknown_state_filter_gets_400_not_an_empty_list(api, pending):
    response = api("reviewer").get("/api/v1/promotions/?state=AAA")
    assert response.status_code == 400 and "state" in response.json()["error"]["fields"]
    assert api("reviewer").get("/api/v1/promotions/?state=pending").json()["count"] == 1
    schema = api("reviewer").get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    assert "state" in {p["name"] for p in schema["/api/v1/promotions/"]["get"]["parameters"]}
    assert "state" not in {p["name"] for p in schema["/api/v1/promotions/{id}/"]["get"].get("parameters", [])}
