// Connector secrets are encrypted at rest with AES-256-GCM. The key comes from HERM_SECRET_KEY or, on a
// single machine (or nodes sharing one data directory), from a key file created there on first start.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export class SecretCipher {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error('secret key must be 32 bytes');
    this.#key = key;
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

/** Link errors of file systems without hard links: the key file is then created in place (see below). */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOSYS', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV']);
/** How long a reader waits for a key file another process is still writing (the no-hard-link fallback only). */
const PARTIAL_KEY_WAIT_MS = 2_000;

/**
 * The key in `file`, created on first start. Nodes sharing a data directory may start together, so creation is
 * atomic: the key is written whole (and fsynced) to a temporary file that is then hard-linked to `file`; link()
 * fails when `file` exists, so exactly one process's key lands and every other one reads it. Where the file
 * system has no hard links, the file is created with O_EXCL and written in place, and a reader that finds it
 * still short waits briefly for the rest.
 */
function loadOrCreateKeyFile(file: string): Buffer {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  if (!fs.existsSync(file)) createKeyFile(file, `${randomBytes(32).toString('base64')}\n`);
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

function createKeyFile(file: string, content: string): void {
  const temporary = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  writeDurably(temporary, content);
  try {
    fs.linkSync(temporary, file);
    syncDirectory(path.dirname(file));
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    if (code === 'EEXIST') return; // another process was first: its key is the key
    if (!code || !NO_HARD_LINKS.has(code)) throw error;
    try {
      writeDurably(file, content);
    } catch (fallbackError) {
      if ((fallbackError as NodeJS.ErrnoException).code !== 'EEXIST') throw fallbackError;
    }
  } finally {
    fs.rmSync(temporary, { force: true });
  }
}

/** Creates `file` (never replacing one) with `content`, fsynced before it is closed. */
function writeDurably(file: string, content: string): void {
  const descriptor = fs.openSync(file, 'wx', 0o600);
  try {
    fs.writeFileSync(descriptor, content);
    fs.fsyncSync(descriptor);
  } finally {
    fs.closeSync(descriptor);
  }
}

function syncDirectory(directory: string): void {
  let descriptor: number | undefined;
  try {
    descriptor = fs.openSync(directory, 'r');
    fs.fsyncSync(descriptor);
  } catch {
    // Not every file system lets a directory be fsynced; the key file itself is.
  } finally {
    if (descriptor !== undefined) fs.closeSync(descriptor);
  }
}
