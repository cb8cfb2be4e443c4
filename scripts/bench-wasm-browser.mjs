// bench-wasm-browser.mjs - compression throughput of the page in headless Chromium.
//   node scripts/bench-wasm-browser.mjs [model.safetensors] [preset] [workers list, e.g. 1,2]
// For each worker count (SIMD build) and once with the scalar build and 1 worker, drives the
// page like a person (file input, Compress) and prints what the page measured: weights/s over
// the encoding phase, total seconds, peak wasm memory of a worker.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { chromium } from 'playwright-core';

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const model = process.argv[2] || path.join(repo, 'tests/data/novaq-tiny-llama/model.safetensors');
const preset = process.argv[3] || '2';
const counts = (process.argv[4] || '1,2').split(',').map(Number);

const server = await new Promise((resolve, reject) => {
  const p = spawn(process.execPath, [path.join(repo, 'scripts/serve-web.mjs'), '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  p.stdout.on('data', (d) => { const m = String(d).match(/http:\/\/127\.0\.0\.1:\d+\//); if (m) resolve({ proc: p, url: m[0] }); });
  p.on('exit', (c) => reject(new Error(`server exited (${c})`)));
});
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'novaq-bench-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const page = ctx.pages()[0] || await ctx.newPage();
const runs = [...counts.map((n) => [n, true]), [1, false]];
try {
  for (const [workers, simd] of runs) {
    await page.goto(`${server.url}?workers=${workers}${simd ? '' : '&simd=0'}`);
    await page.waitForFunction(() => document.body.dataset.state === 'idle');
    await page.setInputFiles('#file-input', model);
    await page.waitForFunction(() => ['model', 'error'].includes(document.body.dataset.state));
    await page.selectOption('#preset', preset);
    if (await page.locator('#fsa').isVisible()) await page.locator('#fsa').uncheck();
    await page.click('#start');
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state), null, { timeout: 60 * 60000, polling: 1000 });
    const r = await page.evaluate(() => window.novaqResult);
    if (!r) throw new Error(await page.locator('#error').innerText());
    console.log(`browser ${r.kernel.padEnd(13)} ${workers} worker(s), preset ${preset}: ${r.weights} weights, encoding ` +
      `${r.encodeSeconds.toFixed(2)} s = ${Math.round(r.weightsPerSecond)} weights/s; total ${r.seconds.toFixed(2)} s; ` +
      `peak wasm memory of a worker ${(r.peakWorkerMem / 2 ** 20).toFixed(0)} MiB; output ${r.bytes} bytes, valid ${r.valid}`);
  }
} finally {
  await ctx.close();
  server.proc.kill();
  fs.rmSync(profile, { recursive: true, force: true });
}
