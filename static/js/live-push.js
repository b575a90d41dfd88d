/*
 * Live push for the deployment page (docs/live-push.md), over htmx's WebSocket extension.
 *
 * The footer's #live-mode element carries ws-connect; on open it subscribes to the page's
 * deployment, sending the last order-event and equity sequence numbers it has seen, so a
 * reconnect replays only what was missed. Every event refreshes the live panels through their
 * existing htmx reload ("deployment-refresh", coalesced over a burst) and is re-dispatched as
 * a DOM event, "algosaas:live-event" (detail: the event), for charts.
 *
 * data-live-push says what the socket can carry (execution/push/mode.py): "push", every event
 * (Redis joins the web and job processes), so while subscribed the tiles' 3-second poll is
 * skipped; or "local", only what this web process commits itself (manual orders, stops: no
 * Redis, make run), so the poll goes on for the bars and fills the job cluster commits. When
 * the socket goes, polling takes over alone. The footer says which. A server with no
 * WebSocket route (a WSGI server) fails three opens in a row: the page then stays on polling.
 */
(function () {
  "use strict";
  var REFRESH = "deployment-refresh";
  var el = document.querySelector("[data-live-push]");
  if (!el || !window.htmx) return;
  var deployment = Number(el.getAttribute("data-deployment"));
  var scope = el.getAttribute("data-live-push") === "local" ? "local" : "push";
  var TEXT = {
    push: "live updates: push",
    local: "live updates: push for orders placed here, polling for bars and fills",
    polling: "live updates: polling"
  };
  var cursor = { seq: null, equity: null };
  var push = false;
  var opened = false;
  var failures = 0;
  var pending = null;

  function setMode(mode) {
    push = mode === "push"; // only then is the timed poll skipped
    el.textContent = TEXT[mode];
    el.setAttribute("data-mode", mode);
    document.documentElement.setAttribute("data-live-updates", mode);
  }

  function refreshSoon() {
    if (pending !== null) return;
    pending = window.setTimeout(function () {
      pending = null;
      window.htmx.trigger(document.body, REFRESH);
    }, 30);
  }

  function advance(key, seq) {
    if (typeof seq === "number" && (cursor[key] === null || seq > cursor[key])) cursor[key] = seq;
  }

  function announce(detail) {
    document.dispatchEvent(new CustomEvent("algosaas:live-event", { detail: detail }));
  }

  function stop() {
    var plain = el.cloneNode(true);
    plain.removeAttribute("ws-connect");
    plain.removeAttribute("hx-ext");
    el.replaceWith(plain); // the extension stops reconnecting once its element has left
    el = plain;
    setMode("polling");
  }

  el.addEventListener("htmx:wsOpen", function (e) {
    opened = true;
    failures = 0;
    var msg = { type: "subscribe", deployment: deployment };
    if (cursor.seq !== null) msg.after = cursor.seq;
    if (cursor.equity !== null) msg.after_equity = cursor.equity;
    e.detail.socketWrapper.send(JSON.stringify(msg));
  });

  el.addEventListener("htmx:wsClose", function () {
    setMode("polling");
    if (!opened && ++failures >= 3) stop();
    opened = false;
  });

  el.addEventListener("htmx:wsBeforeMessage", function (e) {
    e.preventDefault(); // our messages are JSON, not HTML for the extension to swap
    var m;
    try { m = JSON.parse(e.detail.message); } catch (err) { return; }
    if (m.type === "ping") {
      e.detail.socketWrapper.send('{"type":"pong"}');
    } else if (m.type === "subscribed") {
      advance("seq", m.seq);
      advance("equity", m.equity_seq);
      setMode(scope);
      refreshSoon(); // whatever committed between the page's render and the subscription
    } else if (m.type === "resync") {
      advance("seq", m.seq);
      advance("equity", m.equity_seq);
      announce(m);
      refreshSoon();
    } else if (m.type === "error") {
      stop();
    } else if (m.type === "event") {
      if (m.kind === "equity") advance("equity", m.seq);
      else if (m.kind === "order" || m.kind === "fill") advance("seq", m.seq);
      announce(m);
      refreshSoon();
    }
  });

  // Under push, the tiles reload on events only: their timed poll is skipped.
  document.body.addEventListener("htmx:confirm", function (e) {
    if (!push || !e.detail.elt || e.detail.elt.id !== "live-tiles") return;
    var t = e.detail.triggeringEvent;
    if (!t || t.type !== REFRESH) e.preventDefault();
  });
})();
