"""API conventions: JSON errors with a message, token authentication, OpenAPI schema."""

import re

import pytest

from monitoring.services.monitors import monitor_create

pytestmark = pytest.mark.django_db


def test_an_anonymous_api_call_gets_401_json_naming_the_token_scheme(client):
    response = client.get("/api/v1/projects/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["error"]["code"] == "not_authenticated"


def test_an_unknown_api_url_gets_json_404_not_an_html_page(client, engineer):
    client.force_login(engineer)
    response = client.get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert "/api/v1/nothing-here/" in response.json()["error"]["message"]


def test_malformed_json_gets_400_with_the_parse_error(client, engineer):
    client.force_login(engineer)
    response = client.post("/api/v1/projects/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_a_username_holding_a_nul_character_is_a_field_error_not_a_database_error(client, engineer):
    client.force_login(engineer)
    body = {"name": "Nul names", "members": ["ma\u0000ya"], "leads": ["\u0000"]}
    as_json = client.post("/api/v1/projects/", body, content_type="application/json")
    as_form = client.post("/api/v1/projects/", {"name": "Nul names", "members": "ma\x00ya"})

    assert as_json.status_code == as_form.status_code == 400
    assert set(as_json.json()["error"]["fields"]) == {"members", "leads"}


def test_a_wrong_method_gets_405_json(client, engineer):
    client.force_login(engineer)
    response = client.delete("/api/v1/me/")
    assert response.status_code in (403, 405)
    assert response.json()["error"]["message"]


def test_a_token_minted_on_the_profile_page_authenticates_api_calls(client, engineer):
    client.force_login(engineer)
    page = client.post("/profile/token/")
    key = re.search(r'id="new-token"[^>]*value="([^"]+)"', page.content.decode()).group(1)
    assert key.startswith("mpa_")
    client.logout()

    response = client.get("/api/v1/me/", headers={"Authorization": f"Token {key}"})
    assert response.status_code == 200
    assert response.json()["username"] == engineer.username
    assert response.json()["roles"] == ["Engineer"]

    client.force_login(engineer)
    client.post("/profile/token/")  # rotating revokes the old key
    client.logout()
    assert client.get("/api/v1/me/", headers={"Authorization": f"Token {key}"}).status_code == 401


def test_the_openapi_schema_describes_the_endpoints(client, engineer):
    client.force_login(engineer)
    response = client.get("/api/v1/schema/", headers={"Accept": "application/vnd.oai.openapi+json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/v1/me/", "/api/v1/projects/", "/api/v1/projects/{slug}/"} <= set(paths)


def test_the_schema_says_which_fields_can_be_null_and_which_lists_are_not_paginated(client, engineer):
    client.force_login(engineer)
    schema = client.get("/api/v1/schema/", headers={"Accept": "application/vnd.oai.openapi+json"}).json()
    components = schema["components"]["schemas"]
    nullable = {
        "AuditEventOut": ["actor", "project"],
        "ExperimentOut": ["project", "run_count"],
        "RegisteredModelOut": ["project"],
        "MonitorOut": ["last_batch_at"],
        "SyncRunOut": ["requested_by"],
    }
    for name, fields in nullable.items():
        for field in fields:
            assert components[name]["properties"][field].get("nullable") is True, (name, field)
    for path in ("/api/v1/models/{name}/versions/", "/api/v1/monitors/{id}/channels/", "/api/v1/monitors/{id}/runs/"):
        body = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert body["type"] == "array", path  # what they return, not a paginated object


def test_api_tokens_are_stored_hashed_and_shown_only_once(client, engineer, portal_admin):
    import hashlib

    from registry.models import ApiToken

    client.force_login(engineer)
    key = re.search(r'id="new-token"[^>]*value="([^"]+)"', client.post("/profile/token/").content.decode()).group(1)
    stored = ApiToken.objects.get(user=engineer)
    assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest() and key not in str(vars(stored))
    profile = client.get("/profile/").content.decode()
    assert key not in profile and stored.prefix in profile
    client.force_login(portal_admin)
    listing = client.get("/admin/registry/apitoken/").content.decode()
    assert stored.prefix in listing and key not in listing
    assert client.get("/admin/authtoken/tokenproxy/").status_code == 404  # DRF's clear-text listing is gone


def test_a_token_from_before_hashing_is_carried_over_and_keeps_working(client, engineer):
    import importlib

    from django.apps import apps as django_apps
    from rest_framework.authtoken.models import Token

    from registry.models import ApiToken

    old = Token.objects.create(user=engineer)
    importlib.import_module("registry.migrations.0009_api_tokens_from_authtoken").forwards(django_apps, None)

    assert not Token.objects.exists() and ApiToken.objects.get(user=engineer).prefix == old.key[:12]
    response = client.get("/api/v1/me/", headers={"Authorization": f"Token {old.key}"})
    assert response.status_code == 200 and response.json()["username"] == engineer.username


def test_the_schema_documents_each_operations_error_answers_and_the_ingest_token(client, engineer):
    client.force_login(engineer)
    schema = client.get("/api/v1/schema/", headers={"Accept": "application/vnd.oai.openapi+json"}).json()
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    detail = schema["paths"]["/api/v1/projects/{slug}/"]["get"]["responses"]
    assert {"401", "403", "404", "429"} <= set(detail) and detail["404"]["content"] == error
    assert "400" in schema["paths"]["/api/v1/projects/"]["post"]["responses"]
    assert "409" in schema["paths"]["/api/v1/projects/"]["post"]["responses"]
    assert schema["components"]["schemas"]["Error"]["required"] == ["error"]
    ingest = schema["paths"]["/api/v1/monitors/{monitor_id}/batches/"]["post"]
    assert ingest["security"] == [{"ingestToken": []}] and {"413", "415", "422"} <= set(ingest["responses"])
    assert schema["components"]["securitySchemes"]["ingestToken"]["scheme"] == "bearer"
    # a required text field of a request body says it cannot be blank
    assert schema["components"]["schemas"]["ProjectInRequest"]["properties"]["name"]["minLength"] == 1
    level = next(
        p for p in schema["paths"]["/api/v1/assessments/portfolio/"]["get"]["parameters"] if p["name"] == "level"
    )
    assert level["schema"]["enum"] == [0, 1, 2]


@pytest.mark.parametrize("query", ["?page=", "?page=1&page=", "?page=%20"])
def test_an_empty_page_number_is_refused_not_read_as_page_one(client, engineer, query):
    client.force_login(engineer)
    for path in ("/api/v1/projects/", "/api/v1/assessments/portfolio/"):
        response = client.get(path + query)
        assert response.status_code == 404, path
        assert response.json()["error"]["message"].startswith("Invalid page")
    assert client.get("/api/v1/projects/?page=1").status_code == 200


@pytest.mark.parametrize("query", ["?since=", "?until="])
def test_the_audit_log_refuses_an_empty_date_instead_of_ignoring_it(client, manager, query):
    client.force_login(manager)
    response = client.get("/api/v1/audit-events/" + query)
    assert response.status_code == 400
    assert "YYYY-MM-DD" in response.json()["error"]["message"]


def test_json_nested_deeper_than_python_follows_gets_400(client, engineer):
    client.force_login(engineer)
    response = client.post("/api/v1/projects/", "[" * 100_000 + "]" * 100_000, content_type="application/json")
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["error"]["message"]


@pytest.mark.parametrize("body", [r'{"name": "caf\ud800"}', r'{"name": "a\u0000b"}'])
def test_text_the_database_could_not_store_gets_400(client, engineer, body):
    client.force_login(engineer)
    response = client.post("/api/v1/projects/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["message"]


@pytest.mark.parametrize(("value", "reason"), [(r'"a\u0000b"', "Null characters"), (r'"caf\ud800"', "Surrogate")])
def test_json_fields_the_database_could_not_store_get_400_and_ignored_ones_pass(
    client, engineer, private_project, value, reason
):
    monitor = monitor_create(actor=None, project=private_project, name="m", model_name="m", expected_schema=[])
    client.force_login(engineer)
    url = f"/api/v1/monitors/{monitor.pk}/retrain-trigger/"
    stored = client.put(url, f'{{"url": "https://ci.example/r", "options": {{"k": {value}}}}}', "application/json")
    ignored = client.put(url, f'{{"url": "https://ci.example/r", "unknown": {value}}}', "application/json")
    assert stored.status_code == 400
    assert reason in str(stored.json()["error"]["fields"]["options"])
    assert ignored.status_code == 200  # a property the API ignores may hold anything


def test_a_nul_in_the_query_string_is_a_400_before_it_reaches_the_database(client, reviewer):
    client.force_login(reviewer)
    response = client.get("/api/v1/promotions/?target_alias=%00champion")
    assert response.status_code == 400
    assert "NUL" in response.json()["error"]["message"]
    assert client.get("/projects/?q=%00").status_code == 400


@pytest.mark.parametrize(("field", "value"), [("cooldown_hours", 140737488355328), ("cooldown_hours", 366 * 24 + 1)])
def test_numbers_too_large_for_their_column_get_400_not_a_database_error(
    client, engineer, private_project, field, value
):
    monitor = monitor_create(actor=None, project=private_project, name="m", model_name="m", expected_schema=[])
    client.force_login(engineer)
    response = client.put(
        f"/api/v1/monitors/{monitor.pk}/retrain-trigger/",
        {"url": "https://ci.example/retrain", field: value},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


@pytest.mark.django_db
def test_a_runs_status_filter_mlflow_does_not_have_is_a_400_naming_the_field(client, engineer):
    client.force_login(engineer)
    refused = client.get("/api/v1/runs/?status=not-a-status")
    assert refused.status_code == 400
    assert "status" in refused.json()["error"]["fields"]
    assert client.get("/api/v1/runs/?status=FINISHED&experiment=123").status_code == 200
