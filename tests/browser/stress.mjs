// stress.mjs - the page compresses a multi-GiB file in headless Chromium (1 worker) without
// running out of memory, and the downloaded .novaq is saved for comparison.
//   node tests/browser/stress.mjs <big.safetensors> <out.novaq>
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { chromium } from 'playwright-core';

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const [input, output] = process.argv.slice(2);
const server = await new Promise((resolve, reject) => {
  const p = spawn(process.execPath, [path.join(repo, 'scripts/serve-web.mjs'), '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  p.stdout.on('data', (d) => { const m = String(d).match(/http:\/\/127\.0\.0\.1:\d+\//); if (m) resolve({ proc: p, url: m[0] }); });
  p.on('exit', (c) => reject(new Error(`server exited (${c})`)));
});
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'novaq-stress-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, acceptDownloads: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
let rc = 1;
try {
  const page = ctx.pages()[0] || await ctx.newPage();
  await page.goto(`${server.url}?workers=1`);
  await page.waitForFunction(() => document.body.dataset.state === 'idle');
  await page.setInputFiles('#file-input', input);
  await page.waitForFunction(() => ['model', 'error'].includes(document.body.dataset.state), null, { timeout: 120000 });
  if (await page.locator('#fsa').isVisible()) await page.locator('#fsa').uncheck();
  const t0 = Date.now();
  await page.click('#start');
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state), null, { timeout: 60 * 60000, polling: 1000 });
  const r = await page.evaluate(() => window.novaqResult);
  if (!r) throw new Error(await page.locator('#error').innerText());
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  await download.saveAs(output);
  console.log(`stress (browser): ${r.sourceBytes} bytes in ${((Date.now() - t0) / 1000).toFixed(1)} s -> ${r.bytes} bytes, ` +
    `valid ${r.valid}; peak wasm memory of a worker ${(r.peakWorkerMem / 2 ** 20).toFixed(0)} MiB`);
  rc = r.valid && r.peakWorkerMem < 2 ** 30 ? 0 : 1;
} finally {
  await ctx.close();
  server.proc.kill();
  fs.rmSync(profile, { recursive: true, force: true });
}
process.exit(rc);
