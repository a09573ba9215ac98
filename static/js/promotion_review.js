// Approve / reject without leaving the review page. Without JavaScript the form posts and the
// server redirects back to the page, so this only saves the reload.
(function () {
  "use strict";
  var form = document.getElementById("gate-decide");
  if (!form) return;
  var result = document.getElementById("gate-result");
  var badges = { pending: "badge-warn", approved: "badge-internal", promoting: "badge-internal",
                 promoted: "badge-ok", rejected: "badge-bad", failed: "badge-bad" };

  function show(text, ok) {
    result.textContent = text;
    result.className = "message " + (ok ? "message-success" : "message-error");
  }

  // After the approval, follow the promotion until the alias has moved (or the move failed).
  function follow(url, round) {
    if (round > 40) return;
    window.setTimeout(function () {
      fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (body) {
          var state = document.getElementById("gate-state");
          state.textContent = body.state.charAt(0).toUpperCase() + body.state.slice(1);
          state.className = "badge " + (badges[body.state] || "");
          if (body.state === "promoted") {
            document.getElementById("gate-alias").textContent = "version " + body.alias_now;
            show("Promoted: @" + body.target_alias + " now points at version " + body.alias_now + " in MLflow.", true);
          } else if (body.state === "failed") {
            show("The promotion failed: " + body.reason, false);
          } else {
            follow(url, round + 1);
          }
        })
        .catch(function () { follow(url, round + 1); });
    }, 1500);
  }

  form.addEventListener("submit", function (event) {
    var submitter = event.submitter;
    if (!submitter || !window.fetch) return;
    event.preventDefault();
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    fetch(submitter.getAttribute("formaction"), {
      method: "POST",
      body: new FormData(form),
      headers: { "Accept": "application/json" },
      credentials: "same-origin"
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    }).then(function (answer) {
      if (!answer.ok) {
        show(answer.body.error ? answer.body.error.message : "The portal refused the decision.", false);
        buttons.forEach(function (b) { b.disabled = false; });
        return;
      }
      var state = document.getElementById("gate-state");
      state.textContent = answer.body.state_label;
      state.className = "badge " + (badges[answer.body.state] || "");
      document.getElementById("gate-approvals").textContent =
        answer.body.approvals + "/" + answer.body.approvals_required;
      // A quick worker may have claimed the promotion before this answer was written: follow both.
      var moving = answer.body.state === "approved" || answer.body.state === "promoting";
      show(answer.body.message + (moving ? " Moving the alias in MLflow…" : ""), true);
      form.hidden = true;
      if (moving) follow(answer.body.status_url, 0);
    }).catch(function () {
      show("Could not reach the portal; nothing was changed. Try again.", false);
      buttons.forEach(function (b) { b.disabled = false; });
    });
  });
})();
