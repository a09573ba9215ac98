"""Monitoring pages and API: content, actions and permissions for every role."""

from datetime import UTC, datetime, timedelta

import pytest

from monitoring.models import Alert, DriftRun, IngestToken, Monitor, RetrainTrigger
from monitoring.services import batches, drift_runs, monitors
from tests.factories import ProjectFactory, RegisteredModelFactory
from tests.monitoring.conftest import SCHEMA, reference_frame, to_parquet

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 11, 10, tzinfo=UTC)


@pytest.fixture
def computed(monitor):
    frame = reference_frame(3000, seed=3)
    frame["feature_a"] = frame["feature_a"] + 2
    batches.batch_ingest(monitor=monitor, body=to_parquet(frame), fmt="parquet", received_at=DAY + timedelta(hours=2))
    extra = reference_frame(10).astype({"feature_b": "float64"})
    extra["feature_c"] = 1.0
    batches.batch_ingest(monitor=monitor, body=to_parquet(extra), fmt="parquet", received_at=DAY + timedelta(hours=4))
    drift_runs.drift_run_now(monitor=monitor, window_start=DAY, trigger=DriftRun.Trigger.COMMAND)
    return monitor


@pytest.fixture
def private_monitor(private_project):
    return monitors.monitor_create(
        actor=None, project=private_project, name="secret", model_name="m", expected_schema=SCHEMA
    )


def test_the_monitors_list_shows_a_status_badge_last_batch_and_open_alerts(client, engineer, computed):
    client.force_login(engineer)
    page = client.get("/monitors/").content.decode()
    assert "churn-champion" in page and 'data-status="schema_mismatch"' in page
    assert "churn@champion" in page


def test_the_monitor_views_hold_heatmap_timeline_overlay_results_schema_log_volume_and_alerts(
    client, engineer, computed
):
    client.force_login(engineer)
    base = computed.get_absolute_url()
    overview = client.get(base).content.decode()
    assert 'id="fig-volume"' in overview and "vendor/plotly/plotly.min.js" in overview
    assert "Run drift now" in overview and 'id="monitor-activity"' in overview
    drift = client.get(base + "drift/").content.decode()
    for part in ('id="fig-heatmap"', 'id="fig-timeline"', 'id="fig-overlay"', 'data-drill="run-ids"'):
        assert part in drift, part
    assert "feature_a" in drift and "wasserstein" in drift
    schema = client.get(base + "schema/").content.decode()
    assert "feature_c" in schema and "diff-received" in schema  # the schema diff
    assert "Acknowledge" in client.get(base + "alerts/").content.decode()


def test_clicking_a_cell_drills_down_to_that_feature_and_window(client, engineer, computed):
    client.force_login(engineer)
    run = DriftRun.objects.get()
    page = client.get(f"{computed.get_absolute_url()}drift/?run={run.pk}&feature=segment").content.decode()
    assert "segment: reference vs window" in page


def test_a_numeric_features_distribution_table_lists_its_bins_with_shares(client, engineer, computed):
    client.force_login(engineer)
    run = DriftRun.objects.get()
    response = client.get(f"{computed.get_absolute_url()}drift/?run={run.pk}&feature=feature_a")
    rows = response.context["table"]["overlay"]

    assert all(label.startswith("[") and label[-1] in ")]" for label, _, _ in rows)  # bins, not bin centres
    assert sum(ref for _, ref, _ in rows) == pytest.approx(1, abs=1e-4)  # shares, not densities
    assert sum(cur for _, _, cur in rows) == pytest.approx(1, abs=1e-4)


def test_readers_see_monitors_but_no_engineer_actions(client, manager, reviewer, computed):
    for user in (manager, reviewer):
        client.force_login(user)
        page = client.get(computed.get_absolute_url())
        alerts = client.get(computed.get_absolute_url() + "alerts/")
        assert page.status_code == alerts.status_code == 200
        assert "Run drift now" not in page.content.decode() and "Acknowledge" not in alerts.content.decode()
        assert client.post(f"/monitors/{computed.pk}/run-drift/").status_code == 403
        alert = Alert.objects.first()
        assert client.post(f"/alerts/{alert.pk}/acknowledge/").status_code == 403
        assert client.get("/monitors/new/").status_code == 403


