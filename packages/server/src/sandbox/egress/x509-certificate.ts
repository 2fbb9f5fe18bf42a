// The few X.509 certificates the egress proxy needs: its CA, and a leaf per host bound to a secret. Node signs and
// verifies but builds no certificate, and the maintained JavaScript builders either pull in a global polyfill
// (@peculiar/x509 needs reflect-metadata) or only do RSA in plain JavaScript (node-forge). A certificate is a short
// DER structure: it is written here, with ECDSA P-256 keys and signatures from node:crypto, and checked by
// node:crypto's X509Certificate, OpenSSL (curl, Python) and Node's TLS in the tests.
import { createHash, KeyObject, randomBytes, sign } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';

export interface CertificateRequest {
  /** The subject's common name. */
  commonName: string;
  /** The subject's public key. */
  publicKey: KeyObject;
  /** The issuer's private key (the subject's own for a self-signed CA). */
  signingKey: KeyObject;
  /** The issuer's subject name (DER), or undefined for a self-signed certificate. */
  issuerName?: Buffer;
  /** The issuer's subject key identifier, or undefined for a self-signed certificate. */
  issuerKeyId?: Buffer;
  notBefore: Date;
  notAfter: Date;
  /** A CA (may sign leaves only), or a TLS server leaf for `hosts`. */
  kind: 'ca' | 'server';
  /** Server leaves: the DNS names and IP addresses it is for (subjectAltName). */
  hosts?: readonly string[];
}

export interface IssuedCertificate {
  der: Buffer;
  pem: string;
  /** The subject name as DER, for certificates this one issues. */
  subjectName: Buffer;
  /** The subject key identifier, for certificates this one issues. */
  keyId: Buffer;
}

const OID = {
  commonName: '2.5.4.3',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
} as const;

export function createCertificate(request: CertificateRequest): IssuedCertificate {
  if (request.signingKey.asymmetricKeyType !== 'ec') throw new TypeError('certificates are signed with ECDSA keys');
  const spki = request.publicKey.export({ type: 'spki', format: 'der' });
  const keyId = createHash('sha1').update(spki).digest();
  const subjectName = name(request.commonName);
  const algorithm = sequence(oid(OID.ecdsaWithSha256));
  const extensions: Buffer[] = [];
  if (request.kind === 'ca') {
    extensions.push(extension(OID.basicConstraints, true, sequence(boolean(true), integer(Buffer.from([0])))));
    // keyCertSign (bit 5) and cRLSign (bit 6).
    extensions.push(extension(OID.keyUsage, true, bitString(Buffer.from([0x06]), 1)));
  } else {
    extensions.push(extension(OID.basicConstraints, true, sequence()));
    // digitalSignature (bit 0).
    extensions.push(extension(OID.keyUsage, true, bitString(Buffer.from([0x80]), 7)));
    extensions.push(extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth))));
    const hosts = request.hosts ?? [];
    if (hosts.length === 0) throw new TypeError('a server certificate names at least one host');
    extensions.push(extension(OID.subjectAltName, false, sequence(...hosts.map(generalName))));
  }
  extensions.push(extension(OID.subjectKeyIdentifier, false, octetString(keyId)));
  extensions.push(extension(OID.authorityKeyIdentifier, false, sequence(tagged(0x80, request.issuerKeyId ?? keyId))));
  const tbs = sequence(
    tagged(0xa0, integer(Buffer.from([2]))), // version 3
    integer(serialNumber()),
    algorithm,
    request.issuerName ?? subjectName,
    sequence(time(request.notBefore), time(request.notAfter)),
    subjectName,
    spki,
    tagged(0xa3, sequence(...extensions)),
  );
  const signature = sign('sha256', tbs, request.signingKey);
  const der = sequence(tbs, algorithm, bitString(signature, 0));
  return { der, pem: toPem(der), subjectName, keyId };
}

export function toPem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

function serialNumber(): Buffer {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f; // positive
  if (bytes[0] === 0) bytes[0] = 1; // and minimally encoded
  return bytes;
}

function generalName(host: string): Buffer {
  if (isIPv4(host)) return tagged(0x87, Buffer.from(host.split('.').map(Number)));
  if (isIPv6(host)) return tagged(0x87, ipv6Bytes(host));
  return tagged(0x82, Buffer.from(host, 'ascii'));
}

function ipv6Bytes(address: string): Buffer {
  let text = address;
  // A trailing dotted IPv4 part (::ffff:1.2.3.4) becomes two hex groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1]!.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, -dotted[1]!.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  const bytes = Buffer.alloc(16);
  groups.forEach((group, index) => bytes.writeUInt16BE(parseInt(group, 16), index * 2));
  return bytes;
}

// DER, just what the structures above use.

function encode(tag: number, content: Buffer): Buffer {
  const length = content.length;
  let header: Buffer;
  if (length < 0x80) header = Buffer.from([tag, length]);
  else {
    const bytes: number[] = [];
    for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
    header = Buffer.from([tag, 0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([header, content]);
}

function sequence(...items: Buffer[]): Buffer {
  return encode(0x30, Buffer.concat(items));
}

function tagged(tag: number, content: Buffer): Buffer {
  return encode(tag, content);
}

function integer(bytes: Buffer): Buffer {
  return encode(0x02, bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
}

function boolean(value: boolean): Buffer {
  return encode(0x01, Buffer.from([value ? 0xff : 0x00]));
}

function octetString(bytes: Buffer): Buffer {
  return encode(0x04, bytes);
}

function bitString(bytes: Buffer, unusedBits: number): Buffer {
  return encode(0x03, Buffer.concat([Buffer.from([unusedBits]), bytes]));
}

function oid(text: string): Buffer {
  const parts = text.split('.').map(Number);
  const bytes: number[] = [40 * parts[0]! + parts[1]!];
  for (const part of parts.slice(2)) {
    const chunk: number[] = [part & 0x7f];
    for (let rest = Math.floor(part / 128); rest > 0; rest = Math.floor(rest / 128)) chunk.unshift(0x80 | (rest & 0x7f));
    bytes.push(...chunk);
  }
  return encode(0x06, Buffer.from(bytes));
}

function name(commonName: string): Buffer {
  return sequence(encode(0x31, sequence(oid(OID.commonName), encode(0x0c, Buffer.from(commonName, 'utf8')))));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return sequence(oid(id), ...(critical ? [boolean(true)] : []), octetString(value));
}

/** UTCTime until 2049, GeneralizedTime after (RFC 5280 §4.1.2.5). */
function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:T]/g, '');
  return date.getUTCFullYear() < 2050 ? encode(0x17, Buffer.from(iso.slice(2), 'ascii')) : encode(0x18, Buffer.from(iso, 'ascii'));
}
