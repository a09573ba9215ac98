"""The promotion request form picks what the portal knows: the models the user may see, the chosen
model's versions, the aliases its policy governs. The server still checks every choice, and a model
the user may not see is refused exactly like one that does not exist."""

import re

import pytest

from registry.promotions.models import PromotionRequest
from tests.factories import ProjectFactory, PromotionPolicyFactory

from ..conftest import CHROMIUM, browser_page_as
from .gate_support import default_policy, mirror_model

pytestmark = pytest.mark.django_db


def _options(body: str, select_id: str) -> list[str]:
    select = re.search(rf'<select id="{select_id}".*?</select>', body, re.S).group(0)
    return re.findall(r'<option value="([^"]+)"', select)


@pytest.fixture
def models(private_project):
    default_policy(governed_aliases=["champion", "production"])
    visible = mirror_model("churn-classifier", project=private_project)
    hidden = mirror_model("secret-model", project=ProjectFactory(name="Elsewhere", visibility="private"))
    PromotionPolicyFactory(registered_model=visible, governed_aliases=["champion", "shadow"])
    return visible, hidden


def test_the_model_picker_offers_only_models_the_user_may_see(client, engineer, models):
    client.force_login(engineer)
    body = client.get("/promotions/new/").content.decode()
    assert _options(body, "f-model") == ["churn-classifier"]
    assert "secret-model" not in body
    assert 'data-versions-url="/api/v1/models/churn-classifier/versions/"' in body


def test_the_version_and_alias_pickers_follow_the_chosen_model(client, engineer, models):
    client.force_login(engineer)
    body = client.get("/promotions/new/?model=churn-classifier&version=2&target_alias=shadow").content.decode()
    assert _options(body, "f-version") == ["2", "1"], "newest first"
    assert '<option value="2" selected>Version 2</option>' in body
    assert _options(body, "f-alias") == ["champion", "shadow"], "the model's own policy governs these"
    assert '<option value="shadow" selected>@shadow</option>' in body
    assert '<script src="/static/js/pickers.js" defer></script>' in body


def test_a_model_the_user_may_not_see_is_refused_like_a_missing_one(client, engineer, models):
    client.force_login(engineer)
    fields = {"version": "1", "target_alias": "champion", "justification": "Try it"}
    hidden = client.post("/promotions/new/", {"model": "secret-model", **fields})
    missing = client.post("/promotions/new/", {"model": "no-such-model", **fields})
    assert hidden.status_code == missing.status_code == 400
    assert "No registered model named &#x27;secret-model&#x27;." in hidden.content.decode()
    assert "No registered model named &#x27;no-such-model&#x27;." in missing.content.decode()
    assert "has-error" in hidden.content.decode()
    assert not PromotionRequest.objects.exists()


def test_the_form_costs_the_same_queries_however_many_models(client, engineer, private_project, models):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(engineer)
    with CaptureQueriesContext(connection) as few:
        client.get("/promotions/new/")
    for n in range(6):
        mirror_model(f"more-{n}", project=private_project)
    with CaptureQueriesContext(connection) as many:
        body = client.get("/promotions/new/").content.decode()
    assert len(_options(body, "f-model")) == 7
    assert len(many.captured_queries) == len(few.captured_queries)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs the chromium package (CI installs it)")
def test_in_a_browser_choosing_a_model_refills_the_versions_from_the_api_and_narrows_the_aliases(
    live_server, client, engineer, private_project, models
):
    mirror_model(
        "fraud-scorer",
        project=private_project,
        versions={n: {"metrics": {"auc": 0.7}, "params": {}} for n in (1, 2, 3)},
        aliases={"production": 3},
    )
    with browser_page_as(engineer, live_server=live_server, client=client, width=1280) as page:
        page.goto(f"{live_server.url}/promotions/new/?model=churn-classifier")
        form = page.get_by_role("form", name="Promote a version")
        assert form.get_by_label("Version").locator("option").all_inner_texts()[1:] == [
            "Version 2",
            "Version 1 · @champion",
        ]

        with page.expect_response(re.compile(r"/api/v1/models/fraud-scorer/versions/$")):
            form.get_by_label("Registered model").select_option("fraud-scorer")
        page.wait_for_function("() => !document.getElementById('f-version').disabled")
        versions = form.get_by_label("Version").locator("option").all_inner_texts()
        assert versions == ["Choose a version", "Version 3 · @production", "Version 2", "Version 1"]
        # The default policy governs champion and production; churn-classifier's own, champion and shadow.
        offered = form.get_by_label("Target alias").locator("option:not([disabled])").all_inner_texts()
        assert offered == ["@champion", "@production"]
        assert page.errors == []


def test_aliases_another_visible_model_governs_are_rendered_hidden_for_the_picker(
    client, engineer, private_project, models
):
    mirror_model("fraud-scorer", project=private_project)  # under the default policy: champion, production
    client.force_login(engineer)
    body = client.get("/promotions/new/?model=churn-classifier").content.decode()
    assert _options(body, "f-alias") == ["champion", "production", "shadow"]
    assert '<option value="production" hidden disabled>@production</option>' in body


def test_the_audit_logs_model_filter_picks_from_the_models_the_user_may_see(client, reviewer, models):
    client.force_login(reviewer)
    body = client.get("/audit/?model=churn-classifier").content.decode()
    assert _options(body, "a-model") == ["churn-classifier"]
    assert '<option value="churn-classifier" selected>' in body
    assert "secret-model" not in body
