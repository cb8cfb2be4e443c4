// e2e.test.mjs - the tiny model's .novaq (made by `novaq local`) through the canister:
// chunked out-of-order upload with an upgrade in the middle, commit, activate, list, and
// every way of reading it back (get_shard, get_chunk, http_request + streaming), compared
// byte for byte with the file; then an upgrade after activation loses nothing.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  ADMIN, ALICE, ANONYMOUS, DID_TEXT, WASM_PATH, NOVAQ_FILE, call, createModel, hex, httpGet,
  newCanister, sha256, stateName, uploadFile,
} from './harness.mjs';

const file = new Uint8Array(fs.readFileSync(NOVAQ_FILE));
const CHUNK = 500_000;

function readAllShards(replica, id, info) {
  const out = new Uint8Array(file.length);
  let covered = 0;
  for (let s = 0; s < info.shard_count; s++) {
    let off = 0n, size = null, parts = [];
    do { // slices of 300 kB: exercises offset/length chunking
      const r = call(replica, ANONYMOUS, 'get_shard', { model_id: id, shard: s, offset: off, length: [300_000n] });
      assert.equal(r.length, 1, `shard ${s} at ${off}`);
      size = r[0].shard_size;
      parts.push(Uint8Array.from(r[0].data));
      off += BigInt(r[0].data.length);
      var sha = r[0].sha256;
    } while (off < size);
    const bytes = Buffer.concat(parts);
    assert.equal(hex(sha256(bytes)), hex(sha), `shard ${s} hash`);
    const m = JSON.parse(call(replica, ANONYMOUS, 'get_manifest_json', id)[0]);
    const at = m.shards[s].offset;
    out.set(bytes, at);
    covered += bytes.length;
  }
  return { out, covered };
}

test('embedded candid interface is candid/novaq.did', async () => {
  const mod = await WebAssembly.compile(fs.readFileSync(WASM_PATH));
  const sec = WebAssembly.Module.customSections(mod, 'icp:public candid:service');
  assert.equal(sec.length, 1);
  assert.equal(Buffer.from(sec[0]).toString('utf8'), DID_TEXT);
  // what it was built from: the Debian source versions scripts/fetch-deb-sources.sh verified
  const build = WebAssembly.Module.customSections(mod, 'icp:public novaq:build');
  assert.equal(build.length, 1);
  assert.match(Buffer.from(build[0]).toString('utf8'),
    /^novaq \d+\.\d+\.\d+ canister; zstd and cJSON from Debian source libzstd \S+ \(\S+\), cjson \S+ \(\S+\)$/);
  // every method of the .did is exported with the right kind, and nothing else is
  const { methods } = await import('./harness.mjs');
  const exported = WebAssembly.Module.exports(mod).map((e) => e.name).filter((n) => n.startsWith('canister_'));
  const expect = [...methods].map(([n, f]) => (f.annotations.includes('query') ? 'canister_query ' : 'canister_update ') + n);
  for (const e of expect) assert.ok(exported.includes(e), `missing export ${e}`);
  const lifecycle = ['canister_init', 'canister_pre_upgrade', 'canister_post_upgrade'];
  for (const e of exported) assert.ok(expect.includes(e) || lifecycle.includes(e), `export ${e} not in the .did`);
});

test('dfx.json deploys this wasm with this interface', () => {
  const dfx = JSON.parse(fs.readFileSync(new URL('../../dfx.json', import.meta.url), 'utf8'));
  const c = dfx.canisters.novaq;
  assert.equal(c.type, 'custom');
  assert.equal(c.candid, 'candid/novaq.did');
  assert.ok(WASM_PATH.endsWith(c.wasm), `${c.wasm} is what scripts/build-canister.sh writes`);
  assert.deepEqual(c.metadata, [{ name: 'candid:service' }]);
});

