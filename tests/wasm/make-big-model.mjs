// make-big-model.mjs - a synthetic multi-GiB safetensors file for the stress check.
//   node tests/wasm/make-big-model.mjs <out.safetensors> [GiB=5]
// Most of the bytes are I8 tensors left as holes in a sparse file (zeros on disk cost
// nothing; they are kept raw by the compressor, so they stream through the reader, the
// hash and the zstd path). Float tensors with real pseudo-random values sit at the END, past
// the 4 GiB mark, so vector quantization reads through offsets that do not fit in 32 bits.
import fs from 'node:fs';

const [out, gibArg] = process.argv.slice(2);
if (!out) { console.error('usage: make-big-model.mjs <out.safetensors> [GiB]'); process.exit(2); }
const gib = Number(gibArg || 5);
const chunk = 256 * 2 ** 20; // bytes per I8 filler tensor
const nFill = Math.ceil((gib * 2 ** 30) / chunk);
const floats = [['model.layers.0.mlp.up_proj.weight', [512, 256]], ['model.layers.0.self_attn.o_proj.weight', [256, 256]],
  ['model.norm.weight', [256]]];

const header = {}, order = [];
let off = 0;
for (let i = 0; i < nFill; i++) {
  const name = `filler.${String(i).padStart(3, '0')}.int8`;
  header[name] = { dtype: 'I8', shape: [chunk / 1024, 1024], data_offsets: [off, off + chunk] };
  off += chunk;
}
for (const [name, shape] of floats) {
  const n = shape.reduce((a, b) => a * b, 1);
  header[name] = { dtype: 'F32', shape, data_offsets: [off, off + 4 * n] };
  order.push([name, n, off]);
  off += 4 * n;
}
header.__metadata__ = { format: 'pt', note: 'synthetic stress model' };
let h = JSON.stringify(header);
h += ' '.repeat((8 - (h.length % 8)) % 8);
const dataStart = 8 + h.length;
const fd = fs.openSync(out, 'w');
const lenBuf = Buffer.alloc(8);
lenBuf.writeBigUInt64LE(BigInt(h.length));
fs.writeSync(fd, lenBuf, 0, 8, 0);
fs.writeSync(fd, Buffer.from(h), 0, h.length, 8);
let s = 0x2545f491;
const rnd = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 2 ** 32 - 0.5; };
for (const [, n, o] of order) {
  const f = new Float32Array(n);
  for (let i = 0; i < n; i++) f[i] = rnd() * 0.05;
  fs.writeSync(fd, Buffer.from(f.buffer), 0, 4 * n, dataStart + o);
}
fs.ftruncateSync(fd, dataStart + off);
fs.closeSync(fd);
console.log(`${out}: ${dataStart + off} bytes (${((dataStart + off) / 2 ** 30).toFixed(2)} GiB), ${nFill} sparse I8 tensors, ` +
  `float tensors from byte ${dataStart + order[0][2]}`);
