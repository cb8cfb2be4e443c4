// ic/client.mjs - publish, check, update and pull NOVAQ models on a NOVAQ canister
// (canister/, candid/novaq.did, docs/CANISTER.md), from Node.js or a browser.
//
// Built on the ecosystem's agent, @icp-sdk/core (HttpAgent, Actor, Certificate), with the
// Candid bindings @icp-sdk/bindgen generates from candid/novaq.did (ic/declarations/; run
// `npm run bindgen` after changing the .did). Nothing here needs Node: hashing is WebCrypto,
// sources and sinks are small interfaces (ic/node.mjs has the file ones).
//
//   const c = await connect({ network: 'local', canisterId, identity });
//   await c.publish(bytes | Blob | {size, read(offset, length)}, { name, description, activate });
//   await c.status(modelId);
//   const { bytes } = await c.pull(modelId);     // or { sink } to write elsewhere
//
// What is trusted: the canister's certified data (ic0.certified_data_set) is SHA-256 over
// every committed model's (number, state, root hash); `certified_registry` returns those
// entries with the system's data certificate. pull() verifies that certificate with the
// agent's own Certificate (BLS signature under the network's root key, freshness), checks
// that canister/<id>/certified_data in it is the hash of the entries, and from then on trusts
// the model's root hash: the manifest must carry it, the shard hashes must hash to it, and
// every shard must hash to its manifest entry. The root hash covers the shards only; the
// manifest's other fields are checked for consistency (sizes, offsets), not authenticated.
import { HttpAgent, Actor, Certificate, lookupResultToBuffer } from '@icp-sdk/core/agent';
import { Principal } from '@icp-sdk/core/principal';
import { idlFactory } from './declarations/novaq.did.js';

export const NETWORKS = {
  local: 'http://127.0.0.1:4943', // dfx start; icp-cli's local network: pass its URL as host
  ic: 'https://icp-api.io',
};
export const CHUNK_BYTES = 1_900_000;  // upload_chunk's limit (ingress messages are 2 MiB)
export const SLICE_BYTES = 2_000_000;  // get_shard's largest slice
export const FOOTER_BYTES = 56;
const STATES = ['Uploading', 'Validated', 'Active', 'Deprecated'];

export class NovaqIcError extends Error {
  // code: 'rejected' (the canister said no), 'integrity' (bytes differ from their hash),
  // 'certificate' (certified data does not check out), 'validation' (commit found problems),
  // 'not-supported', 'input', 'state'
  constructor(code, message, extra = {}) {
    super(message);
    this.name = 'NovaqIcError';
    this.code = code;
    Object.assign(this, extra);
  }
}

// ------------------------------------------------------------ small helpers
const enc = new TextEncoder();
const dec = new TextDecoder();
export const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
export const fromHex = (s) => {
  if (typeof s !== 'string' || !/^([0-9a-f]{2})*$/i.test(s)) throw new NovaqIcError('input', `not a hex string: ${s}`);
  return Uint8Array.from(s.match(/../g) || [], (x) => parseInt(x, 16));
};
export async function sha256(bytes) {
  return new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', bytes));
}
const concat = (parts) => {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
};
const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const stateName = (v) => Object.keys(v)[0];
const opt = (o) => (o.length ? o[0] : null);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The canister's own message when the agent reports a reject, else the error's message.
export function rejectMessage(e) {
  return e?.code?.rejectMessage ?? e?.message ?? String(e);
}
const isReject = (e) => e?.code?.rejectMessage !== undefined;

function rethrow(e, what) {
  if (e instanceof NovaqIcError) throw e;
  if (isReject(e)) throw new NovaqIcError('rejected', `${what}: the canister refused: ${rejectMessage(e)}`, { cause: e });
  throw e;
}

// Runs fn over items with at most `n` at a time; the first failure stops the others.
async function pool(items, n, fn) {
  let next = 0, failed = null;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try { await fn(items[i], i); } catch (e) { failed = failed || e; }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(n, items.length)) }, worker));
  if (failed) throw failed;
}

// Transport failures are retried; rejects are answers, not failures.
async function retrying(fn, tries = 4) {
  for (let i = 0; ; i++) {
    try { return await fn(); } catch (e) {
      if (isReject(e) || e instanceof NovaqIcError || i + 1 >= tries) throw e;
      await sleep(250 * 2 ** i);
    }
  }
}

// ------------------------------------------------------------ sources and sinks

