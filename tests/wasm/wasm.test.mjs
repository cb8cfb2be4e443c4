// Node tests of the wasm module and its JS API (node --test tests/wasm/).
// Needs build-wasm/dist (scripts/build-wasm.sh; NOVAQ_WASM_SCALAR=1 adds the scalar build)
// and, for the cross-target check, the native CLI (NOVAQ_BIN, default build/cli/novaq) or
// its output made beforehand (NOVAQ_NATIVE_NOVAQ).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createNovaqNode, fileReaderNode, bytesReader, encodedStats, NovaqError } from '../../wasm/novaq-node.mjs';

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const dist = process.env.NOVAQ_WASM_DIST || path.join(repo, 'build-wasm/dist');
const tiny = path.join(repo, 'tests/data/novaq-tiny-llama/model.safetensors');
const nativeBin = process.env.NOVAQ_BIN || [path.join(repo, 'build/cli/novaq'), path.join(repo, 'build/novaq')].find((p) => fs.existsSync(p)) || 'build/cli/novaq';
const preset = process.env.NOVAQ_WASM_TEST_PRESET || '2';
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'novaq-wasm-test-'));
const hasScalar = fs.existsSync(path.join(dist, 'novaq_module_scalar.wasm'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

// Deterministic pseudo-random floats (xorshift32), so failures reproduce.
function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296 * 2 - 1; };
}
function floats(n, r, scale = 1) { return Float32Array.from({ length: n }, () => r() * scale); }

const nq = await createNovaqNode({ dir: dist });

test('the SIMD build uses the wasm SIMD128 kernels', () => {
  assert.equal(nq.kernelVariant, 'wasm-simd128');
  assert.match(nq.version, /^\d+\.\d+\.\d+$/);
});

// The compressed parts are zstd's bytes, so byte-identity with the native CLI needs the same
// zstd upstream version on both sides (docs/FORMAT.md, "zstd"); the module names the Debian
// source version it was built from (scripts/fetch-deb-sources.sh).
test('the module records its zstd/cJSON versions, and zstd matches the native build', () => {
  const zstdOf = (s) => (s.match(/zstd (\d+\.\d+\.\d+)/) || [])[1];
  assert.match(nq.buildInfo, /^novaq \d+\.\d+\.\d+ \(format \d+\); zstd \d+\.\d+\.\d+, cJSON \d+\.\d+\.\d+; from Debian source libzstd \S+ \(\S+\), cjson \S+ \(\S+\)$/);
  const native = execFileSync(nativeBin, ['--version'], { encoding: 'utf8' }).trim();
  assert.ok(zstdOf(native), `native --version names no zstd version: ${native}`);
  assert.equal(zstdOf(nq.buildInfo), zstdOf(native),
    `wasm zstd ${zstdOf(nq.buildInfo)} vs native ${zstdOf(native)}: compressed parts would differ`);
});

test('SIMD dist2 is bit-identical to the scalar reference (d = 1..40, odd magnitudes)', () => {
  const k = nq.kernels(), r = rng(12345);
  for (let d = 1; d <= 40; d++) {
    for (let rep = 0; rep < 20; rep++) {
      const scale = [1e-3, 1, 1e3, 1e18][rep % 4];
      const x = floats(d, r, scale), c = floats(d, r, scale);
      const a = k.dist2(x, c), b = k.dist2(x, c, true);
      assert.ok(Object.is(a, b), `d=${d} rep=${rep}: simd ${a} vs scalar ${b}`);
    }
  }
});

test('SIMD nearest-centroid search matches the scalar reference, ties to the lowest index', () => {
  const kern = nq.kernels(), r = rng(777);
  for (const d of [1, 3, 4, 6, 8, 9, 16]) {
    for (const K of [2, 16, 256]) {
      for (let rep = 0; rep < 8; rep++) {
        const C = floats(K * d, r);
        if (rep % 2) C.copyWithin(d * (K - 1), 0, d); // duplicate centroid 0 at the end: a tie
        const x = rep % 4 === 3 ? C.slice(0, d) : floats(d, r);
        const a = kern.nearest(x, C), b = kern.nearest(x, C, true);
        assert.equal(a.index, b.index, `d=${d} K=${K} rep=${rep}`);
        assert.ok(Object.is(a.dist, b.dist), `d=${d} K=${K}: ${a.dist} vs ${b.dist}`);
        if (rep % 4 === 3) assert.equal(a.index, 0, 'exact hit on a duplicated centroid picks the lower index');
      }
    }
  }
});

