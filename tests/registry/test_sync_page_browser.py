"""The "Sync now" button in a real browser: it queues a sync and the status panel updates in place."""

import shutil

import pytest
from django.conf import settings as django_settings

from registry.models import SyncRun

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="needs the chromium package (CI installs it)"),
]


def test_sync_now_updates_the_status_panel_without_reloading_the_page(
    celery_worker, live_server, client, engineer, mlflow_uri
):
    from playwright.sync_api import sync_playwright

    client.force_login(engineer)
    session = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            context = browser.new_context(viewport={"width": 390, "height": 900})
            context.add_cookies(
                [{"name": django_settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
            )
            page = context.new_page()
            page.goto(f"{live_server.url}/mlflow/sync/")
            page.evaluate("window.notReloaded = true")
            assert "No sync yet." in page.inner_text("#sync-status")

            page.click("#sync-now")

            page.wait_for_function("document.getElementById('sync-now-state').textContent === 'Done.'", timeout=60_000)
            assert page.evaluate("window.notReloaded") is True  # the same page, updated in place
            assert "succeeded" in page.inner_text("#sync-status")
        finally:
            browser.close()
    assert SyncRun.objects.get().requested_by == engineer
