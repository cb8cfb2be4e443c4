// identity-shards.mjs - helper of scripts/check-identity.sh: the SHA-256 of each shard of a
// .novaq file (the byte ranges the manifest lists, docs/FORMAT.md), one line per shard:
//   <label>-shard<i> <sha256>
// It also checks each range against the manifest's own sha256 (exit 1 if one differs).
// usage: node scripts/identity-shards.mjs <file.novaq> <label>
import fs from 'node:fs';
import crypto from 'node:crypto';

const [file, label] = process.argv.slice(2);
if (!file || !label) {
  console.error('usage: identity-shards.mjs <file.novaq> <label>');
  process.exit(2);
}
const b = fs.readFileSync(file);
// footer (last 56 bytes): u64 manifest_off | u64 manifest_size | sha256 [32] | u32 version | "NQFT"
const foot = b.length - 56;
if (foot < 16 || b.toString('latin1', b.length - 4) !== 'NQFT') throw new Error(`${file}: no .novaq footer`);
const off = Number(b.readBigUInt64LE(foot)), size = Number(b.readBigUInt64LE(foot + 8));
const manifest = JSON.parse(b.subarray(off, off + size).toString('utf8'));
const sha = (x) => crypto.createHash('sha256').update(x).digest('hex');
for (const s of manifest.shards) {
  const h = sha(b.subarray(s.offset, s.offset + s.size));
  if (h !== s.sha256) throw new Error(`${file}: shard ${s.index} hashes to ${h}, manifest says ${s.sha256}`);
  console.log(`${label}-shard${s.index} ${h}`);
}