// A source of bytes: Uint8Array, Blob/File, or {size, read(offset, length) -> Uint8Array}.
export function toSource(src) {
  if (src instanceof Uint8Array) return { size: src.length, read: async (o, n) => src.subarray(o, o + n) };
  if (typeof Blob !== 'undefined' && src instanceof Blob) {
    return { size: src.size, read: async (o, n) => new Uint8Array(await src.slice(o, o + n).arrayBuffer()) };
  }
  if (src && typeof src.size === 'number' && typeof src.read === 'function') return src;
  throw new NovaqIcError('input', 'publish: the source must be bytes, a Blob or {size, read(offset, length)}');
}

// The manifest and root hash of a .novaq (footer: u64 manifest_off | u64 manifest_size |
// sha256(manifest) | u32 version | "NQFT"; docs/FORMAT.md).
export async function readNovaqManifest(source) {
  const src = toSource(source);
  if (src.size < 16 + FOOTER_BYTES) throw new NovaqIcError('input', `not a .novaq file: ${src.size} bytes`);
  const foot = await src.read(src.size - FOOTER_BYTES, FOOTER_BYTES);
  const dv = new DataView(foot.buffer, foot.byteOffset, foot.byteLength);
  if (dec.decode(foot.subarray(52, 56)) !== 'NQFT') throw new NovaqIcError('input', 'not a .novaq file: no NQFT footer');
  const off = Number(dv.getBigUint64(0, true)), size = Number(dv.getBigUint64(8, true));
  if (off < 16 || off + size !== src.size - FOOTER_BYTES) throw new NovaqIcError('input', 'not a .novaq file: the footer does not locate the manifest');
  const bytes = await src.read(off, size);
  if (!equal(await sha256(bytes), foot.subarray(16, 48))) throw new NovaqIcError('integrity', 'the manifest does not match the SHA-256 in the footer');
  const manifest = JSON.parse(dec.decode(bytes));
  return { manifest, manifestBytes: bytes, rootHash: fromHex(manifest.root_hash), version: dv.getUint32(48, true) };
}

// An in-memory sink (the browser's, and the default): pull() returns its bytes.
export function memorySink() {
  let buf = null;
  return {
    async open(size) { buf = new Uint8Array(size); },
    async has() { return false; },
    async write(offset, bytes) { buf.set(bytes, offset); },
    async finish() { return buf; },
    async abort() { buf = null; },
  };
}

// ------------------------------------------------------------ connecting

// network 'local' (fetches the replica's root key, as dfx and icp-cli do for their local
// networks) or 'ic' (the agent's built-in mainnet root key); `host` overrides the URL.
export async function connect({ network = 'local', host, canisterId, identity, rootKey, fetch, retryTimes, verifyQuerySignatures } = {}) {
  if (!canisterId) throw new NovaqIcError('input', 'no canister id');
  const url = host || NETWORKS[network];
  if (!url) throw new NovaqIcError('input', `unknown network ${network} (local or ic, or give a host)`);
  const agent = await HttpAgent.create({
    host: url, identity, fetch, retryTimes, verifyQuerySignatures,
    ...(rootKey ? { rootKey } : { shouldFetchRootKey: network !== 'ic' }),
  });
  return new NovaqClient(agent, Principal.from(canisterId), { network });
}

export class NovaqClient {
  constructor(agent, canisterId, { network = 'local' } = {}) {
    this.agent = agent;
    this.canisterId = Principal.from(canisterId);
    this.network = network;
    this.actor = Actor.createActor(idlFactory, { agent, canisterId: this.canisterId });
  }

  async principal() { return this.agent.getPrincipal(); }

  async _model(modelId) {
    try {
      return opt(await retrying(() => this.actor.get_model(String(modelId))));
    } catch (e) { rethrow(e, `get_model ${modelId}`); }
  }

  // ---------------------------------------------------------- status

  async status(modelId) {
    const m = await this._model(modelId);
    if (!m) throw new NovaqIcError('state', `model ${modelId} does not exist on canister ${this.canisterId.toText()}`);
    const out = modelInfo(m);
    if (out.state !== 'Uploading') {
      try {
        const reg = await this.verifiedRegistry();
        const e = reg.get(out.modelId);
        out.certified = !!e && e.state === out.state && out.rootHash === hex(e.rootHash);
      } catch (e) {
        out.certified = false;
        out.certificateError = e.message;
      }
    }
    return out;
  }

