// ic-client.test.mjs - ic/client.mjs and bin/novaq-ic.mjs, with the real agent
// (@icp-sdk/core), against the real canister wasm in the ic0 emulator behind the HTTP
// interface adapter (replica-http.mjs): publish then pull byte-identical (and `novaq validate`
// accepts it), an interrupted publish resumes with only the missing chunks, a tampered shard
// and a forged certificate are refused, a wrong identity is refused by the canister, PEM
// identities of both key types.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { IDL } from '@icp-sdk/core/candid';
import { Principal } from '@icp-sdk/core/principal';
import { Ed25519KeyIdentity } from '@icp-sdk/core/identity';
import { Replica } from './emulator.mjs';
import { ReplicaHttp } from './replica-http.mjs';
import { ROOT, WASM_PATH, NOVAQ_FILE } from './harness.mjs';
import { connect, NovaqIcError, missingRanges } from '../../ic/client.mjs';
import { identityFromPem } from '../../ic/identity.mjs';
import { fileSink } from '../../ic/node.mjs';
import { idlFactory } from '../../ic/declarations/novaq.did.js';

const wasm = fs.readFileSync(WASM_PATH);
const file = new Uint8Array(fs.readFileSync(NOVAQ_FILE));
const CLI = path.join(ROOT, 'bin/novaq-ic.mjs');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'novaq-ic-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

// the native CLI for `novaq validate` (scripts/test-canister.sh passes the one it used)
const NOVAQ = [process.env.NOVAQ_CLI, path.join(ROOT, 'build/cli/novaq'), path.join(ROOT, 'build-canister/native/cli/novaq')]
  .find((p) => p && fs.existsSync(p));

const service = idlFactory({ IDL });
const method = (name) => service._fields.find(([n]) => n === name)[1];

async function setup() {
  const replica = new Replica({ controllers: [] });
  await replica.install(wasm);
  const http = new ReplicaHttp(replica, { wasm });
  await http.start();
  return { replica, http };
}
const clientFor = (http, identity) => connect({ network: 'local', host: http.url, canisterId: http.canisterId, identity, retryTimes: 0 });

function pem(kind, format) {
  const { privateKey } = kind === 'ed25519' ? crypto.generateKeyPairSync('ed25519') : crypto.generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
  const text = privateKey.export({ format: 'pem', type: format });
  const spki = crypto.createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  const principal = Principal.fromUint8Array(new Uint8Array([...crypto.createHash('sha224').update(spki).digest(), 2])).toText();
  const f = path.join(tmp, `${kind}-${format}-${crypto.randomUUID()}.pem`);
  fs.writeFileSync(f, text);
  return { text, file: f, principal };
}

