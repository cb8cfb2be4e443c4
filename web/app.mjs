// app.mjs - the page: pick or drop files, show the tensor table, compress in workers,
// show the result (summary, quality plot, manifest) and offer the .novaq for download.
// document.body.dataset.state tells where the page is (idle, model, running, done,
// inspected, error) for people and for the end-to-end test alike.
import { startWorker, compressModel } from './pool.mjs';
import { qualityPlot } from './plot.mjs';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const simd = params.get('simd') !== '0';
const state = { files: [], index: null, probe: null, tensors: null, abort: null, url: null };

// ------------------------------------------------------------------ helpers
function setState(s) { document.body.dataset.state = s; }
function show(id, on = true) { $(id).hidden = !on; }
function fmtBytes(n) {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 2 : 0)} ${u[i]}`;
}
function fmtNum(n) { return n >= 1e9 ? `${(n / 1e9).toFixed(2)} G` : n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : `${Math.round(n)}`; }
function fmtTime(s) { return !Number.isFinite(s) ? '—' : s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`; }
function showError(title, err) {
  const e = $('error');
  e.textContent = `${title}\n${err && err.message ? err.message : err}`;
  show('error');
  setState('error');
}
function clearError() { show('error', false); $('error').textContent = ''; }
function resetView() {
  ['model', 'progress', 'result'].forEach((id) => show(id, false));
  clearError();
  if (state.probe) state.probe.terminate();
  state.probe = null;
  if (state.url) URL.revokeObjectURL(state.url);
  state.url = null;
}
function sqnrDb(sse, signal) { return sse > 0 ? 10 * Math.log10(signal / sse) : Infinity; }

// ------------------------------------------------------------------ input
function classify(list) {
  const files = [...list];
  const novaq = files.filter((f) => /\.novaq$/i.test(f.name));
  // Only *.index.json is an index; other JSON next to a model (config.json, tokenizer.json)
  // is not needed here and is left out.
  const index = files.filter((f) => /\.index\.json$/i.test(f.name));
  const weights = files.filter((f) => !/\.(novaq|json)$/i.test(f.name));
  if (novaq.length) {
    if (files.length > 1) throw new Error('Drop one .novaq file at a time to inspect it.');
    return { kind: 'novaq', file: novaq[0] };
  }
  if (index.length > 1) throw new Error(`Several index files given (${index.map((f) => f.name).join(', ')}): give one model.safetensors.index.json.`);
  if (weights.length === 0) throw new Error(index.length ? `${index[0].name} alone is not a model: also give the .safetensors shards it lists.` : files.length ? `${files.map((f) => f.name).join(', ')}: no .safetensors or .novaq file among them.` : 'No file given.');
  if (weights.length > 1 && !index.length) throw new Error(`${weights.length} weight files given without model.safetensors.index.json: give the index too, or one .safetensors file.`);
  return { kind: 'safetensors', files: weights, index: index[0] || null };
}

async function onFiles(list) {
  resetView();
  let c;
  try { c = classify(list); } catch (e) { showError('These files cannot be used:', e); return; }
  if (c.kind === 'novaq') return inspectNovaq(c.file);
  state.files = c.files;
  state.index = c.index;
  setState('opening');
  try {
    state.probe = await startWorker('probe', simd);
    const opened = await state.probe.call('open', { files: c.files, index: c.index });
    state.tensors = opened.tensors;
    await renderModel();
    setState('model');
  } catch (e) {
    const what = c.files.map((f) => f.name).join(', ');
    showError(`${what}: not a readable safetensors model.`, e);
  }
}

// ------------------------------------------------------------------ settings
function settingsObject() {
  const s = { bits: $('preset').value };
  const num = (id) => ($(id).value.trim() === '' ? undefined : Number($(id).value));
  const set = (k, v) => { if (v !== undefined && !Number.isNaN(v)) s[k] = v; };
  set('d', num('adv-d'));
  const K = $('adv-K').value.trim();
  if (K) s.K = K.split(/[\s,]+/).filter(Boolean).map(Number);
  if ($('adv-seed').value.trim()) s.seed = $('adv-seed').value.trim();
  set('scope_rows', num('adv-scope'));
  set('outlier_fraction', num('adv-outlier'));
  set('kmeans_iters', num('adv-iters'));
  set('zstd_level', num('adv-zstd'));
  if (!$('adv-embed').checked) s.quantize_embeddings = 0;
  if (!$('adv-lmhead').checked) s.quantize_lm_head = 0;
  return s;
}

// Replies can overlap when fields change quickly; only the newest request's reply is shown.
let settingsSeq = 0;
async function refreshSettings() {
  if (!state.probe) return false;
  const seq = ++settingsSeq;
  try {
    const r = await state.probe.call('settings', { settings: settingsObject() });
    if (seq !== settingsSeq) return true;
    $('effective').textContent = JSON.stringify(r.effective, null, 1);
    const rows = $('tensor-table').tBodies[0].rows;
    r.quantize.forEach((q, i) => { rows[i].cells[5].textContent = q ? 'vector-quantized' : 'kept'; });
    clearError();
    $('start').disabled = false;
    return true;
  } catch (e) {
    if (seq !== settingsSeq) return false;
    showError('Settings rejected:', e);
    $('start').disabled = true;
    return false;
  }
}

