"""What the OpenAPI schema says beyond what drf-spectacular reads off the views: the error answers
every operation can give, in the portal's one error shape (registry/api_errors.py), and the ingest
endpoint's own bearer token. tests/test_api_schema_conformance.py holds the schema to the API's
real answers with schemathesis.

Applied through SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"] (mlopsportal/settings.py)."""

import re
from typing import Any

ERROR_COMPONENT = "Error"
INGEST_SCHEME = "ingestToken"

ERROR_SCHEMA = {
    "type": "object",
    "description": "Every API error: the HTTP status again, a stable code, a message for people, and the "
    "offending fields with their messages (empty when the error is not about a field).",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "status": {"type": "integer"},
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {}},
            },
            "required": ["status", "code", "message", "fields"],
        }
    },
    "required": ["error"],
}

DESCRIPTIONS = {
    400: "The request is malformed or fails validation; `fields` names what is wrong.",
    401: "No credentials, or wrong ones.",
    403: "The caller's role or project membership does not allow this.",
    404: "No such object, or one the caller may not see; or a page past the end of a list.",
    409: "The object's state does not allow this now (already decided, name taken, no trigger…).",
    413: "The body, or the batch once read, is over the portal's limits.",
    415: "A content type the endpoint does not read.",
    422: "An Idempotency-Key reused with a different body.",
    429: "Too many requests: wait the Retry-After header's seconds.",
    503: "A part the answer depends on is unavailable (MLflow did not answer, the batch store is read-only) "
    "or the server is busy with large bodies; try again after the Retry-After header's seconds.",
    507: "The batch store is full: nothing was stored; try again later.",
}

# Errors particular to some operations, beyond the ones every operation of its kind can give:
# (method, path pattern) -> statuses.
PARTICULAR: list[tuple[str, str, tuple[int, ...]]] = [
    ("post", r"^/api/v1/projects/$", (409,)),
    ("(put|patch)", r"^/api/v1/projects/\{slug\}/$", (409,)),
    ("post", r"^/api/v1/promotions/$", (409,)),
    ("post", r"^/api/v1/promotions/\{id\}/(approve|reject|cancel|retry)/$", (409,)),
    ("post", r"^/api/v1/monitors/$", (404, 503)),  # 404: a project the caller may not see
    ("post", r"^/api/v1/alerts/\{id\}/acknowledge/$", (409,)),
    ("post", r"^/api/v1/monitors/\{id\}/retrain/$", (409,)),
    ("post", r"^/api/v1/monitors/\{id\}/reference/$", (413, 415, 503, 507)),
    ("post", r"^/api/v1/monitors/\{id\}/reference-from-mlflow/$", (503,)),
    ("post", r"^/api/v1/monitors/\{monitor_id\}/batches/$", (413, 415, 422, 503, 507)),
    ("get", r"^/api/v1/runs/\{run_id\}/history/$", (503,)),
]

INGEST_PATH = "/api/v1/monitors/{monitor_id}/batches/"
REFERENCE_PATH = "/api/v1/monitors/{id}/reference/"
_RECORDS = {"type": "array", "items": {"type": "object"}, "minItems": 1}
INGEST_JSON = {
    "description": "The batch's rows: a list of records, or an object whose `records` is that list.",
    "oneOf": [
        _RECORDS,
        {"type": "object", "properties": {"records": _RECORDS}, "required": ["records"]},
    ],
}


def _statuses(path: str, method: str, operation: dict[str, Any]) -> set[int]:
    statuses = {401, 429}  # every operation needs credentials and is rate-limited
    if path != INGEST_PATH:  # there the token is the permission
        statuses.add(403)
    parameters = operation.get("parameters", [])
    if operation.get("requestBody") or any(p["in"] in ("query", "header") for p in parameters):
        statuses.add(400)
    if any(p["in"] == "path" for p in parameters) or any(p["name"] == "page" for p in parameters):
        statuses.add(404)
    for methods, pattern, extra in PARTICULAR:
        if re.fullmatch(methods, method) and re.search(pattern, path):
            statuses.update(extra)
    return statuses


# DRF's CharField refuses a NUL character (no database column stores one): the request schemas say so.
NO_NUL = "^[^\\u0000]*$"


def _text_without_nul(schema: dict[str, Any]) -> None:
    for prop in schema.get("properties", {}).values():
        if prop.get("type") == "string" and not ({"enum", "pattern", "format"} & prop.keys()):
            prop["pattern"] = NO_NUL
        elif prop.get("type") == "array" and prop.get("items", {}).get("type") == "string":
            _text_without_nul({"properties": {"item": prop["items"]}})


def errors_documented(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: the error answers of every operation, and the ingest
    endpoint's bearer token in place of "no authentication"."""
    components = result.setdefault("components", {})
    components.setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    components.setdefault("securitySchemes", {})[INGEST_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "A monitor's ingest token: `Authorization: Bearer <token>` (or an X-Ingest-Token header).",
    }
    error_ref = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}}}
    for name, schema in components["schemas"].items():
        if name.endswith("Request"):  # COMPONENT_SPLIT_REQUEST: what clients send
            _text_without_nul(schema)
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            if path in (INGEST_PATH, REFERENCE_PATH) and "requestBody" in operation:
                operation["requestBody"]["required"] = True  # an empty body is refused
            if path == INGEST_PATH:
                operation["security"] = [{INGEST_SCHEME: []}]
                content = operation.get("requestBody", {}).get("content", {})
                if "application/json" in content:
                    content["application/json"]["schema"] = INGEST_JSON
                if "text/csv" in content:
                    content["text/csv"]["schema"] = {"type": "string", "minLength": 1}
            for status in sorted(_statuses(path, method, operation)):
                operation["responses"].setdefault(
                    str(status), {"description": DESCRIPTIONS[status], "content": error_ref}
                )
    return result
