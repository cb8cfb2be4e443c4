// identity-wasm.mjs - helper of scripts/check-identity.sh: compresses a safetensors model with
// the browser module of one revision (its wasm/novaq-node.mjs and build-wasm/dist), as
// tests/wasm/wasm.test.mjs does (one instance, nq.compress), and prints one line per preset:
//   wasm-<variant>/bits<preset> <sha256 of the .novaq bytes>
// usage: node scripts/identity-wasm.mjs <revision root> <model.safetensors> <simd|scalar> <preset>...
import crypto from 'node:crypto';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [root, model, variant, ...presets] = process.argv.slice(2);
if (!root || !model || !['simd', 'scalar'].includes(variant) || !presets.length) {
  console.error('usage: identity-wasm.mjs <revision root> <model.safetensors> <simd|scalar> <preset>...');
  process.exit(2);
}
const api = await import(pathToFileURL(path.join(root, 'wasm/novaq-node.mjs')).href);
const nq = await api.createNovaqNode({ dir: path.join(root, 'build-wasm/dist'), simd: variant === 'simd' });
console.error(`identity-wasm: ${variant} module, kernels ${nq.kernelVariant}`);
if ((variant === 'simd') !== (nq.kernelVariant !== 'scalar')) throw new Error(`${variant} module reports kernels ${nq.kernelVariant}`);

const src = api.fileReaderNode(model);
const sources = [{ name: path.basename(model), size: src.size, sha256: nq.sha256(src) }];
src.close();
for (const bits of presets) {
  const reader = api.fileReaderNode(model);
  const m = nq.openSafetensors([reader]);
  const s = nq.settings({ bits });
  const h = crypto.createHash('sha256');
  try {
    nq.compress(m, s, sources, (chunk) => h.update(chunk));
  } finally { m.close(); s.free(); reader.close(); }
  console.log(`wasm-${variant}/bits${bits} ${h.digest('hex')}`);
}
