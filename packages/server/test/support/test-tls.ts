// TLS material made by a test: a CA of its own and a server certificate for localhost and 127.0.0.1, for HTTPS
// servers on loopback that the egress proxy must verify (it trusts the CA through HERM_EGRESS_CA_CERTS).
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createCertificate } from '../../src/sandbox/egress/x509-certificate.ts';

export interface TestCertificates {
  /** The test CA's certificate (PEM), and a file holding it. */
  caPem: string;
  caFile: string;
  /** For a TLS server: the key and certificate chain of localhost / 127.0.0.1. */
  key: string;
  cert: string;
  /** Removes the CA file. */
  remove(): void;
}

export function createTestCertificates(): TestCertificates {
  const caKeys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const now = Date.now();
  const ca = createCertificate({
    commonName: 'Herm test CA',
    publicKey: caKeys.publicKey,
    signingKey: caKeys.privateKey,
    notBefore: new Date(now - 3_600_000),
    notAfter: new Date(now + 86_400_000),
    kind: 'ca',
  });
  const serverKeys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const leaf = createCertificate({
    commonName: 'localhost',
    publicKey: serverKeys.publicKey,
    signingKey: caKeys.privateKey,
    issuerName: ca.subjectName,
    issuerKeyId: ca.keyId,
    notBefore: new Date(now - 3_600_000),
    notAfter: new Date(now + 86_400_000),
    kind: 'server',
    hosts: ['localhost', '127.0.0.1'],
  });
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-test-ca-'));
  const caFile = path.join(directory, 'ca.pem');
  fs.writeFileSync(caFile, ca.pem);
  return {
    caPem: ca.pem,
    caFile,
    key: serverKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    cert: leaf.pem,
    remove: () => fs.rmSync(directory, { recursive: true, force: true }),
  };
}

/** An HTTPS server on 127.0.0.1 (any free port) with the test certificate. */
export async function startLoopbackHttpsServer(
  certificates: TestCertificates,
  handler: (request: IncomingMessage, response: ServerResponse) => void,
): Promise<{ server: Server; port: number }> {
  const server = createHttpsServer({ key: certificates.key, cert: certificates.cert }, handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}
