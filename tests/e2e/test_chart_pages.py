"""The chart pages load the Plotly they need, cached and compressed, and render in the browser.

Structure is asserted (the partial bundle's size, its caching and compression, every chart drawn, no
toolbar in the tab order, the heatmap-to-timeline focus). Time is measured and printed, never
asserted: the figures go to README's performance section, and speed goals live in bench/.
"""

import re
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlparse

import plotly
import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

MB = 1_000_000
YEAR = 365 * 24 * 3600
# The full bundle plotly.py ships, which the pages loaded before: measured beside ours for comparison.
FULL_BUNDLE = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"

# performance.now() (ms since navigation start) at the first animation frame in which every chart
# of the page has been drawn, plus the navigation's own milestones.
RENDERED_JS = """() => {
  const holders = document.querySelectorAll('[data-figure]');
  const drawn = document.querySelectorAll('[data-figure].js-plotly-plot .main-svg');
  if (!holders.length || new Set(Array.from(drawn, (svg) => svg.closest('[data-figure]'))).size < holders.length) {
    return false;
  }
  const nav = performance.getEntriesByType('navigation')[0];
  const plotly = performance.getEntriesByType('resource').find((r) => r.name.includes('/vendor/plotly/'));
  return {charts: holders.length, rendered: performance.now(), response_end: nav.responseEnd,
          plotly_fetched: plotly ? plotly.responseEnd : 0, plotly_bytes: plotly ? plotly.transferSize : 0};
}"""


def charts_rendered(page: object, path: str) -> dict:
    """Open path and return the timings at which all its charts were drawn."""
    response = page.goto(path, wait_until="commit")
    assert response is not None and response.ok, path
    timing = page.wait_for_function(RENDERED_JS, polling="raf", timeout=30_000).json_value()
    assert page.locator(".js-plotly-plot").count() == timing["charts"] > 0
    return timing


def serve_bundle(body: bytes | None) -> object:
    """A route handler answering with the server's response, its body replaced when one is given."""

    def handler(route: object) -> None:
        response = route.fetch()
        route.fulfill(response=response, body=body if body is not None else response.body())

    return handler


def measure(browser: object, session: object, path: str, label: str) -> None:
    """Charts drawn on path: once in a new browser context (the session's cookies, an empty cache), then
    three times more with Plotly cached; printed, with the median of the cached loads."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 900},
        storage_state=session.context.storage_state(),
        base_url=session.stack.base_url,
    )
    try:
        page = context.new_page()
        # Errors here (a CSP refusal, a Plotly exception) fail the test with the session's own.
        page.on(
            "console", lambda m: session.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None
        )
        page.on("pageerror", lambda exc: session.errors.append(f"page error: {exc}"))
        cold = charts_rendered(page, path)
        warm = sorted((charts_rendered(page, path) for _ in range(3)), key=lambda t: t["rendered"])[1]
        # Partial against full bundle on equal terms: both handed over by a route (which bypasses
        # the HTTP cache, so every load compiles the bundle afresh), median of 3 each.
        routed = {}
        for name, body in (("partial", None), ("full", FULL_BUNDLE.read_bytes())):
            page.route("**/vendor/plotly/*", serve_bundle(body))
            routed[name] = sorted(charts_rendered(page, path)["rendered"] for _ in range(3))[1]
            page.unroute("**/vendor/plotly/*")
    finally:
        context.close()
    print(
        f"\n{label}: {cold['charts']} charts drawn {cold['rendered']:.0f} ms after navigation start with an empty cache"
        f" (HTML in {cold['response_end']:.0f} ms, Plotly fetched by {cold['plotly_fetched']:.0f} ms,"
        f" {cold['plotly_bytes'] / MB:.2f} MB over the wire); {warm['rendered']:.0f} ms with Plotly cached"
        f" (median of 3; {warm['plotly_bytes']} bytes over the wire); uncached, through a route:"
        f" {routed['partial']:.0f} ms with the partial bundle, {routed['full']:.0f} ms with the full one"
    )


def check_plotly_bundle(page: object) -> str:
    """The page's Plotly script: the hashed partial bundle, long-cached, compressed when asked."""
    src = page.locator("script[src*='vendor/plotly/']").first.get_attribute("src")
    assert re.search(r"plotly\.min\.[0-9a-f]{12}\.js$", src), f"not a hashed static name: {src}"
    url = urljoin(page.url, src)
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept-Encoding": "gzip, br"})) as response:
        compressed = response.read()
        assert response.headers["Content-Encoding"] in ("gzip", "br"), response.headers
        cache = response.headers["Cache-Control"]
    max_age = int(re.search(r"max-age=(\d+)", cache).group(1))
    assert max_age >= YEAR, cache
    with urllib.request.urlopen(url) as response:
        plain = response.read()
        assert "Content-Encoding" not in response.headers
    # The cartesian partial bundle (1.5 MB; the full one plotly.py ships is 4.8 MB).
    assert b"plotly.js (cartesian - minified)" in plain[:200]
    assert len(plain) < 1.6 * MB and len(compressed) < 0.6 * MB
    print(
        f"\nPlotly bundle: {len(plain) / MB:.2f} MB, {len(compressed) / MB:.2f} MB compressed; Cache-Control: {cache}"
    )
    return url


