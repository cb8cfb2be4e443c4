// identity-canister.mjs - helper of scripts/check-identity.sh: runs one revision's canister
// wasm under that revision's emulator (tests/canister/harness.mjs, as tests/canister/e2e.test.mjs
// does), uploads a .novaq, commits and activates it, and prints the SHA-256 of what the canister
// serves back, one line each:
//   canister/commit-report     the commit reply (validation report)
//   canister/model-info        get_model                     canister/manifest-json  get_manifest_json
//   canister/candid-shard<i>   get_shard, all slices          canister/http-shard<i>  GET /models/1/shards/<i>
//   canister/http-model        GET /models/1/model.novaq       canister/http-manifest  GET .../manifest.json
//   canister/http-model-info   GET /models/1                   canister/http-models    GET /models
//   canister/http-headers      status and headers of those GETs
//   canister/ohms-manifest     get_manifest                   canister/ohms-chunk<id> get_chunk
//   canister/certified-hash    certified_registry's hash
// Structured replies are hashed as canonical JSON (sorted keys, bigints as decimal strings,
// blobs as hex, principals as text) without the time-varying or cost fields: every *_at
// timestamp, instruction counters, and the certificate.
// usage: node scripts/identity-canister.mjs <revision root> <canister.wasm> <file.novaq>
import fs from 'node:fs';
import crypto from 'node:crypto';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [root, wasm, novaq] = process.argv.slice(2);
if (!root || !wasm || !novaq) {
  console.error('usage: identity-canister.mjs <revision root> <canister.wasm> <file.novaq>');
  process.exit(2);
}
process.env.NOVAQ_CANISTER_WASM = path.resolve(wasm); // read by harness.mjs when it loads
const h = await import(pathToFileURL(path.join(root, 'tests/canister/harness.mjs')).href);

const sha = (b) => crypto.createHash('sha256').update(b).digest('hex');
const dropped = (k) => /_at$/.test(k) || /instructions$/.test(k) || k === 'certificate';
function canon(v) {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array || ArrayBuffer.isView(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
  if (v && typeof v.toText === 'function' && typeof v.toUint8Array === 'function') return v.toText(); // Principal
  if (Array.isArray(v)) return v.map(canon);
  if (v && typeof v === 'object') {
    const o = {};
    for (const k of Object.keys(v).sort()) if (!dropped(k)) o[k] = canon(v[k]);
    return o;
  }
  return v;
}
const json = (v) => JSON.stringify(canon(v));
const out = [];
const put = (label, bytes) => out.push(`canister/${label} ${sha(bytes)}`);

const file = new Uint8Array(fs.readFileSync(novaq));
const replica = await h.newCanister();
const id = h.createModel(replica, h.ALICE, file);
h.uploadFile(replica, h.ALICE, id, file, 500_000);
const report = h.call(replica, h.ALICE, 'commit', id);
if (!report.ok) throw new Error(`commit failed: ${json(report.problems)}`);
put('commit-report', json(report));
h.call(replica, h.ALICE, 'activate', id);
put('model-info', json(h.call(replica, h.ANONYMOUS, 'get_model', id)));
const manifestText = h.call(replica, h.ANONYMOUS, 'get_manifest_json', id)[0];
put('manifest-json', manifestText);
const manifest = JSON.parse(manifestText);

const heads = [];
const get = (url) => {
  const r = h.httpGet(replica, url);
  heads.push([url, r.status_code, r.headers]);
  if (r.status_code !== 200) throw new Error(`GET ${url}: ${r.status_code}`);
  return r.fullBody;
};
for (let s = 0; s < manifest.shards.length; s++) {
  const parts = [];
  let off = 0n, size;
  do {
    const r = h.call(replica, h.ANONYMOUS, 'get_shard', { model_id: id, shard: s, offset: off, length: [] })[0];
    size = r.shard_size;
    parts.push(Uint8Array.from(r.data));
    off += BigInt(r.data.length);
  } while (off < size);
  put(`candid-shard${s}`, Buffer.concat(parts));
  put(`http-shard${s}`, get(`/models/${id}/shards/${s}`));
}
put('http-model', get(`/models/${id}/model.novaq`));
put('http-manifest', get(`/models/${id}/manifest.json`));
put('http-model-info', json(JSON.parse(get(`/models/${id}`).toString('utf8'))));
put('http-models', json(JSON.parse(get('/models').toString('utf8'))));
put('http-headers', json(heads));

const om = h.call(replica, h.ANONYMOUS, 'get_manifest', id)[0];
put('ohms-manifest', json(om));
for (const c of om.chunks) put(`ohms-chunk${c.chunk_id}`, Uint8Array.from(h.call(replica, h.ANONYMOUS, 'get_chunk', id, c.chunk_id)[0]));
put('certified-hash', canon(h.call(replica, h.ANONYMOUS, 'certified_registry').certified_hash));
console.log(out.join('\n'));
