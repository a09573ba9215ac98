// Render every Plotly figure that the page handed over with json_script.
(function () {
  for (const holder of document.querySelectorAll(".plotly-chart[data-figure]")) {
    const data = document.getElementById(holder.dataset.figure);
    if (!data) continue;
    const figure = JSON.parse(data.textContent);
    Plotly.newPlot(holder, figure.data, figure.layout, { responsive: true, displaylogo: false, displayModeBar: false });
  }
})();
