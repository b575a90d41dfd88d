/* algosaas charts: Lightweight Charts (vendored, global LightweightCharts) on the trading pages.
 *
 * A chart is an element with data-chart="<kind>" and data-source="<id of a json_script>":
 *   backtest-equity  equity (baseline at the starting capital) over a drawdown pane;
 *   backtest-price   candles of the replayed bars with buy/sell markers at trade entries/exits;
 *   wf-equity        a walk-forward's stitched out-of-sample equity (baseline at the capital);
 *   basket-equity    a basket backtest's members, one line each: return on the member's cap;
 *   live-equity      a deployment's equity, then new points fetched every few seconds from
 *                    data.url?since=<epoch s> while data.live is true (the JSON says when to stop).
 * Times arrive as epoch seconds (UTC); the charts draw them shifted to Asia/Kolkata, since
 * Lightweight Charts labels its axis in UTC. Charts are set up on page load and whenever htmx
 * swaps in content holding one (the backtest result arrives that way).
 */
(function () {
  "use strict";

  var LC = window.LightweightCharts;
  var IST = 19800; // +05:30
  var POLL_MS = 3000;
  var COLORS = {
    brand: "#2f5bea", up: "#0f8a5f", down: "#d33f3f", buy: "#1d4ed8", sell: "#c62828",
    text: "#64748b", grid: "#eef2f7", border: "#e2e8f0"
  };

  // Money in the instrument's currency (data.currency, an ISO code): rupees grouped in lakhs
  // (en-IN), anything else in thousands. Axes always show two decimals: a run that moves ₹3 on
  // ₹5,00,000 still gets distinct labels. Ticks are multiples of minMove (0.01).
  function moneyFormat(code) {
    code = code || "INR";
    var f;
    try {
      f = new Intl.NumberFormat(code === "INR" ? "en-IN" : "en-US", {
        style: "currency", currency: code, currencyDisplay: "narrowSymbol",
        minimumFractionDigits: 2, maximumFractionDigits: 2
      });
    } catch (e) { // not an ISO currency (USDT): its code before the number
      var n = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
      return function (v) { return (v < 0 ? "-" : "") + code + " " + n.format(Math.abs(v)); };
    }
    return function (v) { return f.format(v); };
  }
  // Two decimals, or two significant digits below 0.01 %: a loss of ₹21.95 on ₹10 lakh reads
  // -0.0022 %, never "-0.00%"; a value that is exactly zero reads 0.00 %.
  function pctDigits(v) {
    var a = Math.abs(v);
    if (!isFinite(v) || a === 0) return "0.00";
    var places = a >= 0.01 ? 2 : Math.min(20, 1 - Math.floor(Math.log10(a)));
    return (v < 0 ? "-" : "") + a.toFixed(places);
  }
  function pct(v) { return (v > 0 ? "+" : "") + pctDigits(v) + "%"; }
  function ist(t) { return t + IST; }

  function readData(el) {
    var src = document.getElementById(el.dataset.source);
    if (!src) return null;
    try { return JSON.parse(src.textContent); } catch (e) { return null; }
  }

  function fmtTime(t, withSeconds) {
    // t is already shifted to IST; read it back as UTC fields.
    var d = new Date(t * 1000);
    var months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    function two(n) { return n < 10 ? "0" + n : "" + n; }
    var s = two(d.getUTCDate()) + " " + months[d.getUTCMonth()] + " " + d.getUTCFullYear();
    var hm = two(d.getUTCHours()) + ":" + two(d.getUTCMinutes());
    if (withSeconds) hm += ":" + two(d.getUTCSeconds());
    return (hm === "00:00" || hm === "05:30") && !withSeconds ? s : s + ", " + hm;
  }

  /* --- theme: the page's colours (app.css tokens, light or dark) ---------------------------- */
  // A token holds light-dark(...); a probe element's computed colour is the resolved one.
  function token(name, fallback) {
    var probe = document.createElement("span");
    probe.hidden = true;
    probe.style.color = "var(" + name + ", " + fallback + ")";
    document.body.appendChild(probe);
    var value = getComputedStyle(probe).color;
    probe.remove();
    return value || fallback;
  }

  function themeOptions() {
    var text = token("--muted", COLORS.text);
    var grid = token("--line", COLORS.grid);
    var border = token("--line-2", COLORS.border);
    return {
      layout: {
        background: { color: "transparent" }, textColor: text,
        panes: { separatorColor: border }
      },
      grid: { vertLines: { color: grid }, horzLines: { color: grid } },
      rightPriceScale: { borderColor: border },
      timeScale: { borderColor: border }
    };
  }

  function baseOptions(el, intervalS) {
    var theme = themeOptions();
    return {
      autoSize: true,
      layout: {
        background: theme.layout.background, textColor: theme.layout.textColor, fontSize: 11,
        fontFamily: getComputedStyle(document.body).fontFamily,
        panes: { separatorColor: theme.layout.panes.separatorColor, enableResize: false }
      },
      grid: theme.grid,
      rightPriceScale: { borderColor: theme.rightPriceScale.borderColor, autoScale: true },
      timeScale: {
        borderColor: theme.timeScale.borderColor, timeVisible: intervalS < 86400,
        secondsVisible: intervalS < 60, rightOffset: 3,
        minBarSpacing: 0.01 // fitContent must fit thousands of points into the width
      },
      crosshair: { mode: LC.CrosshairMode.Normal },
      localization: {
        locale: "en-IN",
        timeFormatter: function (t) { return fmtTime(t, intervalS < 60); }
      }
    };
  }

  function intervalOf(times) {
    var best = Infinity;
    for (var i = 1; i < Math.min(times.length, 50); i++) {
      var d = times[i] - times[i - 1];
      if (d > 0 && d < best) best = d;
    }
    return best === Infinity ? 86400 : best;
  }

  // Above the chart rather than over it: over the plot, a legend wrapped onto two lines on a
  // phone covered the price axis's labels.
  function legend(el) {
    var box = document.createElement("div");
    box.className = "chart-legend";
    el.parentNode.insertBefore(box, el);
    return box;
  }

  function moneySeries(chart, capital, pane, inr) {
    return chart.addSeries(LC.BaselineSeries, {
      baseValue: { type: "price", price: capital },
      topLineColor: COLORS.up, topFillColor1: "rgba(15,138,95,.22)", topFillColor2: "rgba(15,138,95,.02)",
      bottomLineColor: COLORS.down, bottomFillColor1: "rgba(211,63,63,.02)",
      bottomFillColor2: "rgba(211,63,63,.22)",
      lineWidth: 2, priceLineVisible: false,
      priceFormat: { type: "custom", formatter: inr, minMove: 0.01 }
    }, pane || 0);
  }

  /* --- backtest: equity over drawdown ------------------------------------------------------ */
  function backtestEquity(el, data) {
    var times = data.equity.map(function (p) { return p[0]; });
    var chart = LC.createChart(el, baseOptions(el, intervalOf(times)));
    var inr = moneyFormat(data.currency);
    var eq = moneySeries(chart, data.capital, 0, inr);
    eq.setData(data.equity.map(function (p) { return { time: ist(p[0]), value: p[1] }; }));
    eq.createPriceLine({
      price: data.capital, color: "#94a3b8", lineWidth: 1, lineStyle: LC.LineStyle.Dashed,
      axisLabelVisible: false, title: "start"
    });
    var dd = chart.addSeries(LC.BaselineSeries, {
      baseValue: { type: "price", price: 0 },
      topLineColor: "rgba(0,0,0,0)", topFillColor1: "rgba(0,0,0,0)", topFillColor2: "rgba(0,0,0,0)",
      bottomLineColor: "#e57373", bottomFillColor1: "rgba(229,115,115,.45)",
      bottomFillColor2: "rgba(229,115,115,.15)", lineWidth: 1, priceLineVisible: false,
      priceFormat: { type: "custom", formatter: function (v) { return v.toFixed(2) + "%"; }, minMove: 0.01 }
    }, 1);
    dd.setData(data.equity.map(function (p) { return { time: ist(p[0]), value: p[2] }; }));
    var panes = chart.panes();
    if (panes[1]) panes[1].setHeight(Math.round(el.clientHeight * 0.28));
    chart.timeScale().fitContent();

    var box = legend(el);
    function show(i) {
      var p = data.equity[i];
      if (!p) { box.textContent = ""; return; }
      var ret = (p[1] / data.capital - 1) * 100;
      box.innerHTML = "";
      box.append(
        span(fmtTime(ist(p[0]), false), "t"),
        span("Equity " + inr(p[1]), ""),
        span(pct(ret), ret >= 0 ? "up" : "down"),
        span("Drawdown " + pctDigits(p[2]) + "%", p[2] < 0 ? "down" : "")
      );
    }
    var index = {};
    data.equity.forEach(function (p, i) { index[ist(p[0])] = i; });
    chart.subscribeCrosshairMove(function (param) {
      show(param.time !== undefined && index[param.time] !== undefined
        ? index[param.time] : data.equity.length - 1);
    });
    show(data.equity.length - 1);
    return chart;
  }

  function span(text, cls) {
    var s = document.createElement("span");
    s.textContent = text;
    if (cls) s.className = cls;
    return s;
  }

  /* --- backtest: candles with trade markers ------------------------------------------------ */
  function backtestPrice(el, data) {
    var times = data.candles.map(function (c) { return c[0]; });
    var chart = LC.createChart(el, baseOptions(el, intervalOf(times)));
    var inr = moneyFormat(data.currency);
    var candles = chart.addSeries(LC.CandlestickSeries, {
      upColor: COLORS.up, downColor: COLORS.down, borderVisible: false,
      wickUpColor: COLORS.up, wickDownColor: COLORS.down, priceLineVisible: false,
      priceFormat: { type: "custom", formatter: inr, minMove: 0.01 }
    });
    candles.setData(data.candles.map(function (c) {
      return { time: ist(c[0]), open: c[1], high: c[2], low: c[3], close: c[4] };
    }));
    LC.createSeriesMarkers(candles, data.markers.map(function (m) {
      return {
        time: ist(m.time),
        position: m.buy ? "belowBar" : "aboveBar",
        color: m.buy ? COLORS.buy : COLORS.sell,
        shape: m.buy ? "arrowUp" : "arrowDown",
        text: m.text || "",
        size: m.size > 1 ? 1.4 : 1
      };
    }));
    chart.timeScale().fitContent();

    var box = legend(el);
    var byTime = {};
    data.candles.forEach(function (c) { byTime[ist(c[0])] = c; });
    function show(c) {
      box.innerHTML = "";
      if (!c) return;
      var cls = c[4] >= c[1] ? "up" : "down";
      box.append(
        span(fmtTime(ist(c[0]), false), "t"),
        span("O " + inr(c[1]), ""), span("H " + inr(c[2]), ""),
        span("L " + inr(c[3]), ""), span("C " + inr(c[4]), cls)
      );
    }
    chart.subscribeCrosshairMove(function (param) {
      show(param.time !== undefined ? byTime[param.time] : data.candles[data.candles.length - 1]);
    });
    show(data.candles[data.candles.length - 1]);
    return chart;
  }

  /* --- deployment: live equity ------------------------------------------------------------- */
  function liveEquity(el, data) {
    var points = data.points || [];
    var empty = el.parentNode.querySelector(".chart-empty");
    var chart = LC.createChart(el, baseOptions(el, points.length > 1 ? intervalOf(
      points.map(function (p) { return p[0]; })) : 5));
    var inr = moneyFormat(data.currency);
    var series = moneySeries(chart, data.capital, 0, inr);
    series.setData(points.map(function (p) { return { time: ist(p[0]), value: p[1] }; }));
    series.createPriceLine({
      price: data.capital, color: "#94a3b8", lineWidth: 1, lineStyle: LC.LineStyle.Dashed,
      axisLabelVisible: false, title: "capital"
    });
    chart.timeScale().fitContent();
    var last = points.length ? points[points.length - 1][0] : null;
    var box = legend(el);
    function showLast(v, t) {
      box.innerHTML = "";
      if (v === undefined) return;
      var ret = (v / data.capital - 1) * 100;
      box.append(span(fmtTime(ist(t), true), "t"), span("Equity " + inr(v), ""),
                 span(pct(ret), ret >= 0 ? "up" : "down"));
    }
    if (last !== null) showLast(points[points.length - 1][1], last);
    if (empty) empty.hidden = points.length > 0;
    if (!data.live || !data.url) return chart;

    // New points refit both axes (the whole run in view, the price range rescaled to it) until
    // the user pans or zooms; a double-click on the chart goes back to following the run.
    var follow = true;
    function refit() {
      if (!follow) return;
      chart.priceScale("right").applyOptions({ autoScale: true });
      chart.timeScale().fitContent();
    }
    function unfollow() { follow = false; }
    el.addEventListener("wheel", unfollow, { passive: true });
    el.addEventListener("touchmove", unfollow, { passive: true });
    el.addEventListener("pointermove", function (e) { if (e.buttons) unfollow(); });
    el.addEventListener("dblclick", function () { follow = true; refit(); });

    var busy = false;
    // Under live push (live-push.js) a pushed equity event fetches at once and the timer idles.
    function tick(pushed) {
      var push = document.documentElement.getAttribute("data-live-updates") === "push";
      if (busy || (document.hidden && !pushed) || (push && !pushed)) return;
      if (!document.body.contains(el)) { window.clearInterval(timer); return; }
      busy = true;
      var url = data.url + (last !== null ? "?since=" + last : "");
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) {
          if (!body) return;
          var added = 0;
          (body.points || []).forEach(function (p) {
            if (last === null || p[0] > last) {
              series.update({ time: ist(p[0]), value: p[1] });
              last = p[0];
              showLast(p[1], p[0]);
              added++;
            }
          });
          if (added) refit();
          if (empty && last !== null) empty.hidden = true;
          if (!body.live) window.clearInterval(timer); // one final fetch after the run ends
        })
        .catch(function () { /* a missed poll is retried on the next tick */ })
        .then(function () { busy = false; });
    }
    var timer = window.setInterval(tick, POLL_MS);
    document.addEventListener("algosaas:live-event", function (e) {
      if (e.detail.kind === "equity" || e.detail.type === "resync") tick(true);
    });
    return chart;
  }

  /* --- walk-forward: the stitched out-of-sample equity ------------------------------------ */
  function wfEquity(el, data) {
    var points = data.equity || [];
    var chart = LC.createChart(el, baseOptions(el, intervalOf(points.map(function (p) { return p[0]; }))));
    var inr = moneyFormat(data.currency);
    var series = moneySeries(chart, data.capital, 0, inr);
    // each window's test may repeat the previous window's last bar time: keep strictly rising
    var last = null;
    series.setData(points.filter(function (p) {
      var keep = last === null || p[0] > last;
      if (keep) last = p[0];
      return keep;
    }).map(function (p) { return { time: ist(p[0]), value: p[1] }; }));
    series.createPriceLine({
      price: data.capital, color: "#94a3b8", lineWidth: 1, lineStyle: LC.LineStyle.Dashed,
      axisLabelVisible: false, title: "start"
    });
    chart.timeScale().fitContent();
    var box = legend(el);
    var end = points[points.length - 1];
    if (end) {
      var ret = (end[1] / data.capital - 1) * 100;
      box.append(span(fmtTime(ist(end[0]), false), "t"), span("Equity " + inr(end[1]), ""),
                 span(pct(ret), ret >= 0 ? "up" : "down"));
    }
    return chart;
  }

  /* --- basket: each member's equity as return on its cap ---------------------------------- */
  var PALETTE = ["#2f5bea", "#0f8a5f", "#d97706", "#c62828", "#7c3aed", "#0891b2", "#be185d",
                 "#4d7c0f", "#b45309", "#475569"];

  function basketEquity(el, data) {
    var members = data.members || [];
    var times = members.length ? members[0].points.map(function (p) { return p[0]; }) : [];
    var chart = LC.createChart(el, baseOptions(el, intervalOf(times)));
    var box = legend(el);
    members.forEach(function (m, i) {
      var color = PALETTE[i % PALETTE.length];
      var series = chart.addSeries(LC.LineSeries, {
        color: color, lineWidth: 1.5, priceLineVisible: false, lastValueVisible: false,
        priceFormat: { type: "custom", formatter: function (v) { return pct(v); }, minMove: 0.01 }
      });
      var last = null;
      series.setData(m.points.filter(function (p) {
        var keep = last === null || p[0] > last;
        if (keep) last = p[0];
        return keep;
      }).map(function (p) { return { time: ist(p[0]), value: (p[1] / m.cap - 1) * 100 }; }));
      var end = m.points[m.points.length - 1];
      var label = span(m.label + (end ? " " + pct((end[1] / m.cap - 1) * 100) : ""), "");
      label.style.color = color;
      box.append(label);
    });
    chart.timeScale().fitContent();
    return chart;
  }

  // Shared with live-chart.js (the live page's price chart), so both draw alike.
  window.AlgosaasCharts = {
    IST: IST, COLORS: COLORS, baseOptions: baseOptions, themeOptions: themeOptions,
    moneyFormat: moneyFormat, fmtTime: fmtTime, intervalOf: intervalOf, legend: legend,
    span: span, readData: readData
  };

  var KINDS = { "backtest-equity": backtestEquity, "backtest-price": backtestPrice,
                "live-equity": liveEquity, "wf-equity": wfEquity, "basket-equity": basketEquity };

  function setUp(root) {
    if (!LC) return;
    (root || document).querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.chartReady) return;
      var make = KINDS[el.dataset.chart];
      var data = readData(el);
      if (!make || !data) return;
      el.dataset.chartReady = "1";
      el.lwChart = make(el, data); // the chart's API, for the browser tests to inspect
    });
  }

  // theme.js announces a change of theme: re-colour every chart on the page.
  document.addEventListener("themechange", function () {
    var options = themeOptions();
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.lwChart) el.lwChart.applyOptions(options);
    });
  });

  document.addEventListener("DOMContentLoaded", function () { setUp(document); });
  document.addEventListener("htmx:load", function (e) {
    setUp(e.target && e.target.querySelectorAll ? e.target : document);
  });
})();