// Runs the CLI in a child process (the adapter serves it from this process).
function cli(args, { onSpawn } = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    onSpawn?.(child);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
const common = (http) => ['--network', 'local', '--host', http.url, '--canister', http.canisterId.toText()];

function validate(f) {
  if (!NOVAQ) return;
  const r = spawnSync(NOVAQ, ['validate', f], { encoding: 'utf8' });
  assert.equal(r.status, 0, `novaq validate ${f}: ${r.stdout}${r.stderr}`);
}

test('publish then pull is byte-identical; novaq validate accepts the pulled file; a second pull reuses its verified shards', async () => {
  const { http } = await setup();
  try {
    const c = await clientFor(http, Ed25519KeyIdentity.generate());
    const phases = new Set();
    const pub = await c.publish(file, { name: 'tiny', description: 'NOVAQ 2-bit', activate: true, chunkBytes: 400_000, onProgress: (p) => phases.add(p.phase) });
    assert.equal(pub.state, 'Active');
    assert.equal(pub.uploadedBytes, file.length);
    assert.deepEqual([...phases], ['upload', 'commit', 'activate']);
    const uploads = http.calls.filter((x) => x.method === 'upload_chunk');
    assert.equal(uploads.length, Math.ceil(file.length / 400_000));

    const st = await c.status(pub.modelId);
    assert.equal(st.state, 'Active');
    assert.equal(st.sizeBytes, file.length);
    assert.equal(st.certified, true);
    assert.equal(st.owner, (await c.principal()).toText());

    const anon = await clientFor(http); // reads are open to everyone
    const { bytes } = await anon.pull(pub.modelId, { requireActive: true });
    assert.ok(Buffer.from(bytes).equals(Buffer.from(file)), 'pulled bytes == published bytes');
    const out = path.join(tmp, 'pulled.novaq');
    const r = await anon.pull(pub.modelId, { sink: fileSink(out) });
    assert.ok(fs.readFileSync(out).equals(Buffer.from(file)));
    assert.equal(fs.existsSync(out + '.tmp'), false);
    assert.equal(r.reusedBytes, 0);
    validate(out);
    // an interrupted pull leaves <out>.tmp; the next pull keeps the shards that check out
    fs.copyFileSync(out, out + '.tmp');
    const again = await anon.pull(pub.modelId, { sink: fileSink(out) });
    assert.equal(again.reusedBytes, again.size - 16 - 56 - st.manifestBytes);
    assert.ok(fs.readFileSync(out).equals(Buffer.from(file)));
  } finally { await http.stop(); }
});

test('CLI: an interrupted publish resumes and uploads only the missing chunks; pull writes the same file', async () => {
  const { http } = await setup();
  try {
    const key = pem('secp256k1', 'pkcs8'); // as icp-cli exports it
    const CHUNK = 200_000;
    const args = ['publish', NOVAQ_FILE, ...common(http), '--identity', key.file, '--name', 'tiny', '--chunk-bytes', String(CHUNK), '--parallel', '1', '--json'];
    let child = null, uploads = 0;
    http.hooks.beforeCall = ({ method: m }) => {
      if (m !== 'upload_chunk') return null;
      if (++uploads <= 4) return null;
      child?.kill('SIGKILL'); // the 5th chunk never arrives: the client dies with it
      return 'destroy';
    };
    const first = await cli(args, { onSpawn: (c) => { child = c; } });
    assert.equal(first.signal, 'SIGKILL', first.stderr);
    http.hooks.beforeCall = null;
    const before = http.calls.filter((x) => x.method === 'upload_chunk').length;
    assert.equal(before, 4);

    const second = await cli(args);
    assert.equal(second.code, 0, second.stderr);
    const res = JSON.parse(second.stdout);
    assert.equal(res.resumed, true);
    assert.equal(res.state, 'Validated');
    assert.equal(res.skippedBytes, 4 * CHUNK);
    assert.equal(res.uploadedBytes, file.length - 4 * CHUNK);
    const after = http.calls.filter((x) => x.method === 'upload_chunk').length - before;
    assert.equal(after, Math.ceil((file.length - 4 * CHUNK) / CHUNK), 'only the missing chunks were sent');
    assert.match(second.stderr, /ETA/);

    const st = await cli(['check-ohms-status', res.modelId, ...common(http), '--json']);
    assert.equal(st.code, 0, st.stderr);
    const info = JSON.parse(st.stdout);
    assert.equal(info.owner, key.principal);
    assert.equal(info.state, 'Validated');

    const out = path.join(tmp, 'cli-pulled.novaq');
    const pull = await cli(['pull', res.modelId, ...common(http), '-o', out, '--quiet']);
    assert.equal(pull.code, 0, pull.stderr);
    assert.ok(fs.readFileSync(out).equals(Buffer.from(file)));
    validate(out);
  } finally { await http.stop(); }
});

test('a tampered shard is refused, naming the shard, and nothing is written', async () => {
  const { http } = await setup();
  try {
    const c = await clientFor(http, Ed25519KeyIdentity.generate());
    const { modelId } = await c.publish(file, { name: 'tiny', activate: true });
    const f = method('get_shard');
    http.hooks.reply = ({ method: m, arg, reply }) => {
      if (m !== 'get_shard') return null;
      const [args] = IDL.decode(f.argTypes, arg);
      if (args.shard !== 2) return null;
      const [v] = IDL.decode(f.retTypes, reply);
      const data = Uint8Array.from(v[0].data);
      data[100] ^= 0x40;
      return new Uint8Array(IDL.encode(f.retTypes, [[{ ...v[0], data }]]));
    };
    const out = path.join(tmp, 'tampered.novaq');
    await assert.rejects(c.pull(modelId, { sink: fileSink(out) }), (e) => {
      assert.ok(e instanceof NovaqIcError);
      assert.equal(e.code, 'integrity');
      assert.equal(e.shard, 2);
      assert.match(e.message, /shard 2 .*SHA-256.*refusing/);
      return true;
    });
    assert.equal(fs.existsSync(out), false, 'no output file');
    const r = await cli(['pull', modelId, ...common(http), '-o', out, '--quiet']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /novaq-ic: model \d+: shard 2 .* refusing it/);
    assert.equal(fs.existsSync(out), false);
  } finally { await http.stop(); }
});

test('a forged certificate is refused: by our registry check, and by the agent', async () => {
  const { http } = await setup();
  try {
    const c = await clientFor(http, Ed25519KeyIdentity.generate());
    const { modelId } = await c.publish(file, { name: 'tiny', activate: true });
    const reader = await clientFor(http);
    await reader.status(modelId); // the agent has fetched the subnet's node keys (cached)
    http.forgeCertificatesWith();
    // queries are still signed by the node, but the data certificate is not the subnet's
    await assert.rejects(reader.pull(modelId), (e) => {
      assert.equal(e.code, 'certificate');
      assert.match(e.message, /data certificate does not verify under the local root key/);
      return true;
    });
    const st = await reader.status(modelId);
    assert.equal(st.certified, false);
    // a new client must read the subnet keys from a (forged) certificate first: the agent refuses
    const fresh = await clientFor(http);
    await assert.rejects(fresh.pull(modelId), /Signature verification failed|Invalid signature|does not verify/);
    const r = await cli(['pull', modelId, ...common(http), '-o', path.join(tmp, 'forged.novaq'), '--quiet']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /verif/i);
    assert.equal(fs.existsSync(path.join(tmp, 'forged.novaq')), false);
  } finally { await http.stop(); }
});

test('a wrong identity is refused by the canister: ALICE cannot upload to or commit BOB\'s model; anonymous cannot publish', async () => {
  const { http } = await setup();
  try {
    const bob = await clientFor(http, identityFromPem(pem('ed25519', 'pkcs8').text));
    const alice = await clientFor(http, identityFromPem(pem('secp256k1', 'sec1').text));
    const id = await bob.actor.create_model({ name: 'bob', description: '', size_bytes: BigInt(file.length), expected_root_hash: [] });
    await assert.rejects(alice.publish(file, { modelId: id }), (e) => {
      assert.equal(e.code, 'rejected');
      assert.match(e.message, /commit 1: the canister refused: commit: only the model's owner or a controller may commit model 1/);
      return true;
    });
    const data = file.subarray(0, 1000);
    await assert.rejects(alice.actor.upload_chunk({ model_id: id, offset: 0n, data, sha256: [] }),
      /only the model's owner or a controller may upload to model 1/);
    await assert.rejects(alice.actor.commit(id), /only the model's owner or a controller may commit model 1/);
    const done = await bob.publish(file, { modelId: id });
    assert.equal(done.state, 'Validated');
    await assert.rejects(alice.actor.activate(id), /only the model's owner or a controller may change model 1/);
    const anon = await clientFor(http);
    await assert.rejects(anon.publish(file, { name: 'anon' }), (e) => e.code === 'rejected' && /create_model/.test(e.message));
  } finally { await http.stop(); }
});

test('PEM identities: Ed25519 PKCS#8 and secp256k1 SEC1/PKCS#8 give their key\'s principal; encrypted PEMs are refused', () => {
  for (const [kind, format] of [['ed25519', 'pkcs8'], ['secp256k1', 'sec1'], ['secp256k1', 'pkcs8']]) {
    const k = pem(kind, format);
    assert.equal(identityFromPem(k.text).getPrincipal().toText(), k.principal, `${kind} ${format}`);
  }
  // dfx's secp256k1 PEMs start with an EC PARAMETERS block
  const k = pem('secp256k1', 'sec1');
  assert.equal(identityFromPem('-----BEGIN EC PARAMETERS-----\nBgUrgQQACg==\n-----END EC PARAMETERS-----\n' + k.text).getPrincipal().toText(), k.principal);
  const { privateKey } = crypto.generateKeyPairSync('ed25519');
  const encrypted = privateKey.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'x' });
  assert.throws(() => identityFromPem(encrypted), /encrypted/);
  const p256 = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ format: 'pem', type: 'sec1' });
  assert.throws(() => identityFromPem(p256), /P-256/);
  assert.throws(() => identityFromPem('hello'), /no PEM block/);
});

test('PEM identities agree with icp-cli: its exported secp256k1 key and an imported Ed25519 key', (t) => {
  const icp = path.join(ROOT, 'node_modules/@icp-sdk/icp-cli-linux-x64/bin/icp');
  if (!fs.existsSync(icp)) return t.skip('icp-cli not installed');
  const home = fs.mkdtempSync(path.join(tmp, 'home-'));
  const run = (...a) => {
    const r = spawnSync(icp, a, { encoding: 'utf8', env: { ...process.env, HOME: home }, cwd: home });
    assert.equal(r.status, 0, `icp ${a.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  run('identity', 'new', 'k1', '--storage', 'plaintext', '--output-seed', path.join(home, 'seed'));
  const exported = run('identity', 'export', 'k1');
  assert.equal(identityFromPem(exported).getPrincipal().toText(), run('identity', 'principal', '--identity', 'k1'));
  const ed = pem('ed25519', 'pkcs8');
  run('identity', 'import', 'ed', '--from-pem', ed.file, '--storage', 'plaintext');
  assert.equal(run('identity', 'principal', '--identity', 'ed'), ed.principal);
  assert.equal(identityFromPem(run('identity', 'export', 'ed')).getPrincipal().toText(), ed.principal);
});

test('update-metadata: this canister version has no such method, and the client says so', async () => {
  const { http } = await setup();
  try {
    const c = await clientFor(http, Ed25519KeyIdentity.generate());
    await assert.rejects(c.updateMetadata('1', { name: 'x' }), (e) => e.code === 'not-supported' && /no update_metadata method/.test(e.message));
    const r = await cli(['update-ohms-metadata', '1', ...common(http), '--name', 'x']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /update-metadata is not supported by this canister version/);
  } finally { await http.stop(); }
});

test('commit problems name the missing ranges the client resumes from', () => {
  assert.deepEqual(missingRanges([
    { location: 'upload', message: 'bytes [0, 100) were never uploaded' },
    { location: 'upload', message: 'bytes [300, 1885301) were never uploaded' },
    { location: 'shard 1', message: 'SHA-256 mismatch' },
  ]), [[0, 100], [300, 1885301]]);
});

test('the committed bindings are what @icp-sdk/bindgen makes of candid/novaq.did', () => {
  const out = fs.mkdtempSync(path.join(tmp, 'bindgen-'));
  const bin = path.join(ROOT, 'node_modules/@icp-sdk/bindgen/dist/esm/cli/icp-bindgen.js');
  const r = spawnSync(process.execPath, [bin, '--did-file', path.join(ROOT, 'candid/novaq.did'), '--out-dir', out, '--actor-disabled', '--declarations-flat', '--force'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  for (const f of ['novaq.did.js', 'novaq.did.d.ts']) {
    assert.equal(fs.readFileSync(path.join(out, f), 'utf8'), fs.readFileSync(path.join(ROOT, 'ic/declarations', f), 'utf8'), `${f} is stale: npm run bindgen`);
  }
});
