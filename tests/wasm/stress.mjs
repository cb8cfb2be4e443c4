// stress.mjs - a multi-GiB safetensors file streams through the wasm module in bounded memory.
//   node tests/wasm/stress.mjs <big.safetensors> <out.novaq>
// The page's pipeline in Node: one encoder instance, one writer instance, both beginning the
// same job (wasm/novaq.mjs Job), output streamed to disk. Prints the peak wasm memory of each instance and the process's peak RSS; fails if
// an instance's memory went past 1 GiB (the model is several GiB).
import fs from 'node:fs';
import path from 'node:path';
import { createNovaqNode, fileReaderNode } from '../../wasm/novaq-node.mjs';

const [input, output] = process.argv.slice(2);
const enc = await createNovaqNode(), wr = await createNovaqNode();
const t0 = performance.now();
const mEnc = enc.openSafetensors([fileReaderNode(input)]), mWr = wr.openSafetensors([fileReaderNode(input)]);
const sEnc = enc.settings({ bits: '2' }), sWr = wr.settings({ bits: '2' });
const src = fileReaderNode(input);
const sha = wr.sha256(src);
const tHash = performance.now();
const fd = fs.openSync(output, 'w');
const jEnc = enc.job(mEnc, sEnc), jWr = wr.job(mWr, sWr);
jWr.output((b) => { fs.writeSync(fd, b); }, [{ name: path.basename(input), size: src.size, sha256: sha }]);
const ts = mEnc.tensors();
let peak = 0;
for (let t = 0; t < ts.length; t++) {
  jWr.accept(t, jEnc.encode(t));
  peak = Math.max(peak, enc.memoryBytes(), wr.memoryBytes());
}
jWr.finish();
jWr.free(); jEnc.free();
fs.closeSync(fd);
const t1 = performance.now();
const mib = (n) => (n / 2 ** 20).toFixed(0);
console.log(`stress: ${src.size} bytes (${(src.size / 2 ** 30).toFixed(2)} GiB), ${ts.length} tensors -> ${fs.statSync(output).size} bytes; ` +
  `hash ${((tHash - t0) / 1000).toFixed(1)} s, encode+write ${((t1 - tHash) / 1000).toFixed(1)} s; ` +
  `wasm memory: encoder ${mib(enc.memoryBytes())} MiB, writer ${mib(wr.memoryBytes())} MiB; ` +
  `process peak RSS ${mib(process.resourceUsage().maxRSS * 1024)} MiB`);
if (peak > 2 ** 30) { console.error(`stress: FAIL wasm memory reached ${mib(peak)} MiB`); process.exit(1); }