async function renderModel() {
  const ts = state.tensors;
  const bytes = ts.reduce((a, t) => a + t.nbytes, 0);
  const weights = ts.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
  $('model-title').textContent = state.files.length === 1 ? state.files[0].name : `${state.files.length} shards (${state.index.name})`;
  $('model-summary').textContent = `${ts.length} tensors, ${fmtNum(weights)} weights, ${fmtBytes(bytes)} of tensor data.`;
  const body = $('tensor-table').tBodies[0];
  body.replaceChildren(...ts.map((t, i) => {
    const tr = document.createElement('tr');
    [i, t.name, `[${t.shape.join(', ')}]`, t.dtype, fmtBytes(t.nbytes), ''].forEach((v, j) => {
      const td = document.createElement('td');
      td.textContent = v;
      if (j === 0 || j === 4) td.className = 'num';
      tr.append(td);
    });
    return tr;
  }));
  show('model');
  await refreshSettings();
}

// ------------------------------------------------------------------ output sinks
function blobSink() {
  const parts = [];
  return { write: async (b) => { parts.push(b); }, close: async () => new Blob(parts, { type: 'application/octet-stream' }) };
}
async function diskSink(name) {
  const handle = await window.showSaveFilePicker({ suggestedName: name });
  const w = await handle.createWritable();
  return { write: (b) => w.write(b), close: async () => { await w.close(); return handle.getFile(); }, abort: () => w.abort() };
}
function outputName() {
  if (state.files.length === 1) return state.files[0].name.replace(/\.safetensors$/i, '') + '.novaq';
  return state.index.name.replace(/\.safetensors\.index\.json$|\.json$/i, '') + '.novaq';
}

// ------------------------------------------------------------------ compression
async function startCompression() {
  if (!(await refreshSettings())) return;
  const settings = settingsObject();
  const nworkers = Math.max(1, Math.min(16, Number($('workers').value) || 1));
  let sink;
  try { sink = $('fsa').checked ? await diskSink(outputName()) : blobSink(); } catch (e) { showError('Could not open the output file:', e); return; }
  show('model', false); show('result', false); show('progress');
  $('bar').value = 0;
  setState('running');
  const abort = new AbortController();
  state.abort = abort;
  let tStart = performance.now(), lastTensors = 0;
  const onProgress = (p) => {
    if (p.phase === 'preparing') {
      const h = p.hashTotal ? ` (SHA-256 ${(100 * Math.min(p.hashed, p.hashTotal) / p.hashTotal).toFixed(0)} % of ${fmtBytes(p.hashTotal)})` : '';
      $('progress-text').textContent = `Hashing the source files and training the shared codebooks…${h}`;
      return;
    }
    if (p.phase === 'encoding' && lastTensors === 0 && p.tensorsDone === 0) tStart = performance.now();
    lastTensors = p.tensorsDone;
    const el = (performance.now() - tStart) / 1000, frac = p.total ? p.done / p.total : 0;
    const wps = el > 0 ? p.done / el : 0;
    $('bar').value = frac;
    $('progress-text').textContent = `${(100 * frac).toFixed(1)} % — tensor ${p.tensorsDone} of ${p.ntensors} — ` +
      `${fmtNum(wps)} weights/s — ETA ${fmtTime(wps > 0 ? (p.total - p.done) / wps : NaN)}`;
  };
  try {
    const r = await compressModel({ files: state.files, index: state.index, settings, nworkers, simd, sink, onProgress, signal: abort.signal });
    const out = await sink.close();
    await showResult(r, out, settings, nworkers);
  } catch (e) {
    if (sink.abort) try { await sink.abort(); } catch { /* already closed */ }
    show('progress', false);
    show('model');
    if (abort.signal.aborted) { setState('model'); $('progress-text').textContent = ''; showCancelled(); }
    else showError('Compression failed:', e);
  } finally { state.abort = null; }
}

function showCancelled() {
  const e = $('error');
  e.textContent = 'Compression cancelled; nothing was saved.';
  show('error');
}

function summaryRows(rows) {
  $('summary').replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement('dt'), dd = document.createElement('dd');
    dt.textContent = k; dd.textContent = v;
    return [dt, dd];
  }));
}

function showProblems(list) {
  $('problems').replaceChildren(...list.map((p) => {
    const li = document.createElement('li');
    li.textContent = `${p.where}: ${p.what}`;
    return li;
  }));
  if (!list.length) { const li = document.createElement('li'); li.textContent = 'none'; li.style.color = 'inherit'; $('problems').append(li); }
}

