// Draws the trend chart of a summary page with uPlot (vendored in /static/vendor/uplot).
(function () {
  'use strict';
  var holder = document.getElementById('trend-chart');
  if (!holder || typeof uPlot === 'undefined') { return; }
  var data = JSON.parse(document.getElementById('trend-data').textContent);
  var labels = JSON.parse(holder.getAttribute('data-labels'));
  var xs = data.dates.map(function (d) { return Date.parse(d + 'T00:00:00Z') / 1000; });
  var pct = function (u, v) { return v == null ? '—' : v.toFixed(1) + '%'; };
  var chart = new uPlot({
    width: Math.min(900, holder.clientWidth || 900), height: 280,
    tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), 'UTC'); },
    series: [
      {},
      { label: labels.completeness, stroke: '#1f6fb2', width: 2, value: pct, scale: '%' },
      { label: labels.fever, stroke: '#c0392b', width: 2, value: pct, scale: 'rate' },
      { label: labels.absence, stroke: '#e67e22', width: 2, value: pct, scale: 'rate' }
    ],
    scales: { '%': { range: [0, 100] } },
    axes: [{}, { scale: '%', values: function (u, vals) { return vals.map(function (v) { return v + '%'; }); } },
           { scale: 'rate', side: 1, grid: { show: false },
             values: function (u, vals) { return vals.map(function (v) { return v + '%'; }); } }]
  }, [xs, data.completeness, data.fever, data.absence], holder);
  holder.setAttribute('data-rendered', 'true');
}());
