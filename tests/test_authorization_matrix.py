"""Who may do what, for every route the URL configuration has, as one table.

Each row is a route and a method; each column a role, in the order of `ROLES`: anonymous, a manager,
a reviewer and the lead engineer of a private project (all members), an admin, and an outsider (an
engineer who belongs to no project). Every object the URLs name belongs to that private project
(tests/authorization_world.py). Outcomes: an HTTP status; "login" (sent to sign in); "redirect"
(the page's own redirect after an action or a form); "admin-login".

The rows are generated from the URL configuration: a route added without a row fails
`test_every_route_has_a_row`. Read a row as the rule it states, e.g. for monitor channels
"401 403 403 200 200 404": members who may not edit the monitor are refused, the outsider is told
it does not exist. Requests carry an empty body (or the route's body in the world), so an allowed
action often answers 400 for the missing fields: what matters is that it got past the checks.

Identifiers inside request bodies (a model name for a monitor or a promotion, a run id for a
reference) are covered by tests/test_indirect_references.py: there, naming another project's object
is answered exactly like naming one that does not exist.
"""

import pytest

from .authorization_world import ROLES, build_world, observe, routes

pytestmark = pytest.mark.django_db

#                                                     anon  manager reviewer engineer admin outsider
MATRIX = {
    ("home", "GET"): "login redirect redirect redirect redirect redirect",
    ("home", "POST"): "login 405 405 405 405 405",
    ("healthz", "GET"): "200 200 200 200 200 200",
    ("healthz", "POST"): "405 405 405 405 405 405",
    ("login", "GET"): "200 redirect redirect redirect redirect redirect",
    ("login", "POST"): "200 redirect redirect redirect redirect redirect",
    ("logout", "GET"): "405 405 405 405 405 405",
    ("logout", "POST"): "login login login login login login",
    ("me", "GET"): "401 200 200 200 200 200",
    ("sync-status", "GET"): "401 403 403 200 200 200",
    ("sync-status", "POST"): "401 403 403 202 202 202",
    ("project-list", "GET"): "401 200 200 200 200 200",
    ("project-list", "POST"): "401 403 403 400 400 400",
    ("project-detail", "GET"): "401 200 200 200 200 404",
    ("project-detail", "PUT"): "401 403 403 400 400 404",
    ("experiment-list", "GET"): "401 200 200 200 200 200",
    ("experiment-detail", "GET"): "401 200 200 200 200 404",
    ("run-list", "GET"): "401 200 200 200 200 200",
    ("run-detail", "GET"): "401 200 200 200 200 404",
    ("run-history", "GET"): "401 400 400 400 400 404",
    ("registered-model-list", "GET"): "401 200 200 200 200 200",
    ("registered-model-detail", "GET"): "401 200 200 200 200 404",
    ("registered-model-versions", "GET"): "401 200 200 200 200 404",
    ("promotion-list", "GET"): "401 200 200 200 200 200",
    ("promotion-list", "POST"): "401 403 403 400 400 400",
    ("promotion-detail", "GET"): "401 200 200 200 200 404",
    ("promotion-approve", "POST"): "401 403 409 403 409 403",
    ("promotion-cancel", "POST"): "401 403 403 200 200 404",
    ("promotion-reject", "POST"): "401 403 400 403 400 403",
    ("promotion-retry", "POST"): "401 403 409 403 409 403",
    ("audit-event-list", "GET"): "401 200 200 403 200 403",
    ("monitor-batches", "POST"): "401 401 401 401 401 401",
    ("monitor-list", "GET"): "401 200 200 200 200 200",
    ("monitor-list", "POST"): "401 403 403 400 400 400",
    ("monitor-detail", "GET"): "401 200 200 200 200 404",
    ("monitor-channels", "GET"): "401 403 403 200 200 404",
    ("monitor-channels", "POST"): "401 403 403 400 400 404",
    ("monitor-reference", "POST"): "401 403 403 400 400 404",
    ("monitor-reference-from-mlflow", "POST"): "401 403 403 400 400 404",
    ("monitor-retrain", "POST"): "401 403 403 409 409 404",
    ("monitor-retrain-trigger", "PUT"): "401 403 403 400 400 404",
    ("monitor-revoke-token", "POST"): "401 403 403 200 200 404",
    ("monitor-run-drift", "POST"): "401 403 403 202 202 404",
    ("monitor-runs", "GET"): "401 200 200 200 200 404",
    ("monitor-tokens", "POST"): "401 403 403 201 201 404",
    ("alert-list", "GET"): "401 200 200 200 200 200",
    ("alert-detail", "GET"): "401 200 200 200 200 404",
    ("alert-acknowledge", "POST"): "401 403 403 200 200 404",
    ("alert-mute", "POST"): "401 403 403 400 400 404",
    ("alert-resolve", "POST"): "401 403 403 200 200 404",
    ("alert-bulk", "POST"): "401 403 403 400 400 400",  # "{}" names no alert
    ("assessments-portfolio", "GET"): "401 200 200 200 200 200",
    ("assessments-scorecard", "GET"): "401 200 200 200 200 404",
    ("assessments-answer", "POST"): "401 403 403 400 400 404",
    ("assessments-review", "POST"): "401 400 400 403 400 403",
    ("api-schema", "GET"): "401 200 200 200 200 200",
    ("api-docs", "GET"): "401 200 200 200 200 200",
    ("registry:project_list", "GET"): "login 200 200 200 200 200",
    ("registry:project_list", "POST"): "login 405 405 405 405 405",
    ("registry:project_create", "GET"): "login 403 403 200 200 200",
    ("registry:project_create", "POST"): "login 403 403 200 200 200",
    ("registry:project_detail", "GET"): "login 200 200 200 200 404",
    ("registry:project_detail", "POST"): "login 405 405 405 405 405",
    ("registry:project_edit", "GET"): "login 403 403 200 200 404",
    ("registry:project_edit", "POST"): "login 403 403 200 200 404",
    ("registry:project_mirror_link", "GET"): "login 405 405 405 405 405",
    ("registry:project_mirror_link", "POST"): "login 403 403 redirect redirect 404",
    ("registry:experiment_list", "GET"): "login 200 200 200 200 200",
    ("registry:experiment_list", "POST"): "login 405 405 405 405 405",
    ("registry:experiment_detail", "GET"): "login 200 200 200 200 404",
    ("registry:experiment_detail", "POST"): "login 405 405 405 405 405",
    ("registry:experiment_link", "GET"): "login 405 405 405 405 405",
    ("registry:experiment_link", "POST"): "login 403 403 redirect redirect 404",
    ("registry:run_compare", "GET"): "login redirect redirect redirect redirect redirect",
    ("registry:run_compare", "POST"): "login 405 405 405 405 405",
    ("registry:run_detail", "GET"): "login 200 200 200 200 404",
    ("registry:run_detail", "POST"): "login 405 405 405 405 405",
    ("registry:model_list", "GET"): "login 200 200 200 200 200",
    ("registry:model_list", "POST"): "login 405 405 405 405 405",
    ("registry:model_detail", "GET"): "login 200 200 200 200 404",
    ("registry:model_detail", "POST"): "login 405 405 405 405 405",
    ("registry:model_link", "GET"): "login 405 405 405 405 405",
    ("registry:model_link", "POST"): "login 403 403 redirect redirect 404",
    ("registry:mlflow_webhook", "GET"): "405 405 405 405 405 405",
    ("registry:mlflow_webhook", "POST"): "400 400 400 400 400 400",
    ("registry:sync_status", "GET"): "login 403 403 200 200 200",
    ("registry:sync_status", "POST"): "login 403 403 405 405 405",
    ("registry:sync_now", "GET"): "login 403 403 405 405 405",
    ("registry:sync_now", "POST"): "login 403 403 redirect redirect redirect",
    ("registry:profile", "GET"): "login 200 200 200 200 200",
    ("registry:profile", "POST"): "login 405 405 405 405 405",
    ("registry:api_token_rotate", "GET"): "login 405 405 405 405 405",
    ("registry:api_token_rotate", "POST"): "login 200 200 200 200 200",
    ("registry:promotion_queue", "GET"): "login 200 200 200 200 200",
    ("registry:promotion_queue", "POST"): "login 405 405 405 405 405",
    ("registry:promotion_create", "GET"): "login 403 403 200 200 200",
    ("registry:promotion_create", "POST"): "login 403 403 400 400 400",
    ("registry:promotion_detail", "GET"): "login 200 200 200 200 404",
    ("registry:promotion_detail", "POST"): "login 405 405 405 405 405",
    ("registry:promotion_approve", "GET"): "login 403 405 403 405 403",
    ("registry:promotion_approve", "POST"): "login 403 redirect 403 redirect 403",
    ("registry:promotion_reject", "GET"): "login 403 405 403 405 403",
    ("registry:promotion_reject", "POST"): "login 403 redirect 403 redirect 403",
    ("registry:promotion_cancel", "GET"): "login 405 405 405 405 405",
    ("registry:promotion_cancel", "POST"): "login 403 403 redirect redirect 404",
    ("registry:promotion_retry", "GET"): "login 405 405 405 405 405",
    ("registry:promotion_retry", "POST"): "login 403 redirect 403 redirect 404",
    ("registry:gate_alert_resolve", "GET"): "login 405 405 405 405 405",
    ("registry:gate_alert_resolve", "POST"): "login 403 redirect 403 redirect 404",
    ("registry:policy_list", "GET"): "login 403 403 403 200 403",
    ("registry:policy_list", "POST"): "login 403 403 403 405 403",
    ("registry:policy_edit", "GET"): "login 403 403 403 200 403",
    ("registry:policy_edit", "POST"): "login 403 403 403 400 403",
    ("registry:audit_log", "GET"): "login 200 200 403 200 403",
    ("registry:audit_log", "POST"): "login 405 405 403 405 403",
    ("monitoring:monitor_list", "GET"): "login 200 200 200 200 200",
    ("monitoring:monitor_list", "POST"): "login 405 405 405 405 405",
    ("monitoring:monitor_create", "GET"): "login 403 403 200 200 200",
    ("monitoring:monitor_create", "POST"): "login 403 403 200 200 200",
    ("monitoring:monitor_detail", "GET"): "login 200 200 200 200 404",
    ("monitoring:monitor_detail", "POST"): "login 405 405 405 405 405",
    ("monitoring:monitor_drift", "GET"): "login 200 200 200 200 404",
    ("monitoring:monitor_drift", "POST"): "login 405 405 405 405 405",
    ("monitoring:monitor_schema", "GET"): "login 200 200 200 200 404",
    ("monitoring:monitor_schema", "POST"): "login 405 405 405 405 405",
    ("monitoring:monitor_alerts", "GET"): "login 200 200 200 200 404",
    ("monitoring:monitor_alerts", "POST"): "login 405 405 405 405 405",
    ("monitoring:monitor_jobs", "GET"): "login 200 200 200 200 404",
    ("monitoring:monitor_jobs", "POST"): "login 405 405 405 405 405",
    ("monitoring:monitor_edit", "GET"): "login 403 403 200 200 404",
    ("monitoring:monitor_edit", "POST"): "login 403 403 200 200 404",
    ("monitoring:monitor_run_drift", "GET"): "login 403 403 405 405 405",
    ("monitoring:monitor_run_drift", "POST"): "login 403 403 redirect redirect 404",
    ("monitoring:monitor_retrain", "GET"): "login 403 403 405 405 405",
    ("monitoring:monitor_retrain", "POST"): "login 403 403 redirect redirect 404",
    ("monitoring:monitor_token_create", "GET"): "login 403 403 405 405 405",
    ("monitoring:monitor_token_create", "POST"): "login 403 403 redirect redirect 404",
    ("monitoring:monitor_token_revoke", "GET"): "login 403 403 405 405 405",
    ("monitoring:monitor_token_revoke", "POST"): "login 403 403 redirect redirect 404",
    ("monitoring:monitor_channel_add", "GET"): "login 403 403 405 405 405",
    ("monitoring:monitor_channel_add", "POST"): "login 403 403 redirect redirect 404",
    ("monitoring:monitor_channel_remove", "GET"): "login 403 403 405 405 405",
    ("monitoring:monitor_channel_remove", "POST"): "login 403 403 redirect redirect 404",
    ("monitoring:monitor_trigger_set", "GET"): "login 403 403 405 405 405",
    ("monitoring:monitor_trigger_set", "POST"): "login 403 403 redirect redirect 404",
    ("monitoring:alert_list", "GET"): "login 200 200 200 200 200",
    ("monitoring:alert_list", "POST"): "login 405 405 405 405 405",
    ("monitoring:alert_bulk", "GET"): "login 403 403 405 405 405",
    # An empty body names no alert: refused with a message, back to the page, nothing changed.
    ("monitoring:alert_bulk", "POST"): "login 403 403 redirect redirect redirect",
    ("monitoring:alert_change", "GET"): "login 403 403 405 405 405",
    ("monitoring:alert_change", "POST"): "login 403 403 redirect redirect 404",
    ("monitoring:shadow_detail", "GET"): "login 200 200 200 200 404",
    ("monitoring:shadow_detail", "POST"): "login 405 405 405 405 405",
    ("monitoring:shadow_run", "GET"): "login 405 405 405 405 405",
    # Reviewers and the model's engineers may replay; the pilot's monitor has no traffic, so the
    # allowed ones are sent back with that message. The outsider is told the model does not exist.
    ("monitoring:shadow_run", "POST"): "login 403 redirect redirect redirect 404",
    ("assessments:portfolio", "GET"): "login 200 200 200 200 200",
    ("assessments:portfolio", "POST"): "login 405 405 405 405 405",
    ("assessments:portfolio_csv", "GET"): "login 200 200 200 200 200",
    ("assessments:portfolio_csv", "POST"): "login 405 405 405 405 405",
    ("assessments:scorecard", "GET"): "login 200 200 200 200 404",
    ("assessments:scorecard", "POST"): "login 405 405 405 405 405",
    ("assessments:scorecard_csv", "GET"): "login 200 200 200 200 404",
    ("assessments:scorecard_csv", "POST"): "login 405 405 405 405 405",
    ("assessments:scorecard_json", "GET"): "login 200 200 200 200 404",
    ("assessments:scorecard_json", "POST"): "login 405 405 405 405 405",
    ("assessments:answer", "GET"): "login 403 403 405 405 405",
    ("assessments:answer", "POST"): "login 403 403 redirect redirect 404",
    ("assessments:review", "GET"): "login 405 405 403 405 403",
    ("assessments:review", "POST"): "login redirect redirect 403 redirect 403",
    ("overview", "GET"): "login 403 403 403 200 403",
    ("overview", "POST"): "login 405 405 405 405 405",
}

