// JSON fields checked as you type. A <textarea data-json="object"> must hold a JSON object
// (or nothing); the parse error is shown under the field and the form is not sent while
// one is wrong. The server checks again (and checks the agent's input schema): this only
// saves a round trip. No inline script, no dependency (Content Security Policy).
(function () {
  "use strict";

  function problem(field) {
    var text = field.value.trim();
    if (!text) return "";
    var value;
    try {
      value = JSON.parse(text);
    } catch (error) {
      return "Not valid JSON: " + error.message;
    }
    if (field.dataset.json === "object" && (value === null || typeof value !== "object" || Array.isArray(value))) {
      return "Must be a JSON object, like {} or {\"key\": \"value\"}.";
    }
    return "";
  }

  function check(field) {
    var message = problem(field);
    var box = field.closest(".field") || field.parentNode;
    var note = box.querySelector(".json-error");
    if (!note) {
      note = document.createElement("p");
      note.className = "json-error";
      note.id = field.id + "-json-error";
      note.setAttribute("role", "alert");
      field.insertAdjacentElement("afterend", note);
    }
    note.textContent = message;
    note.hidden = !message;
    field.setCustomValidity(message);
    if (message) {
      field.setAttribute("aria-invalid", "true");
      var described = (field.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
      if (described.indexOf(note.id) < 0) field.setAttribute("aria-describedby", described.concat(note.id).join(" "));
    } else {
      field.removeAttribute("aria-invalid");
    }
    box.classList.toggle("json-invalid", !!message);
    return !message;
  }

  function setUp() {
    var fields = document.querySelectorAll("textarea[data-json]");
    fields.forEach(function (field) {
      field.addEventListener("input", function () { check(field); });
      if (field.form && !field.form.dataset.jsonChecked) {
        field.form.dataset.jsonChecked = "1";
        field.form.addEventListener("submit", function (event) {
          var bad = Array.prototype.filter.call(field.form.querySelectorAll("textarea[data-json]"), function (f) {
            return !check(f);
          });
          if (bad.length) {
            event.preventDefault();
            bad[0].focus();
          }
        });
      }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUp);
  else setUp();
})();
