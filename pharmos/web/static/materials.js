/* Barcode scanners are keyboards that type the code and press Enter. On a scan form, Enter moves
   to the next field instead of submitting half a form; Enter in the last field submits. After a
   refused submission the first field with a problem gets the focus, so the next scan lands there. */
(function () {
  "use strict";

  function fieldsOf(form) {
    return Array.prototype.filter.call(form.elements, function (el) {
      if (el.disabled || el.type === "hidden" || el.tagName === "FIELDSET") { return false; }
      return el.offsetParent !== null;
    });
  }

  function advance(event) {
    if (event.key !== "Enter" || event.isComposing) { return; }
    var el = event.target;
    if (el.tagName === "TEXTAREA" || el.tagName === "BUTTON" || el.type === "submit") { return; }
    var form = el.form;
    if (!form) { return; }
    event.preventDefault();
    var fields = fieldsOf(form);
    var next = fields[fields.indexOf(el) + 1];
    if (!next || next.type === "submit") {
      form.requestSubmit();
      return;
    }
    next.focus();
    if (next.select && next.tagName === "INPUT") { next.select(); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-enter-advances]").forEach(function (form) {
      form.addEventListener("keydown", advance);
    });
    var invalid = document.querySelector("form .field--invalid input, form .field--invalid select, form .field--invalid textarea");
    if (invalid) { invalid.focus(); }
  });
})();
