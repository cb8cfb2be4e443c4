// replica-http.test.mjs - the HTTP interface adapter (replica-http.mjs) driven by the real
// agent (@icp-sdk/core): status and root key, signed calls and queries, the sender checks,
// read_state certificates (certified_data, metadata), and certificates the agent must refuse.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import crypto from 'node:crypto';
import { HttpAgent, Actor, Certificate, lookupResultToBuffer, pollForResponse } from '@icp-sdk/core/agent';
import { IDL } from '@icp-sdk/core/candid';
import { Ed25519KeyIdentity } from '@icp-sdk/core/identity';
import { Secp256k1KeyIdentity } from '@icp-sdk/core/identity/secp256k1';
import { Principal } from '@icp-sdk/core/principal';
import { Replica } from './emulator.mjs';
import { ReplicaHttp, hashOfMap, sha256 } from './replica-http.mjs';
import { WASM_PATH, DID_TEXT } from './harness.mjs';
import { idlFactory } from '../../ic/declarations/novaq.did.js';

const wasm = fs.readFileSync(WASM_PATH);

async function setup() {
  const replica = new Replica({ controllers: [] });
  await replica.install(wasm);
  const http = new ReplicaHttp(replica, { wasm });
  await http.start();
  return { replica, http };
}

const agentFor = (http, identity) => HttpAgent.create({ host: http.url, identity, shouldFetchRootKey: true, retryTimes: 0 });
const actorFor = async (http, identity) => Actor.createActor(idlFactory, { agent: await agentFor(http, identity), canisterId: http.canisterId });

test('request ids: the IC interface spec example', () => {
  // "Request ids" example of the interface spec: a call to hello with arg DIDL\0\xfd\x2a
  const id = hashOfMap({
    request_type: 'call', sender: Uint8Array.from([4]), ingress_expiry: 1685570400000000000n,
    canister_id: Uint8Array.from([0, 0, 0, 0, 0, 0, 4, 0xd2]), method_name: 'hello',
    arg: Uint8Array.from([0x44, 0x49, 0x44, 0x4c, 0x00, 0xfd, 0x2a]),
  });
  assert.equal(Buffer.from(id).toString('hex'), '1d1091364d6bb8a6c16b203ee75467d59ead468f523eb058880ae8ec80e2b101');
});

test('status advertises the test root key; signed calls and queries reach the canister as their sender', async () => {
  const { http } = await setup();
  try {
    const agent = await agentFor(http, Ed25519KeyIdentity.generate());
    assert.deepEqual(new Uint8Array(agent.rootKey), new Uint8Array(http.rootKey));
    for (const identity of [Ed25519KeyIdentity.generate(), Secp256k1KeyIdentity.generate()]) {
      const actor = await actorFor(http, identity);
      const id = await actor.create_model({ name: 'm', description: '', size_bytes: 1000n, expected_root_hash: [] });
      const [info] = await actor.get_model(id);
      assert.equal(info.owner.toText(), identity.getPrincipal().toText(), 'owner is the signing identity');
      const q = await actor.get_quota([]);
      assert.equal(q.owner.toText(), identity.getPrincipal().toText(), 'a query sees the sender as caller');
    }
    assert.ok(http.calls.some((c) => c.kind === 'query') && http.calls.some((c) => c.kind === 'update'));
  } finally { await http.stop(); }
});

test('a request whose sender is not its key\'s principal, or whose signature is wrong, is refused', async () => {
  const { http, replica } = await setup();
  try {
    const real = Ed25519KeyIdentity.generate();
    const victim = Ed25519KeyIdentity.generate().getPrincipal();
    const impostor = { getPrincipal: () => victim, transformRequest: (r) => real.transformRequest(r) };
    const before = http.calls.length;
    await assert.rejects((await actorFor(http, impostor)).create_model({ name: 'm', description: '', size_bytes: 1000n, expected_root_hash: [] }),
      /is not the principal of sender_pubkey/);
    const badSig = {
      getPrincipal: () => real.getPrincipal(),
      transformRequest: async (r) => {
        const t = await real.transformRequest(r);
        t.body.sender_sig = Uint8Array.from(t.body.sender_sig);
        t.body.sender_sig[5] ^= 1;
        return t;
      },
    };
    await assert.rejects((await actorFor(http, badSig)).create_model({ name: 'm', description: '', size_bytes: 1000n, expected_root_hash: [] }),
      /invalid signature/);
    assert.equal(http.calls.length, before, 'nothing reached the canister');
    assert.equal(replica.pages.length > 0, true);
  } finally { await http.stop(); }
});

