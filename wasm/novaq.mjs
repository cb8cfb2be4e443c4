// novaq.mjs - the JS API of the NOVAQ browser module, used by the page's workers and by Node.
//
// One Novaq object wraps one instance of the wasm module (novaq_module.mjs/.wasm, built by
// scripts/build-wasm.sh). All input is read through *byte-range readers*: plain objects
//   { name: string, size: number, read(offset, length) -> Uint8Array }
// whose read() is synchronous (FileReaderSync in a Web Worker, fs.readSync in Node; see
// fileReader() below and novaq-node.mjs). Output goes to a write(chunk: Uint8Array) function;
// chunks are views into wasm memory, valid only during the call, so copy what you keep.
//
// Errors from the core are thrown as NovaqError { status, message } with the core's message,
// which names the file, tensor and byte offset.

export class NovaqError extends Error {
  constructor(status, message) {
    super(message || status);
    this.name = 'NovaqError';
    this.status = status;
  }
}

// A reader over a Blob/File inside a Web Worker (FileReaderSync exists only there). Reads go
// through a small block cache: the core reads row by row, and each FileReaderSync call costs
// far more than copying from a block already read.
export function fileReader(file, name = file.name) {
  const frs = new FileReaderSync();
  return cachedReader({
    name, size: file.size,
    read: (off, len) => new Uint8Array(frs.readAsArrayBuffer(file.slice(off, off + len))),
  });
}

// Wrap a reader with `nblocks` cached aligned blocks of `block` bytes (memory: their sum).
// Reads larger than a block go straight through.
export function cachedReader(inner, { block = 4 << 20, nblocks = 4 } = {}) {
  const blocks = []; // {start, bytes}, most recently used last
  const get = (start) => {
    let i = blocks.findIndex((b) => b.start === start);
    if (i >= 0) { const b = blocks.splice(i, 1)[0]; blocks.push(b); return b.bytes; }
    const bytes = inner.read(start, Math.min(block, inner.size - start));
    blocks.push({ start, bytes });
    if (blocks.length > nblocks) blocks.shift();
    return bytes;
  };
  return {
    name: inner.name, size: inner.size,
    read(off, len) {
      if (len > block || off + len > inner.size) return inner.read(off, len);
      const first = Math.floor(off / block) * block;
      if (off + len <= first + block) return get(first).subarray(off - first, off - first + len);
      const out = new Uint8Array(len), a = get(first), split = first + block - off;
      out.set(a.subarray(off - first), 0);
      out.set(get(first + block).subarray(0, len - split), split);
      return out;
    },
  };
}

// A reader over bytes already in memory.
export function bytesReader(name, bytes) {
  return { name, size: bytes.length, read: (off, len) => bytes.subarray(off, off + len) };
}

const ENC_HEAD = 48; // see nqw_encoded_serialize in novaq_wasm.c

// Statistics at the head of a serialized encoded tensor (no wasm needed).
export function encodedStats(bytes) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const metaLen = dv.getUint32(4, true);
  const meta = JSON.parse(new TextDecoder().decode(bytes.subarray(ENC_HEAD, ENC_HEAD + metaLen)));
  return {
    meta,
    weights: Number(dv.getBigUint64(16, true)),
    storedBytes: Number(dv.getBigUint64(24, true)),
    sse: dv.getFloat64(32, true),
    signal: dv.getFloat64(40, true),
  };
}

// Create an instance. opts.factory: the module factory (default: import ./novaq_module.mjs,
// or ./novaq_module_scalar.mjs when opts.simd === false); opts.wasmBinary: the .wasm bytes
// (Node); opts.locateFile: as Emscripten's.
export async function createNovaq(opts = {}) {
  let factory = opts.factory;
  if (!factory) {
    const file = opts.simd === false ? './novaq_module_scalar.mjs' : './novaq_module.mjs';
    factory = (await import(new URL(file, import.meta.url).href)).default;
  }
  const io = new IoTable();
  const modArgs = { nqio: io };
  if (opts.wasmBinary) modArgs.wasmBinary = opts.wasmBinary;
  if (opts.locateFile) modArgs.locateFile = opts.locateFile;
  modArgs.print = opts.print || (() => {});
  modArgs.printErr = opts.printErr || ((s) => console.warn('novaq:', s));
  const mod = await factory(modArgs);
  return new Novaq(mod, io);
}

