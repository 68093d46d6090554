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
  // Early warnings (a county page: data-warnings is the API's URL): marks, one per day, sized
  // by how many schools were in early warning; filled in when the API answers.
  var warningsUrl = holder.getAttribute('data-warnings');
  var series = [
    { label: labels.date, value: function (u, ts) { return ts == null ? '—' : dateLabel(ts); } },
    { label: labels.completeness, stroke: '#1a5fa8', width: 2, value: pct, scale: '%' },
    { label: labels.fever, stroke: '#b3261e', width: 2, value: pct, scale: 'rate' },
    { label: labels.absence, stroke: '#e08a00', width: 2, value: pct, scale: 'rate' }
  ];
  var columns = [xs, data.completeness, data.fever, data.absence];
  if (warningsUrl) {
    series.push({ label: labels.early_warning, stroke: '#6a1b9a', fill: '#6a1b9a', scale: 'n',
      paths: function () { return null; }, points: { show: true, size: 12, fill: '#6a1b9a' },
      value: function (u, v) { return v == null ? '—' : String(v); } });
    columns.push(xs.map(function () { return null; }));
  }
  var chart = new uPlot({
    width: width(), height: 300,
    tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), 'UTC'); },
    scales: { x: { time: true }, '%': { range: [0, 100] },
      n: { range: function (u, min, max) { return [0, Math.max(1, max || 0) * 1.25]; } } },
    series: series,
    axes: [
      { label: labels.date, space: 60, incrs: [DAY, 2 * DAY, 7 * DAY, 14 * DAY, 28 * DAY, 91 * DAY],
        values: function (u, splits) { return splits.map(function (ts) { return dateLabel(ts) || ''; }); } },
      { scale: '%', label: labels.percent_axis, values: pctTicks },
      { scale: 'rate', side: 1, label: labels.rate_axis, grid: { show: false }, values: pctTicks }
    ]
  }, columns, holder);
  window.addEventListener('resize', function () { chart.setSize({ width: width(), height: 300 }); });
  window.trendChart = chart;  // for the browser tests
  holder.setAttribute('data-rendered', 'true');
  if (warningsUrl && window.fetch && xs.length) {
    var range = '&from=' + data.dates[0] + '&to=' + data.dates[data.dates.length - 1];
    fetch(warningsUrl + range, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (!body) { return; }
        var perDay = {};
        body.warnings.forEach(function (w) {
          (perDay[w.date] = perDay[w.date] || {})[w.school_id || 'county'] = true;
        });
        columns[4] = data.dates.map(function (d) { return perDay[d] ? Object.keys(perDay[d]).length : null; });
        chart.setData(columns);
        holder.setAttribute('data-warning-dates', Object.keys(perDay).sort().join(' '));
      });
  }
}());