test('tiny model: upload, commit, activate, serve, upgrade', async () => {
  const replica = await newCanister();
  const id = createModel(replica, ALICE, file);
  assert.equal(id, '1');
  const n = Math.ceil(file.length / CHUNK);
  assert.ok(n >= 3, 'the file needs several chunks');
  // first half of the chunks, out of order, one sent twice (idempotent)
  const order = [...Array(n).keys()].reverse();
  const first = order.slice(0, Math.ceil(n / 2));
  uploadFile(replica, ALICE, id, file, CHUNK, [...first, first[0]]);
  let info = call(replica, ANONYMOUS, 'get_model', id)[0];
  assert.equal(stateName(info.state), 'Uploading');
  const receivedBefore = info.received_bytes;

  await replica.upgrade(); // upgrade in the middle of an upload
  info = call(replica, ANONYMOUS, 'get_model', id)[0];
  assert.equal(info.received_bytes, receivedBefore, 'upload progress survives the upgrade');

  const progress = uploadFile(replica, ALICE, id, file, CHUNK, order.slice(first.length));
  assert.equal(progress.received_bytes, BigInt(file.length));
  assert.equal(progress.missing_ranges, 0);

  const report = call(replica, ALICE, 'commit', id);
  assert.deepEqual(report.problems, []);
  assert.equal(report.ok, true);
  assert.equal(stateName(report.state), 'Validated');
  const manifest = JSON.parse(call(replica, ANONYMOUS, 'get_manifest_json', id)[0]);
  assert.equal(report.shard_count, manifest.shards.length);
  assert.equal(report.tensor_count, manifest.tensors.length);
  assert.equal(hex(report.root_hash[0]), manifest.root_hash);
  assert.ok(report.instructions > 0n, 'commit reports its instruction count');

  call(replica, ALICE, 'activate', id);
  const list = call(replica, ANONYMOUS, 'list_models', []);
  assert.equal(list.length, 1);
  assert.equal(stateName(list[0].state), 'Active');
  assert.equal(list[0].owner.toText(), ALICE.toText());
  assert.equal(list[0].name, 'novaq-tiny-llama');
  const bpw = (8 * file.length) / manifest.stats.weights;
  assert.ok(Math.abs(list[0].bits_per_weight - bpw) < 1e-9, `${list[0].bits_per_weight} vs ${bpw}`);
  const original = manifest.source.files.reduce((a, f) => a + f.size, 0);
  assert.ok(Math.abs(list[0].compression_ratio - original / file.length) < 1e-9);

  // get_shard: every shard, in slices, lands at its manifest offset with its hash
  info = call(replica, ANONYMOUS, 'get_model', id)[0];
  const { out, covered } = readAllShards(replica, id, info);
  const firstShard = manifest.shards[0].offset;
  const manifestStart = firstShard + manifest.shards.reduce((a, s) => a + s.size, 0);
  assert.equal(covered, manifestStart - firstShard);
  assert.deepEqual(out.subarray(firstShard, manifestStart), file.subarray(firstShard, manifestStart));

  // OHMS shape: manifest with chunks covering the file; get_chunk; sha256 per chunk
  const om = call(replica, ANONYMOUS, 'get_manifest', id)[0];
  assert.equal(stateName(om.state), 'Active');
  assert.equal(om.checksum, manifest.root_hash);
  assert.equal(om.total_size_bytes, BigInt(file.length));
  assert.equal(om.chunk_count, om.chunks.length);
  const pieces = [];
  let at = 0n;
  for (const c of om.chunks) {
    assert.equal(c.offset, at, `chunk ${c.chunk_id} is contiguous`);
    const blob = call(replica, ANONYMOUS, 'get_chunk', id, c.chunk_id)[0];
    assert.equal(BigInt(blob.length), c.size_bytes);
    assert.ok(blob.length <= 2 * 1024 * 1024, 'OHMS chunks stay under 2 MiB');
    assert.equal(hex(sha256(blob)), c.sha256);
    pieces.push(Uint8Array.from(blob));
    at += c.size_bytes;
  }
  assert.deepEqual(new Uint8Array(Buffer.concat(pieces)), file);
  assert.deepEqual(call(replica, ANONYMOUS, 'get_chunk', id, String(om.chunks.length)), []);

  // HTTP: whole file (streamed: bigger than one reply), manifest, a shard, the list
  const whole = httpGet(replica, `/models/${id}/model.novaq`);
  assert.equal(whole.status_code, 200);
  assert.equal(whole.callbackCalls, Math.ceil(file.length / 1_900_000) - 1, 'bodies over 1.9 MB are streamed');
  assert.deepEqual(new Uint8Array(whole.fullBody), file);
  assert.equal(whole.headerMap['content-length'], String(file.length));
  const mj = httpGet(replica, `/models/${id}/manifest.json?x=1`);
  assert.equal(mj.headerMap['content-type'], 'application/json');
  assert.deepEqual(JSON.parse(mj.fullBody.toString('utf8')), manifest);
  const s0 = httpGet(replica, `/models/${id}/shards/0`);
  assert.equal(s0.headerMap['x-novaq-sha256'], manifest.shards[0].sha256);
  assert.equal(hex(sha256(s0.fullBody)), manifest.shards[0].sha256);
  const models = JSON.parse(httpGet(replica, '/models').fullBody.toString('utf8'));
  assert.equal(models.length, 1);
  assert.equal(models[0].state, 'Active');
  assert.equal(models[0].owner, ALICE.toText());
  assert.equal(httpGet(replica, '/nothing').status_code, 404);
  assert.equal(httpGet(replica, `/models/${id}/shards/${manifest.shards.length}`).status_code, 404);

  // certified data: SHA-256 over (u64 id | u8 state | root) of committed models
  const reg = call(replica, ANONYMOUS, 'certified_registry');
  const entry = Buffer.alloc(41);
  entry.writeBigUInt64LE(1n, 0);
  entry[8] = 2; // Active
  Buffer.from(manifest.root_hash, 'hex').copy(entry, 9);
  assert.equal(hex(reg.certified_hash), hex(sha256(entry)));
  assert.equal(hex(replica.certified), hex(sha256(entry)));
  assert.ok(Buffer.from(reg.certificate[0]).toString('latin1').includes(Buffer.from(replica.certified).toString('latin1')));

  // upgrade after activation: nothing lost
  const before = { list: call(replica, ANONYMOUS, 'list_models', []), certified: hex(replica.certified) };
  await replica.upgrade();
  assert.deepEqual(call(replica, ANONYMOUS, 'list_models', []), before.list);
  assert.equal(hex(replica.certified), before.certified);
  const again = httpGet(replica, `/models/${id}/model.novaq`);
  assert.deepEqual(new Uint8Array(again.fullBody), file);
  const om2 = call(replica, ANONYMOUS, 'get_manifest', id)[0];
  assert.deepEqual(om2, om);

  // deprecate, then delete: storage and quota are released
  call(replica, ALICE, 'deprecate', id);
  assert.equal(stateName(call(replica, ANONYMOUS, 'get_model', id)[0].state), 'Deprecated');
  assert.ok(call(replica, ALICE, 'get_quota', []).used_bytes > 0n);
  call(replica, ALICE, 'delete_model', id);
  assert.deepEqual(call(replica, ANONYMOUS, 'get_model', id), []);
  assert.equal(call(replica, ALICE, 'get_quota', []).used_bytes, 0n);
  assert.equal(call(replica, ADMIN, 'stats').data_bytes_reserved, 0n);
  const empty = call(replica, ANONYMOUS, 'certified_registry');
  assert.equal(empty.entries.length, 0);
  assert.equal(hex(replica.certified), hex(sha256(new Uint8Array(0))));
});