// Handles that the wasm side passes back through nqjs_read / nqjs_write / nqjs_progress.
class IoTable {
  constructor() { this.next = 1; this.map = new Map(); }
  add(obj) { const h = this.next++; this.map.set(h, obj); return h; }
  drop(h) { this.map.delete(h); }
  read(h, off, len) {
    const r = this.map.get(h);
    try { return r.read(off, len); } catch (e) { r.lastError = e; return null; }
  }
  write(h, bytes) {
    const w = this.map.get(h);
    try { return w.write(bytes) === false; } catch (e) { w.lastError = e; return true; }
  }
  progress(h, tensor, ntensors, done, total) {
    const p = this.map.get(h);
    try { return p.progress(tensor, ntensors, done, total) === false; } catch (e) { p.lastError = e; return true; }
  }
}

class Novaq {
  constructor(mod, io) {
    this.mod = mod;
    this.io = io;
    const ex = (n) => {
      const f = mod['_' + n];
      if (!f) throw new Error(`wasm module lacks ${n}`);
      return f;
    };
    this.f = new Proxy({}, { get: (_, n) => ex(n) });
    this.ctx = this.f.nqw_ctx_new();
    this.version = mod.UTF8ToString(this.f.nqw_version());
    // library, zstd and cJSON versions and their Debian source versions (nq_build_info)
    this.buildInfo = mod.UTF8ToString(this.f.nqw_build_info());
    this.kernelVariant = mod.UTF8ToString(this.f.nqw_kernel_variant());
  }

  // Bytes of wasm memory now (it only grows): the instance's memory high-water mark.
  memoryBytes() { return this.mod.HEAPU8.buffer.byteLength; }

  // ---- helpers over the C ABI
  str(s) { // malloc'd UTF-8 copy of s (caller frees)
    const n = this.mod.lengthBytesUTF8(s) + 1;
    const p = this.f.malloc(n);
    this.mod.stringToUTF8(s, p, n);
    return p;
  }
  takeStr(p) { // read and free a malloc'd C string returned by nqw_*
    if (!p) this.fail();
    const s = this.mod.UTF8ToString(p);
    this.f.free(p);
    return s;
  }
  fail(readerObj) {
    const status = this.mod.UTF8ToString(this.f.nqw_status_name(this.f.nqw_error_code(this.ctx)));
    let msg = this.mod.UTF8ToString(this.f.nqw_error_message(this.ctx));
    if (readerObj && readerObj.lastError) msg += ` (${readerObj.lastError.message || readerObj.lastError})`;
    throw new NovaqError(status, msg);
  }
  withStrings(strings, fn) {
    const ptrs = strings.map((s) => (s == null ? 0 : this.str(s)));
    try { return fn(...ptrs); } finally { ptrs.forEach((p) => p && this.f.free(p)); }
  }
  alloc(n) { const p = this.f.malloc(Math.max(n, 1)); if (!p) throw new NovaqError('NQ_E_NOMEM', `out of wasm memory (${n} bytes)`); return p; }

