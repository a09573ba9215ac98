"""The gate's pages: who may open and do what, and what reviewers see."""

import csv
import io
import re

import pytest

from registry.models import AuditEvent
from registry.promotions.bypass import aliases_changed_handle
from registry.promotions.decisions import promotion_reject
from registry.promotions.models import GateAlert, PromotionPolicy, PromotionRequest, PromotionState
from registry.promotions.requests import promotion_request_create
from registry.roles import Role
from tests.factories import PromotionPolicyFactory, PromotionRequestFactory, UserFactory

from .gate_support import default_policy, mirror_model

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "no_role", "manager", "reviewer", "engineer", "portal_admin", "outsider", "other_reviewer"]


@pytest.fixture
def promotion(private_project, engineer):
    default_policy()
    model = mirror_model(
        project=private_project,
        versions={
            1: {"metrics": {"auc": 0.80, "f1": 0.5}, "params": {"max_depth": "4", "lr": "0.1"}},
            2: {"metrics": {"auc": 0.84, "f1": 0.5}, "params": {"max_depth": "6", "lr": "0.1"}},
        },
    )
    return promotion_request_create(
        requester=engineer, model_name=model.name, version=2, target_alias="champion", justification="AUC +0.04."
    )


@pytest.fixture
def as_role(client, request):
    def login(role: str):
        if role == "no_role":
            client.force_login(UserFactory(username="nobody"))
        elif role == "other_reviewer":  # a reviewer who is not a member of the private project
            client.force_login(UserFactory(username="rex", roles=[Role.REVIEWER]))
        elif role != "anonymous":
            client.force_login(request.getfixturevalue(role))
        return client

    return login


def _matrix(anonymous, no_role, manager, reviewer, engineer, admin, outsider, other_reviewer):
    return dict(
        zip(ROLES, (anonymous, no_role, manager, reviewer, engineer, admin, outsider, other_reviewer), strict=True)
    )


