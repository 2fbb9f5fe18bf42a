// Secrets and the deployments that use them, over real HTTP on SQLite and PostgreSQL: names the sandbox
// reserves are refused in a deployment's secrets map, a secret in use cannot be deleted without `force`,
// and a run of a deployment whose reference dangles fails naming it instead of running without the variable.
import Herm, { ConflictError } from 'herm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESERVED_ENVIRONMENT_NAMES } from '../../src/sandbox/reserved-environment.ts';
import { createTestDatabase, postgresBaseUrl, POSTGRES_SKIP_MESSAGE, type TestDatabase } from '../support/databases.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const postgresAvailable = (await postgresBaseUrl()) !== undefined;
if (!postgresAvailable) console.warn(POSTGRES_SKIP_MESSAGE);

it('reserves the base, proxy and shell variables of every backend', () => {
  expect(RESERVED_ENVIRONMENT_NAMES).toEqual(
    expect.arrayContaining([
      'PATH', 'HOME', 'LANG', 'TERM', 'HTTP_PROXY', 'https_proxy', 'NO_PROXY', 'no_proxy', 'NODE_USE_ENV_PROXY', 'PWD', 'OPTIND',
      // The CA bundle of the egress proxy's TLS for hosts secrets are bound to (egress-tls.ts).
      'SSL_CERT_FILE', 'NODE_EXTRA_CA_CERTS', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE',
    ]),
  );
  expect(RESERVED_ENVIRONMENT_NAMES).not.toContain('HOSTNAME');
});

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe.skipIf(dialect === 'postgres' && !postgresAvailable)(`on ${dialect}`, () => {
    let database: TestDatabase;
    let herm: TestServer;

    beforeAll(async () => {
      database = await createTestDatabase(dialect);
      herm = await startTestServer({ dataDir: database.dataDir, databaseUrl: database.databaseUrl });
    });

    afterAll(async () => {
      await herm?.close();
      await database?.drop();
    });

    async function createSecret(name = 'token'): Promise<string> {
      const response = await herm.request('POST', '/v1/secrets', { name, value: `value of ${name}` });
      expect(response.status).toBe(201);
      return response.body.secret_id;
    }

    describe('reserved variable names', () => {
      it('refuses them as secrets keys at create and update with a 400 naming the key, and creates nothing', async () => {
        const secret = await createSecret();
        const before = (await herm.request('GET', '/v1/deployments?limit=100')).body.data.length;
        for (const name of ['PATH', 'HOME', 'LANG', 'TERM', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'NODE_USE_ENV_PROXY', 'PWD', 'OPTIND', 'herm_command']) {
          const response = await herm.request('POST', '/v1/deployments', {
            customer_id: 'c',
            name: 'n',
            system_prompt: 'p',
            secrets: { GOOD_TOKEN: secret, [name]: secret },
          });
          expect(response.status, name).toBe(400);
          expect(response.body.error).toMatchObject({ type: 'validation_error', param: `secrets.${name}` });
          expect(response.body.error.message).toContain(`${name} is reserved`);
          expect(response.body.error.message).toContain('PATH, PPID, PWD, REQUESTS_CA_BUNDLE, SSL_CERT_FILE, TERM');
          expect(response.body.error.message).toContain('names starting with herm_');
        }
        expect((await herm.request('GET', '/v1/deployments?limit=100')).body.data.length).toBe(before);

        const deployment = await herm.createDeployment({ secrets: { GOOD_TOKEN: secret } });
        const update = await herm.request('PATCH', `/v1/deployments/${deployment.deployment_id}`, { secrets: { HOME: secret } });
        expect(update.status).toBe(400);
        expect(update.body.error).toMatchObject({ type: 'validation_error', param: 'secrets.HOME' });
        expect((await herm.request('GET', `/v1/deployments/${deployment.deployment_id}`)).body.secrets).toEqual({ GOOD_TOKEN: secret });
        // Names that only look alike are fine: HERM_ is not herm_, and HOSTNAME is the deployment's to set.
        const alike = await herm.request('PATCH', `/v1/deployments/${deployment.deployment_id}`, { secrets: { HERM_TOKEN: secret, HOSTNAME: secret, PATH_PREFIX: secret } });
        expect(alike.status, JSON.stringify(alike.body)).toBe(200);
      });

      it('lets a deployment stored with one before the check remove it, and fails its runs clearly until then', async () => {
        const secret = await createSecret();
        const deployment = await herm.createDeployment({ secrets: { GOOD_TOKEN: secret } });
        // As a deployment created before reserved names were refused.
        await herm.server.services.store.deployments.update(deployment.deployment_id, { secrets: { GOOD_TOKEN: secret, PATH: secret } });

        const run = await herm.sendAndWait(deployment.deployment_id);
        expect(run.status).toBe('error');
        expect(run.error.type).toBe('configuration_error');
        expect(run.error.message).toContain('sets PATH');
        expect(run.error.message).toContain('{"secrets": {"PATH": null}}');

        const removed = await herm.request('PATCH', `/v1/deployments/${deployment.deployment_id}`, { secrets: { PATH: null } });
        expect(removed.status, JSON.stringify(removed.body)).toBe(200);
        expect(removed.body.secrets).toEqual({ GOOD_TOKEN: secret });
        herm.model.enqueue({ text: ['fine'] });
        expect((await herm.sendAndWait(deployment.deployment_id)).status).toBe('completed');
      });
    });

    describe('deleting a secret in use', () => {
      it("is a 409 naming the account's live deployments that use it, until they stop or force is given", async () => {
        const secret = await createSecret('shared');
        const unused = await createSecret('unused');
        const first = await herm.createDeployment({ secrets: { META_TOKEN: secret, OTHER: unused } });
        const second = await herm.createDeployment({ secrets: { A_TOKEN: secret, B_TOKEN: secret } });
        const gone = await herm.createDeployment({ secrets: { META_TOKEN: secret } });
        expect((await herm.request('DELETE', `/v1/deployments/${gone.deployment_id}`)).status).toBe(200);
        // A key that happens to spell the id is no reference.
        const lookalike = await herm.createDeployment({ secrets: { [secret]: unused } });

        const refused = await herm.request('DELETE', `/v1/secrets/${secret}`);
        expect(refused.status).toBe(409);
        expect(refused.body.error).toMatchObject({ type: 'conflict', param: 'secret_id' });
        expect(refused.body.error.request_id).toMatch(/^req_/);
        const message: string = refused.body.error.message;
        expect(message).toContain(`is used by 2 deployments: ${first.deployment_id} (META_TOKEN), ${second.deployment_id} (A_TOKEN, B_TOKEN).`);
        expect(message).not.toContain(gone.deployment_id);
        expect(message).toContain('force=true');
        // Still there, and still usable.
        expect((await herm.request('GET', '/v1/secrets?limit=100')).body.data.map((item: { secret_id: string }) => item.secret_id)).toContain(secret);

        // The SDK: a ConflictError, and `force`.
        const sdk = new Herm({ apiKey: herm.adminKey, baseURL: herm.url, maxRetries: 0 });
        const error = await sdk.secrets.delete(secret).catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(ConflictError);

        // Once no deployment uses it, no force is needed.
        expect((await herm.request('DELETE', `/v1/secrets/${unused}?force=false`)).status).toBe(409);
        await herm.request('PATCH', `/v1/deployments/${first.deployment_id}`, { secrets: { OTHER: null } });
        await herm.request('PATCH', `/v1/deployments/${lookalike.deployment_id}`, { secrets: { [secret]: null } });
        expect((await herm.request('DELETE', `/v1/secrets/${unused}`)).body).toEqual({ secret_id: unused, deleted: true });

        const badForce = await herm.request('DELETE', `/v1/secrets/${secret}?force=yes`);
        expect(badForce.status).toBe(400);
        expect(badForce.body.error).toMatchObject({ type: 'validation_error', param: 'force' });

        expect(await sdk.secrets.delete(secret, { force: true })).toEqual({ secret_id: secret, deleted: true });
        expect((await herm.request('DELETE', `/v1/secrets/${secret}?force=true`)).status).toBe(404);

        // The dangling reference: each run fails naming the variable and the secret, without running.
        const requestsBefore = herm.model.requests.length;
        const run = await herm.sendAndWait(second.deployment_id);
        expect(run.status).toBe('error');
        expect(run.error.type).toBe('configuration_error');
        expect(run.error.message).toMatch(/secrets\.(A|B)_TOKEN refers to sec_\w+, which was deleted/);
        expect(herm.model.requests.length).toBe(requestsBefore);
        // Pointing the variables at a live secret repairs it.
        const replacement = await createSecret('replacement');
        const repaired = await herm.request('PATCH', `/v1/deployments/${second.deployment_id}`, { secrets: { A_TOKEN: replacement, B_TOKEN: null } });
        expect(repaired.status, JSON.stringify(repaired.body)).toBe(200);
        herm.model.enqueue({ text: ['fine'] });
        expect((await herm.sendAndWait(second.deployment_id)).status).toBe('completed');
      });

      it('names the first ten deployments and counts the rest', async () => {
        const secret = await createSecret('popular');
        const ids: string[] = [];
        for (let index = 0; index < 12; index++) ids.push((await herm.createDeployment({ secrets: { TOKEN: secret } })).deployment_id);
        const refused = await herm.request('DELETE', `/v1/secrets/${secret}`);
        expect(refused.status).toBe(409);
        const message: string = refused.body.error.message;
        expect(message).toContain('is used by 12 deployments');
        for (const id of ids.slice(0, 10)) expect(message).toContain(`${id} (TOKEN)`);
        for (const id of ids.slice(10)) expect(message).not.toContain(id);
        expect(message).toContain(', and 2 more.');
      });
    });

    it('documents force, the 409 and the reserved names in the OpenAPI document', async () => {
      const document = (await herm.request('GET', '/v1/openapi.json')).body;
      const remove = document.paths['/v1/secrets/{secret_id}'].delete;
      expect(remove.parameters.map((parameter: any) => parameter.name)).toContain('force');
      expect(remove.responses).toHaveProperty('409');
      expect(remove.description).toContain('configuration_error');
      expect(JSON.stringify(document.components.schemas)).toContain('Names the sandbox sets or uses itself are a 400 validation_error: ALL_PROXY');
    });
  });
}
