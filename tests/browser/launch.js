// launch.js — the one way the browser tests start Chromium: Debian's binary (UB_CHROMIUM overrides),
// headless, with the flags this machine's closed network needs, and a fresh profile under outDir that is
// removed when the browser closes.
'use strict';
const fs = require('fs');
const path = require('path');
const puppeteer = require('puppeteer-core');

module.exports = async function launch(outDir) {
  const profile = fs.mkdtempSync(path.join(outDir, 'profile-'));
  const browser = await puppeteer.launch({
    executablePath: process.env.UB_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--user-data-dir=' + profile]
  });
  const close = browser.close.bind(browser);
  browser.close = async () => {           // once Chromium has exited, its profile goes
    await close();
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return browser;
};
