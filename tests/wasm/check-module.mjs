// check-module.mjs - build check of the browser module (run by scripts/test-wasm.sh).
//   node tests/wasm/check-module.mjs <dist dir>
// Fails when the SIMD module has no SIMD128 instructions, when the scalar module (if built)
// has some, or when a module imports anything beyond the small set the core needs: memory
// growth/copy helpers and our own nqjs_* byte I/O (no file system, no clock, no network).
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

const dist = process.argv[2] || 'build-wasm/dist';
const allowed = new Set(['emscripten_memcpy_big', 'emscripten_resize_heap', 'nqjs_read', 'nqjs_write', 'nqjs_progress']);
let failures = 0;
const fail = (m) => { console.error(`check-module: FAIL ${m}`); failures++; };

// Emscripten minifies import names; the loader's asmLibraryArg maps them back.
function importNames(base) {
  const js = fs.readFileSync(path.join(dist, base + '.mjs'), 'utf8');
  const m = js.match(/asmLibraryArg\s*=\s*\{([^}]*)\}/);
  if (!m) throw new Error(`${base}.mjs: no asmLibraryArg table found`);
  const map = new Map();
  for (const [, k, v] of m[1].matchAll(/"?([\w$]+)"?\s*:\s*([\w$]+)/g)) map.set(k, v.replace(/^_/, ''));
  return map;
}

function simdCount(file) {
  const dis = execFileSync('wasm-objdump', ['-d', file], { maxBuffer: 1 << 30 }).toString();
  return (dis.match(/\b(v128|[if](8x16|16x8|32x4|64x2))\./g) || []).length;
}

function check(base, wantSimd) {
  const file = path.join(dist, base + '.wasm');
  const mod = new WebAssembly.Module(fs.readFileSync(file));
  const names = importNames(base);
  const imports = WebAssembly.Module.imports(mod);
  for (const imp of imports) {
    const real = imp.kind === 'function' ? names.get(imp.name) : null;
    if (imp.kind !== 'function') fail(`${base}: imports a ${imp.kind} (${imp.module}.${imp.name}); memory must be the module's own`);
    else if (!real) fail(`${base}: import ${imp.module}.${imp.name} is not in the loader's table`);
    else if (!allowed.has(real)) fail(`${base}: unexpected import ${real}`);
  }
  const n = simdCount(file);
  if (wantSimd && n < 100) fail(`${base}: only ${n} SIMD128 instructions (expected the SIMD kernels)`);
  if (!wantSimd && n > 0) fail(`${base}: ${n} SIMD128 instructions in the scalar build`);
  const raw = fs.statSync(file).size;
  const exportsList = WebAssembly.Module.exports(mod).map((e) => e.name);
  console.log(`check-module: ${base}.wasm ${raw} bytes, ${imports.length} imports (${imports.map((i) => names.get(i.name)).join(', ')}), ` +
    `${n} SIMD128 instructions, ${exportsList.length} exports`);
}

check('novaq_module', true);
if (fs.existsSync(path.join(dist, 'novaq_module_scalar.wasm'))) check('novaq_module_scalar', false);
if (failures) process.exit(1);
console.log('check-module: ok');