test('SIMD dot products and matmul (forward pass) are bit-identical to the scalar reference', () => {
  const k = nq.kernels(), r = rng(4242);
  assert.equal(k.mmVariant(), 'wasm-simd128');
  for (const n of [1, 7, 8, 9, 31, 64, 257]) {
    const x = floats(n, r, 3), w = floats(n, r, 0.5);
    const a = k.dot(x, w), b = k.dot(x, w, true);
    assert.ok(Object.is(a, b), `dot n=${n}: ${a} vs ${b}`);
  }
  for (const [T, O, n] of [[1, 1, 5], [2, 4, 16], [3, 5, 33], [7, 9, 64]]) {
    const x = floats(T * n, r), w = floats(O * n, r);
    const a = k.matmul(x, w, T, O, n), b = k.matmul(x, w, T, O, n, true);
    for (let i = 0; i < T * O; i++) assert.ok(Object.is(a[i], b[i]), `matmul ${T}x${O}x${n} [${i}]: ${a[i]} vs ${b[i]}`);
  }
});

test('the scalar build (when built) reports scalar kernels and agrees with SIMD', { skip: !hasScalar && 'no scalar build' }, async () => {
  const sc = await createNovaqNode({ dir: dist, simd: false });
  assert.equal(sc.kernelVariant, 'scalar');
  const r = rng(99), x = floats(8, r), C = floats(256 * 8, r);
  assert.deepEqual(sc.kernels().nearest(x, C), nq.kernels().nearest(x, C));
});

test('settings JSON has the CLI flags\' meaning', () => {
  const get = (o) => { const s = nq.settings(o); try { return s.json(); } finally { s.free(); } };
  const p2 = get({ bits: '2' });
  assert.equal(p2.preset, '2');
  assert.deepEqual(get({ bits: '2', K: p2.K, d: p2.d }).preset, '2', 'restating the preset layout keeps its name');
  const c = get({ bits: '2', K: [256, 16], seed: '7', kmeans_iters: 3, rotate: 0, joint: 0, quantize_lm_head: 0 });
  assert.equal(c.preset, 'custom');
  assert.deepEqual(c.K, [256, 16]);
  assert.equal(c.seed, '7');
  assert.equal(c.kmeans_iters, 3);
  assert.equal(c.rotate, false);
  assert.equal(c.joint, false);
  assert.equal(c.quantize_lm_head, false);
  assert.equal(get({ bits: '2', K: [256] }).preset, 'custom', 'fewer stages is custom (like --stages 1)');
  assert.throws(() => nq.settings({ bits: '2', K: 'x' }), /K must be an array/);
  assert.throws(() => nq.settings({ bits: '2', d: 'eight' }), /d must be a number/);
});

test('tensor table of the tiny model', () => {
  const m = nq.openSafetensors([fileReaderNode(tiny)]);
  try {
    const ts = m.tensors();
    assert.ok(ts.length > 10);
    assert.equal(m.format(), 'safetensors');
    for (const t of ts) {
      assert.equal(typeof t.name, 'string');
      assert.ok(t.shape.length >= 1);
      assert.ok(t.nbytes > 0);
    }
    const s = nq.settings({ bits: '2' });
    assert.ok(ts.some((_, i) => m.shouldQuantize(i, s)), 'some tensor is vector-quantized');
    assert.ok(ts.some((t, i) => t.shape.length === 1 && !m.shouldQuantize(i, s)), '1-D tensors are kept');
    s.free();
  } finally { m.close(); }
});

// The page's pipeline (web/pool.mjs): every instance begins the same job; two encoder
// instances deal tensors, a third accepts them and writes the container through its job.
async function compressWithPool(file, settingsObj) {
  const [e0, e1, w] = [nq, await createNovaqNode({ dir: dist }), await createNovaqNode({ dir: dist })];
  const inst = [e0, e1, w];
  const models = inst.map((x) => x.openSafetensors([fileReaderNode(file)]));
  const sets = inst.map((x) => x.settings(settingsObj));
  const jobs = inst.map((x, i) => x.job(models[i], sets[i]));
  const src = fileReaderNode(file);
  const sources = [{ name: path.basename(file), size: src.size, sha256: w.sha256(src) }];
  const chunks = [];
  const wj = jobs[2];
  assert.equal(wj.holdsAll(), false, 'no calibration: tensors are written as they come');
  assert.equal(wj.ahead(2), jobs[0].ahead(2));
  wj.output((b) => chunks.push(b.slice()), sources);
  const n = models[0].tensors().length, stats = [];
  assert.equal(wj.ntensors, n);
  for (let t = 0; t < n; t++) {
    const bytes = jobs[t % 2].encode(t);
    stats.push(encodedStats(bytes));
    assert.equal(wj.accept(t, bytes), t + 1, 'in model order, each tensor is written when accepted');
  }
  wj.finish();
  jobs.forEach((j) => j.free());
  models.forEach((m) => m.close());
  sets.forEach((s) => s.free());
  return { bytes: Buffer.concat(chunks), stats, sources };
}

