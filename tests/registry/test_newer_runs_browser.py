"""An open experiment or model page says when the mirror has more runs or versions than it shows,
without a reload."""

import pytest

from ..conftest import CHROMIUM, browser_page_as
from ..factories import ExperimentFactory, ModelVersionFactory, RegisteredModelFactory, RunFactory

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(CHROMIUM is None, reason="needs the chromium package (CI installs it)"),
]


def test_a_run_mirrored_after_the_page_loaded_is_announced_with_a_reload_link(
    live_server, client, engineer, monkeypatch
):
    # Playwright's sync API runs an event loop in this thread; the ORM calls below are plain
    # blocking calls between its steps, which is safe.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    experiment = ExperimentFactory(name="churn-training")
    RunFactory(experiment=experiment)
    with browser_page_as(engineer, live_server=live_server, client=client) as page:
        page.goto(f"{live_server.url}/experiments/{experiment.mlflow_id}/")
        notice = page.locator("[data-newer-url]")
        assert notice.is_hidden()

        RunFactory.create_batch(2, experiment=experiment)  # what the next sync writes

        # A function, not an expression: Playwright would eval() an expression, which the CSP refuses.
        shown = "() => !document.querySelector('[data-newer-url]').hidden"
        page.wait_for_function(shown, timeout=40_000)
        assert notice.inner_text().startswith("2 new runs since this page was loaded.")
        assert notice.get_by_role("link", name="Reload").is_visible()
        assert page.errors == []


def test_a_version_mirrored_after_the_model_page_loaded_is_announced(live_server, client, engineer, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    model = RegisteredModelFactory(name="churn")
    ModelVersionFactory(registered_model=model, version=1)
    with browser_page_as(engineer, live_server=live_server, client=client) as page:
        page.goto(f"{live_server.url}/models/churn/")
        notice = page.locator("[data-newer-url]")
        assert notice.is_hidden()

        ModelVersionFactory(registered_model=model, version=2)  # what the next sync writes

        page.wait_for_function("() => !document.querySelector('[data-newer-url]').hidden", timeout=40_000)
        assert notice.inner_text().startswith("1 new version since this page was loaded.")
        assert page.errors == []
