/* The strategy form's product follows its timeframe until the user picks one.
 *
 * Intraday timeframes (listed in the timeframe select's data-timeframe-intraday) default to MIS,
 * daily bars to CNC, as the server's default_product does. Once the user changes the product
 * select themselves, their choice stays whatever the timeframe becomes.
 */
(function () {
  "use strict";

  function setUp() {
    var product = document.querySelector("select[data-product-default]");
    var timeframe = document.querySelector("select[data-timeframe-intraday]");
    if (!product || !timeframe) return;
    var intraday = timeframe.dataset.timeframeIntraday.split(" ");
    var chosen = product.hasAttribute("data-product-chosen");
    product.addEventListener("change", function () { chosen = true; });
    timeframe.addEventListener("change", function () {
      if (chosen) return;
      product.value = intraday.indexOf(timeframe.value) >= 0 ? "MIS" : "CNC";
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUp);
  else setUp();
})();
