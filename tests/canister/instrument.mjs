// instrument.mjs - adds an instruction counter to a wasm module, for the emulator's
// ic0.performance_counter(0).
//
// A new exported mutable i64 global "__ic_instructions" is added, and every straight-line
// segment of every function body (split after block/loop/if/else/end/br_if) starts with
//   global.get $c; i64.const <instructions in the segment>; i64.add; global.set $c
// so the global counts the wasm instructions executed (a segment left early by a trap or
// br_if counts whole: the count is exact for completed segments, within a few percent
// otherwise). The IC's counter also charges system calls and bytes copied by them, so
// the real replica reports somewhat more; docs/CANISTER.md gives the numbers as measured
// here.

function readU32(b, p) {
  let v = 0, shift = 0, byte;
  do { byte = b[p.i++]; v += (byte & 0x7f) * 2 ** shift; shift += 7; } while (byte & 0x80);
  return v;
}

function skipLeb(b, p) { while (b[p.i++] & 0x80); }

function uleb(v) {
  const out = [];
  do { let byte = v % 128; v = Math.floor(v / 128); if (v) byte |= 0x80; out.push(byte); } while (v);
  return out;
}

function sleb(v) { // non-negative values only (counts)
  const out = [];
  for (;;) {
    const byte = v % 128;
    v = Math.floor(v / 128);
    if (v === 0 && !(byte & 0x40)) { out.push(byte); return out; }
    out.push(byte | 0x80);
  }
}

function skipBlockType(b, p) {
  const t = b[p.i];
  if (t === 0x40 || (t >= 0x6f && t <= 0x7f)) p.i++;
  else skipLeb(b, p); // type index (s33)
}

// Walk one function body's expression; returns [start, end, count] segments.
function segments(b, start, end) {
  const segs = [];
  const p = { i: start };
  let segStart = start, count = 0, depth = 1;
  const split = () => { segs.push([segStart, p.i, count]); segStart = p.i; count = 0; };
  while (p.i < end) {
    const op = b[p.i++];
    count++;
    switch (op) {
      case 0x02: case 0x03: case 0x04: skipBlockType(b, p); depth++; split(); break;
      case 0x05: split(); break;
      case 0x0b: depth--; if (depth > 0) split(); break;
      case 0x0c: skipLeb(b, p); break;
      case 0x0d: skipLeb(b, p); split(); break;
      case 0x0e: { const n = readU32(b, p); for (let k = 0; k <= n; k++) skipLeb(b, p); break; }
      case 0x10: skipLeb(b, p); break;
      case 0x11: skipLeb(b, p); skipLeb(b, p); break;
      case 0x1c: { const n = readU32(b, p); p.i += n; break; }
      case 0x20: case 0x21: case 0x22: case 0x23: case 0x24: case 0x25: case 0x26: skipLeb(b, p); break;
      case 0x3f: case 0x40: p.i++; break;
      case 0x41: case 0x42: skipLeb(b, p); break;
      case 0x43: p.i += 4; break;
      case 0x44: p.i += 8; break;
      case 0xd0: p.i++; break;
      case 0xd2: skipLeb(b, p); break;
      case 0xfc: {
        const sub = readU32(b, p);
        if (sub <= 7) break;
        if (sub === 8) { skipLeb(b, p); p.i++; } else if (sub === 10) p.i += 2; else if (sub === 11) p.i++;
        else if (sub === 12 || sub === 14) { skipLeb(b, p); skipLeb(b, p); } else skipLeb(b, p);
        break;
      }
      default:
        if (op >= 0x28 && op <= 0x3e) { skipLeb(b, p); skipLeb(b, p); break; }
        if ((op >= 0x45 && op <= 0xc4) || op <= 0x01 || op === 0x0f || op === 0x1a || op === 0x1b || op === 0xd1) break;
        throw new Error(`instrument: unsupported opcode 0x${op.toString(16)} at ${p.i - 1}`);
    }
  }
  if (count) segs.push([segStart, p.i, count]);
  return segs;
}

