// emulator.mjs - a small Internet Computer "replica" for one canister, in Node.js.
//
// It runs the real novaq_canister.wasm against an implementation of the ic0 System API
// (docs: shared notes ICP.md / the IC interface spec) with the behaviour the canister's
// correctness depends on:
//   - install (canister_init), upgrade (pre_upgrade on the old instance, a fresh instance
//     of the new module, post_upgrade): wasm memory is lost, stable memory is kept;
//   - update calls persist their changes; a trap rolls back wasm memory, stable memory
//     and certified data to the state before the call; queries never persist anything;
//   - caller principals, controllers (ic0.is_controller), canister id;
//   - stable64_* with bounds checks and growth up to a page limit;
//   - reply/reject state machine (replying twice traps; returning without either is an
//     error), payload limits (2 MiB ingress, 2 MiB update reply, 3 MiB query reply),
//     certified_data_set only outside queries and at most 32 bytes;
//   - data_certificate_* in queries: a stand-in certificate (the emulator has no subnet
//     key), the bytes "emu-certificate:" followed by the certified data;
//   - performance_counter(0): instructions executed in this message when the module was
//     instrumented (instrument.mjs counts every wasm instruction, as the IC does);
//   - instruction limits (40e9 update, 5e9 query, 300e9 install/upgrade; settable): a
//     message that executed more counts as trapped;
//   - fault injection: trap at the Nth stable64_write of the next update.
import { instrument } from './instrument.mjs';

const PAGE = 65536;
export const LIMITS = {
  ingress: 2 * 1024 * 1024,
  updateReply: 2 * 1024 * 1024,
  queryReply: 3 * 1024 * 1024,
  certifiedData: 32,
  instructions: { update: 40e9, query: 5e9, system: 300e9 },
};

export class Trap extends Error {}
export class CallError extends Error {
  constructor(kind, message) { super(message); this.kind = kind; }
}

const ANONYMOUS = Uint8Array.from([4]);
export const CANISTER_ID = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 1, 1, 1]);

export class Replica {
  constructor({ controllers = [], maxStablePages = 1 << 20, count = true, instructionLimits = LIMITS.instructions } = {}) {
    this.instructionLimits = instructionLimits;
    this.controllers = controllers.map((c) => Uint8Array.from(c));
    this.maxStablePages = maxStablePages;
    this.count = count;
    this.pages = []; // stable memory: 64 KiB pages, null = never written (zeros)
    this.certified = new Uint8Array(0);
    this.journal = null; // page index -> original page, during a message
    this.time = 1_700_000_000_000_000_000n;
    this.log = [];
    this.faults = { trapAtStableWrite: 0 };
  }

  // ------------------------------------------------------------ lifecycle

  async install(wasmBytes, arg = Uint8Array.from([0x44, 0x49, 0x44, 0x4c, 0, 0])) {
    await this._load(wasmBytes);
    this.pages = [];
    this.certified = new Uint8Array(0);
    this._system('canister_init', arg);
  }

  async upgrade(wasmBytes, arg = Uint8Array.from([0x44, 0x49, 0x44, 0x4c, 0, 0])) {
    const saved = this._snapshot();
    try {
      if (this.instance.exports.canister_pre_upgrade) this._run('canister_pre_upgrade', { kind: 'system', arg: new Uint8Array(0) });
      await this._load(wasmBytes || this.wasmBytes);
      this._system('canister_post_upgrade', arg);
    } catch (e) {
      this._restore(saved, true); // a failed upgrade leaves the old canister in place
      throw e;
    } finally {
      this.journal = null;
    }
  }

  async _load(wasmBytes) {
    this.wasmBytes = wasmBytes;
    const bytes = this.count ? instrument(wasmBytes) : wasmBytes;
    this.module = await WebAssembly.compile(bytes);
    for (const imp of WebAssembly.Module.imports(this.module)) {
      if (imp.module !== 'ic0') throw new Error(`module imports ${imp.module}.${imp.name}: only ic0 is allowed`);
    }
    this._instantiate();
  }

  _instantiate() {
    this.instance = new WebAssembly.Instance(this.module, { ic0: this._ic0() });
  }

  _system(name, arg) {
    const r = this._run(name, { kind: 'system', arg });
    if (r.trap) throw new CallError('trap', `${name} trapped: ${r.trap}`);
  }

  // ------------------------------------------------------------ calls

  // Returns { reply: Uint8Array } or throws CallError('reject' | 'trap' | 'error', message).
  update(method, arg, caller = ANONYMOUS) {
    if (arg.length > LIMITS.ingress) throw new CallError('error', `ingress payload of ${arg.length} bytes exceeds ${LIMITS.ingress}`);
    return this._call('canister_update ' + method, arg, caller, 'update');
  }

  query(method, arg, caller = ANONYMOUS) {
    return this._call('canister_query ' + method, arg, caller, 'query');
  }

