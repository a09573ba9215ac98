"""Pipeline auth headers and webhook secrets are write-only: saved, used when the portal calls out,
and never shown back — not on the monitor page, not in the API, not in the admin."""

import pytest

from monitoring.models import NotificationChannel, RetrainTrigger

pytestmark = pytest.mark.django_db

HEADER = "Bearer pipeline-key-7f3a91"
SECRET = "hook-secret-55c2e0"
TRIGGER_URL = "https://ci.example/pipelines/retrain"


def _set_trigger_on_page(client, monitor, **extra: str):
    fields = {"url": TRIGGER_URL, "preset": "generic", "cooldown_hours": "6", "is_active": "on"}
    return client.post(f"/monitors/{monitor.pk}/retrain-trigger/", fields | extra)


def test_the_monitor_page_never_shows_a_saved_auth_header_and_saving_again_keeps_it(client, engineer, monitor):
    client.force_login(engineer)
    _set_trigger_on_page(client, monitor, auth_header=HEADER)

    page = client.get(monitor.get_absolute_url() + "jobs/").content.decode()
    _set_trigger_on_page(client, monitor, cooldown_hours="12")  # the header field comes back empty

    assert HEADER not in page and "pipeline-key" not in page
    assert "A header is saved; leave this empty to keep it." in page
    trigger = RetrainTrigger.objects.get(monitor=monitor)
    assert trigger.auth_header == HEADER and trigger.cooldown_hours == 12


def test_the_saved_auth_header_is_removed_only_when_asked(client, engineer, monitor):
    client.force_login(engineer)
    _set_trigger_on_page(client, monitor, auth_header=HEADER)
    _set_trigger_on_page(client, monitor, remove_auth_header="on")
    assert RetrainTrigger.objects.get(monitor=monitor).auth_header == ""
    assert "Remove the saved auth header" not in client.get(monitor.get_absolute_url() + "jobs/").content.decode()


def test_the_api_takes_an_auth_header_and_answers_only_whether_one_is_set(client, engineer, monitor):
    client.force_login(engineer)
    url = f"/api/v1/monitors/{monitor.pk}/retrain-trigger/"

    first = client.put(url, {"url": TRIGGER_URL, "auth_header": HEADER}, content_type="application/json")
    kept = client.put(url, {"url": TRIGGER_URL, "cooldown_hours": 3}, content_type="application/json")
    kept_value = RetrainTrigger.objects.get(monitor=monitor).auth_header
    removed = client.put(url, {"url": TRIGGER_URL, "auth_header": ""}, content_type="application/json")

    assert HEADER not in first.content.decode() and first.json()["has_auth_header"] is True
    assert kept.json()["has_auth_header"] is True and kept_value == HEADER
    assert removed.json()["has_auth_header"] is False


def test_webhook_secrets_are_never_shown_back(client, engineer, portal_admin, monitor):
    client.force_login(engineer)
    client.post(
        f"/monitors/{monitor.pk}/channels/", {"kind": "webhook", "target": "https://hooks.example/a", "secret": SECRET}
    )
    listed = client.get(f"/api/v1/monitors/{monitor.pk}/channels/")
    page = client.get(monitor.get_absolute_url() + "jobs/").content.decode()
    client.force_login(portal_admin)
    admin_page = client.get(f"/admin/monitoring/monitor/{monitor.pk}/change/").content.decode()

    assert NotificationChannel.objects.get(monitor=monitor).secret == SECRET
    assert listed.json() == [
        {
            "id": listed.json()[0]["id"],
            "kind": "webhook",
            "target": "https://hooks.example/a",
            "is_active": True,
            "signed": True,
        }
    ]
    assert SECRET not in page and SECRET not in admin_page
    assert "Secret set" in admin_page


def test_the_admin_never_shows_a_saved_auth_header(client, engineer, portal_admin, monitor):
    client.force_login(engineer)
    _set_trigger_on_page(client, monitor, auth_header=HEADER)
    client.force_login(portal_admin)
    admin_page = client.get(f"/admin/monitoring/monitor/{monitor.pk}/change/")
    assert admin_page.status_code == 200
    assert HEADER not in admin_page.content.decode() and "Auth header set" in admin_page.content.decode()
