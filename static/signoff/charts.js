// Draws the results charts: each figure arrives as JSON in a <script type="application/json"> block, which the
// Content-Security-Policy lets through as data, so the pages (and the frozen report) need no inline script.
"use strict";

(() => {
  function draw() {
    if (typeof Plotly === "undefined") return; // the report opened from disk: the fallback text stays
    for (const chart of document.querySelectorAll(".plotly-chart[data-figure]")) {
      const source = document.getElementById(chart.dataset.figure);
      if (!source) continue;
      const figure = JSON.parse(source.textContent);
      chart.replaceChildren();
      Plotly.newPlot(chart, figure.data, figure.layout, figure.config);
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
