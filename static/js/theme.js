/* Colour theme: "system" (follow prefers-color-scheme), "light" or "dark", remembered in
 * localStorage. Loaded synchronously in <head> (a file: the Content-Security-Policy allows no
 * inline script), so <html data-theme> is set before the first paint and no page flashes light.
 *
 * app.css keys every colour on the used color-scheme (light-dark()), which data-theme pins;
 * without scripting the stylesheet's own `color-scheme: light dark` follows the system.
 * A change (the picker, or the system's setting while on "system") fires a "themechange" event
 * on document with detail {choice, theme}: charts.js re-colours its charts on it.
 */
(function () {
  "use strict";

  var KEY = "algosaas.theme";
  var CHOICES = ["system", "light", "dark"];
  var root = document.documentElement;
  var media = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

  function stored() {
    try {
      var v = window.localStorage.getItem(KEY);
      return CHOICES.indexOf(v) !== -1 ? v : "system";
    } catch (e) { // storage disabled: follow the system
      return "system";
    }
  }

  function resolve(choice) {
    if (choice !== "system") return choice;
    return media && media.matches ? "dark" : "light";
  }

  function syncPickers(choice) {
    document.querySelectorAll("[data-theme-picker]").forEach(function (select) {
      select.value = choice;
    });
  }

  function apply(choice, announce) {
    var theme = resolve(choice);
    var changed = root.dataset.theme !== theme;
    root.dataset.theme = theme;
    root.dataset.themeChoice = choice;
    syncPickers(choice);
    if (announce && changed) {
      document.dispatchEvent(new CustomEvent("themechange", { detail: { choice: choice, theme: theme } }));
    }
  }

  function choose(choice) {
    try {
      if (choice === "system") window.localStorage.removeItem(KEY);
      else window.localStorage.setItem(KEY, choice);
    } catch (e) { /* not remembered, still applied */ }
    apply(choice, true);
  }

  apply(stored(), false);

  if (media) {
    var follow = function () { if (root.dataset.themeChoice === "system") apply("system", true); };
    if (media.addEventListener) media.addEventListener("change", follow);
    else if (media.addListener) media.addListener(follow);
  }

  // Another tab changed the theme: follow it.
  window.addEventListener("storage", function (e) { if (e.key === KEY) apply(stored(), true); });

  document.addEventListener("DOMContentLoaded", function () { syncPickers(root.dataset.themeChoice); });
  document.addEventListener("change", function (e) {
    if (e.target.matches && e.target.matches("[data-theme-picker]")) choose(e.target.value);
  });

  window.algosaasTheme = { choose: choose, current: function () { return root.dataset.theme; } };
})();