  // ---- models
  // files: readers in the order the index lists them (indexFiles()); indexJson: the text of
  // model.safetensors.index.json or null for a single file.
  openSafetensors(files, indexJson = null) {
    const n = files.length;
    const hs = files.map((r) => this.io.add(r));
    const handles = this.alloc(4 * n), sizes = this.alloc(8 * n), names = this.alloc(4 * n);
    const namePtrs = files.map((r) => this.str(r.name));
    try {
      const h32 = new Int32Array(this.mod.HEAPU8.buffer, handles, n);
      const f64 = new Float64Array(this.mod.HEAPU8.buffer, sizes, n);
      const n32 = new Uint32Array(this.mod.HEAPU8.buffer, names, n);
      for (let i = 0; i < n; i++) { h32[i] = hs[i]; f64[i] = files[i].size; n32[i] = namePtrs[i]; }
      const p = this.withStrings([indexJson], (ij) => this.f.nqw_safetensors_open(this.ctx, n, handles, sizes, names, ij));
      if (!p) { hs.forEach((h) => this.io.drop(h)); this.fail(files.find((r) => r.lastError)); }
      return new Model(this, p, hs, files);
    } finally {
      [handles, sizes, names, ...namePtrs].forEach((q) => this.f.free(q));
    }
  }
  openNovaq(reader) {
    const h = this.io.add(reader);
    const p = this.withStrings([reader.name], (nm) => this.f.nqw_novaq_open(this.ctx, h, reader.size, nm));
    if (!p) { this.io.drop(h); this.fail(reader); }
    return new Model(this, p, [h], [reader]);
  }
  // Shard file names listed by a model.safetensors.index.json text.
  indexFiles(indexJson) {
    return JSON.parse(this.takeStr(this.withStrings([indexJson], (j) => this.f.nqw_index_files_json(this.ctx, j))));
  }

  // ---- settings: {bits: "2", d, K: [...], seed, ...} -> Settings (free() when done)
  settings(obj = { bits: '2' }) {
    const p = this.withStrings([JSON.stringify(obj)], (j) => this.f.nqw_settings_from_json(this.ctx, j));
    if (!p) this.fail();
    return new Settings(this, p);
  }

  // ---- the compression driver in steps (the core's nq_job): see Job below.
  job(model, settings) {
    const p = this.f.nqw_job_begin(this.ctx, model.ptr, settings.ptr);
    if (!p) this.fail(model.readers.find((r) => r.lastError));
    return new Job(this, p, model);
  }
  serialize(enc) { // nq_encoded -> bytes (nqw_encoded_serialize); enc stays the caller's
    const lenp = this.alloc(8);
    try {
      const buf = this.f.nqw_encoded_serialize(this.ctx, enc, lenp);
      if (!buf) this.fail();
      const len = new Float64Array(this.mod.HEAPU8.buffer, lenp, 1)[0];
      const out = this.mod.HEAPU8.slice(buf, buf + len);
      this.f.free(buf);
      return out;
    } finally { this.f.free(lenp); }
  }
  deserialize(bytes) { // bytes -> nq_encoded (the caller frees it or hands it on); throws if malformed
    const p = this.alloc(bytes.length);
    this.mod.HEAPU8.set(bytes, p);
    const enc = this.f.nqw_encoded_deserialize(this.ctx, p, bytes.length);
    this.f.free(p);
    if (!enc) this.fail();
    return enc;
  }

  // The whole pipeline in this one instance (the core's nq_compress). progress(tensor,
  // ntensors, weightsDone, weightsTotal) may return false to cancel.
  compress(model, settings, sources, write, progress = () => {}) {
    const w = { write }, pr = { progress };
    const wh = this.io.add(w), ph = this.io.add(pr);
    try {
      const st = this.withStrings([JSON.stringify(sources)], (sj) => this.f.nqw_compress(this.ctx, model.ptr, settings.ptr, sj, wh, ph));
      if (st !== 0) this.fail(w.lastError ? w : pr.lastError ? pr : model.readers.find((r) => r.lastError));
    } finally { this.io.drop(wh); this.io.drop(ph); }
  }

  // SHA-256 (hex) of every byte of a reader, in bounded memory.
  sha256(reader) {
    const h = this.io.add(reader), out = this.alloc(32);
    try {
      const st = this.withStrings([reader.name], (nm) => this.f.nqw_sha256_source(this.ctx, h, reader.size, nm, out));
      if (st !== 0) this.fail(reader);
      return Array.from(this.mod.HEAPU8.subarray(out, out + 32), (b) => b.toString(16).padStart(2, '0')).join('');
    } finally { this.io.drop(h); this.f.free(out); }
  }

