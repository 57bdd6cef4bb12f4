/* ubpipe serve — the pages' one script (served from the binary at /assets/ubpipe.js).
 * Actions are POSTs to the JSON API with the session's CSRF token; live updates
 * refetch the same API JSON the page was built from and change data-state in
 * place when the event stream (or, while something runs, a slow poll) says so. */
'use strict';
(function () {
  const body = document.body;
  const kind = body.dataset.page;
  const pipeline = body.dataset.pipeline;
  const ds = body.dataset.ds;
  const task = body.dataset.task;
  const meta = document.querySelector('meta[name="ubpipe-csrf"]');
  const csrf = meta ? meta.content : null;
  const LIVE = new Set(['queued', 'running', 'up_for_retry', 'waiting']);
  const enc = encodeURIComponent;

  function api(path) {
    return '/api/v1/pipelines/' + enc(pipeline) + path;
  }

  function flash(text, bad) {
    const f = document.getElementById('flash');
    if (!f) return;
    f.textContent = text;
    f.classList.toggle('bad', !!bad);
    f.hidden = false;
  }

  async function post(url, payload) {
    let r, reply = {};
    try {
      r = await fetch(url, {
        method: 'POST', credentials: 'same-origin', referrerPolicy: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-Ubpipe-Csrf': csrf || '' },
        body: JSON.stringify(payload || {})
      });
      try { reply = await r.json(); } catch (e) { reply = {}; }
    } catch (e) {
      flash('request failed: ' + e.message, true);
      return;
    }
    if (!r.ok) {
      flash((reply && reply.error) || ('HTTP ' + r.status), true);
      return;
    }
    flash(url.replace(/^\/api\/v1\/pipelines\//, '') + ': ' + (r.status === 202 ? 'accepted' : 'done'));
    if (/\/(pause|unpause)$/.test(url)) {
      setTimeout(function () { location.reload(); }, 300);
      return;
    }
    watchUntil = Date.now() + 60000;     /* the run may take a moment to appear */
    schedule(500);
  }

  /* buttons: data-post URL, data-body JSON */
  document.addEventListener('click', function (e) {
    const b = e.target.closest('button[data-post]');
    if (!b) return;
    e.preventDefault();
    if (b.dataset.confirm && !window.confirm(b.dataset.confirm)) return;
    let payload = {};
    try { payload = JSON.parse(b.dataset.body || '{}'); } catch (x) { payload = {}; }
    post(b.dataset.post, payload);
  });

  /* backfill: the ds it will start, oldest first, as the server counts them (UTC days) */
  function days(from, to) {
    const a = Date.parse(from + 'T00:00:00Z'), z = Date.parse(to + 'T00:00:00Z');
    const out = [];
    if (isNaN(a) || isNaN(z) || z < a) return out;
    for (let t = a; t <= z && out.length <= 3660; t += 86400000)
      out.push(new Date(t).toISOString().slice(0, 10));
    return out;
  }

  const trig = document.getElementById('trigger');
  if (trig) trig.addEventListener('submit', function (e) {
    e.preventDefault();
    post(trig.dataset.post, { ds: trig.elements.ds.value });
  });

  const bf = document.getElementById('backfill');
  if (bf) {
    const list = document.getElementById('preview');
    const count = document.getElementById('preview-count');
    const preview = function () {
      const d = days(bf.elements.from.value, bf.elements.to.value);
      list.replaceChildren();
      const shown = d.length > 12 ? d.slice(0, 6).concat(['…'], d.slice(-5)) : d;
      for (const x of shown) {
        const li = document.createElement('li');
        li.textContent = x;
        li.dataset.ds = x;
        list.appendChild(li);
      }
      count.textContent = bf.elements.from.value && bf.elements.to.value
        ? (d.length ? d.length + ' ds will start:' : 'the range is empty') : '';
    };
    bf.addEventListener('input', preview);
    bf.addEventListener('submit', function (e) {
      e.preventDefault();
      post(bf.dataset.post, { from: bf.elements.from.value, to: bf.elements.to.value });
    });
  }

  function setState(el, st) {
    st = st || 'none';
    if (el.dataset.state === st) return;
    el.dataset.state = st;
    for (const c of Array.from(el.classList)) if (c.startsWith('st-')) el.classList.remove(c);
    el.classList.add('st-' + (/^[a-z_]+$/.test(st) ? st : 'none'));
  }

  function seconds(a, b) {
    const x = Date.parse(a), y = b ? Date.parse(b) : Date.now();
    return isNaN(x) || isNaN(y) ? null : (y - x) / 1000;
  }

  function dur(s) {
    if (s === null) return '—';
    if (s < 60) return s.toFixed(1) + ' s';
    if (s < 3600) return Math.floor(s / 60) + 'm ' + String(Math.floor(s % 60)).padStart(2, '0') + 's';
    return Math.floor(s / 3600) + 'h ' + String(Math.floor(s / 60) % 60).padStart(2, '0') + 'm';
  }

  async function getJSON(url) {
    const r = await fetch(url, { credentials: 'same-origin', cache: 'no-store' });
    if (!r.ok) throw new Error('HTTP ' + r.status);
    return r.json();
  }

  /* replaces the elements with these ids by the server's fresh rendering of this page */
  async function swap(ids) {
    const r = await fetch(location.href, { credentials: 'same-origin', cache: 'no-store' });
    if (!r.ok) return;
    const doc = new DOMParser().parseFromString(await r.text(), 'text/html');
    for (const id of ids) {
      const now = document.getElementById(id), fresh = doc.getElementById(id);
      if (now && fresh) now.replaceWith(document.importNode(fresh, true));
    }
  }

  function anyLive() {
    for (const el of document.querySelectorAll('[data-state]'))
      if (LIVE.has(el.dataset.state)) return true;
    return false;
  }

  async function refreshGrid() {
    const g = document.getElementById('grid');
    if (!g) return;
    const j = await getJSON(api('/runs?limit=' + g.dataset.limit + '&offset=' + g.dataset.offset));
    let missing = false;
    for (const run of j.runs || []) {
      const head = g.querySelector('a.run[data-ds="' + CSS.escape(run.ds) + '"]');
      if (!head) { missing = true; continue; }
      setState(head, run.state);
      head.title = run.ds + ': ' + run.state + ', ' + dur(seconds(run.start, run.end));
      for (const t of run.tasks || []) {
        const c = g.querySelector('a.cell[data-ds="' + CSS.escape(run.ds) + '"][data-task="' + CSS.escape(t.id) + '"]');
        if (!c) { missing = true; continue; }
        setState(c, t.state);
        c.title = t.id + ' · ' + run.ds + '\n' + t.state + ' · ' + t.tries + (t.tries === 1 ? ' try' : ' tries') +
          ' · ' + dur(seconds(t.start, t.end));
      }
    }
    if (missing) await swap(['grid', 'pager']);  /* a ds this page has no column for yet */
  }

  async function refreshRun() {
    const j = await getJSON(api('/runs/' + enc(ds)));
    const rs = document.getElementById('runstate');
    const was = rs ? rs.dataset.state : null;
    if (rs) { setState(rs, j.state); rs.textContent = j.state; }
    for (const t of j.tasks || []) {
      for (const el of document.querySelectorAll('#dag g.node[data-task="' + CSS.escape(t.id) + '"], #tasks .badge[data-task="' + CSS.escape(t.id) + '"]')) {
        setState(el, t.state);
        if (el.classList.contains('badge')) el.textContent = t.state || 'not run';
      }
    }
    await swap(['gantt', 'durations']);
    if (was !== j.state && !LIVE.has(j.state)) await swap(['tasks']);
  }

  async function refreshTask() {
    const j = await getJSON(api('/runs/' + enc(ds)));
    const t = (j.tasks || []).find(function (x) { return x.id === task; });
    const ts = document.getElementById('taskstate');
    if (t && ts) { setState(ts, t.state); ts.textContent = t.state; }
    const log = document.getElementById('log');
    if (t && log && t.tries) {
      const tr = t.tries.find(function (x) { return String(x.try) === log.dataset.try; });
      const s = document.getElementById('trystate');
      if (tr && s) { setState(s, tr.state); s.textContent = tr.state; }
      if (tr && !LIVE.has(tr.state)) await swap(['tries', 'tryinfo']);  /* end time, duration */
    }
  }

  let watchUntil = 0, timer = null, busy = false;
  function schedule(ms) {
    if (timer) clearTimeout(timer);
    timer = setTimeout(refresh, ms);
  }
  async function refresh() {
    timer = null;
    if (busy) { schedule(300); return; }
    busy = true;
    try {
      if (kind === 'grid') await refreshGrid();
      else if (kind === 'run') await refreshRun();
      else if (kind === 'task') await refreshTask();
    } catch (e) {
      /* the server may be restarting: try again on the next tick */
    }
    busy = false;
    if (anyLive() || Date.now() < watchUntil) schedule(2000);
  }

  /* the event stream: any change to a run of this pipeline refetches */
  if (pipeline && (kind === 'grid' || kind === 'run' || kind === 'task') && window.EventSource) {
    const ev = new EventSource('/api/v1/events');
    ev.addEventListener('run', function (e) {
      let d = {};
      try { d = JSON.parse(e.data); } catch (x) { return; }
      if (d.pipeline !== pipeline || (ds && d.ds !== ds)) return;
      schedule(150);
    });
  }
  if (anyLive()) schedule(2000);

  /* the log of a try that is still running follows the stream */
  const log = document.getElementById('log');
  if (log && log.dataset.follow === '1' && window.EventSource) {
    const url = api('/runs/' + enc(ds) + '/tasks/' + enc(task) + '/logs/stream?try=' + enc(log.dataset.try) +
      '&offset=' + enc(log.dataset.offset));
    const es = new EventSource(url);
    log.classList.add('following');
    const stick = function () { log.scrollTop = log.scrollHeight; };
    es.onmessage = function (e) {
      const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.appendChild(document.createTextNode(e.data + '\n'));
      if (atEnd) stick();
    };
    es.addEventListener('end', function () {
      es.close();
      log.classList.remove('following');
      log.dataset.follow = '0';
      schedule(100);
    });
    stick();
  }
})();
