// serve_report.test.js — a live report of `ubpipe serve` in a real browser (Debian's chromium via puppeteer-core).
// Run by tests/e2e/test_serve_report.sh with the daemon up; it passes UB_BASE (http://127.0.0.1:PORT),
// UB_REPORT_PATH (/pipelines/P/reports/ID), UB_DS (a ds to pick in the form), UB_OUT (screenshots), UB_CHROMIUM.
// Checks: no console error and no CSP violation; every chart block has its canvas and a Chart.js object
// holding the embedded rows; the ds picker navigates to ?ds=UB_DS and redraws; a screenshot is saved.
// Prints "ok: ..." per check and exits 1 if any failed.
'use strict';
const fs = require('fs');
const path = require('path');
const launch = require('./launch');

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(k + ' is not set'); return v; };
const BASE = env('UB_BASE'), RPATH = env('UB_REPORT_PATH'), DS = env('UB_DS'), OUT = env('UB_OUT');
let failures = 0;
function check(cond, what) {
  console.log((cond ? 'ok: ' : 'FAIL: ') + what);
  if (!cond) failures++;
}

async function charts(page) {
  return page.evaluate(() => {
    const data = JSON.parse(document.getElementById('ubpipe-data').textContent);
    const blocks = JSON.parse(document.getElementById('ubpipe-blocks').textContent);
    return blocks.filter((b) => b.kind === 'chart').map((b) => {
      const ch = window.ubpipeCharts && window.ubpipeCharts[b.id];
      const canvas = document.querySelector('#' + b.id + ' canvas');
      const q = data[b.data];
      const n = ch ? ch.data.datasets[0].data.length : -1;
      return { id: b.id, type: b.type, rows: q.rows.length, points: n,
        drawn: !!canvas && canvas.width > 0 && canvas.height > 0 && !!ch && ch.canvas === canvas };
    });
  });
}

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const browser = await launch(OUT);
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 1000 });
    const errors = [];
    page.on('pageerror', (e) => errors.push('pageerror: ' + String(e)));
    page.on('console', (m) => { if (m.type() === 'error' || /Content Security Policy/i.test(m.text())) errors.push(m.text()); });
    // CSP violations are also reported as DOM events: collect them from the first script on
    await page.evaluateOnNewDocument(() => {
      window.__csp = [];
      document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
    });
    const resp = await page.goto(BASE + RPATH, { waitUntil: 'networkidle0' });
    check(resp.status() === 200, 'the live report is 200');
    check(/default-src 'self'/.test(resp.headers()['content-security-policy'] || ''), 'the page carries the strict CSP');
    let cs = await charts(page);
    check(cs.length >= 3, 'the report has its charts (' + cs.length + ')');
    for (const c of cs) {
      check(c.drawn, c.type + ' chart ' + c.id + ' drawn on its canvas');
      check(c.points > 0, c.type + ' chart ' + c.id + ' holds data (' + c.points + ' points, ' + c.rows + ' rows)');
    }
    await page.screenshot({ path: path.join(OUT, 'serve-report.png'), fullPage: true });

    // the ds picker: a GET form, the URL keeps the ds (a permalink)
    await page.select('#ubl-ds', DS);
    await Promise.all([page.waitForNavigation({ waitUntil: 'networkidle0' }), page.click('.ubl-pick button')]);
    check(new URL(page.url()).searchParams.get('ds') === DS, 'the picker leads to ?ds=' + DS + ' (' + page.url() + ')');
    const perma = await page.$eval('#ubl-permalink', (a) => a.getAttribute('href'));
    check(perma === RPATH + '?ds=' + DS, 'the permalink keeps the ds (' + perma + ')');
    check(/ds <b>/.test(await page.content()) && (await page.content()).includes('ds <b>' + DS + '</b>'),
      'the header names ds ' + DS);
    cs = await charts(page);
    check(cs.length >= 3 && cs.every((c) => c.drawn && c.points > 0), 'every chart drawn again for ' + DS);
    await page.screenshot({ path: path.join(OUT, 'serve-report-' + DS + '.png'), fullPage: false });

    const csp = await page.evaluate(() => window.__csp);
    check(csp.length === 0, 'no CSP violation (' + csp.join('; ') + ')');
    check(errors.length === 0, 'no console error (' + errors.join(' | ') + ')');
  } finally {
    await browser.close();
  }
  if (failures) process.exit(1);
}

main().catch((e) => { console.log('FAIL: ' + (e && e.stack || e)); process.exit(1); });
