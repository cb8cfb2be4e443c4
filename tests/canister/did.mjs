// did.mjs - builds @dfinity/candid IDL types from a .did file (the subset of the Candid
// grammar that service descriptions use: type definitions, records, variants, tuples,
// opt/vec/blob, func and service types, comments). The canister tests use it so that
// every argument and reply is encoded/decoded with the types of candid/novaq.did itself.
import { IDL } from '@dfinity/candid';

const PRIMS = {
  null: IDL.Null, bool: IDL.Bool, nat: IDL.Nat, int: IDL.Int, nat8: IDL.Nat8,
  nat16: IDL.Nat16, nat32: IDL.Nat32, nat64: IDL.Nat64, int8: IDL.Int8, int16: IDL.Int16,
  int32: IDL.Int32, int64: IDL.Int64, float32: IDL.Float32, float64: IDL.Float64,
  text: IDL.Text, reserved: IDL.Reserved, empty: IDL.Empty, principal: IDL.Principal,
};

function tokenize(src) {
  const toks = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) { i++; continue; }
    if (src.startsWith('//', i)) { while (i < src.length && src[i] !== '\n') i++; continue; }
    if (src.startsWith('/*', i)) {
      const end = src.indexOf('*/', i + 2);
      if (end < 0) throw new Error('did: unterminated comment');
      i = end + 2;
      continue;
    }
    if (src.startsWith('->', i)) { toks.push({ k: '->' }); i += 2; continue; }
    if ('{}();:,='.includes(c)) { toks.push({ k: c }); i++; continue; }
    if (c === '"') {
      let j = i + 1, s = '';
      while (j < src.length && src[j] !== '"') { if (src[j] === '\\') j++; s += src[j++]; }
      toks.push({ k: 'str', v: s });
      i = j + 1;
      continue;
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*|^[0-9]+/.exec(src.slice(i, i + 200));
    if (!m) throw new Error(`did: unexpected character '${c}' at ${i}`);
    toks.push({ k: /^[0-9]/.test(m[0]) ? 'num' : 'id', v: m[0] });
    i += m[0].length;
  }
  return toks;
}