function rewriteBody(b, start, end, g) {
  const p = { i: start };
  const nlocals = readU32(b, p);
  for (let k = 0; k < nlocals; k++) { skipLeb(b, p); p.i++; }
  const out = [...b.subarray(start, p.i)];
  const gi = uleb(g);
  for (const [s, e, n] of segments(b, p.i, end)) {
    out.push(0x23, ...gi, 0x42, ...sleb(n), 0x7c, 0x24, ...gi);
    append(out, b.subarray(s, e));
  }
  return out;
}

function append(dst, src) { for (let k = 0; k < src.length; k++) dst.push(src[k]); }

function section(id, payload) { return [id, ...uleb(payload.length), ...payload]; }

export function instrument(wasm) {
  const b = wasm instanceof Uint8Array ? wasm : new Uint8Array(wasm);
  const secs = [];
  const p = { i: 8 };
  while (p.i < b.length) {
    const hdr = p.i;
    const id = b[p.i++];
    const size = readU32(b, p);
    secs.push({ id, hdr, start: p.i, end: p.i + size });
    p.i += size;
  }
  let importedGlobals = 0, definedGlobals = 0;
  const imp = secs.find((s) => s.id === 2);
  if (imp) {
    const q = { i: imp.start };
    const n = readU32(b, q);
    for (let k = 0; k < n; k++) {
      for (let j = 0; j < 2; j++) { const len = readU32(b, q); q.i += len; }
      const kind = b[q.i++];
      if (kind === 0) skipLeb(b, q);
      else if (kind === 1) { q.i++; const f = b[q.i++]; skipLeb(b, q); if (f & 1) skipLeb(b, q); }
      else if (kind === 2) { const f = b[q.i++]; skipLeb(b, q); if (f & 1) skipLeb(b, q); }
      else if (kind === 3) { importedGlobals++; q.i += 2; }
    }
  }
  const glob = secs.find((s) => s.id === 6);
  if (glob) definedGlobals = readU32(b, { i: glob.start });
  const g = importedGlobals + definedGlobals;
  const newGlobal = [0x7e, 0x01, 0x42, 0x00, 0x0b];

  const out = [];
  append(out, b.subarray(0, 8));
  let globalDone = false;
  const emitGlobal = () => {
    if (globalDone) return;
    globalDone = true;
    if (glob) {
      const q = { i: glob.start };
      readU32(b, q);
      const payload = uleb(definedGlobals + 1);
      append(payload, b.subarray(q.i, glob.end));
      append(payload, newGlobal);
      append(out, section(6, payload));
    } else {
      out.push(...section(6, [1, ...newGlobal]));
    }
  };
  const order = { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 7, 8: 8, 9: 9, 12: 10, 10: 11, 11: 12 };
  for (const s of secs) {
    if (s.id !== 0 && order[s.id] > 6) emitGlobal();
    if (s.id === 6) { emitGlobal(); continue; }
    if (s.id === 7) {
      const q = { i: s.start };
      const n = readU32(b, q);
      const name = [...new TextEncoder().encode('__ic_instructions')];
      const payload = uleb(n + 1);
      append(payload, b.subarray(q.i, s.end));
      append(payload, [...uleb(name.length), ...name, 0x03, ...uleb(g)]);
      append(out, section(7, payload));
      continue;
    }
    if (s.id === 10) {
      const q = { i: s.start };
      const n = readU32(b, q);
      const bodies = [];
      for (let k = 0; k < n; k++) {
        const size = readU32(b, q);
        const body = rewriteBody(b, q.i, q.i + size, g);
        append(bodies, uleb(body.length));
        append(bodies, body);
        q.i += size;
      }
      const payload = uleb(n);
      append(payload, bodies);
      out.push(10, ...uleb(payload.length));
      append(out, payload);
      continue;
    }
    append(out, b.subarray(s.hdr, s.end));
  }
  emitGlobal();
  return Uint8Array.from(out);
}
