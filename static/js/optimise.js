/* The sweep form: show each parameter's inputs for its chosen mode (fixed, list, range). The
 * server reads only the chosen mode's inputs and judges them; this only hides the others. */
(function () {
  "use strict";

  function apply(row) {
    var select = row.querySelector("[data-space-mode]");
    if (!select) return;
    row.querySelectorAll("[data-mode-for]").forEach(function (el) {
      el.classList.toggle("mode-off", el.dataset.modeFor !== select.value);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-space-param]").forEach(apply);
  });
  document.addEventListener("change", function (e) {
    if (e.target.matches && e.target.matches("[data-space-mode]")) {
      apply(e.target.closest("[data-space-param]"));
    }
  });
})();
