"""The monitor's views (overview, drift, schema, alerts, jobs), alert actions in place and in bulk,
and one alert per drifted window naming its features."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from monitoring.models import Alert, DriftRun, NotificationChannel
from monitoring.services import alerts, batches, drift_runs, monitors, notifications
from registry.errors import Conflict, PortalError
from tests.conftest import browser_page_as
from tests.monitoring.conftest import SCHEMA, reference_frame, to_parquet

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 11, 10, tzinfo=UTC)
LIVE = {"HTTP_ACCEPT": "application/json"}
VIEWS = ("", "drift/", "schema/", "alerts/", "jobs/")


def _window(monitor, day: int, *, shift: float = 0.0, segment: str | None = None) -> DriftRun:
    frame = reference_frame(3000, seed=10 + day)
    frame["feature_a"] = frame["feature_a"] + shift
    if segment is not None:
        frame["segment"] = segment
    start = DAY + timedelta(days=day)
    batches.batch_ingest(monitor=monitor, body=to_parquet(frame), fmt="parquet", received_at=start + timedelta(hours=2))
    return drift_runs.drift_run_now(monitor=monitor, window_start=start, trigger=DriftRun.Trigger.COMMAND)


@pytest.fixture
def drifted(monitor):
    """Three windows: the first calm, the other two with feature_a and segment drifted (2 of 3 inputs,
    over the monitor's 50 % rule)."""
    for day in range(3):
        _window(monitor, day, shift=2.0 if day else 0.0, segment="z" if day else None)
    return monitor


@pytest.fixture
def private_alert(private_project):
    monitor = monitors.monitor_create(
        actor=None, project=private_project, name="secret", model_name="m", expected_schema=SCHEMA
    )
    return Alert.objects.create(monitor=monitor, kind=Alert.Kind.VOLUME, dedupe_key="secret-volume", title="Few")


# ---------------------------------------------------------------- views


def test_each_view_has_its_own_url_and_the_tab_bar_marks_it_current(client, engineer, drifted):
    client.force_login(engineer)
    base = drifted.get_absolute_url()
    for view in VIEWS:
        page = client.get(base + view).content.decode()
        current = [line for line in page.split("<li>") if 'aria-current="page"' in line and "data-tab=" in line]
        assert len(current) == 1, view
        assert f'href="{base}{view}"' in current[0], view
        for other in VIEWS:
            assert f'href="{base}{other}"' in page, (view, other)  # every tab is a link from every view


def test_the_heatmap_and_timeline_share_the_drift_view_and_keep_their_ids(client, engineer, drifted):
    client.force_login(engineer)
    drift = client.get(drifted.get_absolute_url() + "drift/").content.decode()
    for part in ('data-figure="fig-heatmap"', 'data-drill="run-ids"', 'data-figure="fig-timeline"', 'id="run-ids"'):
        assert part in drift, part
    overview = client.get(drifted.get_absolute_url()).content.decode()
    assert 'data-figure="fig-heatmap"' not in overview and 'data-figure="fig-volume"' in overview


def test_an_alert_links_to_the_drift_view_at_its_window_and_feature(client, engineer, drifted):
    alert = Alert.objects.filter(kind=Alert.Kind.WINDOW_DRIFT).order_by("window_start").first()
    url = alert.get_absolute_url()
    assert url.startswith(f"/monitors/{drifted.pk}/drift/?run={alert.run_id}&feature=")
    client.force_login(engineer)
    page = client.get(url).content.decode()
    assert f"{alert.drifted_features[0]}: reference vs window" in page


def test_an_outsider_gets_404_for_every_view_of_a_private_monitor(client, outsider, engineer, private_alert):
    base = private_alert.monitor.get_absolute_url()
    client.force_login(outsider)
    assert [client.get(base + view).status_code for view in VIEWS] == [404] * 5
    client.force_login(engineer)
    assert [client.get(base + view).status_code for view in VIEWS] == [200] * 5


def test_a_run_id_that_is_not_a_number_is_ignored_not_a_server_error(client, engineer, drifted):
    client.force_login(engineer)
    assert client.get(drifted.get_absolute_url() + "drift/?run=%F0%9F%98%80").status_code == 200
    assert client.get(drifted.get_absolute_url() + "drift/?run=99999999").status_code == 404


# ---------------------------------------------------------------- one alert per window


def test_a_drifted_window_raises_one_critical_alert_naming_its_features(drifted):
    window_alerts = Alert.objects.filter(kind=Alert.Kind.WINDOW_DRIFT).order_by("window_start")
    assert [a.window_start for a in window_alerts] == [DAY + timedelta(days=1), DAY + timedelta(days=2)]
    assert all(a.severity == Alert.Severity.CRITICAL for a in window_alerts)
    assert [a.drifted_features for a in window_alerts] == [["feature_a", "segment"]] * 2
    assert not Alert.objects.filter(kind=Alert.Kind.FEATURE_DRIFT).exists()


def test_a_re_run_of_a_window_updates_its_one_alert_and_resolves_it_when_the_drift_is_gone(monitor):
    _window(monitor, 0, shift=2.0, segment="z")
    alert = Alert.objects.get(kind=Alert.Kind.WINDOW_DRIFT)
    drift_runs.drift_run_now(monitor=monitor, window_start=DAY, trigger=DriftRun.Trigger.MANUAL)
    again = Alert.objects.get(kind=Alert.Kind.WINDOW_DRIFT)
    assert again.pk == alert.pk and again.occurrences == 2 and again.drifted_features == ["feature_a", "segment"]


def test_a_window_alert_becomes_critical_and_is_sent_again_when_more_features_drift(monitor):
    NotificationChannel.objects.create(monitor=monitor, kind="email", target="oncall@example.com")
    _window(monitor, 0, shift=2.0)  # only feature_a: 1 of 3, a warning
    alert = Alert.objects.get(kind=Alert.Kind.WINDOW_DRIFT)
    assert alert.severity == Alert.Severity.WARNING and alert.drifted_features == ["feature_a"]
    ids = notifications.notifications_create(alert_id=alert.pk)
    for notification_id in ids:
        notifications.notification_send(notification_id=notification_id)
    assert notifications.notifications_create(alert_id=alert.pk) == []  # sent once
    frame = reference_frame(3000, seed=99)
    frame["segment"] = "z"
    batches.batch_ingest(monitor=monitor, body=to_parquet(frame), fmt="parquet", received_at=DAY + timedelta(hours=5))
    drift_runs.drift_run_now(monitor=monitor, window_start=DAY, trigger=DriftRun.Trigger.MANUAL)
    alert.refresh_from_db()
    assert alert.severity == Alert.Severity.CRITICAL and "segment" in alert.drifted_features
    assert Alert.objects.filter(kind=Alert.Kind.WINDOW_DRIFT).count() == 1
    assert len(notifications.notifications_create(alert_id=alert.pk)) == 1  # the escalation is sent again


def test_the_webhook_payload_names_the_drifted_features(drifted):
    alert = Alert.objects.filter(kind=Alert.Kind.WINDOW_DRIFT).first()
    payload = json.loads(json.dumps(notifications.alert_payload(alert)))
    assert payload["alert"]["drifted_features"] == ["feature_a", "segment"]
    assert payload["alert"]["url"].startswith(f"/monitors/{drifted.pk}/drift/")


def test_the_alert_row_lists_its_features_each_linking_to_the_drift_view(client, engineer, drifted):
    client.force_login(engineer)
    page = client.get(drifted.get_absolute_url() + "alerts/").content.decode()
    assert page.count('class="feature-chips"') == 2
    assert f"/monitors/{drifted.pk}/drift/?run=" in page and "feature=segment" in page


# ---------------------------------------------------------------- actions in place


def test_acknowledging_in_place_answers_json_with_the_message_and_the_new_row(client, engineer, drifted):
    client.force_login(engineer)
    alert = Alert.objects.filter(kind=Alert.Kind.WINDOW_DRIFT).first()
    answer = client.post(f"/alerts/{alert.pk}/acknowledge/", {"selectable": "1"}, **LIVE)
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "acknowledged" and "acknowledged" in body["message"]
    row = body["rows"][str(alert.pk)]
    assert row.startswith(f'<tr id="alert-{alert.pk}"') and "Acknowledged" in row
    assert 'name="ids"' in row and ">Acknowledge</button>" not in row and ">Resolve</button>" in row
    again = client.post(f"/alerts/{alert.pk}/acknowledge/", **LIVE)
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"


def test_a_bad_mute_time_in_place_is_a_json_400_naming_the_field(client, engineer, drifted):
    client.force_login(engineer)
    alert = Alert.objects.filter(kind=Alert.Kind.WINDOW_DRIFT).first()
    for until in ("tomorrow", "", "2000-01-01T00:00"):
        answer = client.post(f"/alerts/{alert.pk}/mute/", {"until": until}, **LIVE)
        assert answer.status_code == 400, until
        assert "until" in answer.json()["error"]["fields"], until
    assert Alert.objects.get(pk=alert.pk).status == Alert.Status.OPEN


def test_a_member_without_the_right_to_change_alerts_gets_a_json_403(client, manager, outsider, drifted):
    alert = Alert.objects.filter(kind=Alert.Kind.WINDOW_DRIFT).first()
    client.force_login(manager)
    assert client.post(f"/alerts/{alert.pk}/resolve/", **LIVE).status_code == 403
    client.force_login(outsider)  # an engineer, but not of this project
    answer = client.post(f"/alerts/{alert.pk}/resolve/", **LIVE)
    assert answer.status_code == 403 and answer.json()["error"]["message"]
    assert Alert.objects.get(pk=alert.pk).status == Alert.Status.OPEN


# ---------------------------------------------------------------- bulk


def test_bulk_acknowledge_changes_every_ticked_alert(client, engineer, drifted):
    ids = list(Alert.objects.filter(status=Alert.Status.OPEN).values_list("pk", flat=True))
    assert len(ids) >= 2
    client.force_login(engineer)
    answer = client.post("/alerts/bulk/", {"ids": ids, "action": "acknowledge", "selectable": "1"}, **LIVE)
    assert answer.status_code == 200, answer.content
    assert answer.json()["message"] == f"{len(ids)} alerts acknowledged."
    assert sorted(int(i) for i in answer.json()["rows"]) == sorted(ids)
    assert set(Alert.objects.filter(pk__in=ids).values_list("status", flat=True)) == {Alert.Status.ACKNOWLEDGED}


def test_bulk_is_all_or_nothing_when_one_alert_refuses(engineer, drifted):
    first, second = Alert.objects.filter(kind=Alert.Kind.WINDOW_DRIFT)[:2]
    alerts.alert_acknowledge(actor=engineer, alert_id=second.pk)
    with pytest.raises(Conflict, match=f"Alert {second.pk}: Only an open alert"):
        alerts.alert_bulk_change(actor=engineer, alert_ids=[first.pk, second.pk], action="acknowledge")
    assert Alert.objects.get(pk=first.pk).status == Alert.Status.OPEN  # not half-applied


def test_bulk_with_an_alert_the_user_may_not_see_is_404_and_changes_nothing(
    client, outsider, engineer, drifted, private_alert
):
    visible = Alert.objects.filter(monitor=drifted).first()
    client.force_login(outsider)  # sees the internal project's alert, not the private one
    answer = client.post(
        "/api/v1/alerts/bulk/",
        {"ids": [visible.pk, private_alert.pk], "action": "resolve"},
        content_type="application/json",
    )
    assert answer.status_code == 404
    assert answer.json()["error"]["fields"]["ids"] == [f"No alert {private_alert.pk}."]
    assert "secret" not in answer.content.decode()
    assert Alert.objects.get(pk=visible.pk).status == Alert.Status.OPEN
    page = client.post("/alerts/bulk/", {"ids": [private_alert.pk], "action": "resolve"}, **LIVE)
    assert page.status_code == 404
    assert Alert.objects.get(pk=private_alert.pk).status == Alert.Status.OPEN


def test_bulk_mute_through_the_api_needs_a_time_and_mutes_them_all(client, engineer, drifted):
    ids = list(Alert.objects.filter(monitor=drifted).values_list("pk", flat=True))
    client.force_login(engineer)
    url = "/api/v1/alerts/bulk/"
    no_time = client.post(url, {"ids": ids, "action": "mute"}, content_type="application/json")
    assert no_time.status_code == 400 and "until" in no_time.json()["error"]["fields"]
    for body in ({"ids": [], "action": "resolve"}, {"ids": ["x"], "action": "resolve"}, {"ids": ids, "action": "x"}):
        assert client.post(url, body, content_type="application/json").status_code == 400, body
    until = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    muted = client.post(url, {"ids": ids, "action": "mute", "until": until}, content_type="application/json")
    assert muted.status_code == 200
    assert {a["status"] for a in muted.json()["alerts"]} == {"muted"} and len(muted.json()["alerts"]) == len(ids)


def test_bulk_ids_that_are_not_numbers_are_a_400_on_the_page_route(client, engineer, drifted):
    client.force_login(engineer)
    answer = client.post("/alerts/bulk/", {"ids": ["1", "x\x00"], "action": "resolve"}, **LIVE)
    assert answer.status_code == 400 and "ids" in answer.json()["error"]["fields"]


def test_the_schema_documents_the_bulk_action_and_its_refusals(client, engineer):
    client.force_login(engineer)
    schema = client.get("/api/v1/schema/", headers={"Accept": "application/vnd.oai.openapi+json"}).json()
    operation = schema["paths"]["/api/v1/alerts/bulk/"]["post"]
    assert {"200", "400", "403", "404", "409"} <= set(operation["responses"])
    assert operation["requestBody"]


def test_without_javascript_the_bulk_bar_posts_and_comes_back(client, engineer, drifted):
    client.force_login(engineer)
    ids = list(Alert.objects.filter(status=Alert.Status.OPEN).values_list("pk", flat=True))
    back = drifted.get_absolute_url() + "alerts/"
    response = client.post("/alerts/bulk/", {"ids": ids, "action": "resolve", "next": back})
    assert response.status_code == 302 and response["Location"] == back
    assert not Alert.objects.filter(pk__in=ids).exclude(status=Alert.Status.RESOLVED).exists()


# ---------------------------------------------------------------- in the browser


def test_in_the_browser_an_alert_is_acknowledged_in_place_and_a_bulk_resolve_changes_the_ticked_rows(
    live_server, client, engineer, drifted
):
    open_alerts = list(Alert.objects.filter(status=Alert.Status.OPEN).order_by("-created_at", "-pk"))
    with browser_page_as(engineer, live_server=live_server, client=client, width=1280) as page:
        page.goto(f"{live_server.url}{drifted.get_absolute_url()}alerts/")
        page.evaluate("() => { window.notReloaded = true; }")
        questions = []
        page.on("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
        first = page.locator(f"#alert-{open_alerts[0].pk}")
        first.get_by_role("button", name="Acknowledge").click()
        page.wait_for_function(
            f"() => document.querySelector('#alert-{open_alerts[0].pk}').dataset.alertStatus === 'acknowledged'"
        )
        assert "acknowledged" in page.inner_text("#alerts-answer")
        assert questions[0].startswith("Acknowledge “")
        for alert in open_alerts[1:]:
            page.locator(f"#pick-{alert.pk}").check()
        assert page.inner_text("[data-bulk-count]") == f"{len(open_alerts) - 1} ticked:"
        page.locator("form[data-alert-bulk]").get_by_role("button", name="Resolve").click()
        page.wait_for_function("() => document.getElementById('alerts-answer').textContent.includes('resolved')")
        assert questions[-1].startswith(f"Resolve {len(open_alerts) - 1} alert")
        assert page.evaluate("() => window.notReloaded") is True
        assert page.errors == []
    statuses = {a.pk: a.status for a in Alert.objects.all()}
    assert statuses[open_alerts[0].pk] == Alert.Status.ACKNOWLEDGED
    assert {statuses[a.pk] for a in open_alerts[1:]} == {Alert.Status.RESOLVED}


def test_a_refused_bulk_action_leaves_every_alert_and_says_why(engineer, drifted):
    ids = list(Alert.objects.values_list("pk", flat=True))
    with pytest.raises(PortalError, match="Mute until a time in the future"):
        alerts.alert_bulk_change(
            actor=engineer, alert_ids=ids, action="mute", until=datetime.now(UTC) - timedelta(hours=1)
        )
    assert set(Alert.objects.values_list("status", flat=True)) == {Alert.Status.OPEN}


def test_the_migration_names_old_per_feature_alerts_on_their_windows_alert_and_leaves_them_as_history(monitor):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("monitoring.migrations.0005_alert_drifted_features")
    old = {}
    for feature in ("segment", "feature_a"):
        old[feature] = Alert.objects.create(
            monitor=monitor,
            kind=Alert.Kind.FEATURE_DRIFT,
            feature=feature,
            window_start=DAY,
            dedupe_key=f"{monitor.pk}:feature_drift:{feature}:{DAY.isoformat()}:",
            title=f"{feature} drifted",
            status=Alert.Status.ACKNOWLEDGED if feature == "segment" else Alert.Status.OPEN,
        )
    window = Alert.objects.create(
        monitor=monitor, kind=Alert.Kind.WINDOW_DRIFT, window_start=DAY, dedupe_key="w", title="Window drifted"
    )
    other_day = Alert.objects.create(
        monitor=monitor,
        kind=Alert.Kind.WINDOW_DRIFT,
        window_start=DAY + timedelta(days=1),
        dedupe_key="w2",
        title="Another window",
    )
    migration.window_alerts_name_their_features(apps, None)
    window.refresh_from_db()
    other_day.refresh_from_db()
    assert window.drifted_features == ["feature_a", "segment"] and other_day.drifted_features == []
    assert {a.feature: a.status for a in Alert.objects.filter(kind=Alert.Kind.FEATURE_DRIFT)} == {
        "segment": Alert.Status.ACKNOWLEDGED,
        "feature_a": Alert.Status.OPEN,
    }