// The native CLI's output for the tiny model at `preset` (made once).
let nativeOut = null;
function nativeBytes() {
  if (nativeOut) return nativeOut;
  // NOVAQ_NATIVE_NOVAQ: `novaq local <tiny> --bits <preset>` made beforehand (scripts/test-wasm.sh).
  let out = process.env.NOVAQ_NATIVE_NOVAQ;
  if (!out) {
    out = path.join(scratch, 'native.novaq');
    execFileSync(nativeBin, ['local', tiny, '-o', out, '--bits', preset], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return (nativeOut = fs.readFileSync(out));
}

let poolOut = null;
test(`compress the tiny model (preset ${preset}) with two encoder instances; it validates`, async () => {
  const r = await compressWithPool(tiny, { bits: preset });
  poolOut = r.bytes;
  fs.writeFileSync(path.join(scratch, 'wasm.novaq'), poolOut);
  const v = nq.validate(bytesReader('wasm.novaq', poolOut));
  assert.equal(v.ok, true, JSON.stringify(v));
  const info = nq.inspect(bytesReader('wasm.novaq', poolOut));
  assert.equal(info.tensors.length, r.stats.length);
  assert.equal(info.manifest.source.files[0].sha256, r.sources[0].sha256);
  // Quantized tensors carry a finite, positive SQNR; weights are counted once each.
  const q = r.stats.filter((s) => s.sse > 0);
  assert.ok(q.length > 0);
  for (const s of q) assert.ok(10 * Math.log10(s.signal / s.sse) > 3, `${s.meta.name}: SQNR too low`);
  assert.ok(poolOut.length < fs.statSync(tiny).size / 4, 'at ~2 bits the file is far smaller than fp32');
});

test('one instance (nq_compress) gives the same bytes as the worker-pool pipeline', { skip: preset !== '2' && 'slow' }, () => {
  const m = nq.openSafetensors([fileReaderNode(tiny)]);
  const s = nq.settings({ bits: preset });
  const src = fileReaderNode(tiny);
  const chunks = [];
  let calls = 0;
  nq.compress(m, s, [{ name: 'model.safetensors', size: src.size, sha256: nq.sha256(src) }], (b) => chunks.push(b.slice()), () => { calls++; });
  m.close(); s.free();
  assert.ok(calls > 1, 'progress was reported');
  assert.equal(Buffer.compare(Buffer.concat(chunks), poolOut), 0);
});

test('byte-identical to the native CLI `novaq local` with the same settings', { skip: !fs.existsSync(nativeBin) && `no native CLI at ${nativeBin}` }, () => {
  assert.ok(poolOut, 'wasm output exists');
  const nat = nativeBytes();
  if (Buffer.compare(nat, poolOut) !== 0) {
    const a = nq.inspect(bytesReader('native', nat)).manifest, b = nq.inspect(bytesReader('wasm', poolOut)).manifest;
    const diff = a.tensors.map((t, i) => [t.name, JSON.stringify(t) === JSON.stringify(b.tensors[i])]).filter((x) => !x[1]);
    assert.fail(`native ${nat.length} bytes vs wasm ${poolOut.length}; tensors whose manifest entries differ: ${diff.map((x) => x[0]).join(', ') || 'none (other parts differ)'}`);
  }
  execFileSync(nativeBin, ['validate', path.join(scratch, 'wasm.novaq')], { stdio: 'ignore' });
});

test('bad inputs give errors that name the problem', () => {
  const good = fs.readFileSync(tiny);
  // Not a safetensors file at all.
  assert.throws(() => nq.openSafetensors([bytesReader('photo.png', Buffer.from('\x89PNG\r\n\x1a\n....not a model'))]),
    (e) => e instanceof NovaqError && e.status !== 'ok' && /photo\.png/.test(e.message));
  // Truncated: header intact, data cut short; or cut inside the header.
  for (const cut of [good.length - 1000, 100, 7]) {
    assert.throws(() => nq.openSafetensors([bytesReader('cut.safetensors', good.subarray(0, cut))]),
      (e) => e instanceof NovaqError && /cut\.safetensors/.test(e.message), `cut at ${cut}`);
  }
  // Unknown dtype in an otherwise fine header: refused, naming the tensor and the dtype.
  const st = (dtype, nbytes) => {
    const hdr = JSON.stringify({ w: { dtype, shape: [2, 2], data_offsets: [0, nbytes] } });
    const buf = Buffer.alloc(8 + hdr.length + nbytes);
    buf.writeBigUInt64LE(BigInt(hdr.length));
    buf.write(hdr, 8);
    return buf;
  };
  assert.throws(() => nq.openSafetensors([bytesReader('odd.safetensors', st('F7', 8))]),
    (e) => e instanceof NovaqError && /odd\.safetensors/.test(e.message) && /'w'/.test(e.message) && /F7/.test(e.message));
  // A known dtype that is not a float is listed and kept as it is, never vector-quantized.
  const m = nq.openSafetensors([bytesReader('int.safetensors', st('I32', 16))]);
  const s = nq.settings({ bits: '2' });
  assert.deepEqual(m.tensors().map((t) => [t.dtype, t.float]), [['I32', false]]);
  assert.equal(m.shouldQuantize(0, s), false);
  s.free(); m.close();
  // Invalid settings.
  assert.throws(() => nq.settings({ bits: '7' }), NovaqError);
  assert.throws(() => nq.settings({ bits: '2', K: [3] }), NovaqError);
});

test('a damaged .novaq fails validation naming the shard; malformed tensor bytes are refused', () => {
  assert.ok(poolOut, 'wasm output exists');
  const bad = Buffer.from(poolOut);
  bad[Math.floor(bad.length / 3)] ^= 0x40;
  const v = nq.validate(bytesReader('bad.novaq', bad));
  assert.equal(v.ok, false);
  assert.ok(v.problems.length > 0);
  assert.ok(v.problems.some((p) => /shard/i.test(p.where + p.what)), JSON.stringify(v.problems));
  const v2 = nq.validate(bytesReader('short.novaq', poolOut.subarray(0, poolOut.length - 10)));
  assert.equal(v2.ok, false);
  assert.throws(() => nq.inspect(bytesReader('junk.novaq', Buffer.from('not a novaq file at all, no'))), NovaqError);
  // The job refuses truncated serialized tensors instead of reading past them.
  const m = nq.openSafetensors([fileReaderNode(tiny)]);
  const s = nq.settings({ bits: '2' });
  const j = nq.job(m, s);
  const t1 = m.tensors().findIndex((t) => t.shape.length === 1);
  const bytes = j.encode(t1);
  j.output(() => {}, [{ name: 'x', size: 1, sha256: '0'.repeat(64) }]);
  assert.throws(() => j.accept(t1, bytes.subarray(0, bytes.length - 3)), /malformed/);
  j.free();
  assert.throws(() => j.encode(t1), /freed/);
  m.close(); s.free();
});

// The Job wrapper in its own right: encodes made by another instance, accepted in reverse
// model order (the job holds them until tensor 0 arrives, then writes all in order), give the
// native CLI's bytes; a job freed midway (container started, tensors held or written) leaves
// the instance usable for the next compression.
test('Job: encodes from a second instance accepted in reverse order give the native CLI\'s bytes; free midway', { skip: !fs.existsSync(nativeBin) && !process.env.NOVAQ_NATIVE_NOVAQ && `no native CLI at ${nativeBin}` }, async () => {
  const other = await createNovaqNode({ dir: dist });
  const mA = nq.openSafetensors([fileReaderNode(tiny)]), mB = other.openSafetensors([fileReaderNode(tiny)]);
  const sA = nq.settings({ bits: preset }), sB = other.settings({ bits: preset });
  const src = fileReaderNode(tiny);
  const sources = [{ name: 'model.safetensors', size: src.size, sha256: nq.sha256(src) }];
  try {
    // Freed midway, with one tensor written and three held (accepted out of order).
    const je = other.job(mB, sB);
    let jw = nq.job(mA, sA);
    const n = jw.ntensors;
    jw.output(() => {}, sources);
    assert.equal(jw.accept(0, je.encode(0)), 1);
    for (let t = n - 1; t > n - 4; t--) assert.equal(jw.accept(t, je.encode(t)), 1);
    jw.free();
    jw.free(); // idempotent
    assert.throws(() => jw.accept(1, new Uint8Array(48)), /freed/);
    // Then the whole compression in this instance: the second one encodes, this one accepts
    // from the last tensor down.
    jw = nq.job(mA, sA);
    const chunks = [];
    try {
      jw.output((b) => chunks.push(b.slice()), sources);
      for (let t = n - 1; t >= 0; t--) assert.equal(jw.accept(t, je.encode(t)), t === 0 ? n : 0, `after accepting tensor ${t}`);
      jw.finish();
    } finally { jw.free(); je.free(); }
    const out = Buffer.concat(chunks), nat = nativeBytes();
    assert.equal(Buffer.compare(out, nat), 0, `reverse-order job output (${out.length} bytes) differs from the native CLI's (${nat.length})`);
  } finally { mA.close(); mB.close(); sA.free(); sB.free(); src.close(); }
});