PAGES = {
    "queue": ("/promotions/", _matrix(302, 403, 200, 200, 200, 200, 200, 200)),
    "review": ("/promotions/{pk}/", _matrix(302, 403, 200, 200, 200, 200, 404, 404)),
    "request form": ("/promotions/new/", _matrix(302, 403, 403, 403, 200, 200, 200, 403)),
    "policies": ("/promotions/policies/", _matrix(302, 403, 403, 403, 403, 200, 403, 403)),
    "default policy": ("/promotions/policies/default/", _matrix(302, 403, 403, 403, 403, 200, 403, 403)),
    "audit log": ("/audit/", _matrix(302, 403, 200, 200, 403, 200, 403, 200)),
    "audit csv": ("/audit/?format=csv", _matrix(302, 403, 200, 200, 403, 200, 403, 200)),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", PAGES.keys())
def test_each_role_gets_exactly_the_gate_pages_it_may_see(as_role, promotion, page, role):
    url, expected = PAGES[page]
    response = as_role(role).get(url.format(pk=promotion.pk))
    assert response.status_code == expected[role], f"{role} on {url}"


# POST actions: 302 = done and redirected back to the review page.
ACTIONS = {
    "approve": _matrix(302, 403, 403, 302, 403, 302, 403, 404),
    "reject": _matrix(302, 403, 403, 302, 403, 302, 403, 404),
    "cancel": _matrix(302, 403, 403, 403, 302, 302, 404, 404),  # only the requester, or an admin
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", ACTIONS.keys())
def test_each_role_may_take_exactly_the_gate_actions_it_holds(as_role, promotion, action, role):
    response = as_role(role).post(f"/promotions/{promotion.pk}/{action}/", {"comment": "Looks fine."})
    assert response.status_code == ACTIONS[action][role], f"{role} {action}"
    state = PromotionRequest.objects.get(pk=promotion.pk).state
    done = {"approve": PromotionState.APPROVED, "reject": PromotionState.REJECTED, "cancel": PromotionState.CANCELLED}
    allowed = {
        "approve": {"reviewer", "portal_admin"},
        "reject": {"reviewer", "portal_admin"},
        "cancel": {"engineer", "portal_admin"},
    }
    assert (state == done[action]) == (role in allowed[action]), f"{role} {action} left {state}"


def test_the_review_page_puts_candidate_and_holder_side_by_side(client, reviewer, promotion):
    client.force_login(reviewer)
    page = client.get(f"/promotions/{promotion.pk}/").content.decode()
    assert "AUC +0.04." in page
    assert "0.8400" in page and "0.8000" in page and "0.0400" in page  # candidate, holder, delta
    assert page.count('class="gate-up"') == 1  # auc, the policy's metric, is better; f1 has no direction
    assert 'class="gate-diff"' in page and "max_depth" in page  # the differing param is highlighted
    assert page.count('class="gate-diff"') == 1  # lr is the same on both sides
    assert "Metric" in page and "within tolerance" in page
    assert "Approve" in page and "Reject" in page
    assert "js/promotion_review.js" in page


def test_the_review_page_offers_no_decision_the_service_would_refuse_and_says_why(client, reviewer, promotion):
    # The alias moved in MLflow since the request: deciding is refused as stale, so no buttons.
    promotion.registered_model.aliases = {"champion": 2}
    promotion.registered_model.save(update_fields=["aliases"])
    client.force_login(reviewer)
    page = client.get(f"/promotions/{promotion.pk}/").content.decode()
    assert "already holds @champion" in page
    assert f"/promotions/{promotion.pk}/approve/" not in page
    refused = client.post(f"/promotions/{promotion.pk}/approve/", HTTP_ACCEPT="application/json")
    assert refused.status_code == 409


def test_the_review_page_shows_the_signature_diff_as_expected_and_received(client, reviewer, engineer):
    default_policy()
    changed = [{"name": "tenure", "type": "string", "required": True}]
    mirror_model(versions={1: {}, 2: {"signature": changed}})
    promotion = promotion_request_create(
        requester=engineer, model_name="churn-classifier", version=2, target_alias="champion", justification="x"
    )
    client.force_login(reviewer)
    page = client.get(f"/promotions/{promotion.pk}/").content.decode()
    assert "Expected (current) vs Received (candidate)" in page
    assert "type changed" in page and "removed" in page
    assert "this request can only be rejected" in page


def test_approving_from_the_page_answers_json_for_the_script(client, reviewer, promotion):
    client.force_login(reviewer)
    response = client.post(
        f"/promotions/{promotion.pk}/approve/", {"comment": "ok", "version": "2"}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 200
    assert response.json()["state"] == "approved" and response.json()["approvals"] == 1
    status = client.get(response.json()["status_url"]).json()  # what the script follows until promoted
    assert status["state"] == "approved" and status["alias_now"] == 1
    again = client.post(f"/promotions/{promotion.pk}/approve/", {"version": "2"}, HTTP_ACCEPT="application/json")
    assert again.status_code == 409
    assert "approved" in again.json()["error"]["message"]


def test_an_approval_for_another_version_than_shown_is_a_conflict(client, reviewer, promotion):
    client.force_login(reviewer)
    response = client.post(f"/promotions/{promotion.pk}/approve/", {"version": "1"}, HTTP_ACCEPT="application/json")
    assert response.status_code == 409
    assert PromotionRequest.objects.get(pk=promotion.pk).state == PromotionState.PENDING


def test_the_queue_lists_pending_requests_oldest_first_with_age_and_checks(client, reviewer, promotion, engineer):
    newer = promotion_request_create(
        requester=engineer, model_name="churn-classifier", version=2, target_alias="production", justification="y"
    )
    client.force_login(reviewer)
    page = client.get("/promotions/").content.decode()
    assert page.index(f"/promotions/{promotion.pk}/") < page.index(f"/promotions/{newer.pk}/")
    assert "passed" in page and "<time" in page


def test_an_engineer_requests_a_promotion_and_a_rollback_from_the_form(client, engineer, reviewer):
    default_policy(approvals_required=2)
    model = mirror_model()
    client.force_login(engineer)
    response = client.post(
        "/promotions/new/",
        {"model": model.name, "version": "2", "target_alias": "champion", "justification": "Better."},
    )
    promotion = PromotionRequest.objects.get()
    assert response.status_code == 302 and response.url == f"/promotions/{promotion.pk}/"
    refused = client.post("/promotions/new/", {"model": model.name, "version": "2", "target_alias": "staging"})
    assert refused.status_code == 400 and "not governed" in refused.content.decode()

    PromotionRequest.objects.filter(pk=promotion.pk).update(
        state=PromotionState.PROMOTED, decided_at="2026-01-01T00:00Z", promoted_at="2026-01-01T00:00Z"
    )
    model.aliases = {"champion": 2}
    model.save()
    response = client.post(
        "/promotions/new/",
        {"rollback": "1", "model": model.name, "target_alias": "champion", "justification": "v2 misbehaves"},
    )
    rollback = PromotionRequest.objects.get(is_rollback=True)
    assert rollback.version == 1 and rollback.approvals_required == 1


def test_an_admin_edits_a_policy_and_the_change_is_audited(client, portal_admin):
    model = mirror_model()
    client.force_login(portal_admin)
    response = client.post(
        f"/promotions/policies/{model.name}/",
        {
            "governed_aliases": "champion prod",
            "approvals_required": "2",
            "metric_name": "auc",
            "metric_direction": "higher",
            "metric_tolerance": "0.02",
            "signature_check": "on",
            "allow_override": "on",
            "approver_users": "",
        },
    )
    assert response.status_code == 302
    policy = PromotionPolicy.objects.get(registered_model=model)
    assert policy.governed_aliases == ["champion", "prod"] and policy.approvals_required == 2
    assert policy.allow_override and not policy.drift_check
    event = AuditEvent.objects.get(action="policy.created")
    assert event.actor == portal_admin and event.after["approvals_required"] == 2
    assert event.ip == "127.0.0.1"


def test_the_policy_form_takes_the_shadow_limits_in_percent_and_refuses_impossible_ones(client, portal_admin):
    model = mirror_model()
    client.force_login(portal_admin)
    url = f"/promotions/policies/{model.name}/"
    fields = {"governed_aliases": "champion", "approvals_required": "1", "metric_direction": "higher"}
    response = client.post(
        url,
        {**fields, "shadow_check": "on", "shadow_max_rejected_percent": "2", "shadow_max_disagreement_percent": "5"},
    )
    assert response.status_code == 302
    policy = PromotionPolicy.objects.get(registered_model=model)
    assert policy.shadow_check and policy.shadow_max_rejected_share == 0.02 and policy.shadow_max_disagreement == 0.05
    assert 'value="5"' in client.get(url).content.decode()
    for bad in ("150", "-1", "nan"):
        refused = client.post(url, {**fields, "shadow_max_disagreement_percent": bad})
        assert refused.status_code == 400, bad
    policy.refresh_from_db()
    assert policy.shadow_max_disagreement == 0.05  # nothing half-saved


POLICY_FIELDS = {
    "governed_aliases": "champion",
    "approvals_required": "2",
    "metric_name": "auc",
    "metric_direction": "higher",
    "metric_tolerance": "0.02",
}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("metric_tolerance", "-0.05", "greater than or equal to 0"),
        ("approvals_required", "0", "greater than or equal to 1"),
        ("approvals_required", "two", "Enter a whole number"),
        ("maturity_min_level", "3", "less than or equal to 2"),
        ("approver_users", "nobody-by-that-name", "No user named nobody-by-that-name"),
    ],
)
def test_the_policy_form_refuses_a_wrong_value_instead_of_changing_it(client, portal_admin, field, value, message):
    model = mirror_model()
    PromotionPolicyFactory(registered_model=model, approvals_required=2, metric_tolerance=0.02)
    client.force_login(portal_admin)
    refused = client.post(f"/promotions/policies/{model.name}/", {**POLICY_FIELDS, field: value})
    assert refused.status_code == 400
    page = refused.content.decode()
    assert message in page and 'class="field has-error"' in page
    assert f'value="{value}"' in page  # what the admin typed is shown again, to correct
    policy = PromotionPolicy.objects.get(registered_model=model)
    assert (policy.approvals_required, policy.metric_tolerance) == (2, 0.02)
    assert not AuditEvent.objects.filter(action__startswith="policy.").exists()


def test_a_valid_policy_edit_saves_exactly_what_was_typed_and_is_audited(client, portal_admin):
    model = mirror_model()
    PromotionPolicyFactory(registered_model=model, approvals_required=1, metric_tolerance=0.0)
    client.force_login(portal_admin)
    response = client.post(
        f"/promotions/policies/{model.name}/", {**POLICY_FIELDS, "approvals_required": "3", "metric_tolerance": "0.05"}
    )
    assert response.status_code == 302
    policy = PromotionPolicy.objects.get(registered_model=model)
    assert (policy.approvals_required, policy.metric_tolerance) == (3, 0.05)
    event = AuditEvent.objects.get(action="policy.changed")
    assert event.before["approvals_required"] == 1 and event.after["approvals_required"] == 3
    assert event.after["metric_tolerance"] == 0.05


def test_the_audit_log_filters_and_exports_csv(client, reviewer, promotion, engineer):
    client.force_login(reviewer)
    page = client.get("/audit/?action=promotion.&user=erin").content.decode()
    assert "promotion.requested" in page
    assert "No events match" in client.get("/audit/?user=nobody-at-all").content.decode()
    response = client.get("/audit/?format=csv&model=churn-classifier")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["at", "actor", "action"]
    assert [row[2] for row in rows[1:]] == ["promotion.requested"]
    assert rows[1][1] == engineer.username


def test_an_audit_log_date_that_does_not_parse_is_an_error_on_the_page_not_ignored(client, reviewer, promotion):
    client.force_login(reviewer)
    for query in ("since=yesterday", "until=2026-13-01", "since=abc&format=csv"):
        response = client.get(f"/audit/?{query}")
        assert response.status_code == 400, query
        page = response.content.decode()
        assert "Enter a valid date" in page and "Nothing listed" in page
        assert "promotion.requested" not in page  # not the whole log, as when the filter was dropped


def test_an_outsider_does_not_see_a_private_projects_requests_in_the_queue_or_audit_log(client, outsider, promotion):
    client.force_login(outsider)
    assert f"/promotions/{promotion.pk}/" not in client.get("/promotions/").content.decode()
    reviewer = UserFactory(username="rex", roles=[Role.REVIEWER])
    client.force_login(reviewer)
    assert "promotion.requested" not in client.get("/audit/").content.decode()


def test_the_navigation_shows_promotions_and_the_audit_log_to_the_roles_that_hold_them(client, reviewer, engineer):
    client.force_login(reviewer)
    page = client.get("/promotions/").content.decode()
    assert 'href="/promotions/"' in page and 'href="/audit/"' in page
    client.force_login(engineer)
    page = client.get("/promotions/").content.decode()
    assert 'href="/promotions/"' in page and 'href="/audit/"' not in page


def test_the_model_page_offers_a_promotion_request_and_a_rollback_through_the_gate(client, engineer, reviewer):
    default_policy()
    model = mirror_model()
    PromotionRequestFactory(
        model_version=model.versions.get(version=2),
        holder_version=1,
        requested_by=engineer,
        state=PromotionState.PROMOTED,
        promoted_at="2026-01-01T00:00Z",
    )
    model.aliases = {"champion": 2}
    model.save()
    client.force_login(engineer)
    page = client.get(f"/models/{model.name}/").content.decode()
    assert "Promotion gate" in page and "previous: version 1" in page
    assert "Roll back @champion" in page and "Request a promotion" in page
    panel = page[page.index('class="card gate-panel"') :]
    assert 'name="csrfmiddlewaretoken"' in panel[: panel.index("Roll back @champion")]
    client.force_login(reviewer)
    page = client.get(f"/models/{model.name}/").content.decode()
    assert "Promotion gate" in page and "Roll back @champion" not in page


def test_a_reviewer_resolves_a_bypass_alert_and_it_is_audited(client, reviewer, engineer, promotion):
    model = promotion.registered_model
    aliases_changed_handle(registered_model=model, old={"champion": 1}, new={"champion": 2})
    alert = GateAlert.objects.get()
    client.force_login(engineer)
    assert client.post(f"/promotions/alerts/{alert.pk}/resolve/").status_code == 403
    client.force_login(reviewer)
    assert "Alias moved outside the gate" in client.get("/promotions/").content.decode()
    response = client.post(f"/promotions/alerts/{alert.pk}/resolve/", {"note": "hotfix during the outage"})
    assert response.status_code == 302
    assert GateAlert.objects.get().resolved_at is not None
    assert "hotfix" in AuditEvent.objects.get(action="gate_alert.resolved").summary
    assert "Alias moved outside the gate" not in client.get("/promotions/").content.decode()


def test_the_queue_reads_a_fixed_number_of_queries_whatever_its_length(
    client, reviewer, engineer, django_assert_max_num_queries
):
    default_policy()
    for i in range(15):
        mirror_model(f"model-{i}")
        promotion_request_create(
            requester=engineer, model_name=f"model-{i}", version=2, target_alias="champion", justification="x"
        )
    client.force_login(reviewer)
    with django_assert_max_num_queries(12):
        assert client.get("/promotions/").status_code == 200


def test_a_decided_request_still_compares_with_the_version_that_held_the_alias_when_requested(
    client, reviewer, promotion
):
    PromotionRequest.objects.filter(pk=promotion.pk).update(
        state=PromotionState.PROMOTED, decided_at="2026-01-01T00:00Z", promoted_at="2026-01-01T00:00Z"
    )
    model = promotion.registered_model
    model.aliases = {"champion": 2}
    model.save()
    client.force_login(reviewer)
    page = client.get(f"/promotions/{promotion.pk}/").content.decode()
    assert "@champion when requested: version 1" in page
    assert "0.0400" in page  # the delta against v1, not 0 against itself


def _waiting_in_navigation(client) -> str:
    page = client.get("/projects/").content.decode()
    nav = page[page.index('<nav class="mainnav"') : page.index("</nav>")]
    start = nav.find('class="nav-count"')
    return "" if start == -1 else nav[start:].split("</span></span>")[0]


def test_the_navigation_counts_the_requests_waiting_for_this_reviewer(client, reviewer, engineer, promotion):
    client.force_login(engineer)  # the requester, who may not decide
    assert _waiting_in_navigation(client) == ""
    client.force_login(reviewer)
    assert '>1<span class="visually-hidden"> waiting for your decision' in _waiting_in_navigation(client)

    promotion_reject(request_id=promotion.pk, reviewer=reviewer, comment="Not now.")

    assert _waiting_in_navigation(client) == ""


def test_approving_asks_first_and_says_which_alias_moves_where(client, reviewer, promotion):
    client.force_login(reviewer)
    page = client.get(f"/promotions/{promotion.pk}/").content.decode()
    assert (
        'data-confirm="Approve and move @champion of churn-classifier from version 1 to version 2 in MLflow? '
        'Whatever serves @champion of churn-classifier will load version 2."' in page
    )


def test_with_two_approvals_required_the_first_approval_says_the_alias_waits(client, reviewer, promotion):
    PromotionRequest.objects.filter(pk=promotion.pk).update(approvals_required=2)
    client.force_login(reviewer)
    page = client.get(f"/promotions/{promotion.pk}/").content.decode()
    assert "This is approval 1 of 2; the alias moves when the last one is in." in page


def test_the_review_page_has_one_region_the_script_refreshes_after_a_decision(client, reviewer, promotion):
    client.force_login(reviewer)
    page = client.get(f"/promotions/{promotion.pk}/").content.decode()
    live = page[page.index('<div id="review-live">') :]
    for part in ('id="gate-state"', 'id="gate-decide"', 'id="gate-decisions"', 'id="gate-history"', "Automatic checks"):
        assert part in live
    assert page.index('id="gate-result"') < page.index('<div id="review-live">')  # the message outlives a refresh


@pytest.mark.parametrize(
    ("role", "first"), [("manager", "Maturity"), ("reviewer", "Promotions"), ("engineer", "Monitors")]
)
def test_each_roles_navigation_starts_where_its_home_page_is(client, request, role, first):
    client.force_login(request.getfixturevalue(role))
    page = client.get("/projects/").content.decode()
    nav = page[page.index('<nav class="mainnav"') : page.index("</nav>")]
    labels = [part.split("<")[0].split(">")[-1].strip() for part in nav.split("<li><a ")[1:]]
    assert labels[0] == first
    assert labels[-1] == "API"


def test_the_queue_tells_a_check_that_could_not_tell_from_one_that_failed(client, reviewer, promotion):
    PromotionRequest.objects.filter(pk=promotion.pk).update(
        checks_passed=False,
        checks=[
            {"check": "metric", "status": "failed", "summary": "auc worse by 0.1"},
            {"check": "shadow", "status": "cannot_tell", "summary": "Cannot tell yet: the replay is queued"},
            {"check": "signature", "status": "passed", "summary": "Same inputs"},
        ],
    )
    client.force_login(reviewer)
    page = client.get("/promotions/").content.decode()
    assert "Checks when requested" in page
    assert re.search(r'badge-bad">Failed</span>\s+metric: auc worse by 0.1', page)
    assert re.search(r'badge-warn">Cannot tell</span>\s+shadow: Cannot tell yet', page)
    assert "signature: Same inputs" not in page
