// Small behaviours declared with data attributes, so that no page needs an inline script or event
// handler (the Content-Security-Policy allows scripts from the portal's static files only).
document.documentElement.classList.add("js"); // styles that need these behaviours (the phone menu)
document.addEventListener("change", (event) => {
  const field = event.target.closest("[data-autosubmit]");
  if (field && field.form) field.form.submit();
});
document.addEventListener("click", (event) => {
  if (event.target.closest("[data-print]")) window.print();
  const toggle = event.target.closest("[data-nav-toggle]");
  if (toggle) {
    const open = toggle.closest(".topbar").classList.toggle("nav-open");
    toggle.setAttribute("aria-expanded", String(open));
  }
  const selectable = event.target.closest("[data-select-on-click]");
  if (selectable) selectable.select();
});
document.addEventListener("submit", (event) => {
  // A form whose chosen option is a path to go to (e.g. "edit the policy of this model").
  const form = event.target.closest("form[data-go-to-choice]");
  if (!form) return;
  const choice = form.elements[form.dataset.goToChoice];
  if (choice && choice.value) {
    event.preventDefault();
    window.location = `${choice.value}/`;
  }
});
// A button with data-confirm asks before its form is sent (e.g. an approval that moves a serving
// alias). Capture phase: it runs before any script that sends the form itself.
document.addEventListener(
  "submit",
  (event) => {
    const question = event.submitter && event.submitter.dataset.confirm;
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  },
  true,
);
// A link to something inside a closed <details> (a scorecard's criterion, inside its category) opens
// it on arrival, and on a link within the page.
function openDetailsAroundTarget() {
  const id = decodeURIComponent(window.location.hash.slice(1));
  for (let node = id && document.getElementById(id); node; node = node.parentElement) {
    if (node.tagName === "DETAILS") node.open = true;
  }
}
window.addEventListener("hashchange", openDetailsAroundTarget);
openDetailsAroundTarget();
