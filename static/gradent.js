// Gradent's few behaviours, kept out of the HTML so the Content Security Policy can forbid
// inline scripts: a form with data-confirm asks first; a read-only field with
// data-select-on-click selects its text when clicked (to copy a key or a URL).
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
document.addEventListener("click", function (event) {
  var field = event.target;
  if (field.hasAttribute && field.hasAttribute("data-select-on-click")) {
    field.select();
  }
});
// Gradent's page script (loaded with <script src>, never inline: see docs/security.md).
// Sets the user's time zone once from the browser's while their profile has none, then
// reloads so the page shows times in it.
(function () {
  "use strict";

  function sendBrowserZone() {
    var body = document.body;
    if (!body || !body.hasAttribute("data-timezone-unset")) return;
    var zone = "";
    try {
      zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (e) {
      return;
    }
    if (!zone) return;
    var form = new FormData();
    form.append("timezone", zone);
    fetch(body.getAttribute("data-timezone-url"), {
      method: "POST",
      body: form,
      credentials: "same-origin",
      headers: { "X-CSRFToken": body.getAttribute("data-csrf") || "" },
    })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (answer) {
        if (answer && answer.changed && answer.timezone !== body.getAttribute("data-timezone")) {
          window.location.reload();
        }
      })
      .catch(function () {
        /* Times stay in UTC until the next page load: nothing to tell the user. */
      });
  }

  // The header's <details> menus open without script; this only closes them on a click
  // elsewhere or on Escape, as menus do.
  function closeMenus(except) {
    Array.prototype.forEach.call(document.querySelectorAll("details.nav-menu[open], details.account-menu[open]"), function (menu) {
      if (menu !== except) menu.removeAttribute("open");
    });
  }
  document.addEventListener("click", function (event) {
    closeMenus(event.target.closest ? event.target.closest("details.nav-menu, details.account-menu") : null);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") closeMenus(null);
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", sendBrowserZone);
  } else {
    sendBrowserZone();
  }
})();
