// serve.test.js — the pages of `ubpipe serve` in a real browser (Debian's chromium via puppeteer-core).
// Run by tests/e2e/test_browser_serve.sh, which starts the stack and the server and passes:
//   UB_BASE (http://127.0.0.1:PORT), UB_TOKEN, UB_PIPELINE, UB_FAILED_DS (a ds whose run failed),
//   UB_TRIGGER_DS (a ds with no run yet), UB_OUT (where screenshots go), UB_CHROMIUM, and
//   UB_WAREHOUSE_PSQL (a psql command line on the warehouse: the test holds a SHARE lock on the metric table
//   (generate_user_behavior_metric's writes wait on it) while the triggered run is under way, so the page is
//   sure to see it running, then lets it go).
// Prints "ok: ..." per check and exits 1 if any failed.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const launch = require('./launch');

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(k + ' is not set'); return v; };
const BASE = env('UB_BASE'), TOKEN = env('UB_TOKEN'), PIPE = env('UB_PIPELINE');
const FAILED = env('UB_FAILED_DS'), TRIGGER = env('UB_TRIGGER_DS'), OUT = env('UB_OUT');
const enc = encodeURIComponent;
let failures = 0, passes = 0;
function check(cond, what) {
  if (cond) { passes++; console.log('ok: ' + what); }
  else { failures++; console.log('FAIL: ' + what); }
}

