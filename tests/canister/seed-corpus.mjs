// seed-corpus.mjs - writes valid Candid encodings of the canister's argument and reply
// types (via @dfinity/candid and candid/novaq.did) as a starting corpus for the fuzzer.
import fs from 'node:fs';
import path from 'node:path';
import { IDL } from '@dfinity/candid';
import { Principal } from '@dfinity/principal';
import { DID } from './harness.mjs';

const dir = process.argv[2];
fs.mkdirSync(dir, { recursive: true });
const blob = Uint8Array.from([1, 2, 3, 4]);
const T = DID.types;
const samples = [
  [[T.CreateModelArgs], [{ name: 'm', description: 'd', size_bytes: 100n, expected_root_hash: [new Uint8Array(32)] }]],
  [[T.UploadChunkArgs], [{ model_id: '1', offset: 5n, data: blob, sha256: [] }]],
  [[IDL.Text], ['12']],
  [[IDL.Principal, IDL.Nat64], [Principal.fromText('aaaaa-aa'), 7n]],
  [[T.ShardArgs], [{ model_id: '1', shard: 0, offset: 0n, length: [10n] }]],
  [[T.HttpRequest], [{ method: 'GET', url: '/models/1', headers: [['a', 'b']], body: blob, certificate_version: [2] }]],
  [[T.StreamingToken], [{ path: '/models/1/model.novaq', offset: 1900000n }]],
  [[IDL.Text, IDL.Text], ['1', '0']],
  [[], []],
];
samples.forEach(([types, vals], i) => fs.writeFileSync(path.join(dir, `seed-${i}`), Buffer.from(IDL.encode(types, vals))));
console.log(`seed-corpus: ${samples.length} inputs in ${dir}`);
