"""The one way a page answers a service's refusal (registry/live.py), for a refusal a view did not
handle: through the middleware stack as configured, never a 500."""

import json

import pytest
from django.http import HttpRequest
from django.test import RequestFactory

from registry.errors import Conflict, PermissionDenied
from registry.live import PortalErrorPageMiddleware, action_refused

pytestmark = pytest.mark.django_db


def _request(engineer, accept: str = "text/html") -> HttpRequest:
    request = RequestFactory().post("/somewhere/", HTTP_ACCEPT=accept)
    request.user = engineer
    request.session = {}
    return request


def test_a_refusal_no_view_handled_becomes_its_page_with_the_services_reason(engineer):
    middleware = PortalErrorPageMiddleware(lambda request: None)

    denied = middleware.process_exception(_request(engineer), PermissionDenied("Only the project's members."))
    conflict = middleware.process_exception(_request(engineer), Conflict("Someone decided first."))

    assert denied.status_code == 403 and "Only the project&#x27;s members." in denied.content.decode()
    assert conflict.status_code == 409 and "Someone decided first." in conflict.content.decode()
    assert middleware.process_exception(_request(engineer), ValueError("a bug")) is None  # bugs stay 500s


def test_a_script_posting_an_action_gets_the_apis_error_shape(engineer):
    response = action_refused(_request(engineer, "application/json"), error=Conflict("Someone decided first."))

    assert response.status_code == 409
    assert json.loads(response.content)["error"] == {
        "status": 409,
        "code": "conflict",
        "message": "Someone decided first.",
        "fields": {},
    }


def test_the_middleware_is_installed(settings):
    assert "registry.live.PortalErrorPageMiddleware" in settings.MIDDLEWARE