def check_no_toolbar_in_tab_order(page: object) -> None:
    assert page.locator(".modebar-btn").count() == 0, "chart toolbars add tab stops"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"


def test_the_portfolio_loads_the_partial_plotly_cached_and_compressed_and_draws_its_chart(visit, browser, stack):
    manager = visit("manager")
    manager.log_in("manager")
    page = manager.page
    measure(browser, manager, "/assessments/", "portfolio")
    charts_rendered(page, "/assessments/")
    check_plotly_bundle(page)
    check_no_toolbar_in_tab_order(page)
    assert not manager.errors, manager.errors


def test_the_monitor_drift_view_draws_its_charts_and_a_heatmap_click_focuses_the_timeline(visit, browser, stack):
    engineer = visit("engineer")
    engineer.log_in("engineer")
    page = engineer.page
    page.get_by_role("link", name="Churn model in production").click()
    page.wait_for_load_state()
    drift_tab = page.locator('nav.tabs a[data-tab="drift"]')  # the monitor's drift view, where it has one
    path = urlparse(drift_tab.get_attribute("href") if drift_tab.count() else page.url).path
    measure(browser, engineer, path, f"monitor drift view ({path})")
    charts_rendered(page, path)
    check_plotly_bundle(page)
    check_no_toolbar_in_tab_order(page)

    # Click the most drifted cell of the latest window; the timeline shows that feature and window.
    page.locator('[data-figure="fig-heatmap"]').scroll_into_view_if_needed()
    cell = page.evaluate(
        """() => {
          const el = document.querySelector('[data-figure="fig-heatmap"]');
          const trace = el._fullData[0], xa = el._fullLayout.xaxis, ya = el._fullLayout.yaxis;
          let best = null;
          trace.z.forEach((row, i) => row.forEach((z, j) => {
            if (z !== null && (!best || j > best.j || (j === best.j && z > best.z))) best = {i, j, z};
          }));
          const box = el.getBoundingClientRect();
          return {feature: trace.y[best.i], window: trace.x[best.j],
                  x: box.left + xa._offset + xa.d2p(trace.x[best.j]),
                  y: box.top + ya._offset + ya.d2p(trace.y[best.i])};
        }"""
    )
    page.mouse.click(cell["x"], cell["y"])
    page.wait_for_url(re.compile(r"[?&]feature="))
    assert parse_qs(urlparse(page.url).query)["feature"] == [cell["feature"]]
    timeline = page.locator('[data-figure="fig-timeline"]')
    expect(timeline).to_have_attribute("data-focus-feature", cell["feature"])
    expect(timeline).to_have_attribute("data-focus-window", cell["window"])
    focus = page.evaluate(
        """(feature) => {
          const el = document.querySelector('[data-figure="fig-timeline"]');
          const line = el._fullData.find((t) => t.name === feature);
          const others = el._fullData.filter((t) => t.name !== feature);
          return {width: line.line.width, opacity: line.opacity, faded: others.every((t) => t.opacity < 0.5),
                  bands: el._fullLayout.shapes.filter((s) => s.type === 'rect').length};
        }""",
        cell["feature"],
    )
    assert focus == {"width": 4, "opacity": 1, "faded": True, "bands": 1}, focus
    outlined = page.evaluate(
        """() => {
          const el = document.querySelector('[data-figure="fig-heatmap"]');
          const trace = el._fullData[0];
          return el._fullLayout.shapes.map((s) => [trace.y[Math.round(s.y0 + 0.5)], trace.x[Math.round(s.x0 + 0.5)]]);
        }"""
    )
    assert outlined == [[cell["feature"], cell["window"]]] * 2, outlined  # black, then white inside
    assert not engineer.errors, engineer.errors
