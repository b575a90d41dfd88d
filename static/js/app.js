/* algosaas dashboard behaviour: toasts and small form helpers. No framework; htmx does the rest.
 *
 * Toasts arrive three ways and look the same:
 *   - Django messages rendered into #toasts on a full page load;
 *   - an htmx response header  HX-Trigger: {"toast": {"level": "success", "message": "..."}};
 *   - an out-of-band swap of a .toast element into #toasts (hx-swap-oob="beforeend:#toasts").
 * They stack in the bottom-left corner (app.css), clear of the page actions at the top right
 * and of the order ticket and stop button in the right-hand column. Every toast dismisses itself
 * (errors last longest); hovering or focusing one pauses its clock, so it can be read at leisure
 * (WCAG 2.2.1), and only the newest few stay on screen.
 *
 * Tables: on a phone each row of a wide table becomes a card of "label value" lines
 * (app.css, table.cards-sm); labelTables gives every cell its column's name.
 */
(function () {
  "use strict";

  var LIFETIME = { success: 5000, info: 5000, debug: 5000, warning: 9000, error: 15000 };
  var MAX_SHOWN = 3;

  function box() {
    var el = document.getElementById("toasts");
    if (!el) {
      el = document.createElement("div");
      el.id = "toasts";
      el.className = "toasts";
      el.setAttribute("aria-live", "polite");
      document.body.appendChild(el);
    }
    return el;
  }

  function dismiss(el) {
    if (el.classList.contains("leaving")) return;
    window.clearTimeout(el._toastTimer);
    el.classList.add("leaving");
    window.setTimeout(function () { el.remove(); }, 220);
  }

  function levelOf(el) {
    var levels = ["error", "warning", "success", "info", "debug"];
    for (var i = 0; i < levels.length; i++) {
      if (el.classList.contains(levels[i])) return levels[i];
    }
    return "info";
  }

  /* A toast's clock: runs down while nobody hovers or focuses it. */
  function startClock(el) {
    window.clearTimeout(el._toastTimer);
    el._toastStarted = Date.now();
    el._toastTimer = window.setTimeout(function () { dismiss(el); }, el._toastLeft);
  }

  function pauseClock(el) {
    if (el._toastPaused) return;
    el._toastPaused = true;
    window.clearTimeout(el._toastTimer);
    el._toastLeft = Math.max(el._toastLeft - (Date.now() - el._toastStarted), 1500);
  }

  function resumeClock(el) {
    if (!el._toastPaused) return;
    if (el.matches(":hover") || el.contains(document.activeElement)) return;
    el._toastPaused = false;
    startClock(el);
  }

  function trim() {
    var live = box().querySelectorAll(".toast:not(.leaving)");
    for (var i = 0; i < live.length - MAX_SHOWN; i++) dismiss(live[i]);
  }

  function arm(el) {
    if (el.dataset.armed) return;
    el.dataset.armed = "1";
    var close = el.querySelector(".toast-close");
    if (close) close.addEventListener("click", function () { dismiss(el); });
    el._toastLeft = LIFETIME[levelOf(el)] || LIFETIME.info;
    // Only a reader pauses it: a mouse moved onto it, or keyboard focus. A toast that appears
    // under a resting pointer (or a finger's last tap) gets a hover it never asked for, and
    // pausing on that left it over the content for good.
    el.addEventListener("pointermove", function (e) {
      if (e.pointerType === "mouse" && (e.movementX || e.movementY)) pauseClock(el);
    });
    el.addEventListener("focusin", function (e) {
      if (e.target.matches && e.target.matches(":focus-visible")) pauseClock(el);
    });
    el.addEventListener("mouseleave", function () { resumeClock(el); });
    el.addEventListener("focusout", function () { window.setTimeout(function () { resumeClock(el); }, 0); });
    startClock(el);
    trim();
  }

  function toast(level, message) {
    level = level || "info";
    var el = document.createElement("div");
    el.className = "toast " + level;
    el.setAttribute("role", level === "error" ? "alert" : "status");
    var text = document.createElement("span");
    text.className = "toast-msg";
    text.textContent = message;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    el.append(text, close);
    box().appendChild(el);
    arm(el);
    return el;
  }

  function armAll(root) {
    (root || document).querySelectorAll(".toast").forEach(arm);
  }

  /* Position sizing: show the quantity or the allocation field, whichever is chosen. */
  function applySizing(form) {
    if (!form) return;
    var chosen = form.querySelector("[data-sizing-toggle]:checked");
    if (!chosen) return;
    form.querySelectorAll("[data-sizing-for]").forEach(function (el) {
      el.classList.toggle("sizing-off", el.dataset.sizingFor !== chosen.value);
    });
  }

  /* Order ticket: show the price/trigger inputs the chosen type uses (the server decides what
     is valid; a hidden input is disabled so it is not sent), and label the button by side. */
  function applyTicket(form) {
    if (!form || !form.matches("[data-ticket]")) return;
    var type = form.querySelector("[data-order-type]");
    var kind = type ? type.value : "";
    form.querySelectorAll("[data-for-types]").forEach(function (el) {
      var on = el.dataset.forTypes.split(" ").indexOf(kind) !== -1;
      el.classList.toggle("type-off", !on);
      el.querySelectorAll("input").forEach(function (input) { input.disabled = !on; });
    });
    var side = form.querySelector("input[name=side]:checked");
    var button = form.querySelector(".ticket-submit");
    if (side && button) {
      var sell = side.value === "SELL";
      button.classList.toggle("sell", sell);
      var qty = form.querySelector("input[name=quantity]");
      var n = qty && qty.value ? " " + qty.value : "";
      button.textContent = (sell ? "Sell" : "Buy") + n + (kind ? " · " + kind : "");
    }
  }

  /* Progress bars carry data-progress; a style attribute in the markup would break the CSP,
     a width set from script (CSSOM) does not. */
  function applyProgress(root) {
    (root || document).querySelectorAll("[data-progress]").forEach(function (el) {
      el.style.width = el.dataset.progress + "%";
    });
  }

  /* Each cell of a table of MIN_CARD_COLUMNS or more columns gets data-label = its column's
     header text (colspans counted), for the stacked layout on phones. Run again after htmx
     swaps rows in. */
  var MIN_CARD_COLUMNS = 4;

  function labelTable(table) {
    // data-no-cards: a grid read across and down (the sweep's heatmap) stays a table
    if (table.classList.contains("stats-table") || table.hasAttribute("data-no-cards")) return;
    var heads = table.tHead ? table.tHead.rows[0] : null;
    if (!heads || heads.cells.length < MIN_CARD_COLUMNS) return;
    var names = [];
    Array.prototype.forEach.call(heads.cells, function (th) {
      var text = th.textContent.replace(/\s+/g, " ").trim();
      for (var n = 0; n < (th.colSpan || 1); n++) names.push(text);
    });
    table.classList.add("cards-sm");
    Array.prototype.forEach.call(table.tBodies, function (body) {
      Array.prototype.forEach.call(body.rows, function (row) {
        var col = 0;
        Array.prototype.forEach.call(row.cells, function (cell) {
          if (cell.colSpan > 1 && cell.colSpan >= names.length) cell.setAttribute("data-label", "");
          else cell.setAttribute("data-label", names[col] || "");
          col += cell.colSpan || 1;
        });
      });
    });
  }

  function labelTables(root) {
    if (!root || !root.querySelectorAll) return;
    var table = root.closest ? root.closest("table") : null;
    if (table) labelTable(table);
    root.querySelectorAll("table").forEach(labelTable);
  }

  document.documentElement.classList.add("js");
  window.algosaas = { toast: toast };

  document.addEventListener("DOMContentLoaded", function () {
    armAll(document);
    applyProgress(document);
    labelTables(document);
    document.querySelectorAll("form").forEach(applySizing);
    document.querySelectorAll("form").forEach(applyBasket);
    document.querySelectorAll("form[data-ticket]").forEach(applyTicket);
  });

  // The single-instrument select (data-basket-single) is hidden and disabled, so not sent,
  // while the form's basket picker has a member ticked: the basket's first member stands for it.
  function applyBasket(form) {
    if (!form || !form.querySelector) return;
    var single = form.querySelector("[data-basket-single]");
    if (!single) return;
    var basket = !!form.querySelector("[data-basket-member]:checked, [data-basket-result]:checked");
    single.disabled = basket;
    var field = single.closest(".field");
    if (field && !field.classList.contains("has-error")) field.hidden = basket;
  }

  document.addEventListener("change", function (e) {
    if (e.target.form) applyBasket(e.target.form);
    if (e.target.matches && e.target.matches("[data-sizing-toggle]")) applySizing(e.target.form);
    if (e.target.form) applyTicket(e.target.form);
  });

  document.addEventListener("input", function (e) {
    if (e.target.form && e.target.name === "quantity") applyTicket(e.target.form);
  });

  // <form data-confirm="…">: ask before a plain (non-htmx) form submits; the CSP allows no
  // onsubmit attribute, and htmx's hx-confirm covers only the requests htmx makes.
  document.addEventListener("submit", function (e) {
    var question = e.target.getAttribute && e.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) e.preventDefault();
  });

  // HX-Trigger: {"toast": {...}} — htmx fires a "toast" event that bubbles to the document.
  document.addEventListener("toast", function (e) {
    var d = e.detail || {};
    if (d.message) toast(d.level, d.message);
  });

  // A refusal from a service (4xx carrying a toast) still swaps in the fresh panel it returns.
  document.addEventListener("htmx:beforeSwap", function (e) {
    var xhr = e.detail.xhr;
    var trigger = xhr.getResponseHeader("HX-Trigger") || "";
    if (xhr.status >= 400 && xhr.status < 500 && trigger.indexOf('"toast"') !== -1) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });

  // GET filter forms: leave blank filters out of the URL (?q=x rather than ?q=x&status=).
  document.addEventListener("htmx:configRequest", function (e) {
    if (e.detail.verb !== "get" || !e.detail.elt.closest("form[data-drop-blank]")) return;
    var params = e.detail.parameters;
    Object.keys(params).forEach(function (key) {
      if (params[key] === "") delete params[key];
    });
  });

  document.addEventListener("htmx:responseError", function (e) {
    var status = e.detail.xhr.status;
    var msg = status === 403 ? "Your session has expired or the form is stale — reload the page."
      : status === 404 ? "That item no longer exists."
      : "Something went wrong on our side (" + status + "). Try again in a moment.";
    toast("error", msg);
  });

  document.addEventListener("htmx:sendError", function () {
    toast("error", "Cannot reach the server — check your connection.");
  });

  document.addEventListener("htmx:load", function (e) {
    armAll(e.target.parentNode || document);
    applyProgress(e.target.parentNode || document);
    labelTables(e.target);
    var form = e.target.closest ? e.target.closest("form") : null;
    applySizing(form);
    applyBasket(form);
    if (e.target.querySelectorAll) e.target.querySelectorAll("form[data-ticket]").forEach(applyTicket);
  });
})();
