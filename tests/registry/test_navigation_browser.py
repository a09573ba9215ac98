"""The navigation on a phone: folded behind a Menu button that opens it, in a real browser."""

import pytest

from ..conftest import CHROMIUM, browser_page_as

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="needs the chromium package (CI installs it)"),
]


def test_on_a_phone_the_navigation_folds_behind_a_menu_button(live_server, client, engineer):
    with browser_page_as(engineer, live_server=live_server, client=client, width=390) as page:
        page.goto(f"{live_server.url}/projects/")
        menu = page.get_by_role("button", name="Menu")
        projects = page.locator("#mainnav").get_by_role("link", name="Projects")
        header_height = page.locator(".topbar").bounding_box()["height"]

        assert menu.is_visible() and not projects.is_visible()
        assert header_height < 80  # one row: the brand and the button
        menu.click()
        assert projects.is_visible() and menu.get_attribute("aria-expanded") == "true"
        assert page.get_by_role("button", name="Sign out").is_visible()
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        assert page.errors == []


def test_on_a_wide_screen_there_is_no_menu_button(live_server, client, engineer):
    with browser_page_as(engineer, live_server=live_server, client=client, width=1280) as page:
        page.goto(f"{live_server.url}/projects/")
        assert not page.get_by_role("button", name="Menu").is_visible()
        assert page.locator("#mainnav").get_by_role("link", name="Projects").is_visible()


def test_the_alerts_filters_fit_a_phone_however_long_a_monitor_name(live_server, client, engineer):
    from monitoring.services.monitors import monitor_create

    from ..factories import ProjectFactory

    project = ProjectFactory(name="Wide")
    project.memberships.create(user=engineer, role="lead")
    monitor_create(
        actor=None, project=project, name="m" * 110, model_name="wide-model", alias="champion", expected_schema=[]
    )
    with browser_page_as(engineer, live_server=live_server, client=client, width=390) as page:
        page.goto(f"{live_server.url}/alerts/")
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
