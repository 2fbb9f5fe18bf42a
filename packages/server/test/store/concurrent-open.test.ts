// Several processes opening one fresh database at once (nodes starting together, `herm keys create` beside a
// starting server): every one of them opens it, the migrations run once, and the first-start bootstrap (admin key,
// secret key file) makes exactly one of each.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FIRST_KEY_ID } from '../../src/store/accounts.ts';
import { openStore } from '../../src/store/open-store.ts';
import { SecretCipher } from '../../src/secrets/secret-cipher.ts';
import { createTestDatabase, postgresBaseUrl, POSTGRES_SKIP_MESSAGE, type TestDatabase } from '../support/databases.ts';

const postgresAvailable = (await postgresBaseUrl()) !== undefined;
if (!postgresAvailable) console.warn(POSTGRES_SKIP_MESSAGE);

const databases: TestDatabase[] = [];
afterAll(async () => {
  for (const database of databases) await database.drop();
});

const OPEN_STORE = new URL('../../src/store/open-store.ts', import.meta.url).href;
const SECRET_CIPHER = new URL('../../src/secrets/secret-cipher.ts', import.meta.url).href;

/**
 * `processes` Node processes that wait for one moment, then open the store, create the first-start admin key and
 * read the secret key file; each prints what it got as JSON.
 */
function openInProcesses(processes: number, location: { dataDir: string; databaseUrl?: string | undefined }) {
  const startAt = Date.now() + 1_500;
  const script = `
    const { openStore } = await import(${JSON.stringify(OPEN_STORE)});
    const { SecretCipher } = await import(${JSON.stringify(SECRET_CIPHER)});
    const location = ${JSON.stringify(location)};
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, ${startAt} - Date.now())));
    const cipher = SecretCipher.fromConfig(undefined, location.dataDir);
    const store = await openStore(location);
    await store.accounts.ensureAccount('acct_default', 'Default account');
    const secret = await store.accounts.createFirstKey({ accountId: 'acct_default', scopes: ['deployments:read'], name: 'first' });
    process.stdout.write(JSON.stringify({ secret: secret ?? null, sample: cipher.encrypt('shared') }));
    await store.close();
  `;
  return Promise.all(
    Array.from(
      { length: processes },
      () =>
        new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
          const child = spawn(process.execPath, ['--input-type=module', '--no-warnings', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
          let stdout = '';
          let stderr = '';
          child.stdout.on('data', (chunk) => (stdout += chunk));
          child.stderr.on('data', (chunk) => (stderr += chunk));
          child.on('error', reject);
          child.on('close', (code) => resolve({ code, stdout, stderr }));
        }),
    ),
  );
}

async function expectOneBootstrap(results: { code: number | null; stdout: string; stderr: string }[], location: { dataDir: string; databaseUrl?: string | undefined }) {
  for (const result of results) expect(result.code, result.stderr).toBe(0);
  const outputs = results.map((result) => JSON.parse(result.stdout) as { secret: string | null; sample: string });
  expect(outputs.filter((output) => output.secret !== null)).toHaveLength(1);
  // One key file, no temporary left, and every process encrypted with the key in it.
  expect(fs.readdirSync(location.dataDir).filter((name) => name.startsWith('secret.key'))).toEqual(['secret.key']);
  const cipher = SecretCipher.fromConfig(undefined, location.dataDir);
  for (const output of outputs) expect(cipher.decrypt(output.sample)).toBe('shared');
  const store = await openStore(location);
  try {
    const keys = await store.accounts.listKeys();
    expect(keys.map((key) => key.id)).toEqual([FIRST_KEY_ID]);
    expect((await store.accounts.findKeyBySecret(outputs.find((output) => output.secret)!.secret!))?.id).toBe(FIRST_KEY_ID);
    const versions = await store.db.selectFrom('herm_migrations' as never).select('version' as never).execute();
    expect(new Set(versions.map((row) => Number((row as { version: number }).version))).size).toBe(versions.length);
    expect(versions.length).toBeGreaterThan(0);
  } finally {
    await store.close();
  }
}

describe('on SQLite', () => {
  it('opens one fresh file from several processes at once', async () => {
    const database = await createTestDatabase('sqlite');
    databases.push(database);
    const location = { dataDir: path.join(database.dataDir, 'fresh') };
    await expectOneBootstrap(await openInProcesses(4, location), location);
  }, 60_000);
});

describe.skipIf(!postgresAvailable)('on PostgreSQL', () => {
  it('migrates a fresh database that many stores open at once', async () => {
    const database = await createTestDatabase('postgres');
    databases.push(database);
    const location = { dataDir: database.dataDir, databaseUrl: database.databaseUrl };
    // One process, but each store has a pool of its own: the statements race on the server as separate nodes' do.
    const stores = await Promise.all(Array.from({ length: 8 }, () => openStore(location)));
    try {
      const secrets = await Promise.all(
        stores.map(async (store) => {
          await store.accounts.ensureAccount('acct_default', 'Default account');
          return store.accounts.createFirstKey({ accountId: 'acct_default', scopes: ['deployments:read'], name: 'first' });
        }),
      );
      expect(secrets.filter((secret) => secret !== undefined)).toHaveLength(1);
      // The same configured key from every node at once: one row, no unique violation.
      await Promise.all(stores.map((store) => store.accounts.ensureKey({ accountId: 'acct_default', scopes: ['deployments:read'], name: 'HERM_ADMIN_KEY', secret: 'herm_sk_same_on_every_node_1' })));
      expect((await stores[0]!.accounts.listKeys()).map((key) => key.name).sort()).toEqual(['HERM_ADMIN_KEY', 'first']);
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  }, 60_000);

  it('opens one fresh database and data directory from several processes at once', async () => {
    const database = await createTestDatabase('postgres');
    databases.push(database);
    const location = { dataDir: path.join(database.dataDir, 'shared'), databaseUrl: database.databaseUrl };
    await expectOneBootstrap(await openInProcesses(5, location), location);
  }, 60_000);
});

it('a damaged key file is an error naming it', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-key-'));
  try {
    fs.writeFileSync(path.join(dataDir, 'secret.key'), 'c2hvcnQ=');
    expect(() => SecretCipher.fromConfig(undefined, dataDir)).toThrow(/secret\.key does not hold a base64-encoded 32-byte key/);
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
