// replica-http.mjs - the IC's HTTP interface on 127.0.0.1 in front of the ic0 emulator
// (emulator.mjs), so that the real agent (@icp-sdk/core's HttpAgent, Actor) and every client
// built on it run unchanged against the real canister wasm. What a replica does that the
// agent or a client depends on is done here, with independent code (node:crypto for the
// request signatures, our own representation-independent hash and hash trees):
//
//   GET  /api/v2/status                              CBOR {ic_api_version, root_key, ...}
//   POST /api/v4/canister/<id>/call                  synchronous call: 200 {status, certificate}
//   POST /api/v2/canister/<id>/call                  asynchronous call: 202, then read_state
//   POST /api/v{2,3}/canister/<id>/query             {status, reply | reject, signatures}
//   POST /api/v{2,3}/canister/<id>/read_state        {certificate} over the requested paths
//
// Requests are CBOR envelopes {content, sender_pubkey?, sender_sig?, sender_delegation?}.
// As a replica does, the adapter computes the request id (representation-independent hash
// of `content`), checks the ingress expiry, that `sender` is the anonymous principal (no key,
// no signature) or the self-authenticating principal of `sender_pubkey` (Ed25519 or ECDSA
// secp256k1/P-256, DER), and the signature over "\x0Aic-request" || request id. The canister
// then sees that sender as its caller: a wrong identity is a different principal.
//
// Certificates are CBOR {tree, signature} signed with a BLS12-381 key generated here (the
// test's "root key", advertised by /api/v2/status as a local replica does, so an agent with
// shouldFetchRootKey, or given `rootKey`, trusts it). The state tree holds
//   time, canister/<id>/{certified_data, module_hash, controllers, metadata/<public name>},
//   request_status/<request id>/{status, reply | reject_code, reject_message, error_code},
//   subnet/<subnet id>/{public_key, canister_ranges, node/<node id>/public_key}
// (subnet id = self-authenticating principal of the root key, as for a subnet without a
// delegation); read_state returns it pruned to the requested paths. Queries are signed by one
// Ed25519 node key ("\x0Bic-response" || hash of the response), and the data certificate a
// query sees (ic0.data_certificate_copy) is a real certificate over time and the canister's
// certified_data.
//
// Test hooks: `hooks.beforeCall({method, kind, sender, arg})` may throw (a transport failure:
// the connection is destroyed) or return {status, body} to answer instead of the canister;
// `hooks.reply({method, kind, arg, reply})` may return other reply bytes (tampering);
// `forgeCertificatesWith(secretKey)` signs certificates with another key from then on.
import http from 'node:http';
import crypto from 'node:crypto';
import { decode as cborDecode, encodeWithSelfDescribedTag as cborEncode } from '@dfinity/cbor';
import { bls12_381 } from '@noble/curves/bls12-381.js';
import { Principal } from '@icp-sdk/core/principal';
import { CallError, CANISTER_ID } from './emulator.mjs';

const enc = new TextEncoder();
const utf8 = (s) => enc.encode(s);
export const sha256 = (b) => new Uint8Array(crypto.createHash('sha256').update(b).digest());
const concat = (parts) => {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
};
const cmp = (a, b) => {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
};
const eq = (a, b) => a.length === b.length && cmp(a, b) === 0;
const hexOf = (b) => Buffer.from(b).toString('hex');

