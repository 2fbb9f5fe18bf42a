// `herm secrets create --allowed-hosts`: the hosts the egress proxy may send the secret to from a sandbox, written as
// the API takes them (normalised, validated with a usage error naming the flag), on the local store.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const CLI_MAIN = path.resolve(import.meta.dirname, '../../src/main.ts');
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-cli-secrets-'));

afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string | undefined> = { ...process.env, HERM_DATA_DIR: dataDir, LOG_LEVEL: 'silent', NO_COLOR: '1' };
    delete env['HERM_SECRET_KEY'];
    const child = spawn(process.execPath, [CLI_MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('herm secrets create --allowed-hosts', () => {
  it('stores the hosts normalised and prints them with --json', async () => {
    const created = await cli(['secrets', 'create', '--name', 'meta', '--value', 'meta-value', '--allowed-hosts', 'Graph.Facebook.com, *.example.org:8443,graph.facebook.com', '--json']);
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ name: 'meta', allowed_hosts: ['graph.facebook.com', '*.example.org:8443'] });
  });

  it('refuses a host that is not one, naming the flag', async () => {
    const refused = await cli(['secrets', 'create', '--name', 'bad', '--value', 'bad-value', '--allowed-hosts', 'https://api.example.com/']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('--allowed-hosts');
    expect(refused.stderr).toContain('not a URL');
    expect(refused.stdout).toBe('');
  });
});
