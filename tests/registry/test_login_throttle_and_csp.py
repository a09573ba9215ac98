"""Password guessing is throttled (django-axes) and every page carries a Content-Security-Policy that
allows no inline script, which the templates honour."""

import re

import pytest

from registry.roles import Role
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def _sign_in(client, username: str, password: str, address: str = "127.0.0.1"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def test_after_five_failed_sign_ins_the_username_is_paused_even_with_the_right_password(client, settings):
    UserFactory(username="victim", roles=[Role.ENGINEER])
    UserFactory(username="bystander", roles=[Role.ENGINEER])
    for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        wrong = _sign_in(client, "victim", f"guess-{attempt}", address=f"10.0.0.{attempt + 1}")
        assert wrong.status_code == 200 and "Please enter a correct username" in wrong.content.decode()
    assert _sign_in(client, "victim", "one-guess-too-many", address="10.0.0.99").status_code == 429

    paused = _sign_in(client, "victim", PASSWORD, address="10.0.1.1")

    assert paused.status_code == 429
    assert "Sign-in paused" in paused.content.decode()
    assert "_auth_user_id" not in client.session
    # Another user from another address is not affected.
    assert _sign_in(client, "bystander", PASSWORD, address="10.0.2.1").status_code == 302


def test_after_five_failed_sign_ins_from_one_address_that_address_is_paused(client, settings):
    UserFactory(username="someone", roles=[Role.ENGINEER])
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(client, f"user-{attempt}", "guess", address="10.9.9.9")
    assert _sign_in(client, "someone", PASSWORD, address="10.9.9.9").status_code == 429
    assert _sign_in(client, "someone", PASSWORD, address="10.9.9.10").status_code == 302


def test_every_page_carries_a_policy_that_allows_scripts_only_from_the_portal(client, engineer):
    client.force_login(engineer)
    for url in ("/login/", "/projects/", "/api/v1/docs/"):
        policy = client.get(url)["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
        assert directives["script-src"] == "'self'", url
        assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"


INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)


def test_no_template_holds_an_inline_script_or_event_handler():
    from django.conf import settings

    offenders = []
    for directory in settings.TEMPLATES[0]["DIRS"]:
        for path in directory.rglob("*.html"):
            text = path.read_text()
            for pattern in (INLINE_HANDLER, INLINE_SCRIPT):
                offenders += [f"{path.name}: {m.group(0)}" for m in pattern.finditer(text)]
    assert offenders == []


def test_the_api_docs_page_loads_its_start_up_script_as_a_file(client, engineer):
    client.force_login(engineer)
    page = client.get("/api/v1/docs/").content.decode()
    assert not INLINE_SCRIPT.search(page)
    script = client.get("/api/v1/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


def test_the_api_docs_page_has_a_way_back_to_the_portal(client, engineer):
    client.force_login(engineer)
    page = client.get("/api/v1/docs/").content.decode()
    assert '<a href="/">← Back to the portal</a>' in page
    assert 'id="swagger-ui"' in page  # Swagger UI itself is still there
