// badinput.test.mjs - every write path refuses what it must, with a clear message, and
// leaves the canister's state unchanged: wrong callers, wrong states, unknown ids,
// oversize chunks, quota, damaged uploads (commit names the shard), malformed Candid
// (random bytes to every method), and a trap in the middle of a write.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import crypto from 'node:crypto';
import {
  ADMIN, ALICE, BOB, ANONYMOUS, NOVAQ_FILE, call, callRaw, createModel, hex, methods, newCanister,
  rejects, sha256, stateName, uploadFile,
} from './harness.mjs';

const file = new Uint8Array(fs.readFileSync(NOVAQ_FILE));
const manifestOf = (bytes) => {
  const foot = Buffer.from(bytes.subarray(bytes.length - 56));
  const off = Number(foot.readBigUInt64LE(0)), size = Number(foot.readBigUInt64LE(8));
  return JSON.parse(Buffer.from(bytes.subarray(off, off + size)).toString('utf8'));
};
const manifest = manifestOf(file);

async function uploaded(owner = ALICE) {
  const r = await newCanister();
  const id = createModel(r, owner, file);
  uploadFile(r, owner, id, file);
  return { r, id };
}

test('wrong caller: only the owner or a controller may write', async () => {
  const { r, id } = await uploaded();
  const chunk = { model_id: id, offset: 0n, data: file.subarray(0, 100), sha256: [] };
  rejects(() => call(r, BOB, 'upload_chunk', chunk), /only the model's owner or a controller/);
  rejects(() => call(r, BOB, 'commit', id), /only the model's owner or a controller/);
  rejects(() => call(r, ANONYMOUS, 'commit', id), /only the model's owner or a controller/);
  assert.equal(call(r, ALICE, 'commit', id).ok, true);
  rejects(() => call(r, BOB, 'activate', id), /only the model's owner or a controller/);
  rejects(() => call(r, BOB, 'delete_model', id), /only the model's owner or a controller/);
  call(r, ADMIN, 'activate', id); // controllers may activate
  rejects(() => call(r, BOB, 'deprecate', id), /only the model's owner or a controller/);
  assert.equal(stateName(call(r, BOB, 'get_model', id)[0].state), 'Active');
  rejects(() => call(r, BOB, 'set_quota', BOB, 1n << 40n), /only controllers/);
  rejects(() => call(r, ALICE, 'set_default_quota', 1n << 40n), /only controllers/);
  rejects(() => createModel(r, ANONYMOUS, file), /anonymous principal cannot own models/);
  call(r, ADMIN, 'delete_model', id);
  assert.deepEqual(call(r, BOB, 'list_models', []), []);
});

test('wrong states and unknown ids', async () => {
  const r = await newCanister();
  const id = createModel(r, ALICE, file);
  rejects(() => call(r, ALICE, 'activate', id), /activate: model 1 is Uploading, must be Validated/);
  rejects(() => call(r, ALICE, 'deprecate', id), /is Uploading, must be Active/);
  for (const bad of ['2', '0', '01', 'x', '', '1'.repeat(30)]) {
    rejects(() => call(r, ALICE, 'commit', bad), /unknown model id/);
    rejects(() => call(r, ALICE, 'upload_chunk', { model_id: bad, offset: 0n, data: new Uint8Array(1), sha256: [] }), /unknown model id/);
    assert.deepEqual(call(r, ALICE, 'get_model', bad), []);
    assert.deepEqual(call(r, ALICE, 'get_manifest', bad), []);
    assert.deepEqual(call(r, ALICE, 'get_chunk', bad, '0'), []);
  }
  // commit with gaps: the report lists them, the model stays Uploading
  call(r, ALICE, 'upload_chunk', { model_id: id, offset: 1000n, data: file.subarray(1000, 5000), sha256: [] });
  const rep = call(r, ALICE, 'commit', id);
  assert.equal(rep.ok, false);
  assert.deepEqual(rep.problems.map((p) => p.message), [
    'bytes [0, 1000) were never uploaded', `bytes [5000, ${file.length}) were never uploaded`]);
  assert.equal(stateName(rep.state), 'Uploading');
  // nothing is served before commit
  assert.deepEqual(call(r, ANONYMOUS, 'get_shard', { model_id: id, shard: 0, offset: 0n, length: [] }), []);
  assert.deepEqual(call(r, ANONYMOUS, 'get_manifest_json', id), []);
  assert.equal(stateName(call(r, ANONYMOUS, 'get_manifest', id)[0].state), 'Pending');
  uploadFile(r, ALICE, id, file);
  assert.equal(call(r, ALICE, 'commit', id).ok, true);
  rejects(() => call(r, ALICE, 'commit', id), /already Validated/);
  rejects(() => call(r, ALICE, 'upload_chunk', { model_id: id, offset: 0n, data: file.subarray(0, 10), sha256: [] }), /is Validated; uploads are closed/);
  rejects(() => call(r, ANONYMOUS, 'get_shard', { model_id: id, shard: 0, offset: 10n ** 9n, length: [] }), /past the end of shard 0/);
  assert.deepEqual(call(r, ANONYMOUS, 'get_shard', { model_id: id, shard: 99, offset: 0n, length: [] }), []);
});

test('size limits: oversize chunks, out-of-range writes, bad create arguments', async () => {
  const r = await newCanister();
  const id = createModel(r, ALICE, file);
  const big = new Uint8Array(1_900_001);
  rejects(() => call(r, ALICE, 'upload_chunk', { model_id: id, offset: 0n, data: big, sha256: [] }),
    /chunk of 1900001 bytes exceeds the 1900000-byte limit/);
  rejects(() => call(r, ALICE, 'upload_chunk', { model_id: id, offset: 0n, data: new Uint8Array(2_200_000), sha256: [] }),
    /ingress payload of \d+ bytes exceeds/);
  rejects(() => call(r, ALICE, 'upload_chunk', { model_id: id, offset: BigInt(file.length - 10), data: new Uint8Array(11), sha256: [] }),
    /outside the declared size/);
  rejects(() => call(r, ALICE, 'upload_chunk', { model_id: id, offset: (1n << 64n) - 1n, data: new Uint8Array(2), sha256: [] }),
    /outside the declared size/);
  rejects(() => call(r, ALICE, 'upload_chunk', { model_id: id, offset: 0n, data: file.subarray(0, 100), sha256: [sha256(file.subarray(1, 101))] }),
    /SHA-256 of bytes \[0, \+100\) is [0-9a-f]{64}, not the sha256 given/);
  assert.equal(call(r, ALICE, 'get_model', id)[0].received_bytes, 0n, 'rejected chunks store nothing');
  rejects(() => createModel(r, ALICE, file, { name: '' }), /name must be 1..128 bytes/);
  rejects(() => createModel(r, ALICE, file, { name: 'x'.repeat(129) }), /name must be 1..128 bytes/);
  rejects(() => createModel(r, ALICE, file, { description: 'd'.repeat(4097) }), /description is 4097 bytes/);
  rejects(() => createModel(r, ALICE, file, { size_bytes: 10n }), /size_bytes 10 outside/);
  rejects(() => createModel(r, ALICE, file, { size_bytes: 1n << 40n }), /size_bytes \d+ outside/);
  rejects(() => createModel(r, ALICE, file, { expected_root_hash: [new Uint8Array(31)] }), /must be 32 bytes/);
  // more than 200 disjoint ranges is refused, one more chunk that joins two is fine
  const id2 = createModel(r, BOB, file);
  for (let i = 0; i < 200; i++) call(r, BOB, 'upload_chunk', { model_id: id2, offset: BigInt(i * 10), data: new Uint8Array(5), sha256: [] });
  rejects(() => call(r, BOB, 'upload_chunk', { model_id: id2, offset: 5000n, data: new Uint8Array(5), sha256: [] }), /more than 200 disjoint/);
  const p = call(r, BOB, 'upload_chunk', { model_id: id2, offset: 5n, data: new Uint8Array(5), sha256: [] });
  assert.equal(p.received_bytes, 1005n);
});

test('quota: per principal, set by controllers', async () => {
  const r = await newCanister();
  rejects(() => call(r, ALICE, 'set_quota', BOB, 1_000_000n), /only controllers may set quotas/);
  call(r, ADMIN, 'set_quota', BOB, 1_000_000n);
  assert.equal(call(r, BOB, 'get_quota', []).quota_bytes, 1_000_000n);
  rejects(() => createModel(r, BOB, file), /quota exceeded: 0 bytes in use \+ \d+ requested > quota 1000000/);
  call(r, ADMIN, 'set_default_quota', 3_000_000n);
  const id = createModel(r, ALICE, file); // 2.3 MB rounds to 2.36 MB of the 3 MB default
  rejects(() => createModel(r, ALICE, file), /quota exceeded/);
  call(r, ALICE, 'delete_model', id);
  createModel(r, ALICE, file); // freed quota can be used again
  call(r, ADMIN, 'set_quota', BOB, 10_000_000n);
  createModel(r, BOB, file);
  assert.equal(call(r, ADMIN, 'stats').model_count, 2);
});

test('damaged upload: commit reports the shard, re-upload fixes it', async () => {
  const r = await newCanister();
  const id = createModel(r, ALICE, file);
  const bad = file.slice();
  const s1 = manifest.shards[1];
  const flip = s1.offset + Math.floor(s1.size / 2);
  bad[flip] ^= 0x40;
  uploadFile(r, ALICE, id, bad);
  const rep = call(r, ALICE, 'commit', id);
  assert.equal(rep.ok, false);
  assert.equal(stateName(rep.state), 'Uploading');
  const where = rep.problems.map((p) => `${p.location}: ${p.message}`).join('\n');
  assert.match(where, new RegExp(`shard 1: SHA-256 mismatch: bytes \\[${s1.offset}, \\+${s1.size}\\)`));
  assert.doesNotMatch(where, /shard 0:/);
  // expected root hash given at create time must match
  const id2 = createModel(r, ALICE, file, { expected_root_hash: [new Uint8Array(32).fill(7)] });
  uploadFile(r, ALICE, id2, file);
  const rep2 = call(r, ALICE, 'commit', id2);
  assert.equal(rep2.ok, false);
  assert.match(rep2.problems[0].message, /root_hash [0-9a-f]{64} differs from the expected 0707/);
  // re-upload the damaged range and commit again
  const off = Math.floor(flip / 1000) * 1000;
  call(r, ALICE, 'upload_chunk', { model_id: id, offset: BigInt(off), data: file.subarray(off, off + 1000), sha256: [] });
  const ok = call(r, ALICE, 'commit', id);
  assert.equal(ok.ok, true, JSON.stringify(ok.problems));
  assert.equal(hex(ok.root_hash[0]), manifest.root_hash);
  // a file that is not a .novaq at all
  const junk = crypto.randomBytes(5000);
  const id3 = createModel(r, ALICE, junk);
  uploadFile(r, ALICE, id3, new Uint8Array(junk));
  const rep3 = call(r, ALICE, 'commit', id3);
  assert.equal(rep3.ok, false);
  assert.ok(rep3.problems.length >= 1);
});

test('malformed Candid: random bytes to every method are rejected, state unchanged', async () => {
  const { r, id } = await uploaded();
  const before = call(r, ANONYMOUS, 'list_models', []);
  const stableBefore = hex(sha256(r.stableBytes()));
  let seed = 1;
  const rand = (n) => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) { seed = (seed * 1103515245 + 12345) >>> 0; b[i] = seed >>> 24; } return b; };
  for (const name of methods.keys()) {
    for (const input of [rand(0), rand(3), rand(64), Uint8Array.from([...Buffer.from('DIDL'), ...rand(40)]),
      Uint8Array.from([0x44, 0x49, 0x44, 0x4c, 0x01, 0x6d, 0x7f, 0x01, 0x00, 0x80, 0x80, 0x80, 0x80, 0x10])]) {
      const e = rejects(() => callRaw(r, ALICE, name, input), /invalid arguments: candid: /);
      assert.equal(e.kind, 'reject', `${name}: ${e.message}`);
    }
  }
  assert.deepEqual(call(r, ANONYMOUS, 'list_models', []), before);
  assert.equal(hex(sha256(r.stableBytes())), stableBefore);
  assert.equal(call(r, ALICE, 'commit', id).ok, true, 'still works afterwards');
});

test('a trap in the middle of a write leaves no half-written state', async () => {
  const r = await newCanister();
  const id = createModel(r, ALICE, file);
  call(r, ALICE, 'upload_chunk', { model_id: id, offset: 0n, data: file.subarray(0, 1000), sha256: [] });
  const stableBefore = hex(sha256(r.stableBytes()));
  const infoBefore = call(r, ALICE, 'get_model', id);
  for (const nth of [1, 2]) { // trap during the data write, then during the record write
    r.faults.trapAtStableWrite = nth;
    const e = rejects(() => call(r, ALICE, 'upload_chunk', { model_id: id, offset: 1000n, data: file.subarray(1000, 600_000), sha256: [] }),
      /injected fault/);
    assert.equal(e.kind, 'trap');
    assert.equal(hex(sha256(r.stableBytes())), stableBefore, `stable memory rolled back (write ${nth})`);
    assert.deepEqual(call(r, ALICE, 'get_model', id), infoBefore);
  }
  uploadFile(r, ALICE, id, file);
  r.faults.trapAtStableWrite = 3; // during commit's bookkeeping after validation
  const certBefore = hex(r.certified);
  rejects(() => call(r, ALICE, 'commit', id), /injected fault/);
  assert.equal(stateName(call(r, ALICE, 'get_model', id)[0].state), 'Uploading');
  assert.equal(hex(r.certified), certBefore);
  assert.equal(call(r, ALICE, 'commit', id).ok, true);
});

test('upgrade keeps every model and refuses a foreign stable memory', async () => {
  const { r, id } = await uploaded();
  assert.equal(call(r, ALICE, 'commit', id).ok, true);
  const id2 = createModel(r, BOB, file);
  call(r, BOB, 'upload_chunk', { model_id: id2, offset: 0n, data: file.subarray(0, 4096), sha256: [] });
  const before = call(r, ANONYMOUS, 'list_models', []);
  for (let i = 0; i < 3; i++) await r.upgrade();
  assert.deepEqual(call(r, ANONYMOUS, 'list_models', []), before);
  // a store with the wrong magic: post_upgrade traps and the old instance stays in place
  r._stableWrite(new Uint8Array([0x58]), 0, 0, 1);
  await assert.rejects(r.upgrade(), /post_upgrade: stable memory superblock magic is not NQSTORE1/);
});

test('list_models pages in id order', async () => {
  const r = await newCanister();
  const small = file.subarray(0, 4096);
  const ids = [];
  for (let i = 0; i < 7; i++) ids.push(createModel(r, i % 2 ? ALICE : BOB, small, { name: `m${i}` }));
  call(r, ALICE, 'delete_model', ids[1]);  // frees slot 1: the next model reuses it
  ids.push(createModel(r, ALICE, small, { name: 'm7' }));
  const live = ids.filter((x) => x !== ids[1]);
  const all = call(r, ANONYMOUS, 'list_models', []);
  assert.deepEqual(all.map((m) => m.model_id), live);
  const seen = [];
  let after = [];
  for (;;) {
    const page = call(r, ANONYMOUS, 'list_models', [{ after, limit: [3] }]);
    if (!page.length) break;
    assert.ok(page.length <= 3);
    seen.push(...page.map((m) => m.model_id));
    after = [page[page.length - 1].model_id];
  }
  assert.deepEqual(seen, live);
  rejects(() => call(r, ANONYMOUS, 'list_models', [{ after: ['x'], limit: [] }]), /'after' is not a model id/);
  const head = call(r, ANONYMOUS, 'http_request', { method: 'HEAD', url: '/models', headers: [], body: new Uint8Array(0), certificate_version: [] });
  assert.equal(head.body.length, 0);
  assert.ok(Number(Object.fromEntries(head.headers)['content-length']) > 100);
  const post = call(r, ANONYMOUS, 'http_request', { method: 'POST', url: '/models', headers: [], body: new Uint8Array(0), certificate_version: [] });
  assert.equal(post.status_code, 405);
  assert.match(Buffer.from(post.body).toString(), /only GET is supported/);
});

test('a commit over the instruction limit traps and changes nothing', async () => {
  const r = await newCanister({ instructionLimits: { update: 200e6, query: 5e9, system: 300e9 } });
  const id = createModel(r, ALICE, file);
  uploadFile(r, ALICE, id, file);
  const stableBefore = hex(sha256(r.stableBytes()));
  const e = rejects(() => call(r, ALICE, 'commit', id), /instruction limit exceeded/);
  assert.equal(e.kind, 'trap');
  assert.equal(hex(sha256(r.stableBytes())), stableBefore);
  assert.equal(stateName(call(r, ALICE, 'get_model', id)[0].state), 'Uploading');
  r.instructionLimits = { update: 40e9, query: 5e9, system: 300e9 };
  assert.equal(call(r, ALICE, 'commit', id).ok, true);
});

test('stable memory full: create_model is refused, nothing reserved', async () => {
  const r = await newCanister({ maxStablePages: 1024 + 40 }); // 64 MiB of tables + 2.5 MiB
  const small = file.subarray(0, 1_000_000);
  const id = createModel(r, ALICE, small);
  rejects(() => createModel(r, ALICE, file), /stable memory cannot hold \d+ more bytes/);
  assert.equal(call(r, ALICE, 'get_quota', []).used_bytes, 1_048_576n);
  call(r, ALICE, 'delete_model', id); // the freed extent is reused
  createModel(r, ALICE, file);
});

test('501 models with 4 KB descriptions: list pages stay under the reply limit', async () => {
  const r = await newCanister();
  call(r, ADMIN, 'set_default_quota', 1n << 40n);
  const small = file.subarray(0, 100);
  const desc = 'd'.repeat(4096);
  for (let i = 0; i < 501; i++) createModel(r, i % 2 ? ALICE : BOB, small, { name: 'n'.repeat(128), description: desc });
  const first = call(r, ANONYMOUS, 'list_models', [{ after: [], limit: [100000] }]);
  assert.equal(first.length, 500, 'at most 500 per page');
  const rest = call(r, ANONYMOUS, 'list_models', [{ after: [first[499].model_id], limit: [100000] }]);
  assert.deepEqual(rest.map((m) => m.model_id), ['501']);
  assert.equal(call(r, ANONYMOUS, 'list_models', []).length, 100);
  await r.upgrade(); // the heap cache of slots is rebuilt
  assert.equal(call(r, ANONYMOUS, 'get_model', '378')[0].model_id, '378');
  call(r, ALICE, 'delete_model', '378');
  assert.deepEqual(call(r, ANONYMOUS, 'get_model', '378'), []);
  const again = createModel(r, ALICE, small);
  assert.equal(again, '502');
  assert.equal(call(r, ANONYMOUS, 'get_model', '502')[0].owner.toText(), ALICE.toText());
});
