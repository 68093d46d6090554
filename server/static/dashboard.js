// Draws the trend chart of a summary page with uPlot (vendored in /static/vendor/uplot):
// dates on the x axis in the page's language, the legend and both y axes labelled.
(function () {
  'use strict';
  var holder = document.getElementById('trend-chart');
  if (!holder || typeof uPlot === 'undefined') { return; }
  var data = JSON.parse(document.getElementById('trend-data').textContent);
  var labels = JSON.parse(holder.getAttribute('data-labels'));
  var DAY = 86400;
  var xs = data.dates.map(function (d) { return Date.parse(d + 'T00:00:00Z') / 1000; });
  var labelOf = {};
  xs.forEach(function (x, i) { labelOf[x] = data.labels[i]; });
  var dateLabel = function (ts) { return labelOf[ts] || ''; };
  var pct = function (u, v) { return v == null ? '—' : v.toFixed(1) + '%'; };
  var pctTicks = function (u, vals) { return vals.map(function (v) { return v + '%'; }); };
  function width() { return Math.max(320, Math.min(1200, (holder.clientWidth || 900))); }
  var chart = new uPlot({
    width: width(), height: 300,
    tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), 'UTC'); },
    scales: { x: { time: true }, '%': { range: [0, 100] } },
    series: [
      { label: labels.date, value: function (u, ts) { return ts == null ? '—' : dateLabel(ts); } },
      { label: labels.completeness, stroke: '#1a5fa8', width: 2, value: pct, scale: '%' },
      { label: labels.fever, stroke: '#b3261e', width: 2, value: pct, scale: 'rate' },
      { label: labels.absence, stroke: '#e08a00', width: 2, value: pct, scale: 'rate' }
    ],
    axes: [
      { label: labels.date, space: 60, incrs: [DAY, 2 * DAY, 7 * DAY, 14 * DAY, 28 * DAY, 91 * DAY],
        values: function (u, splits) { return splits.map(function (ts) { return dateLabel(ts) || ''; }); } },
      { scale: '%', label: labels.percent_axis, values: pctTicks },
      { scale: 'rate', side: 1, label: labels.rate_axis, grid: { show: false }, values: pctTicks }
    ]
  }, [xs, data.completeness, data.fever, data.absence], holder);
  window.addEventListener('resize', function () { chart.setSize({ width: width(), height: 300 }); });
  window.trendChart = chart;  // for the browser tests
  holder.setAttribute('data-rendered', 'true');
}());