# What the outsider must never read in any answer they get.
PRIVATE_WORDS = (
    "Private pilot",
    "pilot-secret-model",
    "pilot-monitor",
    "team@pilot.example",
    "Retraining runs nightly",
)

ROUTES = [route for route in routes() if not route.is_admin_site]
ADMIN_SITE = [route for route in routes() if route.is_admin_site]


@pytest.fixture
def world(settings, mlflow_uri):
    settings.PORTAL_MLFLOW_WEBHOOK_SECRET = "authorization-matrix"  # else webhooks answer 503 to all
    return build_world()


def test_every_route_has_a_row():
    cells = {(route.name, method) for route in ROUTES for method in route.methods()}
    assert sorted(cells - MATRIX.keys()) == [], "new routes: add their rows to MATRIX"
    assert sorted(MATRIX.keys() - cells) == [], "rows for routes that no longer exist"


@pytest.mark.parametrize(
    ("route", "method"), [(r, m) for r in ROUTES for m in r.methods()], ids=lambda v: getattr(v, "name", v)
)
def test_each_role_gets_the_outcome_in_the_matrix(client, world, route, method):
    expected = MATRIX[(route.name, method)].split()
    observed = [observe(client, world, route, method, role) for role in ROLES]

    assert dict(zip(ROLES, [o for o, _ in observed], strict=True)) == dict(zip(ROLES, expected, strict=True))
    outsider_body = observed[ROLES.index("outsider")][1]
    assert [word for word in PRIVATE_WORDS if word in outsider_body] == []