export function parseDid(src) {
  const toks = tokenize(src);
  let p = 0;
  const peek = (o = 0) => toks[p + o] || { k: 'eof' };
  const next = () => toks[p++] || { k: 'eof' };
  const expect = (k, v) => {
    const t = next();
    if (t.k !== k || (v !== undefined && t.v !== v)) throw new Error(`did: expected ${v || k}, found ${t.v || t.k} (token ${p})`);
    return t;
  };
  const defs = new Map(); // name -> unparsed type AST
  let service = null;

  // AST: {t:'prim',name} {t:'ref',name} {t:'opt',of} {t:'vec',of} {t:'record',fields:[{name|id,type}]}
  //      {t:'variant',fields} {t:'func',args,rets,ann} {t:'service',methods}
  function fieldName() {
    const t = peek(), n = peek(1);
    if ((t.k === 'id' || t.k === 'str' || t.k === 'num') && n.k === ':') { p += 2; return t; }
    return null;
  }
  function fields(isVariant) {
    expect('{');
    const out = [];
    let idx = 0;
    while (peek().k !== '}') {
      const name = fieldName();
      if (name) out.push({ name: name.k === 'num' ? Number(name.v) : name.v, type: dataType() });
      else if (isVariant) { const t = next(); out.push({ name: t.v, type: { t: 'prim', name: 'null' } }); }
      else out.push({ name: idx++, type: dataType(), positional: true });
      if (peek().k === ';') next();
      else if (peek().k !== '}') throw new Error(`did: expected ; or } in ${isVariant ? 'variant' : 'record'}`);
    }
    expect('}');
    return out;
  }
  function argList() {
    expect('(');
    const out = [];
    while (peek().k !== ')') {
      fieldName(); // argument names are documentation only
      out.push(dataType());
      if (peek().k === ',') next();
    }
    expect(')');
    return out;
  }
  function funcType() {
    const args = argList();
    expect('->');
    const rets = argList();
    const ann = [];
    while (peek().k === 'id' && ['query', 'oneway', 'composite_query'].includes(peek().v)) ann.push(next().v);
    return { t: 'func', args, rets, ann };
  }
  function serviceType() {
    expect('{');
    const methods = [];
    while (peek().k !== '}') {
      const name = next();
      expect(':');
      const type = peek().k === 'id' && peek(1).k !== '(' && peek().v !== 'func' ? { t: 'ref', name: next().v } : funcType();
      methods.push({ name: name.v, type });
      if (peek().k === ';') next();
    }
    expect('}');
    return { t: 'service', methods };
  }
  function dataType() {
    const t = next();
    if (t.k === '(') { p--; return funcType(); }
    if (t.k !== 'id') throw new Error(`did: expected a type, found ${t.v || t.k}`);
    switch (t.v) {
      case 'opt': return { t: 'opt', of: dataType() };
      case 'vec': return { t: 'vec', of: dataType() };
      case 'blob': return { t: 'vec', of: { t: 'prim', name: 'nat8' } };
      case 'record': return { t: 'record', fields: fields(false) };
      case 'variant': return { t: 'variant', fields: fields(true) };
      case 'func': return funcType();
      case 'service': return serviceType();
      default: return PRIMS[t.v] ? { t: 'prim', name: t.v } : { t: 'ref', name: t.v };
    }
  }

  while (peek().k !== 'eof') {
    const t = next();
    if (t.k === ';') continue;
    if (t.k === 'id' && t.v === 'type') {
      const name = expect('id').v;
      expect('=');
      defs.set(name, dataType());
    } else if (t.k === 'id' && t.v === 'service') {
      if (peek().k === 'id') next();
      expect(':');
      if (peek().k === '(') { argList(); expect('->'); } // service class arguments
      service = peek().k === 'id' ? { t: 'ref', name: next().v } : serviceType();
    } else {
      throw new Error(`did: unexpected ${t.v || t.k}`);
    }
  }
  if (!service) throw new Error('did: no service');

  const built = new Map();
  const building = new Set();
  function build(ast) {
    switch (ast.t) {
      case 'prim': return PRIMS[ast.name];
      case 'ref': {
        if (built.has(ast.name)) return built.get(ast.name);
        if (!defs.has(ast.name)) throw new Error(`did: unknown type ${ast.name}`);
        if (building.has(ast.name)) { // recursive: tie the knot with IDL.Rec
          const rec = IDL.Rec();
          built.set(ast.name, rec);
          return rec;
        }
        building.add(ast.name);
        const ty = build(defs.get(ast.name));
        building.delete(ast.name);
        const prev = built.get(ast.name);
        if (prev && prev !== ty && typeof prev.fill === 'function') { prev.fill(ty); return prev; }
        built.set(ast.name, ty);
        return ty;
      }
      case 'opt': return IDL.Opt(build(ast.of));
      case 'vec': return IDL.Vec(build(ast.of));
      case 'record':
        if (ast.fields.length && ast.fields.every((f) => f.positional)) return IDL.Tuple(...ast.fields.map((f) => build(f.type)));
        return IDL.Record(Object.fromEntries(ast.fields.map((f) => [String(f.name), build(f.type)])));
      case 'variant': return IDL.Variant(Object.fromEntries(ast.fields.map((f) => [String(f.name), build(f.type)])));
      case 'func': return IDL.Func(ast.args.map(build), ast.rets.map(build), ast.ann);
      case 'service': return IDL.Service(Object.fromEntries(ast.methods.map((m) => [m.name, build(m.type)])));
      default: throw new Error(`did: cannot build ${ast.t}`);
    }
  }
  const types = {};
  for (const name of defs.keys()) types[name] = build({ t: 'ref', name });
  return { service: build(service), types };
}
