"""The page checks the journeys rely on catch what they claim to, on small pages made here."""

import pytest

from .a11y import OVERFLOW_JS, PROBLEMS_JS

pytestmark = [pytest.mark.e2e]

GOOD = """<!doctype html><html><head><title>Good</title></head><body><main>
<h1>Title</h1><h2>Part</h2><h3>Detail</h3><h2>Other part</h2>
<label for="a">Name</label><input id="a"><select aria-label="Level"><option>1</option></select>
<button>Save</button><button aria-label="Close">×</button><input type="hidden" name="x">
</main></body></html>"""


@pytest.fixture(scope="module")
def page(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    yield context.new_page()
    context.close()


def test_a_well_made_page_has_no_problems(page):
    page.set_content(GOOD)
    assert page.evaluate(PROBLEMS_JS) == []
    assert page.evaluate(OVERFLOW_JS) == []


@pytest.mark.parametrize(
    ("broken", "problem"),
    [
        (GOOD.replace("<title>Good</title>", ""), "no <title>"),
        (GOOD.replace("<h1>Title</h1>", ""), "0 h1 headings"),
        (GOOD.replace("<h2>Other part</h2>", "<h1>Again</h1>"), "2 h1 headings"),
        (GOOD.replace("<h2>Part</h2>", ""), "heading level skipped: H1 then H3"),
        (GOOD.replace('<label for="a">Name</label>', ""), "unlabelled field"),
        (GOOD.replace(' aria-label="Level"', ""), "unlabelled field"),
        (GOOD.replace('<button aria-label="Close">×</button>', "<button></button>"), "button without a name"),
    ],
)
def test_each_accessibility_problem_is_reported(page, broken, problem):
    page.set_content(broken)
    assert any(problem in found for found in page.evaluate(PROBLEMS_JS))


def test_a_page_wider_than_a_phone_is_reported_and_a_table_scrolling_in_its_box_is_not(page):
    page.set_content(GOOD.replace("</main>", '<div class="wide" style="width: 900px">wide</div></main>'))
    assert "scrolls sideways at 390 px" in page.evaluate(OVERFLOW_JS)[0]
    page.set_content(
        GOOD.replace("</main>", '<div style="overflow-x: auto"><div style="width: 900px">t</div></div></main>')
    )
    assert page.evaluate(OVERFLOW_JS) == []
