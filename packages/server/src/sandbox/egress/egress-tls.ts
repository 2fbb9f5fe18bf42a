// TLS for the hosts a deployment's secrets are bound to (egress-secrets.ts): the egress proxy terminates the
// sandbox's TLS connection to such a host with a certificate it issues for it from a CA of this server, so it can
// put the secret into the request, then opens its own TLS connection to the host, verified against the system's
// CAs and the operator's extra ones (HERM_EGRESS_CA_CERTS). Every other host is tunnelled untouched.
//
// The CA lives in the data directory (egress-ca.pem, mode 0600, created once: nodes sharing the directory share
// it), and the sandbox trusts it through a bundle of the system's CAs and this one, mounted over the system bundle
// and named by SSL_CERT_FILE and friends (TRUST_ENVIRONMENT).
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createSecureContext, getCACertificates, type SecureContext } from 'node:tls';
import { createFileOnce } from '../../secrets/create-file-once.ts';
import { createCertificate, type IssuedCertificate } from './x509-certificate.ts';

/** Where the sandbox finds its CA bundle (the system's CAs and the egress CA), always. */
export const SANDBOX_TRUST_BUNDLE = '/run/herm-ca/ca-certificates.crt';

/**
 * The system bundle's path on Debian, Ubuntu and Alpine, the one most programs read without being told: the bundle
 * is mounted over it too (docker: always; bubblewrap: where the host's file is visible in the sandbox at that path).
 */
export const SYSTEM_TRUST_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/**
 * Whether the host's SYSTEM_TRUST_BUNDLE (after its symlinks) lies in one of `mounts`, the host paths a bubblewrap
 * sandbox sees at the same place: only then can the bundle be bound over it (bwrap cannot create a missing file in
 * a read-only mount).
 */
export function systemTrustBundleVisible(mounts: readonly { path: string; kind?: string }[]): boolean {
  let real: string;
  try {
    real = fs.realpathSync(SYSTEM_TRUST_BUNDLE);
    if (!fs.statSync(real).isFile()) return false;
  } catch {
    return false;
  }
  return mounts.some((mount) => mount.kind !== 'symlink' && (real === mount.path || real.startsWith(`${mount.path}/`)));
}

/**
 * Variables that point TLS clients at the bundle, for those that do not read the system path (Node reads only its
 * own store plus NODE_EXTRA_CA_CERTS; Python's requests its certifi copy), or whose system path is not Debian's.
 * Set whenever the sandbox goes through the egress proxy; reserved (reserved-environment.ts).
 */
export const TRUST_ENVIRONMENT: Readonly<Record<string, string>> = {
  SSL_CERT_FILE: SANDBOX_TRUST_BUNDLE,
  NODE_EXTRA_CA_CERTS: SANDBOX_TRUST_BUNDLE,
  REQUESTS_CA_BUNDLE: SANDBOX_TRUST_BUNDLE,
  CURL_CA_BUNDLE: SANDBOX_TRUST_BUNDLE,
};

/** The system bundles looked for on the host, in order (Debian/Ubuntu/Alpine, Fedora/RHEL, openSUSE, macOS/BSD). */
const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/ca-bundle.pem', '/etc/ssl/cert.pem'];

const CA_FILE = 'egress-ca.pem';
const CA_YEARS = 20;
/** Leaves are valid for a week and reissued after a day (a server that runs for long never serves an old one). */
const LEAF_VALID_MS = 7 * 86_400_000;
const LEAF_REISSUE_MS = 86_400_000;
const MAX_CACHED_LEAVES = 1_000;
const PARTIAL_FILE_WAIT_MS = 2_000;

export interface EgressTlsOptions {
  dataDir: string;
  /** PEM bundles of extra CAs the proxy trusts upstream (HERM_EGRESS_CA_CERTS), besides the system's. */
  extraCaFiles?: readonly string[];
}

export class EgressTls {
  /** The CA certificate the sandbox trusts. */
  readonly caPem: string;
  readonly #extraCa: readonly string[];
  #upstream: SecureContext | undefined;
  #trustBundleFile: string;
  readonly #ca: IssuedCertificate;
  readonly #caKey: KeyObject;
  readonly #leafKey: { privateKey: KeyObject; publicKey: KeyObject };
  readonly #leafKeyPem: string;
  readonly #leaves = new Map<string, { context: SecureContext; reissueAt: number }>();