def test_anonymous_users_are_sent_to_sign_in(client, computed):
    for url in ("/monitors/", computed.get_absolute_url(), "/alerts/"):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_a_non_member_gets_404_for_a_private_projects_monitor(client, outsider, engineer, private_monitor):
    client.force_login(outsider)
    assert client.get(private_monitor.get_absolute_url()).status_code == 404
    assert client.get(f"/api/v1/monitors/{private_monitor.pk}/").status_code == 404
    assert "secret" not in client.get("/monitors/").content.decode()
    client.force_login(engineer)
    assert client.get(private_monitor.get_absolute_url()).status_code == 200


def test_an_engineer_outside_the_project_cannot_change_its_monitor(client, outsider, computed):
    client.force_login(outsider)
    assert client.post(f"/monitors/{computed.pk}/run-drift/").status_code == 403
    assert client.get(f"/monitors/{computed.pk}/edit/").status_code == 403


def test_an_admin_may_do_everything(client, portal_admin, computed):
    client.force_login(portal_admin)
    assert client.get(computed.get_absolute_url()).status_code == 200
    alert = Alert.objects.filter(status="open").first()
    assert client.post(f"/alerts/{alert.pk}/acknowledge/").status_code == 302
    assert Alert.objects.get(pk=alert.pk).status == "acknowledged"


def test_engineers_acknowledge_resolve_and_mute_alerts(client, engineer, computed):
    client.force_login(engineer)
    alert = Alert.objects.filter(kind=Alert.Kind.WINDOW_DRIFT).get()
    client.post(f"/alerts/{alert.pk}/acknowledge/")
    assert Alert.objects.get(pk=alert.pk).status == "acknowledged"
    until = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    client.post(f"/alerts/{alert.pk}/mute/", {"until": until})
    muted = Alert.objects.get(pk=alert.pk)
    assert muted.status == "muted" and muted.muted_until is not None
    client.post(f"/alerts/{alert.pk}/resolve/")
    assert Alert.objects.get(pk=alert.pk).status == "resolved"


def test_the_alerts_page_filters_by_kind_and_status(client, reviewer, computed):
    client.force_login(reviewer)
    page = client.get("/alerts/?kind=schema_mismatch").content.decode()
    assert "Schema mismatch on churn-champion" in page and "drifted in the window" not in page
    page = client.get("/alerts/?kind=window_drift&status=open").content.decode()
    assert "1 column drifted in the window" in page and "Schema mismatch on" not in page


