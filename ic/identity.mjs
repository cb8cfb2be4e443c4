// ic/identity.mjs - identities from PEM files as dfx and icp-cli export them, as
// @icp-sdk/core identity objects (Node and browser):
//   - Ed25519, PKCS#8 "PRIVATE KEY" (dfx identity export; v1 without, or v2 with, the public
//     key; icp-cli for imported Ed25519 keys)        -> Ed25519KeyIdentity
//   - secp256k1, SEC1 "EC PRIVATE KEY" (dfx, openssl ecparam; an "EC PARAMETERS" block
//     before it is skipped) or PKCS#8 "PRIVATE KEY" with id-ecPublicKey/secp256k1 (icp-cli
//     identity export)                                -> Secp256k1KeyIdentity
// Encrypted PEMs ("ENCRYPTED PRIVATE KEY", icp-cli export --encrypt) and other curves are
// refused with a message saying so.
import { Ed25519KeyIdentity } from '@icp-sdk/core/identity';
import { Secp256k1KeyIdentity } from '@icp-sdk/core/identity/secp256k1';

const OID_ED25519 = '1.3.101.112';
const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const OID_SECP256K1 = '1.3.132.0.10';
const OID_P256 = '1.2.840.10045.3.1.7';

export class PemError extends Error {
  constructor(message) { super(message); this.name = 'PemError'; this.code = 'input'; }
}

// PEM blocks: [{label, der}]
export function pemBlocks(text) {
  const out = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  for (let m; (m = re.exec(text));) {
    const b64 = m[2].replace(/\s+/g, '');
    let bin;
    try { bin = atob(b64); } catch { throw new PemError(`PEM block ${m[1]}: invalid base64`); }
    out.push({ label: m[1], der: Uint8Array.from(bin, (c) => c.charCodeAt(0)) });
  }
  return out;
}

// A minimal DER reader: {tag, value (Uint8Array), end}
function tlv(buf, at) {
  if (at + 2 > buf.length) throw new PemError('DER: truncated');
  const tag = buf[at];
  let len = buf[at + 1], p = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 3 || p + n > buf.length) throw new PemError('DER: bad length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i];
    p += n;
  }
  if (p + len > buf.length) throw new PemError('DER: truncated');
  return { tag, value: buf.subarray(p, p + len), end: p + len };
}
function children(buf) {
  const out = [];
  for (let at = 0; at < buf.length;) { const t = tlv(buf, at); out.push(t); at = t.end; }
  return out;
}
function oid(bytes) {
  const parts = [Math.floor(bytes[0] / 40), bytes[0] % 40];
  let v = 0;
  for (let i = 1; i < bytes.length; i++) {
    v = v * 128 + (bytes[i] & 0x7f);
    if (!(bytes[i] & 0x80)) { parts.push(v); v = 0; }
  }
  return parts.join('.');
}

// SEC1 ECPrivateKey: SEQUENCE { INTEGER 1, OCTET STRING key, [0] OID curve OPTIONAL, [1] ... }
function sec1(der, curveFromOuter = null) {
  const seq = tlv(der, 0);
  if (seq.tag !== 0x30) throw new PemError('EC PRIVATE KEY: not a SEQUENCE');
  const f = children(seq.value);
  if (f.length < 2 || f[0].tag !== 0x02 || f[1].tag !== 0x04) throw new PemError('EC PRIVATE KEY: unexpected structure');
  let curve = curveFromOuter;
  for (const x of f.slice(2)) if (x.tag === 0xa0) curve = oid(tlv(x.value, 0).value);
  return { curve, key: f[1].value };
}

function ecIdentity(curve, key) {
  if (curve === OID_SECP256K1) {
    if (key.length !== 32) throw new PemError(`secp256k1 private key of ${key.length} bytes`);
    return Secp256k1KeyIdentity.fromSecretKey(Uint8Array.from(key));
  }
  if (curve === OID_P256) throw new PemError('P-256 (prime256v1) keys are not supported: use an Ed25519 or secp256k1 identity');
  throw new PemError(`unsupported elliptic curve ${curve || '(none given)'}`);
}

// PEM text -> an @icp-sdk/core SignIdentity
export function identityFromPem(text) {
  const blocks = pemBlocks(String(text));
  if (!blocks.length) throw new PemError('no PEM block found');
  const enc = blocks.find((b) => b.label === 'ENCRYPTED PRIVATE KEY');
  if (enc) throw new PemError('the PEM is encrypted: export it without --encrypt (icp identity export NAME) or decrypt it first');
  const block = blocks.find((b) => b.label === 'PRIVATE KEY' || b.label === 'EC PRIVATE KEY');
  if (!block) throw new PemError(`no private key in the PEM (blocks: ${blocks.map((b) => b.label).join(', ')})`);
  if (block.label === 'EC PRIVATE KEY') {
    const { curve, key } = sec1(block.der);
    return ecIdentity(curve, key);
  }
  // PKCS#8: SEQUENCE { INTEGER version, SEQUENCE { OID alg, params }, OCTET STRING key, ... }
  const seq = tlv(block.der, 0);
  if (seq.tag !== 0x30) throw new PemError('PRIVATE KEY: not a SEQUENCE');
  const f = children(seq.value);
  if (f.length < 3 || f[0].tag !== 0x02 || f[1].tag !== 0x30 || f[2].tag !== 0x04) throw new PemError('PRIVATE KEY: not PKCS#8');
  const alg = children(f[1].value);
  const algOid = oid(alg[0].value);
  if (algOid === OID_ED25519) {
    const inner = tlv(f[2].value, 0); // CurvePrivateKey ::= OCTET STRING (32 bytes)
    if (inner.tag !== 0x04 || inner.value.length !== 32) throw new PemError('Ed25519 PRIVATE KEY: expected a 32-byte seed');
    return Ed25519KeyIdentity.fromSecretKey(Uint8Array.from(inner.value));
  }
  if (algOid === OID_EC_PUBLIC_KEY) {
    const curve = alg[1] && alg[1].tag === 0x06 ? oid(alg[1].value) : null;
    const { curve: c2, key } = sec1(f[2].value, curve);
    return ecIdentity(c2, key);
  }
  throw new PemError(`unsupported key algorithm ${algOid}`);
}
