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
