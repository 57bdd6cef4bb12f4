// report.test.js — a report file from `ubpipe report`, opened from disk in a real browser with the
// network disabled (Debian's chromium via puppeteer-core).  Run by tests/e2e/test_report.sh, which passes
//   UB_REPORT (the reference report), UB_XSS (a report whose data holds markup), UB_MONEY (a value card
//   in 'currency GBP' beside narrative currencies rendered in C), UB_OUT (screenshots).
// Prints "ok: ..." per check and exits 1 if any failed.
'use strict';
const fs = require('fs');
const path = require('path');
const launch = require('./launch');

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(k + ' is not set'); return v; };
const REPORT = env('UB_REPORT'), XSS = env('UB_XSS'), MONEY = env('UB_MONEY'), OUT = env('UB_OUT');
let failures = 0;
function check(cond, what) {
  console.log((cond ? 'ok: ' : 'FAIL: ') + what);
  if (!cond) failures++;
}

async function open(browser, file) {
  const page = await browser.newPage();
  const errors = [], requests = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.setRequestInterception(true);
  page.on('request', (r) => {
    if (r.url().startsWith('file:') || r.url().startsWith('data:') || r.url().startsWith('blob:')) r.continue();
    else { requests.push(r.url()); r.abort(); }
  });
  await page.emulateNetworkConditions({ offline: true, download: 0, upload: 0, latency: 0 });
  await page.setViewport({ width: 1280, height: 900 });
  await page.goto('file://' + path.resolve(file), { waitUntil: 'load' });
  return { page, errors, requests };
}

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const browser = await launch(OUT);
  try {
    // the reference report
    const { page, errors, requests } = await open(browser, REPORT);
    const charts = await page.evaluate(() => {
      const data = JSON.parse(document.getElementById('ubpipe-data').textContent);
      const blocks = JSON.parse(document.getElementById('ubpipe-blocks').textContent);
      return blocks.filter((b) => b.kind === 'chart').map((b) => {
        const ch = window.ubpipeCharts[b.id];
        const canvas = document.querySelector('#' + b.id + ' canvas');
        const q = data[b.data];
        const x = q.columns.indexOf(b.x);
        const ds0 = ch ? ch.data.datasets[0].data : [];
        let same;
        if (b.type === 'histogram') same = ds0.reduce((a, c) => a + c, 0) === q.rows.length;
        else if (b.type === 'scatter') {
          const y = q.columns.indexOf(b.y);
          same = ds0.length === q.rows.length && ds0.every((p, i) => p.x === q.rows[i][x] && p.y === q.rows[i][y]);
        } else {
          const y = q.columns.indexOf(Array.isArray(b.y) ? b.y[0] : b.y);
          same = JSON.stringify(ch.data.labels) === JSON.stringify(q.rows.map((r) => r[x])) &&
            JSON.stringify(ds0) === JSON.stringify(q.rows.map((r) => r[y]));
        }
        return { id: b.id, type: b.type, canvas: !!canvas && canvas.width > 0 && canvas.height > 0,
          chart: !!ch && ch.canvas === canvas, rows: q.rows.length, same };
      });
    });
    check(charts.length >= 3, 'the reference report has its charts (' + charts.length + ')');
    for (const c of charts) {
      check(c.canvas && c.chart, c.type + ' chart ' + c.id + ' drawn on its canvas');
      check(c.same && c.rows > 0, c.type + ' chart ' + c.id + ' holds the embedded data (' + c.rows + ' rows)');
    }
    const cards = await page.$$eval('.ub-value .ub-vnum', (e) => e.map((x) => x.textContent));
    check(cards.length === 3 && cards.every((t) => t && t !== '–'), 'three value cards show numbers: ' + cards.join(' | '));
    const deltas = await page.$$eval('.ub-value .ub-vdelta', (e) => e.map((x) => x.textContent));
    check(deltas.every((t) => /before|vs/.test(t)), 'each card compares with the previous ds: ' + deltas.join(' | '));

    await page.screenshot({ path: path.join(OUT, 'report.png'), fullPage: true });
    console.log('screenshot: ' + path.join(OUT, 'report.png'));

    // sorting: click the customerid heading; then again for descending
    const col = (i) => page.$$eval('.ub-table tbody tr', (trs, k) => trs.map((tr) => tr.cells[k].textContent), i);
    const before = await col(1);
    const ids = await page.$$eval('.ub-table thead th', (t) => t.map((x) => x.textContent));
    const ci = ids.indexOf('customerid');
    await page.click('.ub-table thead th:nth-child(' + (ci + 1) + ')');
    const after = (await col(ci)).map(Number);
    const sorted = after.slice().sort((a, b) => b - a);
    check(after.length === 20 && JSON.stringify(after) === JSON.stringify(sorted), 'a click on customerid sorts the table (descending first)');
    await page.click('.ub-table thead th:nth-child(' + (ci + 1) + ')');
    const asc = (await col(ci)).map(Number);
    check(JSON.stringify(asc) === JSON.stringify(sorted.slice().reverse()), 'a second click sorts ascending');
    check(before.length === 20, 'the table shows 20 rows');

    // CSV: what the download button builds equals the embedded rows
    const csv = await page.evaluate(() => {
      const b = JSON.parse(document.getElementById('ubpipe-blocks').textContent).find((x) => x.kind === 'table');
      const q = JSON.parse(document.getElementById('ubpipe-data').textContent)[b.data];
      const text = window.ubpipeCSV[b.id]();
      const lines = text.trim().split('\r\n');
      const rows = lines.slice(1).map((l) => l.split(','));
      const byId = (r) => r[q.columns.indexOf('customerid')];
      const want = q.rows.slice().sort((a, c) => Number(byId(a)) - Number(byId(c)));
      return { header: lines[0], cols: q.columns.join(','),
        same: rows.length === want.length && rows.every((r, i) => r.every((v, k) => v === (want[i][k] == null ? '' : String(want[i][k])))) };
    });
    check(csv.header === csv.cols, 'CSV header is the columns');
    check(csv.same, 'CSV rows equal the embedded rows (in the shown order)');
    // the button really downloads it
    const dl = path.join(OUT, 'downloads');
    fs.mkdirSync(dl, { recursive: true });
    const cdp = await page.target().createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: dl });
    await page.click('.ub-table .ub-csv');
    let file = null;
    for (let i = 0; i < 50 && !file; i++) {
      await new Promise((r) => setTimeout(r, 100));
      file = fs.readdirSync(dl).find((f) => f.endsWith('.csv'));
    }
    const expect = await page.evaluate(() => {
      const b = JSON.parse(document.getElementById('ubpipe-blocks').textContent).find((x) => x.kind === 'table');
      return window.ubpipeCSV[b.id]();
    });
    check(file && fs.readFileSync(path.join(dl, file), 'utf8') === expect, 'the Download CSV button saves the rows');

    check(errors.length === 0, 'no script errors: ' + errors.join('; '));
    check(requests.length === 0, 'no request left the file: ' + requests.join(', '));

    // hostile data
    const x = await open(browser, XSS);
    const pwned = await x.page.evaluate(() => typeof window.pwned);
    check(pwned === 'undefined', 'window.pwned stays undefined');
    const cells = await x.page.$$eval('.ub-table tbody td', (t) => t.map((c) => c.textContent));
    check(cells.includes('<img src=x onerror="window.pwned=1">'), 'the <img> value shows as text');
    check(cells.includes('</script><script>window.pwned=1</script>'), 'the </script> value shows as text');
    const imgs = await x.page.$$eval('img', (i) => i.length);
    check(imgs === 0, 'no <img> element was created');
    const xs = await x.page.evaluate(() => Object.values(window.ubpipeCharts).map((c) => c.config.type + ':' + c.data.labels.length));
    check(xs.length === 3 && xs.every((s) => /:3$/.test(s)), 'bar, pie and doughnut charts drawn: ' + xs.join(' '));
    check(x.errors.length === 0, 'no script errors on the hostile page: ' + x.errors.join('; '));
    await x.page.screenshot({ path: path.join(OUT, 'xss.png'), fullPage: true });

    // currencies: the script's card (Intl) and the narrative (written in C) say the same
    const m = await open(browser, MONEY);
    const card = await m.page.$eval('.ub-value .ub-vnum', (e) => e.textContent);
    check(card === '£1,234.50', 'a currency GBP value card reads £1,234.50: ' + card);
    const text = await m.page.$eval('main', (e) => e.textContent);
    check(text.includes('Spent €1,234.50, lost -¥7, in dollars $1,234.50'), 'narrative currencies: ' + text.trim().slice(0, 120));
    check(m.errors.length === 0, 'no script errors on the currency page: ' + m.errors.join('; '));
  } finally {
    await browser.close();
  }
  console.log(failures ? failures + ' failed' : 'all passed');
  process.exit(failures ? 1 : 0);
}
main().catch((e) => { console.log('FAIL: ' + (e && e.stack || e)); process.exit(1); });
