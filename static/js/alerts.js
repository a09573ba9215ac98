// Alert actions in place (the monitor's alerts view and /alerts/): acknowledge, resolve and mute one
// alert, or the ticked ones at once, without leaving the page. enhance.js asks for confirmation first
// (data-confirm; a refusal stops the event before it gets here). The portal answers with its message
// and the changed rows as it renders them; each row is swapped in where it was, the scroll position
// is kept and the message is announced (#alerts-answer). Without JavaScript the forms post and the
// portal redirects back to the page.
(function () {
  "use strict";
  const answer = document.getElementById("alerts-answer");
  const bulk = document.querySelector("form[data-alert-bulk]");
  if (!answer || !window.fetch) return;

  function say(text, ok) {
    answer.textContent = text;
    answer.className = "alerts-answer message " + (ok ? "message-success" : "message-error");
  }

  function swapRows(rows, x, y) {
    let first = null;
    Object.keys(rows).forEach(function (id) {
      const old = document.querySelector('tr[data-alert-id="' + id + '"]');
      if (!old) return;
      const holder = document.createElement("tbody");
      holder.innerHTML = rows[id];
      const fresh = holder.querySelector("tr");
      if (!fresh) return;
      old.replaceWith(fresh);
      first = first || fresh;
    });
    // The focused button went with its row: focus the row that replaced it, where it was.
    if (first) first.focus({ preventScroll: true });
    window.scrollTo(x, y);
    updateCount();
  }

  async function send(form, submitter) {
    const x = window.scrollX, y = window.scrollY;  // where the person was when they acted
    const body = new FormData(form);
    if (submitter && submitter.name) body.append(submitter.name, submitter.value);
    const buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    try {
      // getAttribute: the bulk bar's buttons are named "action", which would shadow form.action.
      const response = await fetch(form.getAttribute("action"), {
        method: "POST",
        body: body,
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      let data = null;
      try { data = await response.json(); } catch (error) { data = null; }
      if (!response.ok) {
        say(data && data.error ? data.error.message : "The portal refused (" + response.status + ").", false);
        return;
      }
      say(data.message, true);
      swapRows(data.rows || {}, x, y);
    } catch (error) {
      say("Could not reach the portal; nothing was changed. Try again.", false);
    } finally {
      buttons.forEach(function (b) { if (b.isConnected) b.disabled = false; });
    }
  }

  document.addEventListener("submit", function (event) {
    const form = event.target.closest("form[data-alert-action], form[data-alert-bulk]");
    if (!form) return;
    event.preventDefault();
    send(form, event.submitter);
  });

  // The bulk bar says how many are ticked, and its confirmations name the number.
  function picks() { return Array.from(document.querySelectorAll("input[data-alert-pick]")); }
  function updateCount() {
    if (!bulk) return;
    const n = picks().filter(function (box) { return box.checked; }).length;
    const label = bulk.querySelector("[data-bulk-count]");
    label.textContent = n ? n + " ticked:" : "Tick alerts, then:";
    bulk.querySelectorAll("button[data-confirm]").forEach(function (button) {
      const verb = button.textContent.trim();
      button.dataset.confirm = verb + " " + n + " alert" + (n === 1 ? "" : "s") +
        (button.value === "mute" ? " until the time given?" : "?") + " All of them change, or none.";
    });
  }
  const all = document.querySelector("input[data-alert-pick-all]");
  if (all) {
    all.hidden = false;
    all.addEventListener("change", function () {
      picks().forEach(function (box) { box.checked = all.checked; });
      updateCount();
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches("input[data-alert-pick]")) updateCount();
  });
  updateCount();
})();