const BIG = process.env.NOVAQ_BIGSHARD_NOVAQ;
test('a shard bigger than one reply (embeddings kept raw): get_shard slices, HTTP streams, OHMS chunks split', { skip: !BIG && 'NOVAQ_BIGSHARD_NOVAQ not set (scripts/test-canister.sh sets it)' }, async () => {
  const big = new Uint8Array(fs.readFileSync(BIG));
  const replica = await newCanister();
  const id = createModel(replica, ALICE, big);
  const n = Math.ceil(big.length / 1_900_000);
  uploadFile(replica, ALICE, id, big, 1_900_000, [...Array(n).keys()].reverse());
  const rep = call(replica, ALICE, 'commit', id);
  assert.equal(rep.ok, true, JSON.stringify(rep.problems));
  const manifest = JSON.parse(call(replica, ANONYMOUS, 'get_manifest_json', id)[0]);
  const s0 = manifest.shards[0];
  assert.ok(s0.size > 2_000_000, `shard 0 is ${s0.size} bytes`);
  const first = call(replica, ANONYMOUS, 'get_shard', { model_id: id, shard: 0, offset: 0n, length: [] })[0];
  assert.equal(first.data.length, 2_000_000, 'one reply carries at most 2,000,000 bytes');
  const rest = call(replica, ANONYMOUS, 'get_shard', { model_id: id, shard: 0, offset: 2_000_000n, length: [] })[0];
  const shard = Buffer.concat([Uint8Array.from(first.data), Uint8Array.from(rest.data)]);
  assert.deepEqual(new Uint8Array(shard), big.subarray(s0.offset, s0.offset + s0.size));
  assert.equal(hex(sha256(shard)), s0.sha256);
  const h = httpGet(replica, `/models/${id}/shards/0`);
  assert.ok(h.callbackCalls >= 1);
  assert.equal(hex(sha256(h.fullBody)), s0.sha256);
  const whole = httpGet(replica, `/models/${id}/model.novaq`);
  assert.ok(big.length > 2 * 1_900_000 && whole.callbackCalls >= 2, 'streamed in three or more slices');
  assert.equal(whole.callbackPrincipal.toText(), 'rrkah-fqaaa-aaaaa-aaaaq-cai', 'the callback is this canister');
  assert.deepEqual(new Uint8Array(whole.fullBody), big);
  const om = call(replica, ANONYMOUS, 'get_manifest', id)[0];
  const parts = om.chunks.map((c) => {
    const b = call(replica, ANONYMOUS, 'get_chunk', id, c.chunk_id)[0];
    assert.ok(b.length <= 1 << 20 || b.length === s0.size, `chunk ${c.chunk_id}: ${b.length} bytes`);
    assert.ok(b.length <= 2_000_000);
    assert.equal(hex(sha256(b)), c.sha256);
    return Uint8Array.from(b);
  });
  assert.deepEqual(new Uint8Array(Buffer.concat(parts)), big);
});