# The admin site follows one rule (a visitor who has not signed in is sent to its sign-in page, a
# signed-in user who is not staff gets a page saying the admin site is for administrators, 403; the
# admin gets the page, or a redirect or 404 for an object that is not there), except for these GETs:
ADMIN_SITE_EXCEPTIONS = {
    "admin:login": "200 200 200 200 redirect 200",  # the sign-in page itself
    "admin:logout": "redirect redirect redirect redirect 405 redirect",  # POST only
    "admin:autocomplete": "admin-login 403 403 403 403 403",  # needs its parameters
    # Records nobody adds or deletes by hand: the audit is append-only, tokens are made on the
    # profile page (shown once), django-axes writes its own logs.
    "admin:registry_auditevent_add": "admin-login 403 403 403 403 403",
    "admin:registry_auditevent_delete": "admin-login 403 403 403 403 403",
    "admin:registry_apitoken_add": "admin-login 403 403 403 403 403",
    "admin:axes_accessattempt_add": "admin-login 403 403 403 403 403",
    "admin:axes_accesslog_add": "admin-login 403 403 403 403 403",
    "admin:axes_accessfailurelog_add": "admin-login 403 403 403 403 403",
}


@pytest.mark.parametrize("route", ADMIN_SITE, ids=lambda r: r.name)
def test_the_admin_site_is_for_admins_only(client, world, route):
    outcomes = {role: observe(client, world, route, "GET", role)[0] for role in ROLES}
    if route.name in ADMIN_SITE_EXCEPTIONS:
        assert list(outcomes.values()) == ADMIN_SITE_EXCEPTIONS[route.name].split()
        return
    admin = outcomes.pop("admin")
    assert outcomes.pop("anonymous") == "admin-login"
    assert set(outcomes.values()) == {"403"}
    assert admin in {"200", "redirect", "404"}
