/* ubpipe report page: draws every block from the embedded data (no network). */
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('ubpipe-data').textContent);
  var blocks = JSON.parse(document.getElementById('ubpipe-blocks').textContent);
  var palette = ['#2563eb', '#f97316', '#16a34a', '#db2777', '#9333ea', '#0891b2', '#ca8a04', '#64748b'];
  window.ubpipeCharts = {};
  window.ubpipeCSV = {};

  function list(v) { return v == null ? [] : Array.isArray(v) ? v : [v]; }
  function col(q, name) { return q.columns.indexOf(name); }
  function fmt(v, f) {
    if (v == null) return '–';
    if (typeof v !== 'number') return String(v);
    if (f === 'currency' || (f && f.indexOf('currency ') === 0)) {
      return v.toLocaleString('en-US', { style: 'currency', currency: f.length > 9 ? f.slice(9) : 'USD' });
    }
    if (f === 'percent') return (v * 100).toLocaleString('en-US', { maximumFractionDigits: 1 }) + '%';
    if (f === 'integer') return Math.round(v).toLocaleString('en-US');
    return v.toLocaleString('en-US', { maximumFractionDigits: 2 });
  }
  function csvCell(v) {
    if (v == null) return '';
    var s = String(v);
    return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function valueCard(b, root) {
    var q = data[b.data], c = col(q, b.column), v = q.rows.length ? q.rows[0][c] : null;
    root.querySelector('.ub-vnum').textContent = fmt(v, b.format);
    var d = root.querySelector('.ub-vdelta');
    if (!b.compare) { d.textContent = b.label || ''; return; }
    var p = data[b.compare], pc = col(p, b.column), pv = p.rows.length ? p.rows[0][pc] : null;
    if (typeof v !== 'number' || typeof pv !== 'number') { d.textContent = 'no earlier value to compare'; return; }
    var diff = v - pv, up = diff >= 0;
    var s = el('span', diff === 0 ? '' : up ? 'up' : 'down',
      (diff === 0 ? '±' : up ? '▲ +' : '▼ ') + (b.format === 'percent' ? (diff * 100).toFixed(1) + ' pt' : fmt(diff, b.format)) +
      (pv !== 0 && b.format !== 'percent' ? ' (' + (up ? '+' : '') + (diff / Math.abs(pv) * 100).toFixed(1) + '%)' : ''));
    d.appendChild(s);
    d.appendChild(document.createTextNode(' ' + (b.label || 'vs ' + fmt(pv, b.format) + ' before')));
  }

  function table(b, root) {
    var q = data[b.data];
    var cols = b.columns ? list(b.columns) : q.columns.slice();
    var idx = cols.map(function (n) { return col(q, n); });
    var formats = b.format || {};
    var rows = q.rows.slice();
    var sortCol = -1, dir = 1;
    if (b.sort) {
      var sp = b.sort.split(' ');
      sortCol = cols.indexOf(sp[0]); dir = sp[1] === 'desc' ? -1 : 1;
    }
    var t = root.querySelector('table'), head = el('thead'), body = el('tbody'), tr = el('tr');
    var numeric = idx.map(function (i) { return q.rows.length > 0 && q.rows.every(function (r) { return r[i] == null || typeof r[i] === 'number'; }); });
    cols.forEach(function (n, k) {
      var th = el('th', numeric[k] ? 'num' : '', n);
      th.addEventListener('click', function () { dir = sortCol === k ? -dir : (numeric[k] ? -1 : 1); sortCol = k; draw(); });
      tr.appendChild(th);
    });
    head.appendChild(tr); t.appendChild(head); t.appendChild(body);
    function cmp(a, c) {
      var x = a[idx[sortCol]], y = c[idx[sortCol]];
      if (x == null) return 1; if (y == null) return -1;
      return (x < y ? -1 : x > y ? 1 : 0) * dir;
    }
    function shown() {
      var r = rows.slice();
      if (sortCol >= 0) r.sort(cmp);
      return b.limit ? r.slice(0, b.limit) : r;
    }
    function draw() {
      body.textContent = '';
      Array.prototype.forEach.call(head.rows[0].cells, function (th, k) {
        if (k === sortCol) th.setAttribute('aria-sort', dir > 0 ? 'ascending' : 'descending'); else th.removeAttribute('aria-sort');
      });
      var r = shown();
      r.forEach(function (row) {
        var tr2 = el('tr');
        idx.forEach(function (i, k) {
          var f = formats[cols[k]], v = row[i];
          tr2.appendChild(el('td', numeric[k] ? 'num' : '', !f && /id$/i.test(cols[k]) && v != null ? String(v) : fmt(v, f)));
        });
        body.appendChild(tr2);
      });
      root.querySelector('.ub-count').textContent = r.length + (r.length === 1 ? ' row' : ' rows');
    }
    function csv() {
      return [cols.map(csvCell).join(',')].concat(shown().map(function (row) {
        return idx.map(function (i) { return csvCell(row[i]); }).join(',');
      })).join('\r\n') + '\r\n';
    }
    window.ubpipeCSV[b.id] = csv;
    root.querySelector('.ub-csv').addEventListener('click', function () {
      var a = document.createElement('a');
      a.download = b.data + '.csv';
      a.href = URL.createObjectURL(new Blob([csv()], { type: 'text/csv' }));
      document.body.appendChild(a); a.click(); a.remove();
    });
    draw();
  }

  function axisFmt(f) { return function (v) { return fmt(v, f); }; }

  function chart(b, root) {
    var q = data[b.data], xi = col(q, b.x), type = b.type;
    var ys = list(b.y), y2 = list(b.y2), cfgType = type, labels, sets = [];
    if (type === 'histogram') {
      var vals = q.rows.map(function (r) { return r[xi]; }).filter(function (v) { return typeof v === 'number'; });
      var lo = Math.min.apply(null, vals), hi = Math.max.apply(null, vals), n = b.bins || 20;
      var ints = vals.every(function (v) { return v === Math.floor(v); });
      if (ints && hi - lo + 1 <= n) n = Math.max(1, hi - lo + 1);
      var w = ints && hi - lo + 1 <= (b.bins || 20) ? 1 : (hi - lo) / n || 1;
      var counts = new Array(n).fill(0);
      vals.forEach(function (v) { counts[Math.min(n - 1, Math.floor((v - lo) / w))]++; });
      labels = counts.map(function (_, i) { return w === 1 && ints ? String(lo + i) : fmt(lo + i * w, b.format) + '–' + fmt(lo + (i + 1) * w, b.format); });
      sets.push({ label: 'count of ' + b.x, data: counts, backgroundColor: palette[0], barPercentage: 1, categoryPercentage: .95 });
      cfgType = 'bar';
    } else if (type === 'scatter') {
      ys.forEach(function (yn, k) {
        var yi = col(q, yn);
        sets.push({ label: yn, data: q.rows.map(function (r) { return { x: r[xi], y: r[yi] }; }), backgroundColor: palette[k % 8] + '99', borderColor: palette[k % 8], pointRadius: 3 });
      });
    } else if (b.series) {
      var si = col(q, b.series), yi1 = col(q, ys[0]), keys = [], by = {};
      labels = [];
      q.rows.forEach(function (r) {
        if (labels.indexOf(r[xi]) < 0) labels.push(r[xi]);
        if (!(r[si] in by)) { by[r[si]] = {}; keys.push(r[si]); }
        by[r[si]][r[xi]] = r[yi1];
      });
      keys.forEach(function (k, i) {
        sets.push({ label: String(k), data: labels.map(function (l) { return by[k][l] == null ? null : by[k][l]; }), backgroundColor: palette[i % 8], borderColor: palette[i % 8] });
      });
    } else {
      labels = q.rows.map(function (r) { return r[xi]; });
      ys.concat(y2).forEach(function (yn, k) {
        var yi = col(q, yn), c = palette[k % 8];
        var pie = type === 'pie' || type === 'doughnut';
        sets.push({ label: yn, data: q.rows.map(function (r) { return r[yi]; }), yAxisID: k >= ys.length ? 'y2' : 'y',
          backgroundColor: pie ? labels.map(function (_, i) { return palette[i % 8]; }) : (type === 'line' ? c + '22' : c),
          borderColor: pie ? '#fff' : c, tension: .25, pointRadius: labels.length > 60 ? 0 : 3, fill: false });
      });
    }
    var scales = {};
    if (type !== 'pie' && type !== 'doughnut') {
      scales.x = { title: { display: true, text: b.x }, grid: { display: false } };
      if (type === 'scatter') scales.x.ticks = { callback: axisFmt(b.format_x) };
      scales.y = { title: { display: type !== 'histogram', text: ys.join(', ') }, ticks: { callback: axisFmt(b.format) }, beginAtZero: type !== 'scatter' };
      if (type === 'histogram') scales.y = { title: { display: true, text: 'count' }, beginAtZero: true };
      if (y2.length) scales.y2 = { position: 'right', title: { display: true, text: y2.join(', ') }, grid: { drawOnChartArea: false }, beginAtZero: true };
    }
    var canvas = root.querySelector('canvas');
    var ch = new Chart(canvas, {
      type: cfgType,
      data: { labels: labels, datasets: sets },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        interaction: { mode: type === 'scatter' ? 'nearest' : 'index', intersect: false },
        plugins: {
          legend: { display: sets.length > 1 || type === 'pie' || type === 'doughnut', position: 'bottom' },
          tooltip: { callbacks: { label: function (c) {
            var v = c.raw;
            if (v && typeof v === 'object') return c.dataset.label + ': (' + fmt(v.x) + ', ' + fmt(v.y, b.format) + ')';
            return (c.dataset.label || '') + ': ' + fmt(v, type === 'histogram' ? 'integer' : b.format);
          } } }
        },
        scales: scales
      }
    });
    window.ubpipeCharts[b.id] = ch;
  }

  blocks.forEach(function (b) {
    var root = document.getElementById(b.id);
    try {
      if (b.kind === 'value') valueCard(b, root);
      else if (b.kind === 'table') table(b, root);
      else chart(b, root);
    } catch (e) {
      root.appendChild(el('p', 'ub-err', 'could not draw this ' + b.kind + ': ' + e.message));
    }
  });
})();
