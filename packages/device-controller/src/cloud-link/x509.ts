// Makes X.509 certificates with node:crypto alone (issue 15, target 4: `up` ready < 2 s). node:crypto makes keys
// and signs but has no certificate builder; node-forge, which link-tls.ts used, signs only RSA, and its RSA 2048
// key and signature took ~0.25 s of CPU on a first start. A certificate is a small DER structure (RFC 5280 §4.1):
// this encodes the fields and extensions edgetwin issues (a P-256 key signs in well under a millisecond) and
// reads one field back (an issuer's subject). Nothing here parses certificates in general: node:crypto's
// X509Certificate does that.
import { type KeyObject, createPrivateKey, randomBytes, sign } from 'node:crypto';
import { isIP } from 'node:net';

/** The extensions edgetwin puts in its certificates, in the notation link-tls.ts has always taken. */
export type Extension =
  | { name: 'basicConstraints'; cA: boolean }
  | {
      name: 'keyUsage';
      digitalSignature?: boolean;
      nonRepudiation?: boolean;
      keyEncipherment?: boolean;
      dataEncipherment?: boolean;
      keyAgreement?: boolean;
      keyCertSign?: boolean;
      cRLSign?: boolean;
    }
  | { name: 'extKeyUsage'; serverAuth?: boolean; clientAuth?: boolean }
  /** type 2: a DNS name (`value`), type 7: an IP address (`ip`) */
  | { name: 'subjectAltName'; altNames: Array<{ type: 2; value: string } | { type: 7; ip: string }> };

// ---- DER (X.690) encoding of the few types a certificate needs

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag: number, ...content: Buffer[]): Buffer => {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
};
const seq = (...items: Buffer[]) => tlv(0x30, ...items);
const set = (...items: Buffer[]) => tlv(0x31, ...items);
const octets = (b: Buffer) => tlv(0x04, b);
const bits = (b: Buffer, unused = 0) => tlv(0x03, Buffer.from([unused]), b);
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0]));
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
/** a non-negative INTEGER from its big-endian bytes */
function integer(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0 && (b[i + 1]! & 0x80) === 0) i++;
  const v = b.subarray(i);
  return tlv(0x02, (v[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), v]) : v);
}
function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const out = [a! * 40 + b!];
  for (const n of rest) {
    const groups = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) groups.unshift((v & 0x7f) | 0x80);
    out.push(...groups);
  }
  return tlv(0x06, Buffer.from(out));
}
/** UTCTime until 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5) */
function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14); // YYYYMMDDHHMMSS
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`));
}

const OID = {
  commonName: '2.5.4.3',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  sha256WithRsa: '1.2.840.113549.1.1.11',
};

const KEY_USAGE_BITS = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
] as const;

function extension(e: Extension): Buffer {
  const ext = (id: string, critical: boolean, value: Buffer) =>
    seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));
  switch (e.name) {
    case 'basicConstraints':
      return ext(OID.basicConstraints, true, seq(...(e.cA ? [bool(true)] : [])));
    case 'keyUsage': {
      let mask = 0;
      KEY_USAGE_BITS.forEach((name, i) => {
        if (e[name]) mask |= 0x80 >> i;
      });
      // a BIT STRING without its trailing zero bits
      let unused = 0;
      while (unused < 7 && mask !== 0 && (mask & (1 << unused)) === 0) unused++;
      return ext(OID.keyUsage, true, bits(Buffer.from([mask]), unused));
    }
    case 'extKeyUsage':
      return ext(
        OID.extKeyUsage,
        false,
        seq(...(e.serverAuth ? [oid(OID.serverAuth)] : []), ...(e.clientAuth ? [oid(OID.clientAuth)] : [])),
      );
    case 'subjectAltName':
      return ext(
        OID.subjectAltName,
        false,
        seq(
          ...e.altNames.map((n) =>
            n.type === 2 ? tlv(0x82, Buffer.from(n.value, 'ascii')) : tlv(0x87, ipBytes(n.ip)),
          ),
        ),
      );
  }
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  // IPv6: an embedded IPv4 tail (::ffff:10.0.0.1) as two groups, "::" expanded, eight 16-bit groups written
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    ip = `${ip.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  for (const [i, g] of groups.entries()) out.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  return out;
}

// ---- reading: the one field an issued certificate copies from its issuer

/** The element at `offset` of a DER buffer: its whole encoding and where its content starts. */
function element(der: Buffer, offset: number): { start: number; content: number; end: number } {
  let len = der[offset + 1]!;
  let content = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[offset + 2 + i]!;
    content += n;
  }
  return { start: offset, content, end: content + len };
}

/** The DER of a certificate's subject Name (RFC 5280: Certificate -> tbsCertificate -> 6th field, or 5th without version). */
export function subjectOf(certPem: string): Buffer {
  const der = Buffer.from(certPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const tbs = element(der, element(der, 0).content);
  let at = tbs.content;
  if (der[at] === 0xa0) at = element(der, at).end; // [0] version
  for (let i = 0; i < 4; i++) at = element(der, at).end; // serial, signature, issuer, validity
  const subject = element(der, at);
  return der.subarray(subject.start, subject.end);
}

// ---- the certificate

/** A PEM certificate for `publicKey`, signed with `signerKey` (ECDSA or RSA, SHA-256). */
export function createCertificate(opts: {
  publicKey: KeyObject;
  commonName: string;
  notBefore: Date;
  notAfter: Date;
  extensions: Extension[];
  /** the signer's subject (DER Name); without one the certificate names itself as issuer */
  issuerName?: Buffer;
  signerKey: KeyObject | string;
}): string {
  const key = typeof opts.signerKey === 'string' ? createPrivateKey(opts.signerKey) : opts.signerKey;
  const algorithm =
    key.asymmetricKeyType === 'ec'
      ? seq(oid(OID.ecdsaWithSha256))
      : key.asymmetricKeyType === 'rsa'
        ? seq(oid(OID.sha256WithRsa), tlv(0x05))
        : undefined;
  if (!algorithm) throw new Error(`cannot sign a certificate with a ${key.asymmetricKeyType} key (EC or RSA)`);
  const subject = seq(set(seq(oid(OID.commonName), utf8(opts.commonName))));
  // a positive 16-byte serial: unique without a register of what was issued
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  const tbs = seq(
    tlv(0xa0, integer(Buffer.from([2]))), // v3
    integer(serial),
    algorithm,
    opts.issuerName ?? subject,
    seq(time(opts.notBefore), time(opts.notAfter)),
    subject,
    opts.publicKey.export({ type: 'spki', format: 'der' }),
    tlv(0xa3, seq(...opts.extensions.map(extension))),
  );
  const der = seq(tbs, algorithm, bits(sign('sha256', tbs, key)));
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${b64.endsWith('\n') ? b64 : `${b64}\n`}-----END CERTIFICATE-----\n`;
}