def test_an_engineer_creates_a_monitor_with_a_reference_upload_and_mints_a_token_shown_once(client, engineer, project):
    RegisteredModelFactory(name="unsigned-model", project=project)
    client.force_login(engineer)
    from django.core.files.uploadedfile import SimpleUploadedFile

    reference = SimpleUploadedFile("ref.csv", reference_frame(500).to_csv(index=False).encode(), "text/csv")
    response = client.post(
        "/monitors/new/",
        {
            "project": project.slug,
            "name": "from-the-form",
            "model_name": "unsigned-model",
            "alias": "champion",
            "drift_share": "0.5",
            "window_seconds": "86400",
            "reference": reference,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    monitor = Monitor.objects.get(name="from-the-form")
    # No signature in MLflow: the schema is read off the reference.
    assert [c["name"] for c in monitor.expected_schema] == ["feature_a", "feature_b", "segment"]
    assert monitor.references.get().rows == 500
    client.post(f"/monitors/{monitor.pk}/tokens/", {"name": "serving"})
    first = client.get(monitor.get_absolute_url() + "jobs/").content.decode()
    assert "mpi_" in first and IngestToken.objects.filter(monitor=monitor).count() == 1
    assert "shown once" in first
    assert "mpi_" not in client.get(monitor.get_absolute_url() + "jobs/").content.decode().split("Ingest tokens")[0]


def test_the_retrain_button_needs_a_trigger_and_the_permission(client, engineer, manager, computed):
    client.force_login(manager)
    assert client.post(f"/monitors/{computed.pk}/retrain/").status_code == 403
    client.force_login(engineer)
    RetrainTrigger.objects.create(monitor=computed, url="http://127.0.0.1:9/none")
    client.post(f"/monitors/{computed.pk}/retrain/")
    assert computed.retrain_events.get().reason == "manual"


def test_api_lists_monitors_runs_and_alerts_per_role(client, manager, engineer, computed):
    client.force_login(manager)
    monitors = client.get("/api/v1/monitors/").json()["results"]
    assert monitors[0]["status"] == "schema_mismatch" and monitors[0]["open_alerts"] >= 1
    runs = client.get(f"/api/v1/monitors/{computed.pk}/runs/").json()
    assert {r["feature"]: r["drifted"] for r in runs[0]["results"]}["feature_a"] is True
    window_alerts = client.get("/api/v1/alerts/?kind=window_drift").json()
    assert window_alerts["count"] == 1 and window_alerts["results"][0]["drifted_features"] == ["feature_a"]
    alert_id = client.get("/api/v1/alerts/").json()["results"][0]["id"]
    assert client.post(f"/api/v1/alerts/{alert_id}/acknowledge/").status_code == 403
    assert client.post(f"/api/v1/monitors/{computed.pk}/run-drift/").status_code == 403
    client.force_login(engineer)
    assert client.post(f"/api/v1/alerts/{alert_id}/acknowledge/").json()["status"] == "acknowledged"
    again = client.post(f"/api/v1/alerts/{alert_id}/acknowledge/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"  # already acknowledged
    assert client.post(f"/api/v1/monitors/{computed.pk}/run-drift/").status_code == 202
    key = client.post(f"/api/v1/monitors/{computed.pk}/tokens/", {"name": "ci"}).json()["key"]
    assert key.startswith("mpi_")


def test_api_creates_a_monitor_and_uploads_a_reference(client, engineer, project):
    RegisteredModelFactory(name="x", project=project)
    client.force_login(engineer)
    response = client.post(
        "/api/v1/monitors/",
        {"project": project.slug, "name": "api-made", "model_name": "x", "expected_schema": SCHEMA},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    monitor_id = response.json()["id"]
    upload = client.post(
        f"/api/v1/monitors/{monitor_id}/reference/", reference_frame(100).to_csv(index=False), content_type="text/csv"
    )
    assert upload.status_code == 201 and upload.json()["rows"] == 100


def test_anonymous_api_calls_get_401(client, computed):
    assert client.get("/api/v1/monitors/").status_code == 401
    assert client.get("/api/v1/alerts/").status_code == 401


def test_an_outsider_cannot_create_a_monitor_in_someone_elses_project(client, outsider):
    project = ProjectFactory(name="Theirs")
    client.force_login(outsider)
    response = client.post(
        "/api/v1/monitors/",
        {"project": project.slug, "name": "n", "model_name": "m", "expected_schema": SCHEMA},
        content_type="application/json",
    )
    assert response.status_code == 403


def test_the_admin_lists_monitoring_objects_for_an_admin(client, portal_admin, computed):
    portal_admin.is_superuser = True
    portal_admin.save()
    client.force_login(portal_admin)
    for name in ("monitor", "alert", "driftrun", "inferencebatch", "ingesttoken", "retrainevent", "notification"):
        assert client.get(f"/admin/monitoring/{name}/").status_code == 200, name
    assert client.get(f"/admin/monitoring/monitor/{computed.pk}/change/").status_code == 200


def test_an_engineer_revokes_an_ingest_token_and_it_stops_working(client, engineer, reviewer, monitor, ingest_key):
    token = IngestToken.objects.get()
    client.force_login(reviewer)
    assert client.post(f"/monitors/{monitor.pk}/tokens/{token.pk}/revoke/").status_code == 403
    client.force_login(engineer)
    client.post(f"/monitors/{monitor.pk}/tokens/{token.pk}/revoke/")
    assert IngestToken.objects.get().revoked_at is not None
    client.logout()
    body = reference_frame(3).to_csv(index=False)
    response = client.post(
        f"/api/v1/monitors/{monitor.pk}/batches/",
        body,
        content_type="text/csv",
        headers={"Authorization": f"Bearer {ingest_key}"},
    )
    assert response.status_code == 401


def test_an_engineer_configures_channels_and_a_kubeflow_trigger_from_the_monitor_page(
    client, engineer, manager, monitor
):
    client.force_login(manager)
    assert (
        client.post(f"/monitors/{monitor.pk}/channels/", {"kind": "email", "target": "a@example.com"}).status_code
        == 403
    )
    client.force_login(engineer)
    client.post(f"/monitors/{monitor.pk}/channels/", {"kind": "email", "target": "a@example.com, b@example.com"})
    client.post(f"/monitors/{monitor.pk}/channels/", {"kind": "email", "target": "not-an-address"})
    client.post(
        f"/monitors/{monitor.pk}/channels/", {"kind": "webhook", "target": "https://hooks.example/x", "secret": "s"}
    )
    assert sorted(monitor.channels.values_list("kind", flat=True)) == ["email", "webhook"]
    channel = monitor.channels.get(kind="email")
    client.post(f"/monitors/{monitor.pk}/channels/{channel.pk}/remove/")
    assert list(monitor.channels.values_list("kind", flat=True)) == ["webhook"]
    client.post(
        f"/monitors/{monitor.pk}/retrain-trigger/",
        {
            "url": "https://kfp.example/apis/v2beta1/runs",
            "preset": "kubeflow",
            "pipeline_id": "p",
            "pipeline_version_id": "v",
            "cooldown_hours": "12",
            "on_drift": "on",
            "is_active": "on",
        },
    )
    trigger = RetrainTrigger.objects.get(monitor=monitor)
    assert trigger.preset == "kubeflow" and trigger.options == {"pipeline_id": "p", "pipeline_version_id": "v"}
    assert trigger.cooldown_hours == 12 and trigger.on_drift and trigger.is_active
    page = client.get(monitor.get_absolute_url() + "jobs/").content.decode()
    assert "https://kfp.example/apis/v2beta1/runs" in page and "hooks.example" in page


def test_the_monitors_list_reads_a_fixed_number_of_queries_however_many_monitors(
    client, engineer, computed, django_assert_max_num_queries
):
    for i in range(15):
        monitors.monitor_create(
            actor=None, project=computed.project, name=f"extra-{i}", model_name="m", expected_schema=SCHEMA
        )
    client.force_login(engineer)
    with django_assert_max_num_queries(12):
        page = client.get("/monitors/")
    assert page.content.decode().count('data-status="') == 16


def test_api_mints_and_revokes_ingest_tokens_and_documents_the_ingest_endpoint(client, engineer, reviewer, monitor):
    client.force_login(engineer)
    minted = client.post(f"/api/v1/monitors/{monitor.pk}/tokens/", {"name": "ci"}).json()
    client.force_login(reviewer)
    assert client.post(f"/api/v1/monitors/{monitor.pk}/tokens/{minted['id']}/revoke/").status_code == 403
    client.force_login(engineer)
    revoked = client.post(f"/api/v1/monitors/{monitor.pk}/tokens/{minted['id']}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert IngestToken.objects.get(pk=minted["id"]).revoked_at is not None
    schema = client.get("/api/v1/schema/", headers={"Accept": "application/vnd.oai.openapi+json"}).json()
    assert "/api/v1/monitors/{monitor_id}/batches/" in schema["paths"]


def test_api_adds_channels_and_sets_the_retrain_trigger_for_engineers_only(client, engineer, manager, monitor):
    client.force_login(manager)
    assert client.get(f"/api/v1/monitors/{monitor.pk}/channels/").status_code == 403
    client.force_login(engineer)
    bad = client.post(
        f"/api/v1/monitors/{monitor.pk}/channels/", {"kind": "email", "target": "nope"}, content_type="application/json"
    )
    assert bad.status_code == 400
    added = client.post(
        f"/api/v1/monitors/{monitor.pk}/channels/",
        {"kind": "webhook", "target": "https://hooks.example/a", "secret": "s"},
        content_type="application/json",
    )
    assert added.status_code == 201 and added.json()[0]["kind"] == "webhook"
    trigger = client.put(
        f"/api/v1/monitors/{monitor.pk}/retrain-trigger/",
        {"url": "https://kfp.example/apis/v2beta1/runs", "preset": "kubeflow", "options": {"pipeline_id": "p"}},
        content_type="application/json",
    )
    assert trigger.status_code == 200 and trigger.json()["preset"] == "kubeflow"
    assert RetrainTrigger.objects.get(monitor=monitor).options == {"pipeline_id": "p"}


def test_the_monitor_page_reads_the_same_number_of_queries_however_many_windows(client, engineer, monitor):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(engineer)
    counts = []
    for day in range(3):
        start = DAY + timedelta(days=day)
        frame = reference_frame(200, seed=day)
        batches.batch_ingest(
            monitor=monitor, body=to_parquet(frame), fmt="parquet", received_at=start + timedelta(hours=1)
        )
        drift_runs.drift_run_now(monitor=monitor, window_start=start, trigger=DriftRun.Trigger.COMMAND)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(monitor.get_absolute_url() + "drift/").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[-1]


def test_a_browser_session_uploads_a_reference_with_its_csrf_token(engineer, monitor):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(engineer)
    browser.get(f"/monitors/{monitor.pk}/")  # sets the CSRF cookie, as the page does
    token = browser.cookies["csrftoken"].value
    body = reference_frame(100).to_csv(index=False)

    response = browser.post(
        f"/api/v1/monitors/{monitor.pk}/reference/", body, content_type="text/csv", headers={"X-CSRFToken": token}
    )
    forged = browser.post(f"/api/v1/monitors/{monitor.pk}/reference/", body, content_type="text/csv")

    assert response.status_code == 201, response.content
    assert response.json()["rows"] == 100
    assert forged.status_code == 403  # no token: CSRF still holds


def test_an_ingest_token_name_over_the_limit_gets_400_not_a_database_error(client, engineer, monitor):
    client.force_login(engineer)
    response = client.post(
        f"/api/v1/monitors/{monitor.pk}/tokens/", {"name": "x" * 81}, content_type="application/json"
    )
    assert response.status_code == 400 and "name" in response.json()["error"]["fields"]
    response = client.post(
        f"/api/v1/monitors/{monitor.pk}/run-drift/", {"window_start": "yesterday"}, content_type="application/json"
    )
    assert response.status_code == 400 and "window_start" in response.json()["error"]["fields"]


def test_the_schema_gives_the_monitor_and_alert_actions_their_real_bodies_and_statuses(client, engineer):
    client.force_login(engineer)
    paths = client.get("/api/v1/schema/", headers={"Accept": "application/vnd.oai.openapi+json"}).json()["paths"]
    for action in ("acknowledge", "resolve"):
        assert "requestBody" not in paths[f"/api/v1/alerts/{{id}}/{action}/"]["post"], action
    assert "202" in paths["/api/v1/monitors/{id}/run-drift/"]["post"]["responses"]
    assert "201" in paths["/api/v1/monitors/{id}/tokens/"]["post"]["responses"]
    assert "409" in paths["/api/v1/alerts/{id}/acknowledge/"]["post"]["responses"]


@pytest.mark.parametrize(
    "query",
    [
        "?monitor=abc",
        "?monitor=1.5",
        "?monitor=-1",
        "?monitor=10000000000000000000000",
        "?status=nope",
        "?kind=nope",
        "?severity=nope",
    ],
)
def test_an_alert_filter_no_alert_can_match_is_a_clear_400_not_a_server_error(client, engineer, computed, query):
    client.force_login(engineer)
    answer = client.get("/api/v1/alerts/" + query)
    page = client.get("/alerts/" + query)
    assert answer.status_code == 400
    assert answer.json()["error"]["fields"]
    assert page.status_code == 200
    assert "give a monitor" in page.content.decode() or "one of" in page.content.decode()


def test_the_alerts_page_shows_a_refused_filter_by_its_form_and_lists_nothing(client, engineer, computed):
    client.force_login(engineer)
    page = client.get("/alerts/?monitor=abc&status=nope")
    assert page.status_code == 200
    assert page.context["filter_errors"] == [
        "status: one of open, acknowledged, resolved, muted.",
        "monitor: give a monitor's id, a number.",
    ]
    assert '<div class="form-error" role="alert">' in page.content.decode()
    assert not page.context["page"].object_list


def test_the_api_names_each_refused_filter_in_the_portals_error_shape(client, engineer, computed):
    client.force_login(engineer)
    answer = client.get("/api/v1/alerts/?monitor=abc&severity=nope&kind=")
    assert answer.status_code == 400
    assert set(answer.json()["error"]["fields"]) == {"monitor", "severity"}  # an empty filter is no filter


def test_the_alert_filters_still_filter(client, engineer, computed):
    client.force_login(engineer)
    listed = client.get(f"/api/v1/alerts/?monitor={computed.pk}&status=open").json()
    assert listed["count"] == computed.alerts.filter(status="open").count() > 0
    # Values as typed into a URL, with a space around them, filter as they always did.
    assert client.get(f"/api/v1/alerts/?monitor=%20{computed.pk}&status=open%20").json()["count"] == listed["count"]
    page = client.get("/alerts/?status=open%20&kind=%20window_drift")
    assert page.status_code == 200 and page.context["filter_errors"] == []


def test_the_new_monitor_form_suggests_the_models_and_aliases_the_engineer_may_see(client, engineer):
    RegisteredModelFactory(name="churn-classifier", aliases={"champion": 3, "challenger": 4})
    private = ProjectFactory(name="Private team", visibility="private")
    RegisteredModelFactory(name="their-secret-model", project=private, aliases={"prod": 1})
    client.force_login(engineer)

    form = client.get("/monitors/new/").context["form"]
    page = client.get("/monitors/new/").content.decode()

    assert form.model_suggestions == ["churn-classifier"]
    assert form.alias_suggestions == ["challenger", "champion"]
    assert 'list="monitor-model-names"' in page and '<option value="churn-classifier">' in page
    assert "their-secret-model" not in page and '"prod"' not in page