  constructor(options: EgressTlsOptions) {
    const { certificatePem, key } = loadOrCreateCa(path.join(options.dataDir, CA_FILE));
    this.caPem = certificatePem;
    this.#caKey = key;
    const certificate = new X509Certificate(certificatePem);
    const commonName = /CN=(.*)/.exec(certificate.subject)?.[1] ?? '';
    // The subject and key id as issued certificates must name them (the CA was made by createCertificate too).
    this.#ca = createCertificate({
      commonName,
      publicKey: createPublicKey(key),
      signingKey: key,
      notBefore: new Date(certificate.validFrom),
      notAfter: new Date(certificate.validTo),
      kind: 'ca',
    });
    this.#leafKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    this.#leafKeyPem = this.#leafKey.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const extra = (options.extraCaFiles ?? []).map((file) => {
      try {
        return fs.readFileSync(file, 'utf8');
      } catch (error) {
        throw new Error(`HERM_EGRESS_CA_CERTS: cannot read ${file}: ${(error as Error).message}`, { cause: error });
      }
    });
    this.#extraCa = extra;
    this.#trustBundleFile = writeTrustBundle(certificatePem);
  }

  /**
   * The host file of the sandbox's bundle (system CAs and caPem), mounted read-only at SANDBOX_TRUST_BUNDLE (and
   * SYSTEM_TRUST_BUNDLE). It lives in the temporary directory, which cleaners may empty while the server runs: read
   * before each mount, it is written again (to a new directory) when it is gone.
   */
  get trustBundleFile(): string {
    if (!fs.existsSync(this.#trustBundleFile)) {
      const stale = this.#trustBundleFile;
      this.#trustBundleFile = writeTrustBundle(this.caPem);
      fs.rmSync(path.dirname(stale), { recursive: true, force: true });
    }
    return this.#trustBundleFile;
  }

  /**
   * The client context of connections to bound hosts: their certificates are verified against the system's CAs
   * (the operating system's store and Node's bundled one) and HERM_EGRESS_CA_CERTS. Made on first use (reading the
   * system store takes tens of milliseconds) and shared by every connection.
   */
  upstreamContext(): SecureContext {
    this.#upstream ??= createSecureContext({
      ca: [...new Set([...getCACertificates('system'), ...getCACertificates('bundled'), ...this.#extraCa])],
      minVersion: 'TLSv1.2',
    });
    return this.#upstream;
  }

  /** A server context for `host` (a name or an IP address), with a leaf certificate issued for it. */
  secureContext(host: string): SecureContext {
    const now = Date.now();
    const cached = this.#leaves.get(host);
    if (cached && cached.reissueAt > now) return cached.context;
    const leaf = createCertificate({
      commonName: host.length <= 64 ? host : 'Herm egress proxy',
      publicKey: this.#leafKey.publicKey,
      signingKey: this.#caKey,
      issuerName: this.#ca.subjectName,
      issuerKeyId: this.#ca.keyId,
      notBefore: new Date(now - 3_600_000),
      notAfter: new Date(now + LEAF_VALID_MS),
      kind: 'server',
      hosts: [host],
    });
    const context = createSecureContext({ key: this.#leafKeyPem, cert: `${leaf.pem}${this.caPem}`, minVersion: 'TLSv1.2' });
    if (this.#leaves.size >= MAX_CACHED_LEAVES) this.#leaves.delete(this.#leaves.keys().next().value!);
    this.#leaves.set(host, { context, reissueAt: now + LEAF_REISSUE_MS });
    return context;
  }

  /** Removes the bundle file (the CA stays in the data directory). */
  close(): void {
    fs.rmSync(path.dirname(this.#trustBundleFile), { recursive: true, force: true });
  }
}

/** The CA of `file` (a PKCS#8 key and its certificate, PEM), created on first start. */
function loadOrCreateCa(file: string): { certificatePem: string; key: KeyObject } {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  if (!fs.existsSync(file)) {
    const keys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const now = Date.now();
    const ca = createCertificate({
      // A name of its own per server, so an operator can tell whose CA a sandbox trusts.
      commonName: `Herm egress proxy CA ${randomBytes(4).toString('hex')}`,
      publicKey: keys.publicKey,
      signingKey: keys.privateKey,
      notBefore: new Date(now - 86_400_000),
      notAfter: new Date(now + CA_YEARS * 365 * 86_400_000),
      kind: 'ca',
    });
    createFileOnce(file, `${keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()}${ca.pem}`);
  }
  const deadline = Date.now() + PARTIAL_FILE_WAIT_MS;
  for (;;) {
    const text = fs.readFileSync(file, 'utf8');
    const keyPem = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(text)?.[0];
    const certificatePem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text)?.[0];
    if (keyPem && certificatePem) {
      try {
        return { certificatePem: `${certificatePem}\n`, key: createPrivateKey(keyPem) };
      } catch (error) {
        throw new Error(`${file} does not hold the egress proxy's CA (${(error as Error).message}); remove it to have a new one made`, { cause: error });
      }
    }
    // Where the file system has no hard links, another process may still be writing it.
    if (Date.now() > deadline) throw new Error(`${file} does not hold the egress proxy's CA key and certificate; remove it to have a new one made`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
}

/** Writes the sandbox's bundle (the host's system bundle, then the CA) to a new file readable by every user. */
function writeTrustBundle(caPem: string): string {
  let system = '';
  for (const candidate of SYSTEM_BUNDLES) {
    try {
      system = fs.readFileSync(candidate, 'utf8');
      break;
    } catch {
      // not this one
    }
  }
  // Readable by the sandbox's user (which may not be the server's): the bundle holds nothing secret.
  const directory = fs.mkdtempSync(path.join(tmpdir(), 'herm-ca-'));
  fs.chmodSync(directory, 0o755);
  const file = path.join(directory, 'ca-certificates.crt');
  fs.writeFileSync(file, `${system}${system.endsWith('\n') || system === '' ? '' : '\n'}# Herm egress proxy CA (secrets bound to hosts)\n${caPem}`, { mode: 0o644 });
  return file;
}
