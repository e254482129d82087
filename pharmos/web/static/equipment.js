/* Inspection round on the tablet: as the technician types a reading, say at once whether it is within
   the check's limits; out of range makes the comment required (the server refuses the result without
   one, this only says so before sending). */
(function () {
  "use strict";

  function outOfRange(form) {
    var kind = form.dataset.kind;
    if (kind === "numeric") {
      var input = form.querySelector("#f-value");
      var raw = input ? input.value.trim().replace(",", ".") : "";
      if (raw === "" || isNaN(Number(raw))) { return null; }
      var value = Number(raw);
      if (form.dataset.lower !== undefined && value < Number(form.dataset.lower)) { return true; }
      if (form.dataset.upper !== undefined && value > Number(form.dataset.upper)) { return true; }
      return false;
    }
    if (kind === "yes_no") {
      var chosen = form.querySelector("input[name=value]:checked");
      if (!chosen) { return null; }
      return chosen.value !== form.dataset.expected;
    }
    return null;
  }

  function update(form) {
    var feedback = document.getElementById("limit-feedback");
    var star = document.getElementById("comment-required");
    var comment = document.getElementById("f-comment");
    var out = outOfRange(form);
    if (!feedback) { return; }
    feedback.className = "limit-feedback" + (out === true ? " limit-feedback--out" : out === false ? " limit-feedback--in" : "");
    feedback.textContent = out === true ? feedback.dataset.out : out === false ? feedback.dataset.in : "";
    if (star) { star.hidden = out !== true && !document.getElementById("e-comment"); }
    if (comment) { comment.required = out === true; }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("result-form");
    if (!form) { return; }
    form.addEventListener("input", function () { update(form); });
    form.addEventListener("change", function () { update(form); });
    update(form);
  });
})();
