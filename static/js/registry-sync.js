// "Sync now": queue a sync without leaving the page, then refresh the status panel until the
// queued pass has finished. Without JavaScript the form posts and the page reloads.
(function () {
  const form = document.getElementById("sync-now-form");
  if (!form) return;
  const state = document.getElementById("sync-now-state");
  const statusUrl = form.dataset.statusUrl;

  function panel() { return document.getElementById("sync-status"); }

  async function refresh() {
    const response = await fetch(statusUrl, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" });
    if (!response.ok) throw new Error("status " + response.status);
    const holder = document.createElement("div");
    holder.innerHTML = await response.text();
    const fresh = holder.querySelector("#sync-status");
    panel().replaceWith(fresh);
    return fresh;
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const before = Number(panel().dataset.latestId || 0);
    const body = new FormData(form);
    if (event.submitter && event.submitter.name) body.append(event.submitter.name, event.submitter.value);
    for (const button of form.querySelectorAll("button")) button.disabled = true;
    state.textContent = "Queued…";
    try {
      const response = await fetch(form.action, { method: "POST", body: body, credentials: "same-origin", redirect: "manual" });
      if (response.status >= 400) throw new Error("refused (" + response.status + ")");
      for (let tries = 0; tries < 120; tries++) {
        await new Promise(function (resolve) { setTimeout(resolve, 1500); });
        const fresh = await refresh();
        const latest = Number(fresh.dataset.latestId || 0);
        if (fresh.dataset.running) { state.textContent = "Running…"; continue; }
        if (latest > before) { state.textContent = "Done."; return; }
      }
      state.textContent = "Still queued: is a worker running?";
    } catch (error) {
      state.textContent = "Could not sync: " + error.message;
    } finally {
      for (const button of form.querySelectorAll("button")) button.disabled = false;
    }
  });
})();
