// ic/node.mjs - Node.js sources and sinks for ic/client.mjs: a .novaq file as a publish
// source, and an atomic, resumable file sink for pull (writes <out>.tmp, keeps its verified
// shards across runs, fsyncs, renames over <out> only when everything checked out).
import fs from 'node:fs';
import path from 'node:path';
import { sha256 } from './client.mjs';

export async function fileSource(file) {
  const fh = await fs.promises.open(file, 'r');
  const { size } = await fh.stat();
  return {
    size,
    async read(offset, length) {
      const buf = new Uint8Array(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
        if (!bytesRead) throw new Error(`${file}: short read at ${offset + got}`);
        got += bytesRead;
      }
      return buf;
    },
    close: () => fh.close(),
  };
}

// A sink writing `out` atomically. A <out>.tmp of the same size left by an interrupted pull
// is reused: shards whose bytes there already match their SHA-256 are not fetched again.
export function fileSink(out) {
  const tmp = `${out}.tmp`;
  let fh = null;
  let resumable = false;
  return {
    tmp,
    async open(size) {
      await fs.promises.mkdir(path.dirname(path.resolve(out)), { recursive: true });
      const st = await fs.promises.stat(tmp).catch(() => null);
      resumable = !!st && st.size === size;
      fh = await fs.promises.open(tmp, resumable ? 'r+' : 'w+');
      if (!resumable) await fh.truncate(size);
    },
    async has(offset, length, digest) {
      if (!resumable) return false;
      const buf = new Uint8Array(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      if (bytesRead !== length) return false;
      const got = await sha256(buf);
      return got.every((x, i) => x === digest[i]);
    },
    async write(offset, bytes) {
      let done = 0;
      while (done < bytes.length) {
        const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, offset + done);
        done += bytesWritten;
      }
    },
    async finish() {
      await fh.sync();
      await fh.close();
      fh = null;
      await fs.promises.rename(tmp, out);
      return out;
    },
    // an interrupted or refused pull: the .tmp stays (verified shards are reused next time)
    async abort() {
      if (fh) { await fh.close().catch(() => {}); fh = null; }
    },
  };
}
