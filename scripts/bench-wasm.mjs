// bench-wasm.mjs - wasm SIMD vs wasm scalar compression throughput in Node (one instance, one
// thread): plan (shared codebooks) + every tensor of a model, with one preset. Prints one line per build.
//   node scripts/bench-wasm.mjs [model.safetensors] [preset]
import path from 'node:path';
import { createNovaqNode, fileReaderNode } from '../wasm/novaq-node.mjs';

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const model = process.argv[2] || path.join(repo, 'tests/data/novaq-tiny-llama/model.safetensors');
const preset = process.argv[3] || '2';

for (const simd of [true, false]) {
  const nq = await createNovaqNode({ simd });
  const m = nq.openSafetensors([fileReaderNode(model)]);
  const s = nq.settings({ bits: preset });
  const ts = m.tensors();
  const weights = ts.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
  const t0 = performance.now(), c0 = process.cpuUsage();
  let bytes = 0;
  const job = nq.job(m, s); // the plan (shared codebooks), as the CLI and the page build once per model
  for (let t = 0; t < ts.length; t++) bytes += job.encode(t).length;
  job.free();
  const sec = (performance.now() - t0) / 1000, cu = process.cpuUsage(c0), cpu = (cu.user + cu.system) / 1e6;
  // CPU seconds as well as wall: on a shared machine the wall clock measures the neighbours too.
  console.log(`wasm ${nq.kernelVariant.padEnd(13)} preset ${preset}: ${weights} weights in ${sec.toFixed(2)} s wall = ` +
    `${Math.round(weights / sec)} weights/s; ${cpu.toFixed(2)} CPU s = ${Math.round(weights / cpu)} weights/CPU-s ` +
    `(1 instance, Node ${process.versions.node}); ` +
    `encoded ${bytes} bytes; wasm memory ${(nq.memoryBytes() / 2 ** 20).toFixed(0)} MiB`);
  m.close();
  s.free();
}