  // Every committed model's state and root hash, from the registry, after verifying the
  // data certificate with the agent (throws NovaqIcError 'certificate' otherwise).
  async verifiedRegistry() {
    let reg;
    try { reg = await retrying(() => this.actor.certified_registry()); } catch (e) { rethrow(e, 'certified_registry'); }
    const raw = opt(reg.certificate);
    if (!raw) throw new NovaqIcError('certificate', 'certified_registry came without a data certificate (a replicated query?)');
    let cert;
    try {
      cert = await Certificate.create({
        certificate: Uint8Array.from(raw), rootKey: this.agent.rootKey,
        principal: { canisterId: this.canisterId }, agent: this.agent,
      });
    } catch (e) {
      throw new NovaqIcError('certificate', `the canister's data certificate does not verify under the ${this.network} root key: ${e.message.split('\n')[0]}`, { cause: e });
    }
    const certified = lookupResultToBuffer(cert.lookup_path(['canister', this.canisterId.toUint8Array(), 'certified_data']));
    const claimed = Uint8Array.from(reg.certified_hash);
    if (!certified) throw new NovaqIcError('certificate', `the certificate has no certified_data for canister ${this.canisterId.toText()}`);
    if (!equal(certified, claimed)) throw new NovaqIcError('certificate', `certified_data ${hex(certified)} is not the registry hash ${hex(claimed)} the canister returned`);
    const parts = [];
    const map = new Map();
    for (const e of reg.entries) {
      const rec = new Uint8Array(41);
      const dv = new DataView(rec.buffer);
      dv.setBigUint64(0, BigInt(e.model_id), true);
      rec[8] = STATES.indexOf(stateName(e.state));
      rec.set(Uint8Array.from(e.root_hash), 9);
      parts.push(rec);
      map.set(e.model_id, { state: stateName(e.state), rootHash: Uint8Array.from(e.root_hash) });
    }
    if (!equal(await sha256(concat(parts)), certified)) throw new NovaqIcError('certificate', 'the registry entries do not hash to the certified data');
    return map;
  }

  // ---------------------------------------------------------- publish

  // Uploads a .novaq (Uint8Array, Blob or {size, read}) and commits it; resumes an earlier
  // upload of the same file (same owner, name, size, state Uploading; or opts.modelId),
  // sending only what the canister does not have (commit reports the missing ranges).
  // opts: name, description, activate, modelId, resume (default true), parallel (4),
  // chunkBytes (1,900,000), onProgress({phase, doneBytes, totalBytes, modelId}).
  async publish(source, opts = {}) {
    const src = toSource(source);
    const { manifest, rootHash } = await readNovaqManifest(src);
    const size = src.size;
    const name = opts.name || manifest.source?.metadata?.name || 'novaq-model';
    const description = opts.description ?? '';
    const chunkBytes = Math.min(opts.chunkBytes || CHUNK_BYTES, CHUNK_BYTES);
    const progress = opts.onProgress || (() => {});
    let modelId = opts.modelId != null ? String(opts.modelId) : null;
    let fresh = false;
    if (modelId == null && opts.resume !== false) modelId = await this._resumable({ name, size });
    const resumed = modelId != null;
    if (modelId == null) {
      try {
        modelId = await this.actor.create_model({ name, description, size_bytes: BigInt(size), expected_root_hash: [rootHash] });
      } catch (e) { rethrow(e, 'create_model'); }
      fresh = true;
    }
    const found = await this._model(modelId);
    if (!found) throw new NovaqIcError('state', `model ${modelId} does not exist on canister ${this.canisterId.toText()}`);
    const info = modelInfo(found);
    if (info.sizeBytes !== size) throw new NovaqIcError('state', `model ${modelId} expects ${info.sizeBytes} bytes, the file has ${size}`);
    let report = null;
    let uploaded = 0;
    if (info.state === 'Uploading') {
      let missing = fresh ? [[0, size]] : [];
      for (let round = 0; ; round++) {
        uploaded += await this._upload(src, modelId, missing, { chunkBytes, parallel: opts.parallel || 4, progress, size, already: size - sum(missing) });
        progress({ phase: 'commit', doneBytes: size, totalBytes: size, modelId });
        try { report = await this.actor.commit(modelId); } catch (e) { rethrow(e, `commit ${modelId}`); }
        if (report.ok) break;
        const gaps = missingRanges(report.problems);
        const other = report.problems.filter((p) => p.location !== 'upload');
        if (!gaps.length || round >= 4) {
          throw new NovaqIcError('validation', `commit of model ${modelId} found ${report.problems.length} problem(s):\n` +
            (other.length ? other : report.problems).map((p) => `  ${p.location}: ${p.message}`).join('\n'), { report: commitReport(report), modelId });
        }
        missing = gaps;
      }
    } else if (opts.modelId == null) {
      throw new NovaqIcError('state', `model ${modelId} is already ${info.state}`);
    }
    let state = report ? stateName(report.state) : info.state;
    if (opts.activate && state === 'Validated') {
      progress({ phase: 'activate', doneBytes: size, totalBytes: size, modelId });
      try { await this.actor.activate(modelId); } catch (e) { rethrow(e, `activate ${modelId}`); }
      state = 'Active';
    }
    return { modelId, resumed, uploadedBytes: uploaded, skippedBytes: resumed ? size - uploaded : 0, state,
      rootHash: hex(rootHash), report: report && commitReport(report) };
  }

