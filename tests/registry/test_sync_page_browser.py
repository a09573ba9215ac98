"""The "Sync now" button in a real browser: it queues a sync and the status panel updates in place."""

import pytest

from registry.models import SyncRun

from ..conftest import CHROMIUM, browser_page_as

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="needs the chromium package (CI installs it)"),
]


def test_sync_now_updates_the_status_panel_without_reloading_the_page(
    celery_worker, live_server, client, engineer, mlflow_uri
):
    with browser_page_as(engineer, live_server=live_server, client=client, width=390) as page:
        page.goto(f"{live_server.url}/mlflow/sync/")
        page.evaluate("window.notReloaded = true")
        assert "No sync yet." in page.inner_text("#sync-status")

        page.click("#sync-now")

        # A function, not an expression: Playwright would eval() an expression, which the CSP refuses.
        done = "() => document.getElementById('sync-now-state').textContent === 'Done.'"
        page.wait_for_function(done, timeout=60_000)
        assert page.evaluate("window.notReloaded") is True  # the same page, updated in place
        assert "succeeded" in page.inner_text("#sync-status")
        assert page.errors == []
    assert SyncRun.objects.get().requested_by == engineer
