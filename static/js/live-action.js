// Long-running actions (sync now, run drift now, trigger retraining): post the form without
// leaving the page, then refresh the panel that shows the work's status until the work the post
// queued has finished. A form names its panel (data-live-panel), where to fetch a fresh copy of
// it (data-status-url) and where to say how it goes (data-live-state). The panel carries
// data-version, which changes with every step of the work, and data-running while work is queued
// or running. Without JavaScript the form posts and the page reloads.
(function () {
  "use strict";
  const POLL_MS = 1500;
  const MAX_POLLS = 120;

  function sleep(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

  document.querySelectorAll("form[data-live-panel]").forEach(function (form) {
    const panelId = form.dataset.livePanel;
    const state = document.getElementById(form.dataset.liveState);
    function panel() { return document.getElementById(panelId); }

    async function refresh() {
      const response = await fetch(form.dataset.statusUrl, {
        headers: { "X-Requested-With": "fetch" },
        credentials: "same-origin",
      });
      if (!response.ok) throw new Error("status " + response.status);
      const holder = document.createElement("div");
      holder.innerHTML = await response.text();
      const fresh = holder.querySelector("#" + panelId);
      if (!fresh) throw new Error("the status panel is missing");
      panel().replaceWith(fresh);
      return fresh;
    }

    async function refusal(response) {
      try { return (await response.json()).error.message; }
      catch (error) { return "refused (" + response.status + ")"; }
    }

    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const before = panel().dataset.version || "";
      const body = new FormData(form);
      if (event.submitter && event.submitter.name) body.append(event.submitter.name, event.submitter.value);
      const buttons = form.querySelectorAll("button");
      buttons.forEach(function (button) { button.disabled = true; });
      state.textContent = "Queued…";
      try {
        const response = await fetch(form.action, {
          method: "POST",
          body: body,
          headers: { "Accept": "application/json" },
          credentials: "same-origin",
        });
        if (!response.ok) { state.textContent = await refusal(response); return; }
        for (let polls = 0; polls < MAX_POLLS; polls++) {
          await sleep(POLL_MS);
          const fresh = await refresh();
          if (fresh.dataset.running) { state.textContent = "Running…"; continue; }
          if ((fresh.dataset.version || "") !== before) { state.textContent = "Done."; return; }
        }
        state.textContent = "Still queued: is a worker running?";
      } catch (error) {
        state.textContent = "Could not finish: " + error.message;
      } finally {
        buttons.forEach(function (button) { button.disabled = false; });
      }
    });
  });
})();