  // The newest model of ours still Uploading with this name and size, or null.
  async _resumable({ name, size }) {
    const me = (await this.principal()).toText();
    if (me === Principal.anonymous().toText()) return null;
    let after = [], found = null;
    for (;;) {
      let page;
      try { page = await retrying(() => this.actor.list_models([{ after, limit: [500] }])); } catch (e) { rethrow(e, 'list_models'); }
      for (const m of page) {
        if (m.owner.toText() === me && stateName(m.state) === 'Uploading' && m.name === name && Number(m.size_bytes) === size) found = m.model_id;
      }
      if (page.length < 500) return found;
      after = [page[page.length - 1].model_id];
    }
  }

  async _upload(src, modelId, ranges, { chunkBytes, parallel, progress, size, already }) {
    const chunks = [];
    for (const [a, b] of ranges) for (let o = a; o < b; o += chunkBytes) chunks.push([o, Math.min(b, o + chunkBytes)]);
    let done = already, sent = 0;
    progress({ phase: 'upload', doneBytes: done, totalBytes: size, modelId });
    await pool(chunks, parallel, async ([a, b]) => {
      const data = await src.read(a, b - a);
      const digest = await sha256(data);
      try {
        await retrying(() => this.actor.upload_chunk({ model_id: modelId, offset: BigInt(a), data, sha256: [digest] }));
      } catch (e) { rethrow(e, `upload_chunk ${modelId} [${a}, ${b})`); }
      done += b - a;
      sent += b - a;
      progress({ phase: 'upload', doneBytes: done, totalBytes: size, modelId });
    });
    return sent;
  }

  // ---------------------------------------------------------- update-metadata

  // name, description, tags: needs a canister method this canister version does not have
  // (candid/novaq.did has none; the canister issue adds it). Says which is the case.
  async updateMetadata(modelId, fields = {}) {
    if (typeof this.actor.update_metadata === 'function') {
      try { return await this.actor.update_metadata(String(modelId), fields); } catch (e) { rethrow(e, `update_metadata ${modelId}`); }
    }
    let deployed = null;
    try { deployed = await this.candidService(); } catch { /* not readable: say what we know */ }
    if (deployed && /\bupdate_metadata\s*:/.test(deployed)) {
      throw new NovaqIcError('not-supported', `canister ${this.canisterId.toText()} has update_metadata, but this client's bindings (ic/declarations, from candid/novaq.did) do not: update candid/novaq.did and run npm run bindgen`);
    }
    throw new NovaqIcError('not-supported', `update-metadata is not supported by this canister version: canister ${this.canisterId.toText()}'s interface has no update_metadata method (name, description and tags are set by create_model only)`);
  }

  // The deployed module's public candid:service metadata, read from a certificate.
  async candidService() {
    const path = ['canister', this.canisterId.toUint8Array(), 'metadata', 'candid:service'].map((l) => (typeof l === 'string' ? enc.encode(l) : l));
    const { certificate } = await this.agent.readState(this.canisterId, { paths: [path] });
    const cert = await Certificate.create({ certificate, rootKey: this.agent.rootKey, principal: { canisterId: this.canisterId }, agent: this.agent });
    const v = lookupResultToBuffer(cert.lookup_path(path));
    return v ? dec.decode(v) : null;
  }