  // Full validation of a .novaq: {ok, status, message, nproblems, problems: [{where, what}]}.
  validate(reader) {
    const h = this.io.add(reader);
    try {
      return JSON.parse(this.takeStr(this.withStrings([reader.name], (nm) => this.f.nqw_validate(this.ctx, h, reader.size, nm))));
    } finally { this.io.drop(h); }
  }

  // Manifest (parsed) and tensor table of a .novaq; throws if it does not open.
  inspect(reader) {
    const m = this.openNovaq(reader);
    try { return { manifest: JSON.parse(m.manifestText()), tensors: m.tensors() }; } finally { m.close(); }
  }

  // Kernel entry points for tests: the active variant vs the scalar reference.
  kernels() { return new Kernels(this); }
}

class Model {
  constructor(nq, ptr, handles, readers) { Object.assign(this, { nq, ptr, handles, readers }); }
  tensors() { return JSON.parse(this.nq.takeStr(this.nq.f.nqw_model_tensors_json(this.nq.ctx, this.ptr))); }
  format() { return this.nq.mod.UTF8ToString(this.nq.f.nqw_model_format(this.ptr)); }
  metadata() { const p = this.nq.f.nqw_model_metadata(this.ptr); return p ? JSON.parse(this.nq.mod.UTF8ToString(p)) : null; }
  manifestText() { const p = this.nq.f.nqw_novaq_manifest(this.ptr); return p ? this.nq.mod.UTF8ToString(p) : null; }
  shouldQuantize(t, settings) { return !!this.nq.f.nqw_should_quantize(this.ptr, t, settings.ptr); }
  close() {
    if (!this.ptr) return;
    this.nq.f.nqw_model_close(this.ptr);
    this.handles.forEach((h) => this.nq.io.drop(h));
    this.ptr = 0;
  }
}

class Settings {
  constructor(nq, ptr) { this.nq = nq; this.ptr = ptr; }
  json() { return JSON.parse(this.nq.takeStr(this.nq.f.nqw_settings_json(this.nq.ctx, this.ptr))); }
  free() { if (this.ptr) this.nq.f.nqw_settings_free(this.ptr); this.ptr = 0; }
}

