// A server's data directory as `herm serve` lays it out, with real secrets in it for the sandbox suites to
// try to steal: a SQLite database and a key file holding markers, one workspace per deployment (the
// neighbour's holding a marked file), and a stand-in server process whose environment holds a model key,
// whose working directory is the data directory and which keeps the database open.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { makeTemporaryDirectory, removeDirectory } from './bubblewrap-test-support.ts';

export interface FakeServerData {
  dataDir: string;
  databaseFile: string;
  secretKeyFile: string;
  /** The workspace of the deployment under attack. */
  workspaceA: string;
  /** Another deployment's workspace, holding `secret-b.txt`. */
  workspaceB: string;
  markers: {
    /** In a row of the database. */
    database: string;
    /** The content of the secret key file. */
    secretKey: string;
    /** The content of workspace B's secret-b.txt. */
    neighbour: string;
    /** ANTHROPIC_API_KEY of the stand-in server process (and of the test process, for the duration). */
    modelKey: string;
  };
  /** A process standing for the server: its /proc entry is what a command must not reach. */
  server: { pid: number; /** In its command line only. */ commandLineMarker: string };
  /** Every marker, for checks that no output holds any of them. */
  allMarkers(): string[];
  cleanup(): Promise<void>;
}

/**
 * Creates the layout under a fresh temp directory. `deployments` names the two workspaces (docker containers
 * are named after them, so they must be unique on the Docker host).
 */
export async function createFakeServerData(deployments: { a: string; b: string }): Promise<FakeServerData> {
  const unique = randomBytes(6).toString('hex');
  const markers = {
    database: `herm-marker-database-${unique}`,
    secretKey: `herm-marker-secret-key-${unique}`,
    neighbour: `herm-marker-neighbour-${unique}`,
    modelKey: `sk-ant-herm-marker-model-key-${unique}`,
  };
  const dataDir = await makeTemporaryDirectory('server-data');
  const databaseFile = join(dataDir, 'herm.sqlite');
  const database = new DatabaseSync(databaseFile);
  database.exec('CREATE TABLE secrets (name TEXT, value TEXT)');
  database.prepare('INSERT INTO secrets VALUES (?, ?)').run('connector', markers.database);
  database.close();
  const secretKeyFile = join(dataDir, 'secret.key');
  await writeFile(secretKeyFile, markers.secretKey, { mode: 0o600 });
  const workspaceA = join(dataDir, 'workspaces', deployments.a);
  const workspaceB = join(dataDir, 'workspaces', deployments.b);
  await mkdir(workspaceA, { recursive: true });
  await mkdir(workspaceB, { recursive: true });
  await writeFile(join(workspaceB, 'secret-b.txt'), markers.neighbour);

  const previousModelKey = process.env['ANTHROPIC_API_KEY'];
  process.env['ANTHROPIC_API_KEY'] = markers.modelKey;
  const commandLineMarker = `herm-stand-in-server-${unique}`;
  const server = await startStandInServer(dataDir, databaseFile, markers.modelKey, commandLineMarker);

  return {
    dataDir,
    databaseFile,
    secretKeyFile,
    workspaceA,
    workspaceB,
    markers,
    server: { pid: server.pid!, commandLineMarker },
    allMarkers: () => Object.values(markers),
    async cleanup() {
      server.kill('SIGKILL');
      if (previousModelKey === undefined) delete process.env['ANTHROPIC_API_KEY'];
      else process.env['ANTHROPIC_API_KEY'] = previousModelKey;
      await removeDirectory(dataDir);
    },
  };
}

/**
 * Setting process.env does not change /proc/<pid>/environ, so the key is put in the initial environment of
 * a process of its own; checked here, so that a command failing to read it proves something.
 */
async function startStandInServer(dataDir: string, databaseFile: string, modelKey: string, commandLineMarker: string): Promise<ChildProcess> {
  const script = `/* ${commandLineMarker} */ require('node:fs').openSync(${JSON.stringify(databaseFile)}, 'r'); console.log('ready'); setInterval(() => {}, 1e9);`;
  const child = spawn(process.execPath, ['-e', script], {
    cwd: dataDir,
    env: { ANTHROPIC_API_KEY: modelKey, PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.stdout!.once('data', () => resolve());
  });
  const pid = child.pid!;
  const environment = await readFile(`/proc/${pid}/environ`, 'utf8');
  if (!environment.includes(modelKey)) throw new Error('the stand-in server does not hold the model key in /proc/<pid>/environ');
  if ((await readlink(`/proc/${pid}/cwd`)) !== dataDir) throw new Error('the stand-in server does not run in the data directory');
  return child;
}
