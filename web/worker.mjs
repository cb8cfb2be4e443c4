// worker.mjs - one NOVAQ wasm instance in a Web Worker. The page deals out work by message:
//   init {simd}                         -> {version, kernel}
//   open {files: File[], index: File?}  -> {tensors, format, order} (keeps the model open)
//   plan {settings}                     -> {}   train the model-wide shared codebooks
//   encode {t, settings}                -> {t, bytes (transferred)} (builds the plan if needed)
//   sha256 {file: File}                 -> {hex}
//   begin {settings, sources}           -> {}   the writer role: container bytes stream back as
//   add {bytes}                         -> {}   {type: 'chunk', bytes} messages, in order,
//   finish {}                           -> {}   before each reply
//   validate {file}                     -> {result}
//   inspect {file}                      -> {manifest, tensors}
// Every reply carries the request's id and this instance's wasm memory size (memBytes);
// errors come back as {id, error: {status, message}}. Input is read in slices through
// FileReaderSync, so memory stays bounded by what one tensor needs, whatever the file size.
import { createNovaq, fileReader, NovaqError } from '../wasm/novaq.mjs';

let nq = null;
let model = null;
let settingsKey = null, settings = null;
let container = null;

async function init({ simd }) {
  nq = await createNovaq({ simd: simd !== false });
  return { version: nq.version, buildInfo: nq.buildInfo, kernel: nq.kernelVariant };
}

// Readers in the order the core expects: the index's file list when there is an index.
function openModel({ files, index }) {
  if (plan) plan.free();
  plan = null;
  if (model) model.close();
  model = null;
  let indexText = null, ordered = files, names = null;
  if (index) {
    indexText = new TextDecoder().decode(fileReader(index).read(0, index.size));
    names = nq.indexFiles(indexText);
    ordered = names.map((n) => {
      const f = files.find((x) => x.name === n);
      if (!f) throw new NovaqError('NQ_E_ARG', `${index.name} lists ${n}, which was not given`);
      return f;
    });
  }
  model = nq.openSafetensors(ordered.map((f) => fileReader(f)), indexText);
  return { tensors: model.tensors(), format: model.format(), order: names };
}

let plan = null; // the model-wide plan for (model, settings), built on the first encode

function getSettings(obj) {
  const key = JSON.stringify(obj);
  if (key !== settingsKey) {
    if (plan) plan.free();
    plan = null;
    if (settings) settings.free();
    settings = nq.settings(obj);
    settingsKey = key;
  }
  return settings;
}

const handlers = {
  init,
  open: openModel,
  settings: ({ settings: s }) => {
    const st = getSettings(s);
    const quantize = model ? model.tensors().map((_, i) => model.shouldQuantize(i, st)) : [];
    return { effective: st.json(), quantize };
  },
  plan: ({ settings: s }) => {
    const st = getSettings(s);
    if (!plan) plan = nq.plan(model, st);
    return {};
  },
  encode: ({ t, settings: s }) => {
    const st = getSettings(s);
    if (!plan) plan = nq.plan(model, st);
    const bytes = nq.encodeTensor(model, t, st, plan);
    return { t, bytes, transfer: [bytes.buffer] };
  },
  sha256: ({ file }) => {
    // Hashing a big file takes minutes: report bytes read now and then (messages queue up
    // and reach the page while this worker is still busy).
    const r = fileReader(file), read = r.read;
    let done = 0, next = 0;
    r.read = (off, len) => {
      done += len;
      if (done >= next) { postMessage({ type: 'progress', name: file.name, done, total: file.size }); next = done + (32 << 20); }
      return read(off, len);
    };
    return { hex: nq.sha256(r) };
  },
  begin: ({ settings: s, sources }) => {
    container = nq.beginContainer(model, getSettings(s), sources, (chunk) => {
      const copy = chunk.slice();
      postMessage({ type: 'chunk', bytes: copy }, [copy.buffer]);
    });
    return {};
  },
  add: ({ bytes }) => { container.add(bytes); return {}; },
  finish: () => { const c = container; container = null; c.finish(); return {}; },
  abort: () => { if (container) container.abort(); container = null; return {}; },
  validate: ({ file }) => ({ result: nq.validate(fileReader(file)) }),
  inspect: ({ file }) => nq.inspect(fileReader(file)),
};

self.onmessage = async (ev) => {
  const { id, op } = ev.data;
  try {
    const res = await handlers[op](ev.data);
    const transfer = res.transfer || [];
    delete res.transfer;
    postMessage({ type: 'reply', id, ...res, memBytes: nq ? nq.memoryBytes() : 0 }, transfer);
  } catch (e) {
    postMessage({
      type: 'reply', id, memBytes: nq ? nq.memoryBytes() : 0,
      error: { status: e.status || e.name || 'Error', message: e.message || String(e) },
    });
  }
};
