"""Browser fixtures for the journeys: the portal stack (stack.py), headless Debian Chromium through
Playwright, and a `Visit` helper that checks every page it opens (no console or page errors, the
accessibility checks of a11y.py at 1280 px and at 390 px) and saves its screenshot.

Screenshots of every page go to a temporary directory, removed after a green run; a failing journey
keeps them, with the screenshot, HTML, errors and server logs of the page it failed on, in
`failures/`. PORTAL_E2E_SCREENSHOTS=docs/screenshots also writes the README's pictures there.
"""

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .a11y import OVERFLOW_JS, PROBLEMS_JS
from .stack import Stack, portal_stack

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


# The README's pictures: journey page name -> file under PORTAL_E2E_SCREENSHOTS (the visible 1280 x 900
# window, not the full page, so they read well at README width).
README_SHOTS = {
    "manager-portfolio": "portfolio.png",
    "manager-scorecard": "scorecard.png",
    "reviewer-review": "review.png",
    "reviewer-shadow": "shadow.png",
    "engineer-monitor": "monitor.png",
    "engineer-drift": "drift.png",
}


@pytest.fixture(scope="session")
def screenshots_dir() -> Iterator[Path]:
    """Every journey page, full length, for diagnosis; removed after a green run."""
    path = Path(tempfile.mkdtemp(prefix="portal-e2e-shots-"))
    yield path
    if (path / "failures").exists():
        print(f"\nend-to-end screenshots and failing pages kept in {path}")
    else:
        shutil.rmtree(path, ignore_errors=True)


def _require_chromium() -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is missing: .ci/run installs it (apt-get install chromium)")
        pytest.skip("the end-to-end tests need Debian's chromium: apt-get install chromium")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    _require_chromium()
    with portal_stack() as running:
        yield running


# Module scope, not session: Playwright's sync API runs an event loop in this thread while it is
# open, and Django refuses ORM calls beside a running loop, so it must be gone before other tests.
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


class Visit:
    """One person's browser session: a desktop page to act on, a phone page to re-check each page at
    390 px, the errors both saw, and the screenshots taken."""

    def __init__(self, browser: object, stack: Stack, shots: Path, journey: str) -> None:
        self.stack = stack
        self.shots = shots
        self.journey = journey
        self.context = browser.new_context(viewport=DESKTOP, accept_downloads=True, base_url=stack.base_url)
        self.errors: list[str] = []
        self.page = self._page(DESKTOP)
        self.phone = self._page(PHONE)
        self.checked: list[str] = []

    def _page(self, viewport: dict[str, int]) -> object:
        page = self.context.new_page()
        page.set_viewport_size(viewport)
        page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on("response", lambda r: self.errors.append(f"HTTP {r.status} {r.url}") if r.status >= 500 else None)
        return page

    def log_in(self, username: str, password: str | None = None) -> None:
        self.page.goto("/login/")
        self.check("login")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(password or self.stack.logins[username])
        self.page.get_by_role("button", name=re.compile("log in|sign in", re.I)).click()
        self.page.wait_for_load_state()
        assert "/login/" not in self.page.url, f"{username} could not log in"

    def goto(self, path: str, name: str) -> object:
        response = self.page.goto(path)
        assert response is not None and response.ok, f"{path}: HTTP {response.status if response else '-'}"
        self.check(name)
        return self.page

    def check(self, name: str, *, screenshot: bool = True) -> None:
        """The page as it is now: no errors so far, accessible, no sideways scroll on a phone."""
        self.page.wait_for_load_state("load")
        problems = self.page.evaluate(PROBLEMS_JS)
        assert not problems, f"{name} ({self.page.url}): {problems}"
        if screenshot:
            self.page.screenshot(path=self.shots / f"{self.journey}-{name}.png", full_page=True)
        readme_dir, readme_name = os.environ.get("PORTAL_E2E_SCREENSHOTS"), README_SHOTS.get(f"{self.journey}-{name}")
        if readme_dir and readme_name:
            Path(readme_dir).mkdir(parents=True, exist_ok=True)
            self.page.evaluate("window.scrollTo(0, 0)")
            self.page.screenshot(path=Path(readme_dir) / readme_name)
        self.phone.goto(self.page.url)
        self.phone.wait_for_load_state("load")
        overflow = self.phone.evaluate(OVERFLOW_JS)
        assert not overflow, f"{name} ({self.page.url}): {overflow}"
        assert not self.errors, f"{name} ({self.page.url}): {self.errors}"
        self.checked.append(name)

    def keep_failure(self, test_name: str) -> None:
        failures = self.shots / "failures"
        failures.mkdir(parents=True, exist_ok=True)
        stem = re.sub(r"[^\w.-]+", "_", test_name)
        self.page.screenshot(path=failures / f"{stem}.png", full_page=True)
        (failures / f"{stem}.html").write_text(self.page.content())
        (failures / f"{stem}.errors.txt").write_text("\n".join(self.errors))
        for name in ("web", "worker"):
            (failures / f"{stem}.{name}.log").write_text(self.stack.log_tail(name, 20000))

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visit(browser, stack: Stack, screenshots_dir: Path, request: pytest.FixtureRequest) -> Iterator[object]:
    """`visit("manager")` opens a fresh browser session for a journey; each is closed afterwards,
    and on failure its current page is kept as a screenshot and HTML."""
    opened: list[Visit] = []

    def open_visit(journey: str) -> Visit:
        session = Visit(browser, stack, screenshots_dir, journey)
        opened.append(session)
        return session

    yield open_visit
    for session in opened:
        if request.node.stash.get(FAILED, False):
            session.keep_failure(f"{request.node.name}-{session.journey}")
            print(f"kept the failing page in {screenshots_dir / 'failures'}")
        session.close()
