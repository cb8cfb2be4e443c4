// worker.mjs - one NOVAQ wasm instance in a Web Worker. The page deals out work by message:
//   init {simd}                         -> {version, kernel}
//   open {files: File[], index: File?}  -> {tensors, format, order} (keeps the model open)
//   settings {settings}                 -> {effective, quantize}
//   begin {settings, width}             -> {ntensors, ahead, holdsAll}  begin the compression
//                                          job (the core's driver: effective settings, plan);
//                                          ahead: how many tensors may be encoded and not yet
//                                          written with `width` encoders
//   encode {t}                          -> {t, bytes (transferred)}  tensor t, portable bytes
//   sha256 {file: File}                 -> {hex}
//   output {sources}                    -> {}   the writer role: container bytes stream back as
//   accept {t, bytes}                   -> {written}  {type: 'chunk', bytes} messages, in
//   finish {}                           -> {}   order, before each reply; finish frees the job
//   abort {}                            -> {}   free the job
//   validate {file}                     -> {result}
//   inspect {file}                      -> {manifest, tensors}
// Every reply carries the request's id and this instance's wasm memory size (memBytes);
// errors come back as {id, error: {status, message}}. Input is read in slices through
// FileReaderSync, so memory stays bounded by what one tensor needs, whatever the file size.
import { createNovaq, fileReader, NovaqError } from '../wasm/novaq.mjs';

let nq = null;
let model = null;
let settingsKey = null, settings = null;
let job = null; // the compression job begun by 'begin' (Job of wasm/novaq.mjs)

function freeJob() {
  if (job) job.free();
  job = null;
}
function theJob() {
  if (!job) throw new NovaqError('NQ_E_ARG', 'no compression job: begin first');
  return job;
}

async function init({ simd }) {
  nq = await createNovaq({ simd: simd !== false });
  return { version: nq.version, buildInfo: nq.buildInfo, kernel: nq.kernelVariant };
}

// Readers in the order the core expects: the index's file list when there is an index.
function openModel({ files, index }) {
  freeJob();
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

function getSettings(obj) {
  const key = JSON.stringify(obj);
  if (key !== settingsKey) {
    freeJob(); // it borrows the settings
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
  begin: ({ settings: s, width }) => {
    const st = getSettings(s);
    freeJob();
    if (!model) throw new NovaqError('NQ_E_ARG', 'no model: open first');
    job = nq.job(model, st);
    return { ntensors: job.ntensors, ahead: job.ahead(width), holdsAll: job.holdsAll() };
  },
  encode: ({ t }) => {
    const bytes = theJob().encode(t);
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
  output: ({ sources }) => {
    theJob().output((chunk) => {
      const copy = chunk.slice();
      postMessage({ type: 'chunk', bytes: copy }, [copy.buffer]);
    }, sources);
    return {};
  },
  accept: ({ t, bytes }) => ({ written: theJob().accept(t, bytes) }),
  finish: () => { try { theJob().finish(); } finally { freeJob(); } return {}; },
  abort: () => { freeJob(); return {}; },
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
