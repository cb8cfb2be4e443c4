// harness.mjs - the canister under the emulator, called like an agent would: arguments
// and replies are encoded/decoded by @dfinity/candid with the types of candid/novaq.did.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { IDL } from '@dfinity/candid';
import { Principal } from '@dfinity/principal';
import { parseDid } from './did.mjs';
import { Replica, CallError } from './emulator.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '../..');
export const DID_TEXT = fs.readFileSync(path.join(ROOT, 'candid/novaq.did'), 'utf8');
export const DID = parseDid(DID_TEXT);
export const WASM_PATH = process.env.NOVAQ_CANISTER_WASM || path.join(ROOT, 'build-canister/novaq_canister.wasm');
export const NOVAQ_FILE = process.env.NOVAQ_TINY_NOVAQ || path.join(ROOT, 'build-canister/tiny.novaq');

export const methods = new Map(DID.service._fields);

export const principal = (seed) => {
  const bytes = new Uint8Array(29);
  bytes.fill(seed);
  bytes[28] = 0x02; // self-authenticating class, like a user's key principal
  return Principal.fromUint8Array(bytes);
};
export const ADMIN = principal(0xad);
export const ALICE = principal(0xa1);
export const BOB = principal(0xb0);
export const ANONYMOUS = Principal.anonymous();

export const sha256 = (b) => new Uint8Array(crypto.createHash('sha256').update(b).digest());
export const hex = (b) => Buffer.from(b).toString('hex');

export async function newCanister(opts = {}) {
  const replica = new Replica({ controllers: [ADMIN.toUint8Array()], ...opts });
  await replica.install(fs.readFileSync(WASM_PATH));
  return replica;
}

// Call a method of the .did as `caller`; returns the decoded reply (one value, or an
// array for several) or throws CallError (kind 'reject' | 'trap' | 'error').
export function call(replica, caller, name, ...args) {
  const f = methods.get(name);
  if (!f) throw new Error(`no method ${name} in candid/novaq.did`);
  const arg = IDL.encode(f.argTypes, args);
  const isQuery = f.annotations.includes('query');
  const reply = isQuery ? replica.query(name, arg, caller.toUint8Array()) : replica.update(name, arg, caller.toUint8Array());
  const out = IDL.decode(f.retTypes, Uint8Array.from(reply));
  return out.length === 1 ? out[0] : out.length === 0 ? undefined : out;
}

// Raw bytes as the argument (malformed Candid tests).
export function callRaw(replica, caller, name, bytes) {
  const f = methods.get(name);
  const isQuery = f.annotations.includes('query');
  return isQuery ? replica.query(name, bytes, caller.toUint8Array()) : replica.update(name, bytes, caller.toUint8Array());
}

export function rejects(fn, pattern) {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof CallError)) throw e;
    if (pattern && !pattern.test(e.message)) throw new Error(`error "${e.message}" does not match ${pattern}`);
    return e;
  }
  throw new Error(`expected a rejection matching ${pattern}`);
}

export const stateName = (v) => Object.keys(v)[0];

// Upload a whole file in chunks (in the given order of chunk indices).
export function uploadFile(replica, caller, id, bytes, chunk = 700_000, order = null) {
  const n = Math.ceil(bytes.length / chunk);
  const idx = order || [...Array(n).keys()];
  let progress;
  for (const i of idx) {
    const off = i * chunk;
    const data = bytes.subarray(off, off + chunk);
    progress = call(replica, caller, 'upload_chunk', { model_id: id, offset: BigInt(off), data, sha256: [sha256(data)] });
  }
  return progress;
}

export function createModel(replica, caller, bytes, extra = {}) {
  return call(replica, caller, 'create_model', {
    name: 'novaq-tiny-llama', description: 'tiny LLaMA, NOVAQ 2-bit', size_bytes: BigInt(bytes.length),
    expected_root_hash: [], ...extra,
  });
}

// GET through http_request, following the streaming callback to the end.
export function httpGet(replica, url) {
  const res = call(replica, ANONYMOUS, 'http_request', { method: 'GET', url, headers: [], body: new Uint8Array(0), certificate_version: [] });
  const parts = [Uint8Array.from(res.body)];
  let calls = 0;
  if (res.streaming_strategy.length) {
    let token = res.streaming_strategy[0].Callback.token;
    const [cbPrincipal, cbMethod] = res.streaming_strategy[0].Callback.callback;
    if (cbMethod !== 'http_request_streaming_callback') throw new Error(`callback method ${cbMethod}`);
    for (;;) {
      const r = call(replica, ANONYMOUS, cbMethod, token);
      calls++;
      if (!r.length) throw new Error('streaming callback returned null mid-body');
      parts.push(Uint8Array.from(r[0].body));
      if (!r[0].token.length) break;
      token = r[0].token[0];
    }
    res.callbackPrincipal = cbPrincipal;
  }
  res.fullBody = Buffer.concat(parts);
  res.headerMap = Object.fromEntries(res.headers);
  res.callbackCalls = calls;
  return res;
}