  _call(exportName, arg, caller, kind) {
    if (!this.instance.exports[exportName]) throw new CallError('error', `canister has no ${exportName}`);
    const saved = this._snapshot();
    this.time += 1_000_000_000n;
    const r = this._run(exportName, { kind, arg: Uint8Array.from(arg), caller: Uint8Array.from(caller) });
    if (r.trap || kind === 'query') this._restore(saved, !!r.trap);
    this.journal = null;
    this.lastInstructions = r.instructions;
    if (r.trap) throw new CallError('trap', `canister trapped: ${r.trap}`);
    if (r.rejected !== undefined) throw new CallError('reject', r.rejected);
    if (!r.replied) throw new CallError('error', `${exportName} returned without replying`);
    const limit = kind === 'query' ? LIMITS.queryReply : LIMITS.updateReply;
    if (r.reply.length > limit) throw new CallError('error', `reply of ${r.reply.length} bytes exceeds ${limit}`);
    return r.reply;
  }

  _run(exportName, ctx) {
    this.ctx = { ...ctx, replyParts: [], replied: false, rejected: undefined, stableWrites: 0 };
    this._resetCounter();
    let trap;
    try {
      this.instance.exports[exportName]();
    } catch (e) {
      trap = e instanceof Trap ? e.message : `wasm: ${e.message}`;
    }
    const c = this.ctx;
    this.ctx = null;
    const instructions = this._readCounter();
    // The counter is read after the fact: a message over its limit is treated as the IC
    // treats it, a trap (and so rolled back), whatever it did before.
    const limit = this.instructionLimits[ctx.kind];
    if (!trap && this.count && Number(instructions) > limit) trap = `instruction limit exceeded (${instructions} > ${limit})`;
    return {
      trap, instructions, replied: c.replied, rejected: c.rejected,
      reply: c.replied ? concat(c.replyParts) : undefined,
    };
  }

  // State before a message: a copy of wasm memory, stable memory's page count plus a
  // journal of the original contents of every page the message writes (copy on write),
  // certified data.
  _snapshot() {
    this.journal = new Map();
    return {
      heap: new Uint8Array(this.instance.exports.memory.buffer).slice(),
      journal: this.journal,
      npages: this.pages.length,
      certified: this.certified.slice(),
      instance: this.instance,
      module: this.module,
      wasmBytes: this.wasmBytes,
    };
  }

  _restore(s, fresh) {
    this.module = s.module;
    this.wasmBytes = s.wasmBytes;
    this.instance = s.instance;
    const mem = this.instance.exports.memory;
    if (fresh || mem.buffer.byteLength !== s.heap.length) {
      // A trap may leave globals (the stack pointer) mid-call, and memory cannot shrink:
      // start a fresh instance and give it the old memory.
      this._instantiate();
      const m = this.instance.exports.memory;
      const grow = (s.heap.length - m.buffer.byteLength) / PAGE;
      if (grow > 0) m.grow(grow);
      new Uint8Array(m.buffer).set(s.heap);
    } else {
      new Uint8Array(mem.buffer).set(s.heap);
    }
    for (const [i, page] of s.journal) this.pages[i] = page;
    this.pages.length = s.npages;
    this.certified = s.certified;
  }

  // ------------------------------------------------------------ instruction counter

  _resetCounter() {
    const g = this.instance.exports.__ic_instructions;
    if (g) g.value = 0n;
  }

  _readCounter() {
    const g = this.instance.exports.__ic_instructions;
    return g ? BigInt(g.value) : 0n;
  }

  // ------------------------------------------------------------ ic0

