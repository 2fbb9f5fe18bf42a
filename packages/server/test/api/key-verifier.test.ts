// The key cache: how long a revoked key can go on working, on a real store.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { KEY_CACHE_TTL_MS, KeyVerifier } from '../../src/api/auth.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { Store } from '../../src/store/store.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';

let database: TestDatabase;
let store: Store;

beforeAll(async () => {
  database = await createTestDatabase('sqlite');
  store = await openStore({ dataDir: database.dataDir });
  await store.accounts.ensureAccount('acct_keys', 'Keys');
});

afterAll(async () => {
  await store?.close();
  await database?.drop();
});

async function newKey() {
  return store.accounts.createKey({ accountId: 'acct_keys', scopes: ['deployments:read'] });
}

it('trusts a cached key for at most a second', async () => {
  expect(KEY_CACHE_TTL_MS).toBeLessThanOrEqual(1_000);
  const verifier = new KeyVerifier(store.accounts);
  const { key, secret } = await newKey();
  expect((await verifier.verify(secret))?.revoked_at).toBeNull();
  await store.accounts.revokeKey(key.id);
  // Nobody told this verifier: it goes by its cache until the entry expires.
  expect((await verifier.verify(secret))?.revoked_at).toBeNull();
  await new Promise((resolve) => setTimeout(resolve, KEY_CACHE_TTL_MS + 50));
  expect((await verifier.verify(secret))?.revoked_at).toBeTypeOf('number');
});

it('drops a revoked key at once when told, and caches no lookup that was under way meanwhile', async () => {
  const verifier = new KeyVerifier(store.accounts);
  const { key, secret } = await newKey();
  const [first, second] = await Promise.all([verifier.verify(secret), verifier.verify(secret)]);
  expect(first).toBe(second); // one lookup for both
  await store.accounts.revokeKey(key.id);
  verifier.forgetKey(key.id);
  expect((await verifier.verify(secret))?.revoked_at).toBeTypeOf('number');

  // A lookup that may have read the key before a revocation it is told of: its answer is not kept.
  const other = await newKey();
  const underWay = verifier.verify(other.secret);
  verifier.forgetKey('key_someone_else');
  expect((await underWay)?.revoked_at).toBeNull();
  await store.accounts.revokeKey(other.key.id);
  expect((await verifier.verify(other.secret))?.revoked_at).toBeTypeOf('number');
});