async function showResult(r, out, settings, nworkers) {
  // Check what was written, as a recipient would: full validation, then the manifest.
  const v = await state.probe.call('validate', { file: out });
  const info = v.result.ok ? await state.probe.call('inspect', { file: out }) : null;
  const srcBytes = r.sources.reduce((a, s) => a + s.size, 0);
  const wps = r.total / r.encodeSeconds;
  window.novaqResult = {
    bytes: out.size, weights: r.total, sourceBytes: srcBytes, seconds: r.seconds, encodeSeconds: r.encodeSeconds,
    prepareSeconds: r.prepareSeconds,
    weightsPerSecond: wps, workers: nworkers, kernel: r.kernel, peakWorkerMem: r.peakWorkerMem, valid: v.result.ok,
  };
  summaryRows([
    ['Output', `${outputName()} — ${fmtBytes(out.size)} (${out.size} bytes)`],
    ['Validation', v.result.ok ? 'passed (structure, manifest, every shard SHA-256)' : `FAILED: ${v.result.message}`],
    ['Bits per weight (whole file)', (8 * out.size / r.total).toFixed(3)],
    ['Compression ratio', `${(srcBytes / out.size).toFixed(2)} × (${fmtBytes(srcBytes)} → ${fmtBytes(out.size)})`],
    ['Preset', `${settings.bits} bits${Object.keys(settings).length > 1 ? ' + advanced settings' : ''}`],
    ['Time', `${fmtTime(r.seconds)} in all: hashing + shared codebooks ${fmtTime(r.prepareSeconds)}, ` +
      `encoding ${fmtTime(r.encodeSeconds)} (${fmtNum(wps)} weights/s), ${fmtNum(r.total / r.seconds)} weights/s overall`],
    ['Workers', `${nworkers} × ${r.kernel}; peak wasm memory of a worker ${fmtBytes(r.peakWorkerMem)}`],
  ]);
  $('plot').replaceChildren(qualityPlot(r.stats.map((s) => ({ name: s.name, value: sqnrDb(s.sse, s.signal) }))));
  showProblems(v.result.problems);
  $('manifest').textContent = info ? JSON.stringify(info.manifest, null, 1) : '(not shown: the file did not validate)';
  if (out instanceof Blob && !(out instanceof File)) {
    state.url = URL.createObjectURL(out);
    const a = $('download');
    a.href = state.url;
    a.download = outputName();
    a.textContent = `Download ${outputName()}`;
    a.hidden = false;
  } else $('download').hidden = true;
  $('result-title').textContent = 'Result';
  show('progress', false);
  show('result');
  setState(v.result.ok ? 'done' : 'error');
}

// ------------------------------------------------------------------ .novaq inspection
function manifestQuality(manifest) {
  // Per-tensor SQNR from the manifest's error metrics, whatever they are called there.
  const ts = Array.isArray(manifest?.tensors) ? manifest.tensors : [];
  return ts.map((t) => {
    const m = t.metrics || t.error || t;
    let v = m.sqnr_db ?? m.sqnr;
    if (v === undefined && m.sse !== undefined && m.signal !== undefined) v = sqnrDb(m.sse, m.signal);
    return { name: t.name, value: typeof v === 'number' ? v : NaN };
  });
}

async function inspectNovaq(file) {
  setState('opening');
  try {
    state.probe = await startWorker('probe', simd);
    const v = await state.probe.call('validate', { file });
    let info = null;
    try { info = await state.probe.call('inspect', { file }); } catch { /* reported by validation */ }
    $('result-title').textContent = `${file.name}`;
    summaryRows([
      ['File', `${file.name} — ${fmtBytes(file.size)}`],
      ['Validation', v.result.ok ? 'passed (structure, manifest, every shard SHA-256)' : `FAILED: ${v.result.message || v.result.status}`],
      ['Tensors', info ? `${info.tensors.length}` : '—'],
    ]);
    $('plot').replaceChildren(qualityPlot(info ? manifestQuality(info.manifest) : []));
    showProblems(v.result.problems);
    $('manifest').textContent = info ? JSON.stringify(info.manifest, null, 1) : '(the manifest could not be read)';
    $('download').hidden = true;
    show('result');
    if (v.result.ok) setState('inspected');
    else showError(`${file.name} failed validation:`, `${v.result.nproblems} problem(s); first: ${v.result.message || (v.result.problems[0] && v.result.problems[0].what)}`);
  } catch (e) {
    showError(`${file.name}: not a readable .novaq file.`, e);
  }
}

// ------------------------------------------------------------------ wiring
$('file-input').addEventListener('change', (ev) => { if (ev.target.files.length) onFiles(ev.target.files); });
const drop = $('drop');
drop.addEventListener('dragover', (ev) => { ev.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (ev) => { ev.preventDefault(); drop.classList.remove('over'); onFiles(ev.dataTransfer.files); });
$('start').addEventListener('click', startCompression);
$('cancel').addEventListener('click', () => state.abort && state.abort.abort());
for (const id of ['preset', 'adv-d', 'adv-K', 'adv-seed', 'adv-scope', 'adv-outlier', 'adv-iters', 'adv-zstd', 'adv-embed', 'adv-lmhead'])
  $(id).addEventListener('change', refreshSettings);
$('workers').value = params.get('workers') || Math.max(1, Math.min(4, (navigator.hardwareConcurrency || 2) - 1));
if ('showSaveFilePicker' in window) show('fsa-label');
$('build-info').textContent = `WebAssembly ${simd ? 'SIMD128' : 'scalar'} build · runs entirely in this tab`;
setState('idle');
