// Browser end-to-end test of the compressor page (headless Debian Chromium + playwright-core).
//   node tests/browser/e2e.mjs [--workers N] [--preset B]
// Serves the page on 127.0.0.1, drops the tiny model through the file input, compresses it,
// captures the download, and checks with the native CLI that it validates and is
// byte-identical to `novaq local` with the same settings. Then bad files must show errors,
// a .novaq must be inspectable, and cancel must stop a run. Saves a screenshot of the finished
// page to tests/artifacts/. Env: NOVAQ_BIN (native CLI), NOVAQ_NATIVE_NOVAQ (a `novaq local`
// output made beforehand with the same preset, to skip re-running it), CHROMIUM.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const workers = Number(opt('--workers', '2'));
const preset = opt('--preset', '2');
const tiny = path.join(repo, 'tests/data/novaq-tiny-llama/model.safetensors');
const nativeBin = process.env.NOVAQ_BIN || [path.join(repo, 'build/cli/novaq'), path.join(repo, 'build/novaq')].find((p) => fs.existsSync(p));
const artifacts = path.join(repo, 'tests/artifacts');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'novaq-e2e-'));
fs.mkdirSync(artifacts, { recursive: true });

let passed = 0, failed = 0;
async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok - ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${name}\n  ${String(e && e.stack || e).split('\n').join('\n  ')}`);
  }
}
function assert(cond, msg) { if (!cond) throw new Error(msg); }

// Split a single-file safetensors model into two shards + model.safetensors.index.json.
function splitModel(file, dir) {
  fs.mkdirSync(dir, { recursive: true });
  const buf = fs.readFileSync(file);
  const hlen = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + hlen).toString());
  const meta = header.__metadata__;
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const halves = [names.slice(0, names.length >> 1), names.slice(names.length >> 1)];
  const weightMap = {}, paths = [];
  halves.forEach((list, i) => {
    const shard = `model-0000${i + 1}-of-00002.safetensors`;
    const h = {}, parts = [];
    let off = 0;
    if (meta) h.__metadata__ = meta;
    for (const n of list) {
      const [a, b] = header[n].data_offsets;
      h[n] = { ...header[n], data_offsets: [off, off + b - a] };
      parts.push(buf.subarray(8 + hlen + a, 8 + hlen + b));
      off += b - a;
      weightMap[n] = shard;
    }
    let hj = JSON.stringify(h);
    hj += ' '.repeat((8 - (hj.length % 8)) % 8);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(hj.length));
    fs.writeFileSync(path.join(dir, shard), Buffer.concat([len, Buffer.from(hj), ...parts]));
    paths.push(path.join(dir, shard));
  });
  const index = path.join(dir, 'model.safetensors.index.json');
  fs.writeFileSync(index, JSON.stringify({ metadata: { total_size: buf.length - 8 - hlen }, weight_map: weightMap }));
  return [...paths, index];
}

function startServer() {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [path.join(repo, 'scripts/serve-web.mjs'), '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    p.stdout.on('data', (d) => {
      const m = String(d).match(/http:\/\/127\.0\.0\.1:(\d+)\//);
      if (m) resolve({ proc: p, url: m[0] });
    });
    p.on('exit', (c) => reject(new Error(`server exited (${c})`)));
  });
}

const server = await startServer();
const ctx = await chromium.launchPersistentContext(path.join(scratch, 'profile'), {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, acceptDownloads: true,
  viewport: { width: 1200, height: 1000 },
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const page = ctx.pages()[0] || await ctx.newPage();
const consoleErrors = [];
page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
page.on('pageerror', (e) => consoleErrors.push(String(e)));
const dbg = (m) => { if (process.env.E2E_DEBUG) console.log('# debug', m); };
const waitState = (states, timeout = 60000) =>
  page.waitForFunction((s) => s.includes(document.body.dataset.state), states, { timeout, polling: 100 });
const pageState = () => page.evaluate(() => document.body.dataset.state);
const text = (sel) => page.locator(sel).innerText();
// Choose files; the state is first cleared so a wait cannot see the previous outcome.
const choose = async (files) => {
  await page.evaluate(() => { document.body.dataset.state = 'test-choosing'; });
  await page.setInputFiles('#file-input', files);
};

try {
  await page.goto(`${server.url}?workers=${workers}`);
  dbg('loaded');
  await waitState(['idle']);
  dbg('idle');
  const wasmOut = path.join(scratch, 'browser.novaq');

  await step(`drop the tiny model, compress with preset ${preset} and ${workers} workers, download`, async () => {
    await choose(tiny);
    dbg('chosen');
    await waitState(['model', 'error']);
    dbg('model');
    assert(await pageState() === 'model', `page shows an error: ${await text('#error')}`);
    const rows = await page.locator('#tensor-table tbody tr').count();
    assert(rows > 10, `tensor table has ${rows} rows`);
    const firstRow = await text('#tensor-table tbody tr >> nth=0');
    assert(/\[\d+(, \d+)*\]/.test(firstRow) && /(F32|F16|BF16)/.test(firstRow), `row shows shape and dtype: ${firstRow}`);
    await page.selectOption('#preset', preset);
    if (await page.locator('#fsa').isVisible()) await page.locator('#fsa').uncheck();
    dbg('start');
    await page.click('#start');
    await waitState(['running', 'error']);
    dbg('running');
    // Wait for the end, echoing the page's progress line now and then (CI logs).
    const tEnd = Date.now() + 15 * 60000;
    while (!['done', 'error'].includes(await pageState())) {
      assert(Date.now() < tEnd, 'compression did not finish in 15 minutes');
      console.log(`# ${await text('#progress-text')}`);
      await page.waitForTimeout(10000);
    }
    assert(await pageState() === 'done', `compression ended in error: ${await text('#error')}`);
    const summary = await text('#summary');
    assert(/passed/.test(summary), `summary says validation passed: ${summary}`);
    assert(await page.locator('#plot svg rect').count() > 5, 'quality plot has bars');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    await download.saveAs(wasmOut);
    assert(download.suggestedFilename() === 'model.novaq', `download name ${download.suggestedFilename()}`);
    await page.screenshot({ path: path.join(artifacts, 'browser-result.png'), fullPage: true });
    const r = await page.evaluate(() => window.novaqResult);
    console.log(`# browser: ${r.weights} weights in ${r.encodeSeconds.toFixed(2)} s encoding = ${Math.round(r.weightsPerSecond)} weights/s, ` +
      `${r.workers} workers (${r.kernel}), peak worker wasm memory ${(r.peakWorkerMem / 2 ** 20).toFixed(0)} MiB, output ${r.bytes} bytes`);
    fs.writeFileSync(path.join(artifacts, 'browser-result.json'), JSON.stringify(r, null, 1));
  });

  await step('the download validates with the native CLI and is byte-identical to `novaq local`', async () => {
    assert(nativeBin, 'native CLI not found (set NOVAQ_BIN)');
    assert(fs.existsSync(wasmOut), 'no download captured');
    execFileSync(nativeBin, ['validate', wasmOut], { stdio: ['ignore', 'ignore', 'inherit'] });
    let ref = process.env.NOVAQ_NATIVE_NOVAQ;
    if (!ref) {
      ref = path.join(scratch, 'native.novaq');
      execFileSync(nativeBin, ['local', tiny, '-o', ref, '--bits', preset], { stdio: ['ignore', 'ignore', 'inherit'] });
    }
    const a = fs.readFileSync(wasmOut), b = fs.readFileSync(ref);
    assert(a.length === b.length && a.equals(b), `browser output (${a.length} bytes) differs from native (${b.length} bytes)`);
  });

  await step('a .novaq dropped on the page is validated and inspected', async () => {
    await choose(wasmOut);
    await waitState(['inspected', 'error']);
    assert(await pageState() === 'inspected', `inspection failed: ${await text('#error')}`);
    assert(/passed/.test(await text('#summary')), 'validation passed');
    assert((await page.locator('#manifest').textContent()).includes('"tensors"'), 'manifest shown');
  });

  await step('config.json dropped next to the model is left out', async () => {
    await choose([tiny, path.join(path.dirname(tiny), 'config.json')]);
    await waitState(['model', 'error']);
    assert(await pageState() === 'model', `page shows an error: ${await text('#error')}`);
    assert(/model\.safetensors/.test(await text('#model-title')), 'title names the weights file');
  });

  await step('shards + index with advanced settings: byte-identical to `novaq local <dir>` with the same flags', async () => {
    assert(nativeBin, 'native CLI not found (set NOVAQ_BIN)');
    const dir = path.join(scratch, 'sharded');
    const files = splitModel(tiny, dir);
    await choose(files);
    await waitState(['model', 'error']);
    assert(await pageState() === 'model', `page shows an error: ${await text('#error')}`);
    assert(/2 shards/.test(await text('#model-title')), 'title names the shards');
    await page.selectOption('#preset', '2');
    await page.locator('#advanced summary').click();
    await page.fill('#adv-iters', '2');
    await page.fill('#adv-seed', '7');
    await page.fill('#adv-K', '256,16');
    await page.locator('#adv-K').dispatchEvent('change');
    // The page asks its worker for the effective settings, so the text changes a moment later.
    const custom = await page.waitForFunction(() => /"preset":\s*"custom"/.test(document.getElementById('effective').textContent),
      null, { timeout: 20000, polling: 100 }).then(() => true, () => false);
    assert(custom, `effective settings say custom (page shows: ${await page.locator('#effective').textContent()})`);
    await page.click('#start');
    await waitState(['done', 'error'], 15 * 60000);
    assert(await pageState() === 'done', `compression ended in error: ${await text('#error')}`);
    const out = path.join(scratch, 'sharded-browser.novaq'), ref = path.join(scratch, 'sharded-native.novaq');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    await download.saveAs(out);
    execFileSync(nativeBin, ['local', dir, '-o', ref, '--bits', '2', '--kmeans-iters', '2', '--seed', '7',
      '--codebook-size', '256', '--residual-codebook-size', '16'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const a = fs.readFileSync(out), b = fs.readFileSync(ref);
    assert(a.equals(b), `sharded: browser ${a.length} bytes vs native ${b.length} bytes differ`);
  });

  // Bad files are written to disk and chosen by path (large buffers sent through the
  // DevTools protocol are slow and have made the browser drop the connection).
  const badDir = path.join(scratch, 'bad');
  fs.mkdirSync(badDir, { recursive: true });
  const bad = (name, buffer) => { const p = path.join(badDir, name); fs.writeFileSync(p, buffer); return p; };
  const good = fs.readFileSync(tiny);
  const cases = [
    ['a file that is not safetensors', bad('notes.safetensors', Buffer.from('hello, this is plain text and not a model at all')), /notes\.safetensors/],
    ['a truncated safetensors file', bad('cut.safetensors', good.subarray(0, good.length - 4096)), /cut\.safetensors/],
    ['an unsupported dtype', bad('odd.safetensors', (() => {
      const h = JSON.stringify({ w: { dtype: 'F7', shape: [2, 2], data_offsets: [0, 8] } });
      const b = Buffer.alloc(8 + h.length + 8); b.writeBigUInt64LE(BigInt(h.length)); b.write(h, 8); return b;
    })()), /F7/],
    ['a .novaq that fails validation', bad('damaged.novaq', (() => {
      const b = Buffer.from(fs.readFileSync(wasmOut)); b[Math.floor(b.length / 2)] ^= 0x10; return b;
    })()), /damaged\.novaq failed validation/],
    ['several shards without their index', [bad('a.safetensors', good), bad('b.safetensors', good)], /index/],
  ];
  for (const [what, files, re] of cases) {
    await step(`${what} shows a clear error`, async () => {
      await choose(files);
      await waitState(['error', 'model', 'inspected']);
      assert(await pageState() === 'error', `state is ${await pageState()}`);
      const msg = await text('#error');
      assert(re.test(msg), `error message "${msg}" does not match ${re}`);
    });
  }
  await page.screenshot({ path: path.join(artifacts, 'browser-error.png') });

  await step('cancel stops a running compression', async () => {
    await choose(tiny);
    await waitState(['model']);
    await page.click('#start');
    await waitState(['running']);
    await page.waitForTimeout(500);
    await page.click('#cancel');
    await waitState(['model', 'error']);
    assert(/cancelled/i.test(await text('#error')), 'page says it was cancelled');
    assert(await page.locator('#start').isVisible(), 'can start again');
  });

  await step('no uncaught errors in the page', async () => {
    const real = consoleErrors.filter((m) => !/cancelled/.test(m));
    assert(real.length === 0, real.join('\n'));
  });
} finally {
  await ctx.close();
  server.proc.kill();
  fs.rmSync(scratch, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
