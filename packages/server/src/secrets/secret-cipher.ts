// Connector secrets are encrypted at rest with AES-256-GCM. The key comes from HERM_SECRET_KEY or, on a
// single machine (or nodes sharing one data directory), from a key file created there on first start.
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createFileOnce } from './create-file-once.ts';

/** What every placeholder starts with: `herm_secret_` and 32 base64url characters (192 bits). */
export const PLACEHOLDER_PREFIX = 'herm_secret_';

export class SecretCipher {
  readonly #key: Buffer;
  /** A key of its own for placeholders (derived from the secret key): a placeholder reveals nothing of the other. */
  readonly #placeholderKey: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error('secret key must be 32 bytes');
    this.#key = key;
    this.#placeholderKey = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'herm sandbox secret placeholders v1', 32));
  }

  /**
   * The opaque value a deployment's sandbox sees in the variable `name` of its secrets map instead of the secret:
   * stable per deployment and variable (so a rotated secret keeps its placeholder, and a process started before
   * the rotation sends the new value on its next request), unguessable without the server's key, and different for
   * every deployment. Letters, digits, `_` and `-` only, so it survives headers, URLs and shell words unchanged.
   */
  placeholder(deploymentId: string, name: string): string {
    const digest = createHmac('sha256', this.#placeholderKey).update(`${deploymentId}\0${name}`).digest();
    return `${PLACEHOLDER_PREFIX}${digest.subarray(0, 24).toString('base64url')}`;
  }

  static fromConfig(secretKey: string | undefined, dataDir: string): SecretCipher {
    if (secretKey) return new SecretCipher(Buffer.from(secretKey, 'base64'));
    return new SecretCipher(loadOrCreateKeyFile(path.join(dataDir, 'secret.key')));
  }

  encrypt(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', iv.toString('base64'), cipher.getAuthTag().toString('base64'), body.toString('base64')].join('.');
  }

  decrypt(ciphertext: string): string {
    const [version, iv, tag, body] = ciphertext.split('.');
    if (version !== 'v1' || !iv || !tag || body === undefined) throw new Error('unknown secret format');
    const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(iv, 'base64'));
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]).toString('utf8');
  }
}

/** How long a reader waits for a key file another process is still writing (the no-hard-link fallback only). */
const PARTIAL_KEY_WAIT_MS = 2_000;

/**
 * The key in `file`, created on first start. Nodes sharing a data directory may start together, so creation is
 * atomic (createFileOnce): exactly one process's key lands and every other one reads it; where the file system has
 * no hard links, a reader that finds the file still short waits briefly for the rest.
 */
function loadOrCreateKeyFile(file: string): Buffer {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  if (!fs.existsSync(file)) createFileOnce(file, `${randomBytes(32).toString('base64')}\n`);
  const deadline = Date.now() + PARTIAL_KEY_WAIT_MS;
  for (;;) {
    const key = Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64');
    if (key.length === 32) return key;
    if (Date.now() > deadline) {
      throw new Error(`${file} does not hold a base64-encoded 32-byte key; restore it, or set HERM_SECRET_KEY (secrets encrypted with another key cannot be read)`);
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
}
