/* algosaas live price chart: a deployment's candles, its strategy's indicator lines and fills.
 *
 * The element is [data-live-chart="price"] with data-source="<id of a json_script>" holding
 * execution.services.live_chart.deployment_chart's answer plus its url and currency. Refreshes
 * ask url?since=<newest candle's epoch s> and add what is new; the markers, the warm-up count and
 * the last price are replaced whole. A refresh runs after each htmx poll of the page, on every
 * pushed `algosaas:live-event` (a CustomEvent on document), and on a slow timer of its own while
 * the run is live, in case neither comes. On a basket run, a [data-live-chart-member] select in
 * the card picks the member drawn: the chart reloads whole from url?instrument=<id>, and later
 * refreshes ask for that member. Helpers come from charts.js (window.AlgosaasCharts).
 */
(function () {
  "use strict";

  var LC = window.LightweightCharts;
  var AC = window.AlgosaasCharts;
  var PALETTE = ["#f59e0b", "#8b5cf6", "#0ea5e9", "#ec4899", "#14b8a6", "#64748b"];
  var MIN_GAP_MS = 750; // refreshes closer than this fold into one
  var IDLE_MS = 10000; // the own timer refreshes only after this long without one
  var FIT_BARS = 120;
  var MAX_KEPT = 1000; // past this (a tab left open for hours), reload the newest 500 whole

  function ist(t) { return t + AC.IST; }

  function make(el, data) {
    var candles0 = data.candles || [];
    var interval = data.interval || AC.intervalOf(candles0.map(function (c) { return c[0]; }));
    var chart = LC.createChart(el, AC.baseOptions(el, interval));
    var money = AC.moneyFormat(data.currency);
    var priceFormat = { type: "custom", formatter: money, minMove: 0.01 };
    var candles = chart.addSeries(LC.CandlestickSeries, {
      upColor: AC.COLORS.up, downColor: AC.COLORS.down, borderVisible: false,
      wickUpColor: AC.COLORS.up, wickDownColor: AC.COLORS.down, priceFormat: priceFormat
    });
    var panes = { price: 0 };
    var lines = {};
    (data.lines || []).forEach(function (line, i) {
      if (panes[line.pane] === undefined) panes[line.pane] = Object.keys(panes).length;
      var overlay = panes[line.pane] === 0;
      var series = chart.addSeries(LC.LineSeries, {
        color: PALETTE[i % PALETTE.length], lineWidth: 2, priceLineVisible: false,
        lastValueVisible: false, crosshairMarkerVisible: false, title: line.label,
        priceFormat: overlay ? priceFormat : { type: "price", precision: 2, minMove: 0.01 }
      }, panes[line.pane]);
      (line.levels || []).forEach(function (level) {
        series.createPriceLine({
          price: level, color: "#94a3b8", lineWidth: 1, lineStyle: LC.LineStyle.Dashed,
          axisLabelVisible: true, title: ""
        });
      });
      lines[line.key] = { series: series, label: line.label, overlay: overlay, byTime: {} };
    });
    var extra = chart.panes().slice(1);
    extra.forEach(function (pane) { pane.setHeight(Math.round(el.clientHeight * 0.22)); });
    var markers = LC.createSeriesMarkers(candles, []);

    var last = null; // epoch s (UTC) of the newest candle drawn
    var byTime = {};
    var newest = null;
    var box = AC.legend(el);
    var empty = el.parentNode.querySelector(".chart-empty");
    var card = el.closest("section") || document;
    var picker = card.querySelector("[data-live-chart-member]");
    var member = null; // the basket member drawn (its id); null: the run's own instrument
    var reload = false; // the member changed: the next refresh replaces everything

    function urlFor(since) {
      var query = [];
      if (member) query.push("instrument=" + encodeURIComponent(member));
      if (since !== null) query.push("since=" + since);
      return data.url + (query.length ? "?" + query.join("&") : "");
    }

    function show(c) {
      box.innerHTML = "";
      if (!c) return;
      var cls = c[4] >= c[1] ? "up" : "down";
      box.append(
        AC.span(AC.fmtTime(ist(c[0]), interval < 60), "t"),
        AC.span("O " + money(c[1]), ""), AC.span("H " + money(c[2]), ""),
        AC.span("L " + money(c[3]), ""), AC.span("C " + money(c[4]), cls)
      );
      Object.keys(lines).forEach(function (key) {
        var v = lines[key].byTime[c[0]];
        if (v !== undefined) {
          box.append(AC.span(lines[key].label + " " + (lines[key].overlay ? money(v) : v.toFixed(2)), ""));
        }
      });
    }

    function apply(body, whole) {
      var added = 0;
      var rows = body.candles || [];
      var bars = [];
      rows.forEach(function (c) {
        if (!whole && last !== null && c[0] < last) return;
        byTime[c[0]] = c;
        bars.push({ time: ist(c[0]), open: c[1], high: c[2], low: c[3], close: c[4] });
        newest = c;
        last = c[0];
        added++;
      });
      if (whole) candles.setData(bars);
      else bars.forEach(function (b) { candles.update(b); });
      (body.lines || []).forEach(function (line) {
        var target = lines[line.key];
        if (!target) return;
        if (whole) target.byTime = {};
        var points = line.points.map(function (p) {
          target.byTime[p[0]] = p[1];
          return { time: ist(p[0]), value: p[1] };
        });
        if (whole) target.series.setData(points);
        else points.forEach(function (p) { target.series.update(p); });
      });
      var first = candles.data().length ? candles.data()[0].time : null;
      markers.setMarkers((body.markers || []).filter(function (m) {
        return first === null || ist(m.time) >= first;
      }).map(function (m) {
        var buy = m.side === "BUY";
        return {
          time: ist(m.time), position: buy ? "atPriceBottom" : "atPriceTop", price: m.price,
          color: buy ? AC.COLORS.buy : AC.COLORS.sell, shape: buy ? "arrowUp" : "arrowDown",
          text: (m.role ? m.role + " " : "") + (buy ? "B " : "S ") + m.quantity + " @ " +
            money(m.price)
        };
      }));
      warmup(body.warmup);
      el.dataset.lastPrice = body.last ? String(body.last.close) : "";
      el.dataset.instrument = body.instrument ? body.instrument.label : "";
      el.dataset.candles = String(candles.data().length);
      el.dataset.markers = String((body.markers || []).length);
      if (empty) empty.hidden = candles.data().length > 0;
      if (added) show(newest);
      return added;
    }

    function warmup(w) {
      var note = card.querySelector("[data-live-chart-warmup]");
      if (!note || !w) return;
      note.hidden = w.remaining <= 0;
      var set = function (sel, text) {
        var node = note.querySelector(sel);
        if (node) node.textContent = text;
      };
      set("[data-live-chart-remaining]", String(w.remaining));
      set("[data-live-chart-plural]", w.remaining === 1 ? "" : "s");
      set("[data-live-chart-seen]", String(w.seen));
    }

    apply(data, true);
    chart.timeScale().fitContent();
    chart.subscribeCrosshairMove(function (param) {
      var c = param.time !== undefined ? byTime[param.time - AC.IST] : null;
      show(c || newest);
    });

    // Follow the newest bar until the user pans or zooms; a double-click follows again.
    var follow = true;
    function unfollow() { follow = false; }
    el.addEventListener("wheel", unfollow, { passive: true });
    el.addEventListener("touchmove", unfollow, { passive: true });
    el.addEventListener("pointermove", function (e) { if (e.buttons) unfollow(); });
    el.addEventListener("dblclick", function () { follow = true; keepUp(); });

    // A few bars fill the width (a fresh replay's first ones); many scroll with the newest.
    function keepUp() {
      if (candles.data().length <= FIT_BARS) chart.timeScale().fitContent();
      else chart.timeScale().scrollToRealTime();
    }

    var live = !!data.live;
    var busy = false;
    var again = false;
    var lastRun = 0;
    function refresh() {
      if (!data.url || !document.body.contains(el)) return;
      if (busy) { again = true; return; }
      var wait = lastRun + MIN_GAP_MS - Date.now();
      if (wait > 0) { again = true; window.setTimeout(flush, wait); return; }
      busy = true;
      lastRun = Date.now();
      var switching = reload;
      var whole = switching || candles.data().length > MAX_KEPT;
      var asked = member;
      var url = urlFor(last !== null && !whole ? last : null);
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) {
          if (!body) return;
          if (asked !== member) { again = true; return; } // picked another member meanwhile
          live = !!body.live;
          if (whole) { last = null; byTime = {}; newest = null; }
          var added = apply(body, whole);
          if (switching) {
            reload = false;
            follow = true;
            if (!added) show(null);
            chart.timeScale().fitContent();
          } else if (added && follow) keepUp();
        })
        .catch(function () { /* retried on the next poll or event */ })
        .then(function () {
          busy = false;
          el.dataset.refreshes = String(Number(el.dataset.refreshes || 0) + 1);
          flush();
        });
    }
    function flush() {
      if (again && !busy) { again = false; refresh(); }
    }

    if (picker) {
      picker.addEventListener("change", function () {
        member = picker.value || null;
        reload = true;
        lastRun = 0; // a choice is answered at once, not after the refresh gap
        refresh();
      });
    }

    document.addEventListener("algosaas:live-event", refresh);
    // The page's poll (and the refresh a manual order or a stop triggers) is the live tiles'.
    document.addEventListener("htmx:afterRequest", function (e) {
      var elt = e.detail && e.detail.elt;
      if (elt && elt.id === "live-tiles" && e.detail.successful) refresh();
    });
    window.setInterval(function () {
      if (live && !document.hidden && Date.now() - lastRun > IDLE_MS) refresh();
    }, IDLE_MS);

    return { chart: chart, refresh: refresh, markers: markers };
  }

  function setUp() {
    if (!LC || !AC) return;
    document.querySelectorAll('[data-live-chart="price"]').forEach(function (el) {
      if (el.dataset.chartReady) return;
      var data = AC.readData(el);
      if (!data) return;
      el.dataset.chartReady = "1";
      var made = make(el, data);
      el.lwChart = made.chart; // for the browser tests
      el.liveChartRefresh = made.refresh;
      el.liveChartMarkers = made.markers;
    });
  }

  document.addEventListener("themechange", function () {
    var options = AC && AC.themeOptions();
    document.querySelectorAll('[data-live-chart="price"]').forEach(function (el) {
      if (el.lwChart && options) el.lwChart.applyOptions(options);
    });
  });
  document.addEventListener("DOMContentLoaded", setUp);
})();
