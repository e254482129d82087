/* Tablet execution of a batch step: as the operator types a value, say at once (in words, not only
   colour) whether it is within the master batch record's limits, and on the dispense form compute
   net = gross − tare and whether the line total stays within its window. The server decides and
   records; this only tells the operator before sending (CSP: no inline script, no eval). */
(function () {
  "use strict";

  function decimal(raw) {
    var text = (raw || "").trim().replace(",", ".");
    if (text === "" || isNaN(Number(text))) { return null; }
    return Number(text);
  }

  function show(feedback, out, extra) {
    if (!feedback) { return; }
    feedback.className = "limit-feedback" + (out === true ? " limit-feedback--out" : out === false ? " limit-feedback--in" : "");
    var text = out === true ? feedback.dataset.out : out === false ? feedback.dataset.in : "";
    feedback.textContent = extra ? (text ? extra + " · " + text : extra) : text;
  }

  function checkEntry(form) {
    var input = form.querySelector("[name=value]");
    var feedback = form.querySelector(".limit-feedback");
    var field = input ? input.closest(".field") : null;
    var kind = form.dataset.kind;
    var out = null;
    if (input && (kind === "numeric" || kind === "duration")) {
      var value = decimal(input.value);
      if (value !== null) {
        out = (form.dataset.lower !== undefined && value < Number(form.dataset.lower)) ||
              (form.dataset.upper !== undefined && value > Number(form.dataset.upper));
      }
    } else if (input && kind === "choice" && form.dataset.expected) {
      if (input.value !== "") { out = input.value !== form.dataset.expected; }
    } else if (input && kind === "check") {
      // A check passes when its verdict is the expected one (pass/yes, or fail/no where failing is expected).
      var good = { pass: "pass", yes: "pass", fail: "fail", no: "fail" };
      var expected = good[(form.dataset.expected || "pass").toLowerCase()] || "pass";
      if (input.value !== "") { out = good[input.value.toLowerCase()] !== expected; }
    }
    if (field) {
      field.classList.toggle("field--out", out === true);
      field.classList.toggle("field--in", out === false);
    }
    if (input) { input.setAttribute("data-limit", out === true ? "out" : out === false ? "in" : ""); }
    show(feedback, out);
  }

  function checkDispense(form) {
    var block = form.closest(".dispense");
    if (!block) { return; }
    var gross = decimal((form.querySelector("[name=gross]") || {}).value);
    var tare = decimal((form.querySelector("[name=tare]") || {}).value);
    var netInput = form.querySelector("[name=net]");
    var net = decimal(netInput ? netInput.value : "");
    if (net === null && gross !== null && tare !== null) {
      net = Math.round((gross - tare) * 1e6) / 1e6;
      if (netInput) { netInput.placeholder = String(net); }
    }
    var feedback = form.querySelector(".limit-feedback");
    if (net === null) { show(feedback, null); return; }
    var total = Math.round((Number(block.dataset.total || 0) + net) * 1e6) / 1e6;
    var out = total < Number(block.dataset.low) || total > Number(block.dataset.high);
    var label = feedback ? feedback.dataset.after : "";
    // Below the window is still allowed (several containers may fill one line); only above is refused.
    show(feedback, total > Number(block.dataset.high) ? true : (out ? null : false),
         label + ": " + total + " " + (form.dataset.unit || ""));
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.entry-form").forEach(function (form) {
      form.addEventListener("input", function () { checkEntry(form); });
      form.addEventListener("change", function () { checkEntry(form); });
      checkEntry(form);
    });
    document.querySelectorAll("form.dispense-form").forEach(function (form) {
      form.addEventListener("input", function () { checkDispense(form); });
      checkDispense(form);
    });
  });
})();