// A compression in explicit steps: the core's driver (nq_job) decides the effective settings,
// builds the plan, and says how far encodes may run ahead of the writer and whether stage 3
// holds every tensor; the caller only schedules. For a pool of instances (the page's Web
// Workers): every instance begins the same job (same model bytes and settings: the plan is
// deterministic, so all hold the same one); any of them encodes a tensor to portable bytes
// (transferable to another worker); the writing instance starts the output, accepts every
// tensor's bytes in any order, keeping at most ahead(width) encoded and not yet written, and
// writes what comes next in model order; once all are accepted, finish(). free() abandons
// the job at any point (after an error too); the instance stays usable.
class Job {
  constructor(nq, ptr, model) { Object.assign(this, { nq, ptr, model, handle: 0, w: null }); }
  live() { if (!this.ptr) throw new NovaqError('NQ_E_ARG', 'the job was freed'); return this.ptr; }
  get ntensors() { return this.nq.f.nqw_job_tensor_count(this.live()); }
  // 1 when stage 3 runs (calibration; not in the browser yet): nothing is written before
  // every tensor is accepted.
  holdsAll() { return !!this.nq.f.nqw_job_holds_all(this.live()); }
  // How many tensors may be encoded and not yet written with `width` encoders at once.
  ahead(width) { return this.nq.f.nqw_job_ahead(this.live(), width); }
  // Tensor t encoded with the job's plan and effective settings -> serialized bytes (their
  // statistics: encodedStats). Only reads the job, so any instance that began it may encode.
  encode(t) {
    const nq = this.nq, enc = nq.f.nqw_job_encode(nq.ctx, this.live(), t);
    if (!enc) nq.fail(this.model.readers.find((r) => r.lastError));
    try { return nq.serialize(enc); } finally { nq.f.nqw_encoded_free(enc); }
  }
  // Start the container. writer: write(chunk) function or {write}; chunks are views into
  // wasm memory, valid during the call. sources: [{name, size, sha256 (hex)}] of the files.
  output(writer, sources) {
    const nq = this.nq, w = typeof writer === 'function' ? { write: writer } : writer;
    const h = nq.io.add(w);
    const st = nq.withStrings([JSON.stringify(sources)], (sj) => nq.f.nqw_job_output(nq.ctx, this.live(), h, sj));
    if (st !== 0) { nq.io.drop(h); nq.fail(w); }
    Object.assign(this, { handle: h, w });
  }
  // Hand over tensor t's bytes (from encode() here or in another instance that began the same
  // job) and write what is next in model order. Returns how many tensors are written in all.
  accept(t, bytes) {
    const nq = this.nq, ptr = this.live(), enc = nq.deserialize(bytes);
    const written = nq.f.nqw_job_accept(nq.ctx, ptr, t, enc); // takes enc, also on error
    if (written < 0) nq.fail(this.w);
    return written;
  }
  // Once every tensor is accepted: stage 3 (when the job holds all), the rest, manifest, footer.
  finish() {
    const nq = this.nq, st = nq.f.nqw_job_finish(nq.ctx, this.live());
    if (st !== 0) nq.fail(this.w);
  }
  free() {
    if (this.ptr) this.nq.f.nqw_job_free(this.ptr);
    if (this.handle) this.nq.io.drop(this.handle);
    Object.assign(this, { ptr: 0, handle: 0 });
  }
}

class Kernels {
  constructor(nq) { this.nq = nq; }
  // Run fn with x (d floats) and C (K*d floats) copied into wasm memory.
  withData(x, C, fn) {
    const nq = this.nq, px = nq.alloc(4 * x.length), pc = nq.alloc(4 * C.length), pd = nq.alloc(4);
    try {
      new Float32Array(nq.mod.HEAPU8.buffer, px, x.length).set(x);
      new Float32Array(nq.mod.HEAPU8.buffer, pc, C.length).set(C);
      return fn(px, pc, pd);
    } finally { [px, pc, pd].forEach((p) => nq.f.free(p)); }
  }
  dist2(x, c, ref = false) {
    return this.withData(x, c, (px, pc) => (ref ? this.nq.f.nqw_k_dist2_ref : this.nq.f.nqw_k_dist2)(px, pc, x.length));
  }
  // Forward-pass kernels: dot(x, w) and matmul (x: T x n, w: O x n) -> Float32Array T x O.
  mmVariant() { return this.nq.mod.UTF8ToString(this.nq.f.nqw_mm_variant()); }
  dot(x, w, ref = false) {
    return this.withData(x, w, (px, pw) => this.nq.f.nqw_mm_dot(px, pw, x.length, ref ? 1 : 0));
  }
  matmul(x, w, T, O, n, ref = false) {
    const nq = this.nq, py = nq.alloc(4 * T * O);
    try {
      this.withData(x, w, (px, pw) => nq.f.nqw_mm_matmul(py, px, pw, T, O, n, ref ? 1 : 0));
      return new Float32Array(nq.mod.HEAPU8.buffer, py, T * O).slice();
    } finally { nq.f.free(py); }
  }
  // {index, dist} of the nearest of C.length / d centroids.
  nearest(x, C, ref = false) {
    const d = x.length;
    return this.withData(x, C, (px, pc, pd) => {
      const index = (ref ? this.nq.f.nqw_k_nearest_ref : this.nq.f.nqw_k_nearest)(px, pc, C.length / d, d, pd);
      return { index, dist: new Float32Array(this.nq.mod.HEAPU8.buffer, pd, 1)[0] };
    });
  }
}
