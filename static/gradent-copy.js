// Copy buttons: <button type="button" data-copy="#element-id">Copy</button> copies the value
// of an input or textarea, or the text of any other element, and says "Copied". A read-only
// field with data-select selects itself when clicked. No inline script or handler
// (Content Security Policy), no dependency.
(function () {
  "use strict";

  function textOf(target) {
    return "value" in target && typeof target.value === "string" ? target.value : target.textContent;
  }

  function fallbackCopy(text) {
    // navigator.clipboard exists only in secure contexts (HTTPS or localhost); a server
    // reached over plain HTTP on a LAN address still gets a working button.
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "copy-scratch";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (error) { ok = false; }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function say(button, text) {
    if (!button.dataset.label) button.dataset.label = button.textContent;
    button.textContent = text;
    clearTimeout(button.copyTimer);
    button.copyTimer = setTimeout(function () { button.textContent = button.dataset.label; }, 2000);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (button) {
      var target = document.querySelector(button.dataset.copy);
      if (!target) return;
      var text = textOf(target);
      var copying = navigator.clipboard && window.isSecureContext
        ? navigator.clipboard.writeText(text)
        : fallbackCopy(text);
      copying.then(
        function () { say(button, "Copied"); },
        function () {
          if (target.select) target.select();
          say(button, "Press Ctrl+C");
        }
      );
      return;
    }
    var field = event.target.closest("input[data-select], textarea[data-select]");
    if (field) field.select();
  });
})();