export function leb128(n) {
  n = BigInt(n);
  const out = [];
  do {
    let byte = Number(n & 0x7fn);
    n >>= 7n;
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return Uint8Array.from(out);
}

// ------------------------------------------------------------ representation-independent hash
// (IC interface spec, "Request ids"): maps hash to sha256 of the sorted concatenation of
// sha256(key) || hash(value); blobs/text hash their bytes, naturals their LEB128, arrays the
// concatenation of their elements' hashes, nested maps recursively.
function hashValue(v) {
  if (v instanceof Uint8Array) return sha256(v);
  if (typeof v === 'string') return sha256(utf8(v));
  if (typeof v === 'number' || typeof v === 'bigint') return sha256(leb128(v));
  if (Array.isArray(v)) return sha256(concat(v.map(hashValue)));
  if (v && typeof v === 'object') return hashOfMap(v);
  throw new Error(`cannot hash ${typeof v}`);
}
export function hashOfMap(m) {
  const parts = Object.entries(m).filter(([, v]) => v !== undefined)
    .map(([k, v]) => concat([sha256(utf8(k)), hashValue(v)]));
  parts.sort(cmp);
  return sha256(concat(parts));
}

// ------------------------------------------------------------ hash trees
// A state is a nested Map: label (Uint8Array or string) -> Map | Uint8Array (leaf).
const domain = (s) => concat([Uint8Array.from([s.length]), utf8(s)]);
export function treeDigest(t) {
  switch (t[0]) {
    case 0: return sha256(domain('ic-hashtree-empty'));
    case 1: return sha256(concat([domain('ic-hashtree-fork'), treeDigest(t[1]), treeDigest(t[2])]));
    case 2: return sha256(concat([domain('ic-hashtree-labeled'), t[1], treeDigest(t[2])]));
    case 3: return sha256(concat([domain('ic-hashtree-leaf'), t[1]]));
    case 4: return t[1];
    default: throw new Error(`bad hash tree node ${t[0]}`);
  }
}
const label = (l) => (typeof l === 'string' ? utf8(l) : l);
// `paths`: null = everything below is wanted; otherwise a list of label arrays (what remains
// of each requested path); a labeled child nobody asked for is pruned.
function buildTree(node, paths) {
  if (node instanceof Uint8Array) return paths === null || paths.some((p) => p.length === 0) ? [3, node] : [4, treeDigest([3, node])];
  const children = [...node.entries()].map(([l, v]) => [label(l), v]).sort((a, b) => cmp(a[0], b[0]));
  const whole = paths === null || paths.some((p) => p.length === 0);
  const subs = children.map(([l, v]) => {
    const rest = whole ? null : paths.filter((p) => eq(label(p[0]), l)).map((p) => p.slice(1));
    const sub = buildTree(v, rest);
    const labeled = [2, l, sub];
    return rest === null || rest.length ? labeled : [4, treeDigest([2, l, buildTree(v, null)])];
  });
  const forks = (list) => {
    if (list.length === 0) return [0];
    if (list.length === 1) return list[0];
    const mid = Math.ceil(list.length / 2);
    return [1, forks(list.slice(0, mid)), forks(list.slice(mid))];
  };
  return forks(subs);
}

// ------------------------------------------------------------ keys
const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');
export const BLS_DER_PREFIX = Buffer.from('308182301d060d2b0601040182dc7c0503010201060c2b0601040182dc7c05030201036100', 'hex');

export function blsKey(secretKey = bls12_381.utils.randomSecretKey()) {
  const pub = bls12_381.shortSignatures.getPublicKey(secretKey).toBytes();
  return { secretKey, der: concat([BLS_DER_PREFIX, pub]) };
}

// sender_pubkey (DER SubjectPublicKeyInfo) -> node:crypto KeyObject; Ed25519, ECDSA on
// secp256k1 or P-256 (the signature schemes the IC accepts from users, except canister
// signatures and WebAuthn, which these tests do not need).
function userKey(der) {
  let key;
  try { key = crypto.createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' }); } catch (e) {
    throw new HttpError(400, `sender_pubkey is not a DER public key: ${e.message}`);
  }
  const t = key.asymmetricKeyType;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (t === 'ed25519' || (t === 'ec' && (curve === 'secp256k1' || curve === 'prime256v1'))) return key;
  throw new HttpError(400, `sender_pubkey: unsupported key type ${t}${curve ? ' ' + curve : ''}`);
}

function verifyUserSig(key, msg, sig) {
  if (key.asymmetricKeyType === 'ed25519') return crypto.verify(null, msg, key, sig);
  // ECDSA: signature r || s (64 bytes) over sha256(msg)
  return crypto.verify('sha256', msg, { key, dsaEncoding: 'ieee-p1363' }, sig);
}

class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

const REQUEST_DOMAIN = concat([Uint8Array.from([10]), utf8('ic-request')]);
const RESPONSE_DOMAIN = concat([Uint8Array.from([11]), utf8('ic-response')]);
const STATE_ROOT_DOMAIN = concat([Uint8Array.from([13]), utf8('ic-state-root')]);
const ANONYMOUS = Uint8Array.from([4]);
const MAX_EXPIRY_NS = 5n * 60n * 1_000_000_000n;
const SKEW_NS = 60n * 1_000_000_000n;

const nowNs = () => BigInt(Date.now()) * 1_000_000n;

// reject codes and error codes for the emulator's CallError kinds
const REJECTS = {
  reject: { code: 4, error: 'IC0406' }, // canister rejected the message
  trap: { code: 5, error: 'IC0503' },   // canister trapped
  error: { code: 5, error: 'IC0504' },  // other canister error (no reply, reply too big, ...)
};

export class ReplicaHttp {
  // replica: an installed emulator Replica; wasm: its module bytes (module_hash and the
  // public metadata sections of the state tree)
  constructor(replica, { wasm = null, log = false } = {}) {
    this.replica = replica;
    this.canisterId = Principal.fromUint8Array(CANISTER_ID);
    this.root = blsKey();
    this.signer = this.root;
    const node = crypto.generateKeyPairSync('ed25519');
    this.nodeKey = node.privateKey;
    this.nodeDer = new Uint8Array(node.publicKey.export({ format: 'der', type: 'spki' }));
    this.nodeId = Principal.selfAuthenticating(this.nodeDer);
    this.subnetId = Principal.selfAuthenticating(this.root.der);
    this.requests = new Map(); // request id hex -> {sender, status, reply | reject...}
    this.hooks = {};
    this.log = log;
    this.calls = []; // {method, kind, sender (text)} of every call that reached the canister
    this.metadata = new Map();
    if (wasm) {
      this.moduleHash = sha256(wasm);
      const mod = new WebAssembly.Module(wasm);
      for (const name of ['candid:service', 'novaq:build']) {
        const sec = WebAssembly.Module.customSections(mod, `icp:public ${name}`);
        if (sec.length) this.metadata.set(name, new Uint8Array(sec[0]));
      }
    }
    // what ic0.data_certificate_copy gives a query: a real certificate
    replica._cert = () => this._certificate(this._state(), [['time'], ['canister', this.canisterId.toUint8Array(), 'certified_data']]);
  }

  get rootKey() { return this.root.der; }

  forgeCertificatesWith(secretKey = bls12_381.utils.randomSecretKey()) {
    this.signer = blsKey(secretKey);
  }

  async start() {
    this.server = http.createServer((req, res) => this._serve(req, res));
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${this.server.address().port}`;
    return this.url;
  }

  async stop() {
    if (!this.server) return;
    this.server.closeAllConnections?.();
    await new Promise((resolve) => this.server.close(resolve));
    this.server = null;
  }

  // ---------------------------------------------------------- HTTP

  async _serve(req, res) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = new Uint8Array(Buffer.concat(chunks));
    try {
      const out = await this._route(req.method, req.url, body);
      if (out === 'destroy') { res.destroy(); return; }
      res.writeHead(out.status, { 'content-type': out.text !== undefined ? 'text/plain' : 'application/cbor' });
      res.end(out.text !== undefined ? out.text : out.body ? Buffer.from(out.body) : undefined);
    } catch (e) {
      const status = e instanceof HttpError ? e.status : 500;
      if (this.log || status === 500) console.error(`[replica-http] ${req.method} ${req.url}: ${status} ${e.stack || e.message}`);
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(e.message);
    }
  }

  async _route(method, url, body) {
    if (method === 'GET' && url === '/api/v2/status') {
      return { status: 200, body: cborEncode({ ic_api_version: '0.18.0', impl_version: 'novaq-emulator', root_key: this.root.der, replica_health_status: 'healthy' }) };
    }
    const m = /^\/api\/(v2|v3|v4)\/canister\/([^/]+)\/(call|query|read_state)$/.exec(url);
    if (method !== 'POST' || !m) throw new HttpError(404, `no such endpoint: ${method} ${url}`);
    const [, version, target, endpoint] = m;
    if (endpoint === 'call' && version === 'v3') throw new HttpError(404, 'v3 call is not served (v4 sync, v2 async are)');
    if (endpoint !== 'call' && version === 'v4') throw new HttpError(404, `v4 ${endpoint} does not exist`);
    let effective;
    try { effective = Principal.fromText(target); } catch { throw new HttpError(400, `bad effective canister id ${target}`); }
    if (effective.toText() !== this.canisterId.toText()) throw new HttpError(400, `canister ${target} does not exist on this test replica (only ${this.canisterId.toText()})`);
    let envelope;
    try { envelope = cborDecode(body); } catch (e) { throw new HttpError(400, `request is not CBOR: ${e.message}`); }
    const { content, requestId, sender } = this._authenticate(envelope);
    const type = content.request_type;
    if (endpoint === 'call' && type !== 'call') throw new HttpError(400, `request_type ${type} at the call endpoint`);
    if (endpoint === 'query' && type !== 'query') throw new HttpError(400, `request_type ${type} at the query endpoint`);
    if (endpoint === 'read_state' && type !== 'read_state') throw new HttpError(400, `request_type ${type} at the read_state endpoint`);
    if (type !== 'read_state') {
      const cid = new Uint8Array(content.canister_id);
      if (!eq(cid, this.canisterId.toUint8Array())) throw new HttpError(400, 'canister_id differs from the effective canister id');
    }
    if (endpoint === 'read_state') return this._readState(content, sender);
    const kind = endpoint === 'call' ? 'update' : 'query';
    const methodName = content.method_name;
    const arg = new Uint8Array(content.arg);
    if (this.hooks.beforeCall) {
      const r = await this.hooks.beforeCall({ method: methodName, kind, sender: Principal.fromUint8Array(sender), arg });
      if (r === 'destroy') return 'destroy';
      if (r) return r;
    }
    if (endpoint === 'query') return this._query(methodName, arg, sender, requestId);
    return this._call(methodName, arg, sender, requestId, version);
  }

  // -> { content, requestId, sender } or HttpError 400/403
  _authenticate(env) {
    const content = env && env.content;
    if (!content || typeof content !== 'object') throw new HttpError(400, 'envelope without content');
    const requestId = hashOfMap(content);
    const sender = new Uint8Array(content.sender || []);
    const expiry = BigInt(content.ingress_expiry ?? 0);
    const now = nowNs();
    if (expiry < now - SKEW_NS || expiry > now + MAX_EXPIRY_NS + SKEW_NS) {
      throw new HttpError(400, `Invalid request expiry: ${expiry} is not within [${now}, ${now + MAX_EXPIRY_NS}]`);
    }
    if (env.sender_delegation) throw new HttpError(400, 'sender_delegation: delegations are not supported by this test replica');
    if (eq(sender, ANONYMOUS)) {
      if (env.sender_pubkey || env.sender_sig) throw new HttpError(400, 'anonymous request with a key or signature');
      return { content, requestId, sender };
    }
    if (!env.sender_pubkey || !env.sender_sig) throw new HttpError(403, `request from ${Principal.fromUint8Array(sender).toText()} is not signed`);
    const der = new Uint8Array(env.sender_pubkey);
    const key = userKey(der);
    const expected = Principal.selfAuthenticating(der).toUint8Array();
    if (!eq(expected, sender)) {
      throw new HttpError(403, `sender ${Principal.fromUint8Array(sender).toText()} is not the principal of sender_pubkey (${Principal.fromUint8Array(expected).toText()})`);
    }
    if (!verifyUserSig(key, concat([REQUEST_DOMAIN, requestId]), Buffer.from(env.sender_sig))) {
      throw new HttpError(403, `invalid signature from ${Principal.fromUint8Array(sender).toText()} on request ${hexOf(requestId)}`);
    }
    return { content, requestId, sender };
  }

  // Runs the canister; -> {replied: reply} | {rejected: {code, message, error}}
  _execute(method, arg, sender, kind) {
    try {
      let reply = kind === 'update' ? this.replica.update(method, arg, sender) : this.replica.query(method, arg, sender);
      this.calls.push({ method, kind, sender: Principal.fromUint8Array(sender).toText() });
      if (this.hooks.reply) reply = this.hooks.reply({ method, kind, arg, reply: new Uint8Array(reply) }) || reply;
      return { replied: new Uint8Array(reply) };
    } catch (e) {
      if (!(e instanceof CallError)) throw e;
      this.calls.push({ method, kind, sender: Principal.fromUint8Array(sender).toText(), rejected: e.message });
      const r = REJECTS[e.kind] || REJECTS.error;
      return { rejected: { code: r.code, message: e.message, error: r.error } };
    }
  }

  _query(method, arg, sender, requestId) {
    const out = this._execute(method, arg, sender, 'query');
    const timestamp = nowNs();
    let response;
    if (out.replied) response = { status: 'replied', reply: { arg: out.replied } };
    else response = { status: 'rejected', reject_code: out.rejected.code, reject_message: out.rejected.message, error_code: out.rejected.error };
    const hash = hashOfMap({ ...response, timestamp, request_id: requestId });
    const signature = new Uint8Array(crypto.sign(null, concat([RESPONSE_DOMAIN, hash]), this.nodeKey));
    return { status: 200, body: cborEncode({ ...response, signatures: [{ timestamp, signature, identity: this.nodeId.toUint8Array() }] }) };
  }

  _call(method, arg, sender, requestId, version) {
    const key = hexOf(requestId);
    // a request seen before is not executed again (the IC deduplicates by request id)
    if (!this.requests.has(key)) {
      const out = this._execute(method, arg, sender, 'update');
      this.requests.set(key, { sender, ...out });
    }
    if (version === 'v2') return { status: 202 };
    const certificate = this._certificate(this._state(), [['time'], ['request_status', requestId]]);
    return { status: 200, body: cborEncode({ status: 'replied', certificate }) };
  }

  _readState(content, sender) {
    const paths = (content.paths || []).map((p) => p.map((l) => {
      if (!(l instanceof Uint8Array)) throw new HttpError(400, 'read_state: path labels must be blobs');
      return l;
    }));
    const cid = this.canisterId.toUint8Array();
    for (const p of paths) {
      const head = new TextDecoder().decode(p[0] || new Uint8Array());
      if (head === 'time' || head === 'subnet' || head === 'canister_ranges') continue;
      if (head === 'canister') {
        if (!p[1] || !eq(p[1], cid)) throw new HttpError(400, 'read_state of another canister than the effective one');
        continue;
      }
      if (head === 'request_status') {
        const r = p[1] && this.requests.get(hexOf(p[1]));
        if (r && !eq(r.sender, sender)) throw new HttpError(403, 'request_status of a request sent by another principal');
        continue;
      }
      throw new HttpError(404, `read_state path /${head} is not served`);
    }
    const certificate = this._certificate(this._state(), [['time'], ...paths]);
    return { status: 200, body: cborEncode({ certificate }) };
  }

  // ---------------------------------------------------------- state and certificates

  _state() {
    const cid = this.canisterId.toUint8Array();
    const canister = new Map([
      ['certified_data', this.replica.certified],
      ['controllers', cborEncode(this.replica.controllers)],
    ]);
    if (this.moduleHash) canister.set('module_hash', this.moduleHash);
    if (this.metadata.size) canister.set('metadata', new Map([...this.metadata]));
    const requests = new Map();
    for (const [k, r] of this.requests) {
      const entry = r.replied
        ? new Map([['status', utf8('replied')], ['reply', r.replied]])
        : new Map([['status', utf8('rejected')], ['reject_code', leb128(r.rejected.code)],
          ['reject_message', utf8(r.rejected.message)], ['error_code', utf8(r.rejected.error)]]);
      requests.set(new Uint8Array(Buffer.from(k, 'hex')), entry);
    }
    const ranges = cborEncode([[cid, cid]]);
    const subnet = new Map([[this.subnetId.toUint8Array(), new Map([
      ['public_key', this.root.der],
      ['canister_ranges', ranges],
      ['node', new Map([[this.nodeId.toUint8Array(), new Map([['public_key', this.nodeDer]])]])],
    ])]]);
    return new Map([
      ['time', leb128(nowNs())],
      ['canister', new Map([[cid, canister]])],
      ['request_status', requests],
      ['subnet', subnet],
    ]);
  }

  _certificate(state, paths) {
    const tree = buildTree(state, paths.map((p) => p.map(label)));
    const msg = concat([STATE_ROOT_DOMAIN, treeDigest(tree)]);
    const bls = bls12_381.shortSignatures;
    const signature = bls.sign(bls.hash(msg), this.signer.secretKey).toBytes();
    return cborEncode({ tree, signature });
  }
}