  // ---------------------------------------------------------- pull

  // Fetches a committed model and rebuilds its .novaq: header, every shard (verified against
  // the manifest, whose root hash is verified against the certified registry), the manifest
  // and the footer. opts: sink (default memory; ic/node.mjs fileSink writes atomically and
  // resumes), parallel (4), requireActive, onProgress. Returns {modelId, bytes?, size, ...}.
  async pull(modelId, opts = {}) {
    modelId = String(modelId);
    const progress = opts.onProgress || (() => {});
    const m = await this._model(modelId);
    if (!m) throw new NovaqIcError('state', `model ${modelId} does not exist on canister ${this.canisterId.toText()}`);
    const info = modelInfo(m);
    if (info.state === 'Uploading') throw new NovaqIcError('state', `model ${modelId} is still Uploading: nothing to pull until it is committed`);
    const registry = await this.verifiedRegistry();
    const entry = registry.get(modelId);
    if (!entry) throw new NovaqIcError('certificate', `model ${modelId} is not in the certified registry`);
    const root = entry.rootHash;
    if (info.rootHash !== hex(root)) throw new NovaqIcError('certificate', `get_model's root hash ${info.rootHash} is not the certified ${hex(root)}`);
    if (opts.requireActive && entry.state !== 'Active') throw new NovaqIcError('state', `model ${modelId} is ${entry.state}, not Active`);

    const manifestBytes = await this._manifest(modelId, info);
    let manifest;
    try { manifest = JSON.parse(dec.decode(manifestBytes)); } catch (e) { throw new NovaqIcError('integrity', `model ${modelId}: the manifest is not JSON: ${e.message}`); }
    if (manifest.root_hash !== hex(root)) throw new NovaqIcError('integrity', `model ${modelId}: the manifest's root_hash ${manifest.root_hash} is not the certified ${hex(root)}`);
    const shards = manifest.shards || [];
    let at = 16;
    const shardHashes = [];
    for (const [i, s] of shards.entries()) {
      if (s.index !== i || s.offset !== at || !(s.size > 0)) throw new NovaqIcError('integrity', `model ${modelId}: manifest shard ${i} is not contiguous (offset ${s.offset}, expected ${at})`);
      shardHashes.push(fromHex(s.sha256));
      at += s.size;
    }
    if (!equal(await sha256(concat(shardHashes)), root)) throw new NovaqIcError('integrity', `model ${modelId}: the manifest's shard hashes do not hash to the certified root hash`);
    const manifestOff = at;
    const total = manifestOff + manifestBytes.length + FOOTER_BYTES;
    if (total !== info.sizeBytes) throw new NovaqIcError('integrity', `model ${modelId}: the manifest describes a ${total}-byte file, the canister holds ${info.sizeBytes}`);
    const version = manifest.version;
    const header = new Uint8Array(16);
    header.set(enc.encode('NOVAQ\0\r\n'));
    new DataView(header.buffer).setUint32(8, version, true);
    const footer = new Uint8Array(FOOTER_BYTES);
    const fv = new DataView(footer.buffer);
    fv.setBigUint64(0, BigInt(manifestOff), true);
    fv.setBigUint64(8, BigInt(manifestBytes.length), true);
    footer.set(await sha256(manifestBytes), 16);
    fv.setUint32(48, version, true);
    footer.set(enc.encode('NQFT'), 52);

    const sink = opts.sink || memorySink();
    await sink.open(total);
    try {
      await sink.write(0, header);
      await sink.write(manifestOff, manifestBytes);
      await sink.write(total - FOOTER_BYTES, footer);
      let done = 16 + manifestBytes.length + FOOTER_BYTES, reused = 0;
      progress({ phase: 'pull', doneBytes: done, totalBytes: total, modelId });
      await pool(shards, opts.parallel || 4, async (s, i) => {
        const want = shardHashes[i];
        if (await sink.has(s.offset, s.size, want)) {
          reused += s.size;
        } else {
          const bytes = await this._shard(modelId, i, s.size);
          const got = await sha256(bytes);
          if (!equal(got, want)) {
            throw new NovaqIcError('integrity', `model ${modelId}: shard ${i} (bytes [${s.offset}, +${s.size})) has SHA-256 ${hex(got)}, the manifest says ${hex(want)}: refusing it`, { shard: i });
          }
          await sink.write(s.offset, bytes);
        }
        done += s.size;
        progress({ phase: 'pull', doneBytes: done, totalBytes: total, modelId });
      });
      const bytes = await sink.finish();
      return { modelId, size: total, state: entry.state, rootHash: hex(root), shards: shards.length, reusedBytes: reused, ...(bytes instanceof Uint8Array ? { bytes } : {}) };
    } catch (e) {
      await sink.abort?.();
      throw e;
    }
  }

