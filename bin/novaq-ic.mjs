#!/usr/bin/env node
// novaq-ic - publish, check, update and pull NOVAQ models on a NOVAQ canister (ic/client.mjs).
//
//   novaq-ic publish FILE.novaq [--name N] [--description D] [--activate] [--model-id ID] [--no-resume]
//   novaq-ic status MODEL_ID
//   novaq-ic update-metadata MODEL_ID [--name N] [--description D] [--tag T ...]
//   novaq-ic pull MODEL_ID [-o OUT.novaq] [--require-active]
// common: --network local|ic  --host URL  --canister ID  --identity PEM  --json  --parallel N  --quiet
// The original tool's names work too: submit-to-ohms, check-ohms-status, update-ohms-metadata.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { connect, NovaqIcError } from '../ic/client.mjs';
import { identityFromPem } from '../ic/identity.mjs';
import { fileSource, fileSink } from '../ic/node.mjs';

const ALIASES = { 'submit-to-ohms': 'publish', 'check-ohms-status': 'status', 'update-ohms-metadata': 'update-metadata' };
const COMMANDS = ['publish', 'status', 'update-metadata', 'pull'];

const USAGE = `usage: novaq-ic <command> [options]
commands:
  publish FILE.novaq       create, upload (parallel, per-chunk SHA-256, resumes), commit
                           [--name N] [--description D] [--activate] [--model-id ID] [--no-resume]
                           [--chunk-bytes N]                       (alias: submit-to-ohms)
  status MODEL_ID          state, sizes, hashes, owner, certification   (alias: check-ohms-status)
  update-metadata MODEL_ID [--name N] [--description D] [--tag T]...  (alias: update-ohms-metadata)
  pull MODEL_ID            fetch and verify, write atomically [-o OUT.novaq] [--require-active]
options:
  --network local|ic       local: http://127.0.0.1:4943 and the replica's own root key (default)
                           ic: https://icp-api.io and the IC root key
  --host URL               the replica or boundary node (icp-cli's local network: its URL)
  --canister ID            the NOVAQ canister (or NOVAQ_CANISTER_ID, CANISTER_ID_NOVAQ, or dfx's
                           canister_ids.json for the network)
  --identity FILE.pem      Ed25519 or secp256k1 PEM (dfx identity export / icp identity export);
                           anonymous without it (reads only)
  --parallel N             concurrent uploads/downloads (default 4)
  --json                   one JSON object on stdout
  --quiet                  no progress on stderr`;

function fail(code, msg) {
  const e = new Error(msg);
  e.exitCode = code;
  throw e;
}

function canisterId(opts) {
  if (opts.canister) return opts.canister;
  const env = process.env.NOVAQ_CANISTER_ID || process.env.CANISTER_ID_NOVAQ;
  if (env) return env;
  const net = opts.network;
  for (const f of [net === 'ic' ? 'canister_ids.json' : `.dfx/${net}/canister_ids.json`]) {
    try {
      const j = JSON.parse(fs.readFileSync(f, 'utf8'));
      if (j.novaq?.[net]) return j.novaq[net];
    } catch { /* not there */ }
  }
  fail(2, 'no canister id: give --canister ID (or set NOVAQ_CANISTER_ID)');
}

