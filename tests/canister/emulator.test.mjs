// emulator.test.mjs - the emulator's own semantics, checked with a tiny probe canister
// (probe.c) so that the canister tests can rely on them: what persists and what not,
// reply/reject rules, traps, limits, callers and controllers, upgrades.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Replica, CallError } from './emulator.mjs';
import { ROOT } from './harness.mjs';

const PROBE = process.env.NOVAQ_PROBE_WASM || path.join(ROOT, 'build-canister/probe.wasm');
const CTRL = Uint8Array.from([9, 9, 9]);
const USER = Uint8Array.from([1, 2, 3, 4]);
const u32 = (b) => Buffer.from(b).readUInt32LE(0);
const none = new Uint8Array(0);

async function probe() {
  const r = new Replica({ controllers: [CTRL] });
  await r.install(fs.readFileSync(PROBE));
  return r;
}

function fails(fn, kind, pattern) {
  try { fn(); } catch (e) {
    assert.ok(e instanceof CallError, e.message);
    assert.equal(e.kind, kind, e.message);
    assert.match(e.message, pattern);
    return;
  }
  assert.fail(`expected a ${kind}`);
}

test('updates persist, queries never do', async () => {
  const r = await probe();
  assert.equal(u32(r.query('read', none)), 1001); // init bumped heap and stable once
  assert.equal(u32(r.update('bump', none)), 2002);
  assert.equal(u32(r.query('bump_query', none)), 3003);
  assert.equal(u32(r.query('read', none)), 2002, 'the query changed nothing');
});

test('a trap rolls back heap and stable memory; a reject does not', async () => {
  const r = await probe();
  fails(() => r.update('bump_then_trap', none), 'trap', /after write/);
  assert.equal(u32(r.query('read', none)), 1001);
  fails(() => r.update('reject', none), 'reject', /no thanks/);
  assert.equal(u32(r.query('read', none)), 2002, 'a reject keeps the changes made before it');
});

test('reply rules and System API checks', async () => {
  const r = await probe();
  fails(() => r.update('reply_twice', none), 'trap', /already replied/);
  fails(() => r.update('no_reply', none), 'error', /returned without replying/);
  fails(() => r.query('certify_in_query', none), 'trap', /cannot be called from a query/);
  fails(() => r.update('certify_too_long', none), 'trap', /33 bytes \(max 32\)/);
  fails(() => r.update('read_past_end', none), 'trap', /stable64_read: .* out of bounds/);
  fails(() => r.update('missing', none), 'error', /no canister_update missing/);
});

test('callers, controllers, payload limits, instruction counter', async () => {
  const r = await probe();
  assert.deepEqual([...r.query('whoami', none, USER)], [...USER]);
  assert.equal(u32(r.query('is_controller', none, USER)), 0);
  assert.equal(u32(r.query('is_controller', none, CTRL)), 1);
  const big = new Uint8Array(3 * 1024 * 1024 + 1);
  fails(() => r.query('echo', big), 'error', /reply of \d+ bytes exceeds 3145728/);
  fails(() => r.update('bump', new Uint8Array(2 * 1024 * 1024 + 1)), 'error', /ingress payload/);
  const n = u32(r.query('spin', none));
  assert.ok(n > 1_000_000 && n < 20_000_000, `a 1e6-iteration loop counted ${n} instructions`);
  const low = new Replica({ instructionLimits: { update: 1e9, query: 1e6, system: 1e9 } });
  await low.install(fs.readFileSync(PROBE));
  fails(() => low.query('spin', none), 'trap', /instruction limit exceeded/);
});

test('upgrade keeps stable memory, drops the heap', async () => {
  const r = await probe();
  r.update('bump', none);
  await r.upgrade();
  assert.equal(u32(r.query('read', none)), 2, 'heap counter reset, stable counter kept');
});