// BEGIN; LOCK the metric table IN SHARE MODE; ... COMMIT on release(): generate_user_behavior_metric's
// writes wait meanwhile, while the setup files' CREATE INDEX IF NOT EXISTS (a SHARE lock too) goes on.
function holdMetricTable() {
  return new Promise((resolve, reject) => {
    const p = spawn('sh', ['-c', env('UB_WAREHOUSE_PSQL')], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    const done = new Promise((r) => p.on('close', r));
    p.stdout.on('data', (d) => {
      out += d;
      if (out.includes('locked')) resolve({ release: async () => { p.stdin.end('COMMIT;\n'); await done; } });
    });
    p.on('error', reject);
    p.on('close', (code) => reject(new Error('psql ended (' + code + ') before the lock was held: ' + out)));
    p.stdin.write("BEGIN;\nLOCK TABLE public.user_behavior_metric IN SHARE MODE;\nSELECT 'locked';\n");
  });
}

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const browser = await launch(OUT);
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 900 });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    const api = (p) => page.evaluate(async (u) => {
      const r = await fetch(u, { credentials: 'same-origin' });
      return { status: r.status, json: await r.json() };
    }, BASE + '/api/v1/pipelines/' + enc(PIPE) + p);

    // log in with the token
    await page.goto(BASE + '/', { waitUntil: 'load' });
    check(await page.$('form[action="/login"] input[name="token"]') !== null, 'the login form shows without a session');
    check(await page.$('button[data-post]') === null, 'no action buttons without a session');
    await page.type('form[action="/login"] input[name="token"]', TOKEN);
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('form[action="/login"] button')]);
    const csrf = await page.$eval('meta[name="ubpipe-csrf"]', (m) => m.content).catch(() => null);
    check(!!csrf, 'after login the page carries the CSRF token');
    const rowName = await page.$eval('#pipelines tbody tr[data-pipeline] a', (a) => a.textContent).catch(() => null);
    check(rowName === PIPE, 'the pipelines list names ' + PIPE);

    // the grid equals the API, cell by cell
    await page.goto(BASE + '/pipelines/' + enc(PIPE), { waitUntil: 'load' });
    const runs = (await api('/runs?limit=30&offset=0')).json.runs || [];
    const cells = await page.$$eval('#grid a.cell', (as) => as.map((a) => [a.dataset.ds, a.dataset.task, a.dataset.state]));
    const shown = new Map(cells.map(([d, t, s]) => [d + '/' + t, s]));
    let compared = 0, differ = [];
    for (const r of runs)
      for (const t of r.tasks || []) {
        compared++;
        if (shown.get(r.ds + '/' + t.id) !== t.state) differ.push(r.ds + '/' + t.id + ': page ' + shown.get(r.ds + '/' + t.id) + ', api ' + t.state);
      }
    check(compared > 0 && differ.length === 0, 'the grid\'s data-state equals the API for ' + compared + ' task runs' +
      (differ.length ? ' (' + differ.slice(0, 3).join('; ') + ')' : ''));
    const ntasks = runs.length ? runs[0].tasks.length : 0;
    check(cells.length === runs.length * (await page.$$eval('#grid tbody tr', (r) => r.length)),
      'one cell per ds and task (' + cells.length + ')');
    await page.screenshot({ path: path.join(OUT, 'grid.png'), fullPage: true });

    // the backfill preview counts the ds it will start
    await page.$eval('#backfill input[name="from"]', (i) => { i.value = '2021-02-27'; });
    await page.$eval('#backfill input[name="to"]', (i) => { i.value = '2021-03-02'; i.dispatchEvent(new Event('input', { bubbles: true })); });
    const prev = await page.$$eval('#preview li', (l) => l.map((x) => x.textContent));
    check(JSON.stringify(prev) === JSON.stringify(['2021-02-27', '2021-02-28', '2021-03-01', '2021-03-02']),
      'the backfill preview lists the ds it will start: ' + prev.join(' '));

    // clicking a failed cell opens its log
    const failedCell = await page.$('#grid a.cell[data-ds="' + FAILED + '"][data-state="failed"]');
    check(failedCell !== null, 'the failed run ' + FAILED + ' has a failed cell');
    if (failedCell) {
      await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), failedCell.click()]);
      const url = page.url();
      const log = await page.$eval('#log', (p) => p.textContent).catch(() => '');
      check(/\/tasks\//.test(url), 'the failed cell links to its task page (' + url + ')');
      check(/movie_review|no such file|cannot open/i.test(log), 'the task page shows the failing try\'s log (' +
        JSON.stringify(log.slice(-120)) + ')');
      await page.screenshot({ path: path.join(OUT, 'log.png'), fullPage: true });
    }

    // trigger a ds: its cells go from queued/running to success without a reload
    await page.goto(BASE + '/pipelines/' + enc(PIPE), { waitUntil: 'load' });
    await page.evaluate(() => { window.__noReload = 1; });
    await page.evaluate((ds) => {
      window.__seen = new Set();
      setInterval(() => {
        for (const c of document.querySelectorAll('#grid a.cell[data-ds="' + ds + '"]')) window.__seen.add(c.dataset.state);
      }, 50);
    }, TRIGGER);
    const lock = await holdMetricTable();
    await page.$eval('#trigger input[name="ds"]', (i, ds) => { i.value = ds; }, TRIGGER);
    await page.click('#trigger button[type="submit"]');
    let running = false, done = false;
    /* the task whose writes wait on the SHARE lock (the partition loads' setup, CREATE INDEX IF NOT
     * EXISTS, takes SHARE too and goes on: movie_review_stage_to_stage_tbl is over in milliseconds) */
    const METRIC = 'generate_user_behavior_metric';
    try {
      await page.waitForFunction((ds, t) => document.querySelector('#grid a.cell[data-ds="' + ds + '"][data-task="' + t + '"][data-state="running"]') !== null,
        { timeout: 120000, polling: 100 }, TRIGGER, METRIC);
      running = true;
    } catch (e) { running = false; }
    // meanwhile, its task page follows the log live and sees the try end
    const tab = await browser.newPage();
    tab.on('pageerror', (e) => errors.push(String(e)));
    let following = false, ended = false, tail = '';
    try {
      await tab.goto(BASE + '/pipelines/' + enc(PIPE) + '/runs/' + enc(TRIGGER) + '/tasks/' + METRIC, { waitUntil: 'load' });
      following = await tab.$eval('#log', (l) => l.dataset.follow === '1' && l.classList.contains('following'));
      await new Promise((r) => setTimeout(r, 300));
    } catch (e) { following = false; }
    await lock.release();
    try {
      await tab.waitForFunction(() => document.getElementById('log').dataset.follow === '0', { timeout: 120000, polling: 100 });
      tail = await tab.$eval('#log', (l) => l.textContent);
      ended = /: success\s*$/.test(tail);
    } catch (e) { ended = false; }
    check(following, 'the running task\'s page follows its log');
    check(ended, 'the followed log got the try\'s last line without reload (' + JSON.stringify(tail.slice(-60)) + ')');
    const taskState = await tab.waitForFunction(() => document.getElementById('taskstate').dataset.state === 'success',
      { timeout: 60000, polling: 100 }).then(() => 'success',
      () => tab.$eval('#taskstate', (b) => b.dataset.state).catch(() => null));
    await tab.screenshot({ path: path.join(OUT, 'log-followed.png'), fullPage: true });
    await tab.close();
    try {
      await page.waitForFunction((ds, n) => {
        const c = document.querySelectorAll('#grid a.cell[data-ds="' + ds + '"]');
        return c.length === n && Array.from(c).every((x) => x.dataset.state === 'success');
      }, { timeout: 120000, polling: 100 }, TRIGGER, ntasks);
      done = true;
    } catch (e) { done = false; }
    await page.screenshot({ path: path.join(OUT, 'grid-after-trigger.png'), fullPage: true });
    check(running, 'the triggered ds shows a running cell while its run is under way');
    check(taskState === 'success', 'the followed task page says success at the end (' + taskState + ')');
    const seen = await page.evaluate(() => Array.from(window.__seen || []));
    const same = await page.evaluate(() => window.__noReload === 1).catch(() => false);
    check(done, 'the triggered ds ' + TRIGGER + ' turns to success in the grid');
    check(same, 'without a reload');
    check(seen.includes('running') || seen.includes('queued'), 'its cells were queued/running first (seen: ' + seen.join(',') + ')');
    const after = (await api('/runs/' + enc(TRIGGER))).json;
    check(after.state === 'success', 'the API agrees the run of ' + TRIGGER + ' succeeded (' + after.state + ')');

    // the run page: one DAG node per task, Gantt bars, durations
    await page.goto(BASE + '/pipelines/' + enc(PIPE) + '/runs/' + enc(TRIGGER), { waitUntil: 'load' });
    const nodes = await page.$$eval('#dag svg g.node', (g) => g.map((x) => [x.dataset.task, x.dataset.state]));
    const apiTasks = (after.tasks || []).map((t) => t.id).sort();
    check(nodes.length === apiTasks.length && JSON.stringify(nodes.map((n) => n[0]).sort()) === JSON.stringify(apiTasks),
      'the DAG SVG has one node per task (' + nodes.length + ')');
    check(nodes.every((n) => n[1] === 'success'), 'every DAG node says success');
    const bars = await page.$$eval('#gantt rect.bar', (r) => r.length);
    const tries = (after.tasks || []).reduce((a, t) => a + (t.tries || []).length, 0);
    check(bars === tries && bars > 0, 'the Gantt has one bar per try (' + bars + ')');
    const dag = await page.$('#dag');
    if (dag) await dag.screenshot({ path: path.join(OUT, 'dag.png') });
    const gantt = await page.$('#gantt');
    if (gantt) await gantt.screenshot({ path: path.join(OUT, 'gantt.png') });
    await page.screenshot({ path: path.join(OUT, 'run.png'), fullPage: true });
    // a DAG node links to its task
    const link = await page.$eval('#dag svg g.node a', (a) => a.getAttribute('href') || a.getAttribute('xlink:href')).catch(() => null);
    check(link && link.indexOf('/tasks/') > 0, 'DAG nodes link to their task (' + link + ')');

    // clear + downstream on the failed task: the run goes again (with the demo's review file) and succeeds
    await page.goto(BASE + '/pipelines/' + enc(PIPE) + '/runs/' + enc(FAILED) + '/tasks/movie_review_to_raw_data_lake', { waitUntil: 'load' });
    const clear = await page.$('button[data-post$="/clear"][data-body*="true"]');
    check(clear !== null, 'the failed task has a clear + downstream button');
    let cleared = false;
    if (clear) {
      await clear.click();
      try {
        await page.waitForFunction(() => document.getElementById('taskstate').dataset.state === 'success', { timeout: 120000, polling: 100 });
        cleared = true;
      } catch (e) { cleared = false; }
    }
    let rerun = {};
    for (let i = 0; i < 600; i++) {                   /* the downstream tasks run after it */
      rerun = (await api('/runs/' + enc(FAILED))).json;
      if (rerun.state === 'success' || rerun.state === 'failed') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    check(cleared && rerun.state === 'success', 'after clear + downstream the task page turns to success and the API says the run of ' +
      FAILED + ' is ' + rerun.state);

    // pause and unpause from the grid
    await page.goto(BASE + '/pipelines/' + enc(PIPE), { waitUntil: 'load' });
    const pausedOf = async () => ((await page.evaluate(async (u) => (await fetch(u)).json(), BASE + '/api/v1/pipelines'))
      .find((p) => p.pipeline === PIPE) || {}).paused;
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('button[data-post$="/pause"]')]);
    check(await pausedOf() === true && await page.$('button[data-post$="/unpause"]') !== null, 'pause: the API says paused, the page offers unpause');
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('button[data-post$="/unpause"]')]);
    check(await pausedOf() === false && await page.$('button[data-post$="/pause"]') !== null, 'unpause: the API says not paused');

    check(errors.length === 0, 'no script errors or CSP violations' + (errors.length ? ': ' + errors.slice(0, 3).join(' | ') : ''));
  } finally {
    await browser.close();
  }
}

main().then(() => {
  console.log('serve.test.js: ' + passes + ' passed, ' + failures + ' failed');
  process.exit(failures ? 1 : 0);
}, (e) => { console.log('FAIL: ' + (e && e.stack || e)); process.exit(1); });
