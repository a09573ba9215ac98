/* Monitoring charts: Plotly figures built in Python, handed over with json_script. */
(function () {
  "use strict";
  if (typeof Plotly === "undefined") { return; }
  var config = { responsive: true, displaylogo: false };
  document.querySelectorAll("[data-figure]").forEach(function (el) {
    var source = document.getElementById(el.dataset.figure);
    if (!source) { return; }
    var figure = JSON.parse(source.textContent);
    if (el.clientWidth < 560) {
      // Phones: legends and colour bars go below the plot so the plot keeps the width.
      figure.layout.legend = { orientation: "h", y: -0.35 };
      figure.layout.margin = { l: 40, r: 10, t: 40, b: 90 };
      figure.data.forEach(function (trace) {
        if (trace.type === "heatmap") { trace.showscale = false; }  // the cells' numbers are in the table
      });
    }
    Plotly.newPlot(el, figure.data, figure.layout, config);
    if (el.dataset.drill) {
      var runs = JSON.parse(document.getElementById(el.dataset.drill).textContent);
      el.on("plotly_click", function (event) {
        var point = event.points && event.points[0];
        if (!point || !point.customdata) { return; }
        var feature = point.customdata[0], windowLabel = point.customdata[1];
        var runId = runs[windowLabel];
        if (runId) {
          // Assigning "#drill" to location.search would send it as part of the query ("%23drill").
          window.location.assign("?run=" + encodeURIComponent(runId) + "&feature=" + encodeURIComponent(feature) + "#drill");
        }
      });
    }
  });
})();