  async _shard(modelId, shard, size) {
    const parts = [];
    let off = 0;
    while (off < size) {
      let r;
      try {
        r = opt(await retrying(() => this.actor.get_shard({ model_id: modelId, shard, offset: BigInt(off), length: [BigInt(Math.min(SLICE_BYTES, size - off))] })));
      } catch (e) { rethrow(e, `get_shard ${modelId}/${shard}`); }
      if (!r) throw new NovaqIcError('state', `model ${modelId}: shard ${shard} is not served`);
      if (Number(r.shard_size) !== size) throw new NovaqIcError('integrity', `model ${modelId}: shard ${shard} is ${r.shard_size} bytes, the manifest says ${size}`);
      const data = Uint8Array.from(r.data);
      if (!data.length) throw new NovaqIcError('integrity', `model ${modelId}: shard ${shard}: empty slice at ${off}`);
      parts.push(data);
      off += data.length;
    }
    return concat(parts);
  }

  // The manifest's bytes: get_manifest_json, or, for a manifest bigger than one reply, the
  // OHMS chunks that cover it (docs/CANISTER.md: the chunks cover the file in order).
  async _manifest(modelId, info) {
    try {
      const text = opt(await retrying(() => this.actor.get_manifest_json(modelId)));
      if (text == null) throw new NovaqIcError('state', `model ${modelId}: no manifest`);
      return enc.encode(text);
    } catch (e) {
      if (!isReject(e) || !/exceeds a reply/.test(rejectMessage(e))) rethrow(e, `get_manifest_json ${modelId}`);
    }
    const ohms = opt(await retrying(() => this.actor.get_manifest(modelId)));
    const start = info.sizeBytes - FOOTER_BYTES - info.manifestBytes, end = info.sizeBytes - FOOTER_BYTES;
    const parts = [];
    for (const c of ohms.chunks) {
      const a = Number(c.offset), b = a + Number(c.size_bytes);
      if (b <= start || a >= end) continue;
      const data = opt(await retrying(() => this.actor.get_chunk(modelId, c.chunk_id)));
      if (!data) throw new NovaqIcError('state', `model ${modelId}: chunk ${c.chunk_id} is not served`);
      parts.push(Uint8Array.from(data).subarray(Math.max(0, start - a), Math.min(b, end) - a));
    }
    return concat(parts);
  }
}

function sum(ranges) { return ranges.reduce((a, [x, y]) => a + (y - x), 0); }

// commit's "upload: bytes [a, b) were never uploaded" problems -> [[a, b], ...]
export function missingRanges(problems) {
  const out = [];
  for (const p of problems) {
    const m = p.location === 'upload' && /bytes \[(\d+), (\d+)\) were never uploaded/.exec(p.message);
    if (m) out.push([Number(m[1]), Number(m[2])]);
  }
  return out;
}

function commitReport(r) {
  return {
    ok: r.ok, state: stateName(r.state), problems: r.problems.map((p) => ({ location: p.location, message: p.message })),
    shardCount: r.shard_count, tensorCount: r.tensor_count, rootHash: opt(r.root_hash) && hex(opt(r.root_hash)),
    instructions: Number(r.instructions),
  };
}

const time = (ns) => (ns == null ? null : new Date(Number(BigInt(ns) / 1_000_000n)).toISOString());

export function modelInfo(m) {
  const root = opt(m.root_hash);
  return {
    modelId: m.model_id, name: m.name, description: m.description, owner: m.owner.toText(),
    state: stateName(m.state), sizeBytes: Number(m.size_bytes), receivedBytes: Number(m.received_bytes),
    createdAt: time(m.created_at), validatedAt: time(opt(m.validated_at)), activatedAt: time(opt(m.activated_at)),
    rootHash: root ? hex(root) : null, shardCount: m.shard_count, tensorCount: m.tensor_count,
    manifestBytes: Number(m.manifest_bytes), chunkCount: m.chunk_count,
    bitsPerWeight: m.bits_per_weight, compressionRatio: m.compression_ratio,
  };
}
