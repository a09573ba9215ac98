// The review page acts in place. Approve / reject: after the portal answers, the page's content
// (#review-live: state, approvals, decisions, checks, history) is fetched again and swapped in whole,
// and again while the worker moves the alias, so nothing on the page is left from before the
// decision. The shadow replay: "Run again" posts the same way, and while a replay is queued or
// running (#review-live carries data-running) the content is fetched again every two seconds until
// it has finished, so the check's verdict appears in place.
// Without JavaScript the forms post and the server redirects back to the page.
(function () {
  "use strict";
  if (!window.fetch || !window.DOMParser) return;
  var TERMINAL = ["promoted", "failed", "rejected", "cancelled", "superseded"];
  var PROMOTION_POLL_MS = 1500, PROMOTION_MAX_POLLS = 40;
  var SHADOW_POLL_MS = 2000, SHADOW_MAX_POLLS = 300;

  function refreshLive() {
    return fetch(window.location.pathname, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("review-live");
        if (fresh) document.getElementById("review-live").replaceWith(fresh);
      });
  }

  // The portal's JSON answer to a form, with whether it was a success.
  function post(url, form) {
    return fetch(url, {
      method: "POST",
      body: new FormData(form),
      headers: { "Accept": "application/json" },
      credentials: "same-origin"
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    });
  }

  function refusal(answer, fallback) {
    return answer.body.error ? answer.body.error.message : fallback;
  }

  // --- Approve / reject ---
  var decide = document.getElementById("gate-decide");
  var result = document.getElementById("gate-result");

  function show(text, ok) {
    result.textContent = text;
    result.className = "message " + (ok ? "message-success" : "message-error");
  }

  // After the approval, follow the promotion until the alias has moved (or the move failed).
  function followPromotion(url, round, lastState) {
    if (round > PROMOTION_MAX_POLLS) return;
    window.setTimeout(function () {
      fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (body) {
          var done = TERMINAL.indexOf(body.state) !== -1;
          var refreshed = body.state !== lastState ? refreshLive() : Promise.resolve();
          return refreshed.then(function () {
            if (body.state === "promoted") {
              show("Promoted: @" + body.target_alias + " now points at version " + body.alias_now + " in MLflow.", true);
            } else if (body.state === "failed") {
              show("The promotion failed: " + body.reason, false);
            }
            if (!done) followPromotion(url, round + 1, body.state);
          });
        })
        .catch(function () { followPromotion(url, round + 1, lastState); });
    }, PROMOTION_POLL_MS);
  }

  if (decide) {
    decide.addEventListener("submit", function (event) {
      var submitter = event.submitter;
      if (!submitter) return;
      event.preventDefault();
      var buttons = decide.querySelectorAll("button");
      buttons.forEach(function (b) { b.disabled = true; });
      post(submitter.getAttribute("formaction"), decide).then(function (answer) {
        if (!answer.ok) {
          show(refusal(answer, "The portal refused the decision."), false);
          buttons.forEach(function (b) { b.disabled = false; });
          return;
        }
        // A quick worker may have claimed the promotion before this answer was written: follow both.
        var moving = answer.body.state === "approved" || answer.body.state === "promoting";
        show(answer.body.message + (moving ? " Moving the alias in MLflow…" : ""), true);
        return refreshLive().then(function () {
          if (moving) followPromotion(answer.body.status_url, 0, answer.body.state);
        });
      }).catch(function () {
        show("Could not reach the portal; nothing was changed. Try again.", false);
        buttons.forEach(function (b) { b.disabled = false; });
      });
    });
  }

  // --- Shadow replay ---
  function followShadow(round) {
    var live = document.getElementById("review-live");
    if (!live || !live.dataset.running || round > SHADOW_MAX_POLLS) return;
    window.setTimeout(function () {
      refreshLive().then(function () { followShadow(round + 1); }).catch(function () { followShadow(round + 1); });
    }, SHADOW_POLL_MS);
  }

  // Delegated: the form is inside #review-live, which every refresh replaces.
  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-shadow-run]");
    if (!form) return;
    event.preventDefault();
    var state = form.querySelector("[data-shadow-state]");
    var button = form.querySelector("button");
    button.disabled = true;
    post(form.action, form)
      .then(function (answer) {
        if (!answer.ok) {
          state.textContent = refusal(answer, "Refused.");
          button.disabled = false;
          return;
        }
        state.textContent = answer.body.message;
        return refreshLive().then(function () { followShadow(0); });
      })
      .catch(function () { state.textContent = "Could not reach the portal."; button.disabled = false; });
  });

  followShadow(0);
})();