const human = (n) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`);

// Progress with throughput and ETA on stderr: redrawn in place on a terminal, a line per
// quarter otherwise.
function progressBar(quiet) {
  if (quiet) return () => {};
  const tty = process.stderr.isTTY;
  let phase = null, t0 = 0, d0 = 0, lastQuarter = -1;
  return ({ phase: p, doneBytes, totalBytes, modelId }) => {
    const now = Date.now();
    if (p !== phase) {
      if (phase && tty) process.stderr.write('\n');
      phase = p; t0 = now; d0 = doneBytes; lastQuarter = -1;
      if (p === 'commit' || p === 'activate') { process.stderr.write(`novaq-ic: ${p} model ${modelId}${tty ? '' : '\n'}`); return; }
    }
    if (p === 'commit' || p === 'activate') return;
    const frac = totalBytes ? doneBytes / totalBytes : 1;
    const rate = (doneBytes - d0) / Math.max(1, now - t0) * 1000;
    const eta = rate > 0 ? Math.ceil((totalBytes - doneBytes) / rate) : null;
    const width = 30, fill = Math.round(frac * width);
    const line = `novaq-ic: ${p} model ${modelId} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${(frac * 100).toFixed(0)}% ` +
      `${human(doneBytes)}/${human(totalBytes)} ${human(rate)}/s ETA ${eta == null ? '?' : `${eta}s`}`;
    if (tty) process.stderr.write(`\r${line}\x1b[K`);
    else {
      const q = Math.floor(frac * 4);
      if (q !== lastQuarter) { lastQuarter = q; process.stderr.write(line + '\n'); }
    }
  };
}

export async function main(argv) {
  const { values: o, positionals } = parseArgs({
    args: argv, allowPositionals: true, strict: true,
    options: {
      network: { type: 'string', default: 'local' }, host: { type: 'string' }, canister: { type: 'string' },
      identity: { type: 'string' }, json: { type: 'boolean', default: false }, quiet: { type: 'boolean', default: false },
      parallel: { type: 'string' }, name: { type: 'string' }, description: { type: 'string' },
      tag: { type: 'string', multiple: true }, activate: { type: 'boolean', default: false },
      'model-id': { type: 'string' }, 'no-resume': { type: 'boolean', default: false },
      'chunk-bytes': { type: 'string' }, out: { type: 'string', short: 'o' },
      'require-active': { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (o.help || !positionals.length) { process.stdout.write(USAGE + '\n'); return 0; }
  const cmd = ALIASES[positionals[0]] || positionals[0];
  if (!COMMANDS.includes(cmd)) fail(2, `unknown command ${positionals[0]}\n${USAGE}`);
  const arg = positionals[1];
  if (!arg) fail(2, `${cmd}: missing ${cmd === 'publish' ? 'FILE' : 'MODEL_ID'}`);
  if (!['local', 'ic'].includes(o.network)) fail(2, `--network must be local or ic, not ${o.network}`);
  const identity = o.identity ? identityFromPem(fs.readFileSync(o.identity, 'utf8')) : undefined;
  const client = await connect({ network: o.network, host: o.host, canisterId: canisterId(o), identity });
  const parallel = o.parallel ? Number(o.parallel) : undefined;
  const onProgress = progressBar(o.quiet);
  let result;
  if (cmd === 'publish') {
    const src = await fileSource(arg);
    try {
      result = await client.publish(src, {
        name: o.name || path.basename(arg).replace(/\.novaq$/, ''), description: o.description ?? '',
        activate: o.activate, modelId: o['model-id'], resume: !o['no-resume'], parallel,
        chunkBytes: o['chunk-bytes'] ? Number(o['chunk-bytes']) : undefined, onProgress,
      });
    } finally { await src.close(); }
    if (!o.quiet) process.stderr.write('\n');
  } else if (cmd === 'status') {
    result = await client.status(arg);
  } else if (cmd === 'update-metadata') {
    result = await client.updateMetadata(arg, { name: o.name, description: o.description, tags: o.tag });
  } else {
    const out = o.out || `model-${arg}.novaq`;
    result = await client.pull(arg, { sink: fileSink(out), parallel, requireActive: o['require-active'], onProgress });
    result.file = out;
    if (!o.quiet) process.stderr.write('\n');
  }
  if (o.json) process.stdout.write(JSON.stringify({ command: cmd, ...result }) + '\n');
  else process.stdout.write(render(cmd, result) + '\n');
  return 0;
}

function render(cmd, r) {
  if (cmd === 'publish') {
    return `model ${r.modelId}: ${r.state}, root hash ${r.rootHash}` +
      (r.resumed ? ` (resumed: uploaded ${r.uploadedBytes} bytes, ${r.skippedBytes} already there)` : ` (uploaded ${r.uploadedBytes} bytes)`) +
      (r.report ? `\n  ${r.report.shardCount} shards, ${r.report.tensorCount} tensors, commit ${r.report.instructions} instructions` : '');
  }
  if (cmd === 'pull') return `model ${r.modelId} (${r.state}): ${r.size} bytes, ${r.shards} shards verified against certified root hash ${r.rootHash} -> ${r.file}`;
  return Object.entries(r).map(([k, v]) => `${k.padEnd(18)} ${v}`).join('\n');
}

if (import.meta.url === `file://${fs.realpathSync(process.argv[1])}`) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (e) => {
    const msg = e instanceof NovaqIcError || e.exitCode || e.code === 'input' || e.code?.startsWith?.('ERR_PARSE_ARGS') ? e.message : (e.stack || e.message);
    process.stderr.write(`\nnovaq-ic: ${msg}\n`);
    process.exit(e.exitCode || (e.code?.startsWith?.('ERR_PARSE_ARGS') ? 2 : 1));
  });
}
