// Every script in examples/ run as its own process with the herm SDK against a real local server on the
// scripted model: each must exit 0 by itself (no stream left open) and print what it did.
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REPO_ROOT, runToExit } from '../support/child-server.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

let herm: TestServer;

beforeAll(async () => {
  herm = await startTestServer();
});

afterAll(async () => {
  await herm?.close();
});

/** Runs examples/<name> with node; resolves with its exit code and output (rejects after 25 s). */
function runExample(name: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runToExit(process.execPath, [path.join(REPO_ROOT, 'examples', name)], {
    env: { ...process.env, PRISM_API_KEY: herm.adminKey, HERM_BASE_URL: herm.url },
    timeoutMs: 25_000,
    what: `examples/${name} (a stream left open?)`,
  });
}

const expectations: Record<string, RegExp[]> = {
  'quickstart.ts': [/^dep_\S+ (provisioning|ready)$/m, /^run_\S+ running$/m, /Agent finished\./],
  'deployments.ts': [/^created dep_\S+/m, /^listed dep_\S+/m, /^updated Deployments example \(renamed\)$/m, /^deleted dep_\S+ deleted$/m],
  'threads.ts': [/^created thr_\S+ Launch plan$/m, /^run run_\S+ completed$/m, /^user: Say hello\.$/m, /^renamed Launch plan v2$/m, /^deleted thr_\S+$/m],
  'messages.ts': [/^run run_\S+ running$/m, /^run run_\S+ completed$/m, /^second run streamed [1-9]\d* token events$/m],
  'runs.ts': [/^run run_\S+ completed$/m, /^listed run_\S+ completed$/m, /^cancel run_\S+/m],
  'files.ts': [/^wrote notes\/brief\.md 24$/m, /^entry brief\.md file 24$/m, /^read "# Brief\\nThirty seconds\.\\n"$/m, /^deleted notes\/brief\.md$/m],
  'skills.ts': [/^added skl_\S+ thumbnail-design$/m, /^listed thumbnail-design - Design high-CTR video thumbnails$/m, /^updated Design high-CTR thumbnails for YouTube$/m, /^deployment has skl_\S+$/m, /^removed skl_\S+$/m],
  'secrets.ts': [
    /^created sec_\S+ EXAMPLE_TOKEN$/m,
    /^bound to api\.example\.com$/m,
    /^deployment dep_\S+ uses EXAMPLE_TOKEN$/m,
    /^rotated sec_\S+$/m,
    /^listed EXAMPLE_TOKEN$/m,
    /^deleted sec_\S+$/m,
  ],
  'tools.ts': [/^shell \(builtin\): true$/m, /^disabled shell false$/m, /^added prism-media Bearer \$\{PRISM_MEDIA_TOKEN\}$/m, /^updated prism-media search_models$/m, /^servers prism-media$/m, /^removed prism-media true$/m],
  'automations.ts': [
    /^created auto_\S+ 0 9 \* \* 1$/m,
    /^listed Weekly video variations next scheduled$/m,
    /^paused false null$/m,
    /^triggered run_\S+ completed$/m,
    /^recent manual completed$/m,
    /^deleted auto_\S+$/m,
  ],
  'memories.ts': [
    /^created mem_\S+ api$/m,
    /^found mem_\S+ - Acme's brand voice is playful but never sarcastic\. Primary color #7C3AED\.$/m,
    /^updated Acme's brand voice is playful, never sarcastic\. Primary color #5B21B6 \(new palette\)\.$/m,
    /^version updated by api\nversion created by api$/m,
    /^deleted mem_\S+ true$/m,
  ],
  'snapshots.ts': [/^snapshot snap_\S+ non-empty$/m, /^downloaded an archive$/m, /^restored kept\.txt: still here$/m],
};

for (const [name, patterns] of Object.entries(expectations)) {
  it(`examples/${name} runs against a real server and exits 0 by itself`, async () => {
    const { code, stdout, stderr } = await runExample(name);
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    for (const pattern of patterns) expect(stdout).toMatch(pattern);
  });
}

it('covers every example in examples/', async () => {
  const fs = await import('node:fs');
  const scripts = fs.readdirSync(path.join(REPO_ROOT, 'examples')).filter((file) => file.endsWith('.ts'));
  expect(scripts.sort()).toEqual(Object.keys(expectations).sort());
});
