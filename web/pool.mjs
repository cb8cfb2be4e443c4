// pool.mjs - workers and the parallel compression pipeline of the page.
//
// The pool is a thin executor of the core's compression driver (a Job of wasm/novaq.mjs,
// nq_job in the core): every worker (one wasm instance each) begins the same job with the same
// settings, which builds the model-wide plan (the shared codebooks: deterministic, so each
// holds the same one). N encode workers take tensors in model order and pass their encoded
// bytes to one writer worker; the writer hashes the source files, starts the job's output,
// accepts the tensors as they come, and the job writes what is next in model order and
// streams the container bytes back as chunks. How many tensors may be encoded and not yet
// written is the job's answer (ahead(N)), so memory stays bounded by a few tensors whatever
// the model size. The output bytes do not depend on N (the core's determinism rule).
import { encodedStats } from '../wasm/novaq.mjs';

const WORKER_URL = new URL('./worker.mjs', import.meta.url);

export class WorkerClient {
  constructor(name) {
    this.name = name;
    this.worker = new Worker(WORKER_URL, { type: 'module', name });
    this.pending = new Map();
    this.nextId = 1;
    this.peakMem = 0;
    this.onchunk = null;
    this.worker.onmessage = (ev) => this.receive(ev.data);
    this.worker.onerror = (ev) => this.failAll(new Error(`${name}: ${ev.message || 'worker failed to start'}`));
  }
  receive(msg) {
    if (msg.type === 'chunk') { if (this.onchunk) this.onchunk(msg.bytes); return; }
    if (msg.type === 'progress') { if (this.onprogress) this.onprogress(msg); return; }
    this.peakMem = Math.max(this.peakMem, msg.memBytes || 0);
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (msg.error) {
      const e = new Error(msg.error.message);
      e.status = msg.error.status;
      p.reject(e);
    } else p.resolve(msg);
  }
  failAll(err) { for (const p of this.pending.values()) p.reject(err); this.pending.clear(); }
  call(op, args = {}, transfer = []) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, op, ...args }, transfer);
    });
  }
  terminate() { this.worker.terminate(); this.failAll(new Error('cancelled')); }
}

export async function startWorker(name, simd) {
  const w = new WorkerClient(name);
  const info = await w.call('init', { simd });
  w.info = info;
  return w;
}

// Compress the model made of `files` (+ index) with settings `settings` (plain object for
// nq settings JSON). sink: {write(bytes) -> Promise}. Returns per-tensor stats and timings.
// onProgress({done, total, tensorsDone, ntensors, phase}); signal: an AbortSignal.
export async function compressModel({ files, index, settings, nworkers, simd, sink, onProgress, signal }) {
  const workers = [];
  const cleanup = () => workers.forEach((w) => w.terminate());
  const onAbort = () => cleanup();
  signal?.addEventListener('abort', onAbort);
  try {
    const t0 = performance.now();
    const writer = await startWorker('writer', simd);
    workers.push(writer);
    for (let i = 0; i < nworkers; i++) workers.push(await startWorker(`encoder-${i}`, simd));
    const encoders = workers.slice(1);
    const opened = await Promise.all(workers.map((w) => w.call('open', { files, index })));
    const tensors = opened[0].tensors;
    const weightsOf = (t) => t.shape.reduce((a, b) => a * b, 1);
    const total = tensors.reduce((a, t) => a + weightsOf(t), 0);
    let done = 0, tensorsDone = 0;
    const report = (phase) => onProgress?.({ done, total, tensorsDone, ntensors: tensors.length, phase });

    // Meanwhile: every encoder begins the job (the model-wide plan: deterministic, so all hold
    // the same one), and the writer hashes every source file for the manifest, then begins
    // the same job and starts its output.
    report('preparing');
    const tPrep = performance.now();
    const begun = encoders.map((w) => w.call('begin', { settings, width: nworkers }));
    begun.forEach((p) => p.catch(() => {})); // reported by the await below
    const sources = [];
    let writeChain = Promise.resolve();
    let written = 0;
    const writerReady = (async () => {
      const ordered = orderedFiles(files, opened[0].order);
      const srcTotal = ordered.reduce((a, f) => a + f.size, 0);
      let hashedBefore = 0;
      writer.onprogress = (m) => onProgress?.({ phase: 'preparing', hashed: hashedBefore + m.done, hashTotal: srcTotal });
      for (const f of ordered) {
        if (signal?.aborted) throw new Error('cancelled');
        const { hex } = await writer.call('sha256', { file: f });
        sources.push({ name: f.name, size: f.size, sha256: hex });
        hashedBefore += f.size;
      }
      const job = await writer.call('begin', { settings, width: nworkers });
      writer.onchunk = (bytes) => {
        written += bytes.length;
        writeChain = writeChain.then(() => sink.write(bytes));
      };
      await writer.call('output', { sources });
      return job;
    })();
    // ahead: the job's limit on tensors encoded and not yet written, for nworkers encoders
    const [{ ahead }] = await Promise.all([writerReady, ...begun]);
    const tEncode = performance.now();
    report('encoding');

    // Deal tensors in model order to idle encoders while fewer than `ahead` are encoded and
    // not yet written; each encode goes to the writer, whose job writes what comes next.
    const stats = new Array(tensors.length);
    let next = 0, tensorsWritten = 0, accepted = 0;
    await new Promise((resolve, reject) => {
      let failed = false;
      const fail = (e) => { if (!failed) { failed = true; reject(e); } };
      const busy = new Set();
      const pump = () => {
        for (const w of encoders) {
          if (failed || busy.has(w) || next >= tensors.length || next - tensorsWritten >= ahead) continue;
          const t = next++;
          busy.add(w);
          w.call('encode', { t }).then((r) => {
            busy.delete(w);
            const s = encodedStats(r.bytes);
            stats[t] = { name: tensors[t].name, ...s, bytes: r.bytes.length };
            done += s.weights;
            tensorsDone++;
            report('encoding');
            writer.call('accept', { t, bytes: r.bytes }, [r.bytes.buffer]).then((a) => {
              tensorsWritten = Math.max(tensorsWritten, a.written);
              if (++accepted === tensors.length) resolve();
              else pump();
            }, fail);
            pump();
          }, fail);
        }
      };
      if (tensors.length === 0) resolve();
      else pump();
    });
    await writer.call('finish');
    await writeChain;
    report('done');
    const t1 = performance.now();
    return {
      tensors, stats, sources, total, written,
      seconds: (t1 - t0) / 1000, encodeSeconds: (t1 - tEncode) / 1000, prepareSeconds: (tEncode - tPrep) / 1000,
      peakWorkerMem: Math.max(...workers.map((w) => w.peakMem)),
      kernel: writer.info.kernel,
    };
  } finally {
    signal?.removeEventListener('abort', onAbort);
    cleanup();
  }
}

function orderedFiles(files, order) {
  if (!order) return files;
  return order.map((n) => files.find((f) => f.name === n));
}

// One-off job in a fresh worker (validate, inspect, open to list tensors).
export async function oneShot(op, args, simd) {
  const w = await startWorker(op, simd);
  try { return await w.call(op, args); } finally { w.terminate(); }
}
