// Approve / reject without leaving the review page. After the portal answers, the page's content
// is fetched again and swapped in whole (state, approvals, decisions, checks, history), and again
// while the worker moves the alias, so nothing on the page is left from before the decision.
// Without JavaScript the form posts and the server redirects back to the page.
(function () {
  "use strict";
  var form = document.getElementById("gate-decide");
  if (!form) return;
  var result = document.getElementById("gate-result");
  var TERMINAL = ["promoted", "failed", "rejected", "cancelled", "superseded"];

  function show(text, ok) {
    result.textContent = text;
    result.className = "message " + (ok ? "message-success" : "message-error");
  }

  function refreshPage() {
    return fetch(window.location.pathname, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("review-live");
        if (fresh) document.getElementById("review-live").replaceWith(fresh);
      });
  }

  // After the approval, follow the promotion until the alias has moved (or the move failed).
  function follow(url, round, lastState) {
    if (round > 40) return;
    window.setTimeout(function () {
      fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (body) {
          var done = TERMINAL.indexOf(body.state) !== -1;
          var refreshed = body.state !== lastState ? refreshPage() : Promise.resolve();
          return refreshed.then(function () {
            if (body.state === "promoted") {
              show("Promoted: @" + body.target_alias + " now points at version " + body.alias_now + " in MLflow.", true);
            } else if (body.state === "failed") {
              show("The promotion failed: " + body.reason, false);
            }
            if (!done) follow(url, round + 1, body.state);
          });
        })
        .catch(function () { follow(url, round + 1, lastState); });
    }, 1500);
  }

  form.addEventListener("submit", function (event) {
    var submitter = event.submitter;
    if (!submitter || !window.fetch || !window.DOMParser) return;
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
      // A quick worker may have claimed the promotion before this answer was written: follow both.
      var moving = answer.body.state === "approved" || answer.body.state === "promoting";
      show(answer.body.message + (moving ? " Moving the alias in MLflow…" : ""), true);
      return refreshPage().then(function () {
        if (moving) follow(answer.body.status_url, 0, answer.body.state);
      });
    }).catch(function () {
      show("Could not reach the portal; nothing was changed. Try again.", false);
      buttons.forEach(function (b) { b.disabled = false; });
    });
  });
})();

// The shadow replay: "Run again" posts without leaving the page, and while a replay is queued or
// running (#review-live carries data-running) the page's content is fetched again every two seconds
// until it has finished, so the check's verdict appears in place.
(function () {
  "use strict";
  if (!window.fetch || !window.DOMParser) return;
  var POLL_MS = 2000, MAX_POLLS = 300;

  function refresh() {
    return fetch(window.location.pathname, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("review-live");
        if (fresh) document.getElementById("review-live").replaceWith(fresh);
        return fresh;
      });
  }

  function follow(round) {
    var live = document.getElementById("review-live");
    if (!live || !live.dataset.running || round > MAX_POLLS) return;
    window.setTimeout(function () {
      refresh().then(function () { follow(round + 1); }).catch(function () { follow(round + 1); });
    }, POLL_MS);
  }

  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-shadow-run]");
    if (!form) return;
    event.preventDefault();
    var state = form.querySelector("[data-shadow-state]");
    form.querySelector("button").disabled = true;
    fetch(form.action, { method: "POST", body: new FormData(form), headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.json().then(function (body) { return { ok: response.ok, body: body }; }); })
      .then(function (answer) {
        if (!answer.ok) {
          state.textContent = answer.body.error ? answer.body.error.message : "Refused.";
          form.querySelector("button").disabled = false;
          return;
        }
        state.textContent = answer.body.message;
        return refresh().then(function () { follow(0); });
      })
      .catch(function () { state.textContent = "Could not reach the portal."; form.querySelector("button").disabled = false; });
  });

  follow(0);
})();