  _ic0() {
    const self = this;
    const mem = () => new Uint8Array(self.instance.exports.memory.buffer);
    const ctx = () => self.ctx;
    const trap = (msg) => { throw new Trap(msg); };
    const need = (cond, msg) => { if (!cond) trap(msg); };
    const inMessage = (name) => need(ctx() && ctx().kind !== 'system', `${name} called outside a message`);
    const copyOut = (dst, off, size, src, name) => {
      need(off >= 0 && size >= 0 && off + size <= src.length, `${name}: range [${off}, +${size}) outside ${src.length} bytes`);
      need(dst + size <= mem().length, `${name}: destination out of bounds`);
      mem().set(src.subarray(off, off + size), dst);
    };
    const readIn = (src, size, name) => {
      need(src + size <= mem().length, `${name}: source out of bounds`);
      return mem().slice(src, src + size);
    };
    const u32 = (x) => x >>> 0;
    const num = (x) => Number(BigInt.asUintN(64, BigInt(x)));
    return {
      msg_arg_data_size: () => { need(ctx(), 'msg_arg_data_size outside a message'); return ctx().arg.length; },
      msg_arg_data_copy: (dst, off, size) => copyOut(u32(dst), u32(off), u32(size), ctx().arg, 'msg_arg_data_copy'),
      msg_caller_size: () => { inMessage('msg_caller_size'); return ctx().caller.length; },
      msg_caller_copy: (dst, off, size) => { inMessage('msg_caller_copy'); copyOut(u32(dst), u32(off), u32(size), ctx().caller, 'msg_caller_copy'); },
      msg_reply_data_append: (src, size) => {
        inMessage('msg_reply_data_append');
        need(!ctx().replied && ctx().rejected === undefined, 'msg_reply_data_append: already replied');
        ctx().replyParts.push(readIn(u32(src), u32(size), 'msg_reply_data_append'));
      },
      msg_reply: () => {
        inMessage('msg_reply');
        need(!ctx().replied && ctx().rejected === undefined, 'msg_reply: already replied');
        ctx().replied = true;
      },
      msg_reject: (src, size) => {
        inMessage('msg_reject');
        need(!ctx().replied && ctx().rejected === undefined, 'msg_reject: already replied');
        ctx().rejected = new TextDecoder().decode(readIn(u32(src), u32(size), 'msg_reject'));
      },
      canister_self_size: () => CANISTER_ID.length,
      canister_self_copy: (dst, off, size) => copyOut(u32(dst), u32(off), u32(size), CANISTER_ID, 'canister_self_copy'),
      stable64_size: () => BigInt(self.pages.length),
      stable64_grow: (pages) => {
        const n = num(pages), old = self.pages.length;
        if (old + n > self.maxStablePages) return -1n;
        for (let i = 0; i < n; i++) self.pages.push(null);
        return BigInt(old);
      },
      stable64_read: (dst, off, size) => {
        const d = num(dst), o = num(off), s = num(size);
        need(o + s <= self.pages.length * PAGE, `stable64_read: [${o}, +${s}) out of bounds (${self.pages.length} pages)`);
        need(d + s <= mem().length, 'stable64_read: heap destination out of bounds');
        self._stableRead(mem(), d, o, s);
      },
      stable64_write: (off, src, size) => {
        const o = num(off), sr = num(src), s = num(size);
        const c = ctx();
        need(o + s <= self.pages.length * PAGE, `stable64_write: [${o}, +${s}) out of bounds (${self.pages.length} pages)`);
        need(sr + s <= mem().length, 'stable64_write: heap source out of bounds');
        if (c && self.faults.trapAtStableWrite && ++c.stableWrites === self.faults.trapAtStableWrite) {
          self.faults.trapAtStableWrite = 0;
          // write part of the data first, as a crash mid-write might, then trap
          self._stableWrite(mem(), sr, o, Math.min(s, 7));
          trap('injected fault: trap during stable64_write');
        }
        self._stableWrite(mem(), sr, o, s);
      },
      certified_data_set: (src, size) => {
        need(!ctx() || ctx().kind !== 'query', 'certified_data_set cannot be called from a query');
        need(u32(size) <= LIMITS.certifiedData, `certified_data_set: ${u32(size)} bytes (max 32)`);
        self.certified = readIn(u32(src), u32(size), 'certified_data_set');
      },
      data_certificate_present: () => (ctx() && ctx().kind === 'query' ? 1 : 0),
      data_certificate_size: () => { need(ctx() && ctx().kind === 'query', 'data_certificate_size outside a query'); return self._cert().length; },
      data_certificate_copy: (dst, off, size) => {
        need(ctx() && ctx().kind === 'query', 'data_certificate_copy outside a query');
        copyOut(u32(dst), u32(off), u32(size), self._cert(), 'data_certificate_copy');
      },
      time: () => self.time,
      is_controller: (src, size) => {
        need(u32(size) <= 29, 'is_controller: principal over 29 bytes');
        const p = readIn(u32(src), u32(size), 'is_controller');
        return self.controllers.some((c) => equal(c, p)) ? 1 : 0;
      },
      debug_print: (src, size) => {
        const text = new TextDecoder().decode(readIn(u32(src), u32(size), 'debug_print'));
        self.log.push(text);
        if (process.env.NOVAQ_EMU_DEBUG) console.error('[canister]', text);
      },
      trap: (src, size) => trap(new TextDecoder().decode(readIn(u32(src), u32(size), 'trap'))),
      performance_counter: (type) => {
        need(type === 0 || type === 1, `performance_counter(${type})`);
        return self._readCounter();
      },
    };
  }

  _stableRead(heap, dst, off, size) {
    while (size > 0) {
      const i = Math.floor(off / PAGE), at = off % PAGE, n = Math.min(size, PAGE - at);
      const page = this.pages[i];
      if (page) heap.set(page.subarray(at, at + n), dst);
      else heap.fill(0, dst, dst + n);
      off += n; dst += n; size -= n;
    }
  }

  _stableWrite(heap, src, off, size) {
    while (size > 0) {
      const i = Math.floor(off / PAGE), at = off % PAGE, n = Math.min(size, PAGE - at);
      if (this.journal && !this.journal.has(i)) this.journal.set(i, this.pages[i] ? this.pages[i].slice() : null);
      if (!this.pages[i]) this.pages[i] = new Uint8Array(PAGE);
      this.pages[i].set(heap.subarray(src, src + n), at);
      off += n; src += n; size -= n;
    }
  }

  // A copy of stable memory [off, off + size) (tests compare states with it).
  stableBytes(off = 0, size = this.pages.length * PAGE) {
    const out = new Uint8Array(size);
    this._stableRead(out, 0, off, size);
    return out;
  }

  _cert() {
    return concat([new TextEncoder().encode('emu-certificate:'), this.certified]);
  }
}

function concat(parts) {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

function equal(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
