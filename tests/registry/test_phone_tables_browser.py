"""Tables with a status on a phone: the promotion queue reflows into labelled lines at 390 px, so
each request's state shows beside it instead of in a column off to the right."""

import pytest

from registry.promotions.models import PromotionRequest

from ..conftest import CHROMIUM, browser_page_as
from .gate_support import default_policy, mirror_model

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="needs the chromium package (CI installs it)"),
]


def test_on_a_phone_each_queued_request_shows_its_state_in_view(live_server, client, reviewer, engineer):
    default_policy()
    model = mirror_model("a-model-with-a-rather-long-name-for-a-phone")
    version = model.versions.get(version=2)
    PromotionRequest.objects.create(
        registered_model=model,
        model_version=version,
        target_alias="champion",
        version=2,
        requested_by=engineer,
        justification="Better AUC on last month's data, checked against the holdout and the shadow traffic.",
    )
    with browser_page_as(reviewer, live_server=live_server, client=client, width=390) as page:
        page.goto(f"{live_server.url}/promotions/")
        state = page.locator("table.gate-queue td[data-label=State] .badge").first
        box = state.bounding_box()
        assert state.inner_text() == "Pending"
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390
        label = page.evaluate(
            "() => getComputedStyle(document.querySelector('td[data-label=State]'), '::before').content"
        )
        assert label == '"State: "'
        assert page.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        assert page.errors == []
