"""Accessibility checks run on every page a journey visits (a page fails on the first problem list).

What is checked is what a person with a screen reader, a keyboard or a phone notices first: the page
has a title; one h1 and no skipped heading level; every visible form field has a label; every button
has a name; and at 390 px the main content does not scroll sideways (wide tables scroll inside their
own box, which is fine).
"""

PROBLEMS_JS = """
() => {
  const problems = [];
  const shown = (el) => !el.closest('[hidden], [aria-hidden="true"]') && el.getClientRects().length > 0;
  const named = (el) => {
    if ((el.getAttribute('aria-label') || '').trim()) return true;
    const ids = (el.getAttribute('aria-labelledby') || '').split(/\\s+/).filter(Boolean);
    if (ids.some((id) => (document.getElementById(id)?.textContent || '').trim())) return true;
    return (el.getAttribute('title') || '').trim() !== '';
  };
  const describe = (el) => el.outerHTML.slice(0, 160);

  if (!document.title.trim()) problems.push('the page has no <title>');

  const headings = [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')]
    .filter((h) => !h.closest('[hidden], [aria-hidden="true"]'));
  const h1s = headings.filter((h) => h.tagName === 'H1');
  if (h1s.length !== 1) problems.push(`${h1s.length} h1 headings (one expected)`);
  let previous = 0;
  for (const h of headings) {
    const level = Number(h.tagName[1]);
    if (previous === 0 && level !== 1) problems.push(`the first heading is ${h.tagName}: ${h.textContent.trim()}`);
    if (previous !== 0 && level > previous + 1)
      problems.push(`heading level skipped: H${previous} then ${h.tagName} "${h.textContent.trim().slice(0, 60)}"`);
    previous = level;
  }

  const skip = new Set(['hidden', 'submit', 'button', 'reset', 'image']);
  for (const field of document.querySelectorAll('input, select, textarea')) {
    if (field.tagName === 'INPUT' && skip.has(field.type)) continue;
    if (!shown(field)) continue;
    const labelled = [...(field.labels || [])].some((l) => l.textContent.trim()) || named(field);
    if (!labelled) problems.push(`unlabelled field: ${describe(field)}`);
  }

  const buttons = document.querySelectorAll(
    'button, [role="button"], input[type="submit"], input[type="button"], input[type="reset"]');
  for (const button of buttons) {
    if (!shown(button)) continue;
    const text = (button.textContent || button.value || '').trim();
    const image = button.querySelector('img[alt]:not([alt=""]), svg[aria-label]');
    if (!text && !image && !named(button)) problems.push(`button without a name: ${describe(button)}`);
  }
  return problems;
}
"""

OVERFLOW_JS = """
() => {
  const root = document.scrollingElement;
  if (root.scrollWidth <= window.innerWidth + 1) return [];
  // Name the widest elements that stick out, so the report says what to fix.
  const culprits = [...document.querySelectorAll('main *')]
    .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
    .filter((el) => !el.parentElement || el.parentElement.getBoundingClientRect().right <= window.innerWidth + 1)
    .slice(0, 5)
    .map((el) => `${el.tagName.toLowerCase()}.${[...el.classList].join('.')} ` +
                 `(right edge ${Math.round(el.getBoundingClientRect().right)} px)`);
  return [`the page scrolls sideways at ${window.innerWidth} px: ${root.scrollWidth} px wide; ` +
          `sticking out: ${culprits.join(', ') || 'outside main'}`];
}
"""
