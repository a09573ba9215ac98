/* Renders every Plotly figure on the page: <div data-figure="ID"> next to a json_script with that ID.
   A figure whose layout.meta.links lists one URL per row opens that URL when a row is clicked. */
(function () {
  "use strict";
  function render() {
    if (!window.Plotly) { return; }
    document.querySelectorAll("[data-figure]").forEach(function (el) {
      var source = document.getElementById(el.dataset.figure);
      if (!source) { return; }
      var figure = JSON.parse(source.textContent);
      window.Plotly.newPlot(el, figure.data, figure.layout, { responsive: true, displaylogo: false, displayModeBar: false });
      var links = figure.layout && figure.layout.meta && figure.layout.meta.links;
      if (links) {
        el.on("plotly_click", function (event) {
          var point = event.points && event.points[0];
          var rows = figure.data[0].y || [];
          var index = point ? rows.indexOf(point.y) : -1;
          if (index >= 0 && links[index]) { window.location.href = links[index]; }
        });
      }
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", render); } else { render(); }
})();
