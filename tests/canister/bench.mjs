// bench.mjs - numbers for docs/CANISTER.md: wasm size, instructions (emulator's count of
// executed wasm instructions = ic0.performance_counter(0)) for upload_chunk of 1.9 MB with
// and without its SHA-256 check, commit of the tiny model, and reads.
import fs from 'node:fs';
import { ALICE, ANONYMOUS, NOVAQ_FILE, WASM_PATH, call, createModel, newCanister, sha256 } from './harness.mjs';

const file = new Uint8Array(fs.readFileSync(NOVAQ_FILE));
const wasm = fs.readFileSync(WASM_PATH);
const r = await newCanister();
const big = new Uint8Array(1_900_000);
for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
const scratch = createModel(r, ALICE, big);
call(r, ALICE, 'upload_chunk', { model_id: scratch, offset: 0n, data: big, sha256: [] });
const plain = r.lastInstructions;
call(r, ALICE, 'upload_chunk', { model_id: scratch, offset: 0n, data: big, sha256: [sha256(big)] });
const hashed = r.lastInstructions;
const id = createModel(r, ALICE, file);
for (let off = 0; off < file.length; off += 1_900_000)
  call(r, ALICE, 'upload_chunk', { model_id: id, offset: BigInt(off), data: file.subarray(off, off + 1_900_000), sha256: [] });
const rep = call(r, ALICE, 'commit', id);
if (!rep.ok) throw new Error('commit failed');
call(r, ANONYMOUS, 'get_shard', { model_id: id, shard: 0, offset: 0n, length: [] });
const shardRead = r.lastInstructions;
const perByte = Number(rep.instructions) / file.length;
const budget = 40e9;
console.log(`wasm size                         ${wasm.length} bytes (${WASM_PATH})`);
console.log(`upload_chunk 1.9 MB               ${plain} instructions`);
console.log(`upload_chunk 1.9 MB + SHA-256     ${hashed} instructions (${((Number(hashed) - Number(plain)) / big.length).toFixed(1)}/byte for the hash)`);
console.log(`commit tiny model (${file.length} B)  ${rep.instructions} instructions (${perByte.toFixed(1)}/byte; ${rep.shard_count} shards, ${rep.tensor_count} tensors)`);
console.log(`get_shard 1 slice                 ${shardRead} instructions`);
console.log(`largest file one commit can check ~${(budget / perByte / 2 ** 20).toFixed(0)} MiB at 40e9 instructions per update`);
