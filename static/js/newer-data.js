// Pages that show mirrored data say when the mirror has more. An element with data-newer-url (an API
// list: paginated, which answers its count, or a plain list) and data-newer-count (the count when the
// page was made) is shown,
// with how many are new, once the API counts more. Checked every 15 s and when the tab is shown again.
(function () {
  "use strict";
  const notice = document.querySelector("[data-newer-url]");
  if (!notice || !window.fetch) return;
  const EVERY_MS = 15000;
  const noun = notice.dataset.newerNoun || "item";

  async function check() {
    try {
      const response = await fetch(notice.dataset.newerUrl, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (!response.ok) return;
      const body = await response.json();
      const added = (Array.isArray(body) ? body.length : body.count) - Number(notice.dataset.newerCount);
      if (added > 0) {
        notice.querySelector("[data-newer-text]").textContent =
          `${added} new ${noun}${added === 1 ? "" : "s"} since this page was loaded.`;
        notice.hidden = false;
      }
    } catch (error) {
      // The portal is unreachable for a moment: the next check will tell.
    }
  }

  window.setInterval(check, EVERY_MS);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) check(); });
})();
