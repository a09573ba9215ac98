/* Monitoring charts: Plotly figures built in Python (monitoring/charts.py), handed over with json_script.

   Each figure names its part in layout.meta.role. A click on a heatmap cell outlines that cell and
   focuses the drift timeline on its feature (its line drawn heavy, the others faded) with the window
   marked by a band, then opens the drill-down of that feature and window (?run=&feature=); on the
   page that opens, the same focus is restored from those two parameters, so the charts always show
   what the drill-down is about. No toolbar: its ten buttons were ten tab stops per chart, and zoom (drag) and reset (double
   click) work without it. */
(function () {
  "use strict";
  if (typeof Plotly === "undefined") { return; }
  var config = { responsive: true, displaylogo: false, displayModeBar: false };
  var charts = {};  // role -> {el, figure}

  // Outline the heatmap's cell of the feature and window in focus.
  function markCell(feature, windowLabel) {
    var heatmap = charts["drift-heatmap"];
    if (!heatmap) { return; }
    var trace = heatmap.figure.data[0];
    var column = trace.x.indexOf(windowLabel), row = trace.y.indexOf(feature);
    if (column < 0 || row < 0) { return; }
    // A white line inside a black one: visible on the palest and on the darkest band.
    var outline = function (colour, width) {
      return { type: "rect", xref: "x", yref: "y", x0: column - 0.5, x1: column + 0.5, y0: row - 0.5, y1: row + 0.5,
        line: { color: colour, width: width }, fillcolor: "rgba(0,0,0,0)" };
    };
    Plotly.relayout(heatmap.el, { shapes: [outline("#111111", 5), outline("#ffffff", 2)] });
  }

  function focusTimeline(feature, windowLabel) {
    markCell(feature, windowLabel);
    var timeline = charts["drift-timeline"];
    if (!timeline) { return; }
    var el = timeline.el, layout = timeline.figure.layout;
    var names = el.data.map(function (trace) { return trace.name; });
    if (names.indexOf(feature) < 0) { return; }
    Plotly.restyle(el, {
      visible: names.map(function () { return true; }),
      opacity: names.map(function (name) { return name === feature ? 1 : 0.2; }),
      "line.width": names.map(function (name) { return name === feature ? 4 : 1.5; })
    });
    var shapes = (layout.shapes || []).slice();
    var annotations = (layout.annotations || []).slice();
    var windows = (layout.xaxis && layout.xaxis.categoryarray) || [];
    var index = windows.indexOf(windowLabel);
    if (index >= 0) {
      // Category axis: window i is centred on i, so the band spans i - 0.5 .. i + 0.5.
      shapes.push({ type: "rect", xref: "x", yref: "paper", x0: index - 0.5, x1: index + 0.5, y0: 0, y1: 1,
        fillcolor: "rgba(13, 71, 161, 0.10)", line: { color: "#0d47a1", width: 1 }, layer: "below" });
      annotations.push({ xref: "x", x: windowLabel, yref: "paper", y: 1, yanchor: "bottom", showarrow: false,
        text: feature + " · " + windowLabel, font: { size: 11, color: "#0d47a1" } });
    }
    Plotly.relayout(el, { shapes: shapes, annotations: annotations });
    el.dataset.focusFeature = feature;
    el.dataset.focusWindow = index >= 0 ? windowLabel : "";
    el.setAttribute("aria-label", "Timeline of each feature's score against its threshold, focused on " +
      feature + (index >= 0 ? " in the window of " + windowLabel : "") + "; same numbers as the heatmap table");
  }

  document.querySelectorAll("[data-figure]").forEach(function (el) {
    var source = document.getElementById(el.dataset.figure);
    if (!source) { return; }
    var figure = JSON.parse(source.textContent);
    if (el.clientWidth < 560) {
      // Phones: legends and colour bars go below the plot so the plot keeps the width.
      figure.layout.legend = { orientation: "h", y: -0.35 };
      figure.layout.margin = { l: 40, r: 10, t: 30, b: 90 };
      figure.data.forEach(function (trace) {
        if (trace.type === "heatmap") { trace.showscale = false; }  // the table has the numbers
        if (trace.meta === "cell-labels") { trace.visible = false; }  // too small to read at this width
      });
    }
    Plotly.newPlot(el, figure.data, figure.layout, config);
    var role = figure.layout && figure.layout.meta && figure.layout.meta.role;
    if (role) { charts[role] = { el: el, figure: figure }; }
    if (el.dataset.drill) {
      var runs = JSON.parse(document.getElementById(el.dataset.drill).textContent);
      el.on("plotly_click", function (event) {
        var point = event.points && event.points[0];
        if (!point || !point.customdata) { return; }  // a "no data" cell
        var feature = point.customdata[0], windowLabel = point.customdata[1];
        focusTimeline(feature, windowLabel);
        var runId = runs[windowLabel];
        if (runId) {
          // Assigning "#drill" to location.search would send it as part of the query ("%23drill").
          window.location.assign("?run=" + encodeURIComponent(runId) + "&feature=" + encodeURIComponent(feature) + "#drill");
        }
      });
    }
  });

  // The drill-down this page shows (?run=&feature=), focused on the timeline.
  var params = new URLSearchParams(window.location.search);
  var feature = params.get("feature");
  var heatmap = charts["drift-heatmap"];
  if (feature && heatmap) {
    var windowLabel = "";
    var drill = heatmap.el.dataset.drill && document.getElementById(heatmap.el.dataset.drill);
    if (drill && params.get("run")) {
      var runs = JSON.parse(drill.textContent);
      Object.keys(runs).forEach(function (label) { if (String(runs[label]) === params.get("run")) { windowLabel = label; } });
    }
    focusTimeline(feature, windowLabel);
  }
})();
