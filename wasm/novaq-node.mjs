// novaq-node.mjs - loading the browser module in Node (tests, benchmarks) and file readers.
//
// The Emscripten 3.1.6 ES6 loader reaches for require/__dirname when it runs in Node and
// cannot fetch file paths, so this gives it both shims and the .wasm bytes directly.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { createNovaq } from './novaq.mjs';

export * from './novaq.mjs';

// dir: the folder holding novaq_module.mjs/.wasm (build-wasm/dist by default).
export async function createNovaqNode({ dir, simd = true } = {}) {
  dir = dir || process.env.NOVAQ_WASM_DIST || path.resolve(path.dirname(new URL(import.meta.url).pathname), '../build-wasm/dist');
  const base = simd ? 'novaq_module' : 'novaq_module_scalar';
  if (typeof globalThis.require === 'undefined') globalThis.require = createRequire(import.meta.url);
  if (typeof globalThis.__dirname === 'undefined') globalThis.__dirname = dir;
  const factory = (await import(pathToFileURL(path.join(dir, base + '.mjs')).href)).default;
  const wasmBinary = fs.readFileSync(path.join(dir, base + '.wasm'));
  return createNovaq({ factory, wasmBinary });
}

// A synchronous byte-range reader over a file on disk.
export function fileReaderNode(file, name = path.basename(file)) {
  const fd = fs.openSync(file, 'r');
  const size = fs.fstatSync(fd).size;
  return {
    name, size, fd,
    read(off, len) {
      const buf = Buffer.allocUnsafe(len);
      let got = 0;
      while (got < len) {
        const n = fs.readSync(fd, buf, got, len - got, off + got);
        if (n <= 0) throw new Error(`${name}: short read at byte ${off + got}`);
        got += n;
      }
      return new Uint8Array(buf.buffer, buf.byteOffset, len);
    },
    close() { fs.closeSync(fd); },
  };
}