test('read_state: certified_data, module hash and candid metadata under the test root key; a forged certificate is refused', async () => {
  const { http, replica } = await setup();
  try {
    const agent = await agentFor(http, Ed25519KeyIdentity.generate());
    const cid = http.canisterId;
    const paths = [['canister', cid.toUint8Array(), 'certified_data'], ['canister', cid.toUint8Array(), 'module_hash'],
      ['canister', cid.toUint8Array(), 'metadata', 'candid:service']];
    const bytes = (p) => p.map((l) => (typeof l === 'string' ? new TextEncoder().encode(l) : l));
    const { certificate } = await agent.readState(cid, { paths: paths.map(bytes) });
    const cert = await Certificate.create({ certificate, rootKey: agent.rootKey, principal: { canisterId: cid } });
    assert.deepEqual(lookupResultToBuffer(cert.lookup_path(paths[0])), new Uint8Array(replica.certified));
    assert.deepEqual(lookupResultToBuffer(cert.lookup_path(paths[1])), sha256(wasm));
    assert.equal(new TextDecoder().decode(lookupResultToBuffer(cert.lookup_path(paths[2]))), DID_TEXT);
    // other subtrees are pruned: the subnet's node keys are not in this certificate
    assert.equal(lookupResultToBuffer(cert.lookup_path(['subnet', http.subnetId.toUint8Array(), 'public_key'])), undefined);
    // the data certificate a query sees is a real one
    const actor = Actor.createActor(idlFactory, { agent, canisterId: cid });
    const reg = await actor.certified_registry();
    const dc = await Certificate.create({ certificate: Uint8Array.from(reg.certificate[0]), rootKey: agent.rootKey, principal: { canisterId: cid } });
    assert.deepEqual(lookupResultToBuffer(dc.lookup_path(paths[0])), Uint8Array.from(reg.certified_hash));

    http.forgeCertificatesWith();
    await assert.rejects(agent.readState(cid, { paths: [bytes(paths[0])] }), /Signature verification failed|Invalid signature/);
    await assert.rejects(actor.create_model({ name: 'm', description: '', size_bytes: 1000n, expected_root_hash: [] }),
      /Signature verification failed|Invalid signature/);
  } finally { await http.stop(); }
});

test('a principal is the self-authenticating id of the DER key (sha224 || 0x02)', () => {
  const id = Ed25519KeyIdentity.generate();
  const der = id.getPublicKey().toDer();
  const p = Principal.fromUint8Array(new Uint8Array([...crypto.createHash('sha224').update(der).digest(), 2]));
  assert.equal(p.toText(), id.getPrincipal().toText());
});

test('v2 asynchronous call: 202, then the agent polls request_status through read_state', async () => {
  const { http } = await setup();
  try {
    const agent = await agentFor(http, Ed25519KeyIdentity.generate());
    const f = idlFactory({ IDL })._fields.find(([n]) => n === 'create_model')[1];
    const arg = IDL.encode(f.argTypes, [{ name: 'x', description: '', size_bytes: 1000n, expected_root_hash: [] }]);
    const { requestId, response } = await agent.call(http.canisterId, { methodName: 'create_model', arg, callSync: false });
    assert.equal(response.status, 202);
    const res = await pollForResponse(agent, { canisterId: http.canisterId }, requestId);
    assert.deepEqual(IDL.decode(f.retTypes, res.reply), ['1']);
    // another principal may not read that request's status
    const other = await agentFor(http, Ed25519KeyIdentity.generate());
    await assert.rejects(pollForResponse(other, { canisterId: http.canisterId }, requestId), /request_status of a request sent by another principal/);
  } finally { await http.stop(); }
});
