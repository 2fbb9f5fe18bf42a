// The `herm` command: serve, keys, secrets, chat.
import { parseArgs } from 'node:util';
import { DEFAULT_ACCOUNT_ID, ListenError, loadConfig, openStore, SCOPES, SecretCipher, startServer, ConfigError } from '@herm/server';

const USAGE = `Usage: herm <command> [options]

Commands:
  serve                               Start the server (embedded SQLite + bubblewrap unless DATABASE_URL is set)
  keys create --scopes a,b [--name N] [--account acct_… | --new-account NAME]
                                      Create an API key; it is printed once
  keys list                           List keys (hints only, never the secret)
  keys revoke <key_id>                Revoke a key
  secrets create --name N [--value V] Register a connector secret (value from stdin when --value is omitted)
  chat <deployment_id> [--thread thr_…]
                                      Talk to a deployment in the terminal (uses PRISM_API_KEY, HERM_BASE_URL)

Environment: PORT, HOST, HERM_DATA_DIR, DATABASE_URL, HERM_ADMIN_KEY, LOG_LEVEL, LOG_FORMAT (see README).`;

class UsageError extends Error {}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

async function serveCommand(): Promise<void> {
  // processHandlers: unhandled rejections are logged, uncaught exceptions logged and exit 1 (util/process-handlers.ts).
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer(loadConfig(), { processHandlers: true });
  } catch (error) {
    // The port taken (EADDRINUSE) and the like: one line naming the setting, no stack.
    if (!(error instanceof ListenError)) throw error;
    process.stderr.write(`herm: ${error.message}\n`);
    process.exit(1);
  }
  process.stderr.write(`Herm is listening on ${server.url} (store: ${server.services.store.dialect})\n`);
  let stopping = false;
  const stop = (signal: string) => {
    // A second signal stops at once (the runs at work are resumed later, as after a crash).
    if (stopping) process.exit(1);
    stopping = true;
    const graceSeconds = server.services.config.HERM_SHUTDOWN_GRACE_MS / 1000;
    process.stderr.write(`\n${signal}: stopping; runs at work may finish for up to ${graceSeconds} s (HERM_SHUTDOWN_GRACE_MS), then are handed off…\n`);
    server.shutdown().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

async function keysCommand(args: string[]): Promise<void> {
  const [action, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      scopes: { type: 'string' },
      name: { type: 'string' },
      account: { type: 'string' },
      'new-account': { type: 'string' },
    },
  });
  const config = loadConfig();
  const store = await openStore({ dataDir: config.dataDir, databaseUrl: config.DATABASE_URL });
  try {
    if (action === 'create') {
      const scopes = (values.scopes ?? '').split(',').map((scope) => scope.trim()).filter(Boolean);
      if (scopes.length === 0) throw new UsageError(`--scopes is required, a comma-separated list of: ${SCOPES.join(', ')}`);
      const unknown = scopes.filter((scope) => !(SCOPES as readonly string[]).includes(scope));
      if (unknown.length > 0) throw new UsageError(`Unknown scope ${unknown.join(', ')}; valid scopes: ${SCOPES.join(', ')}`);
      let accountId = values.account ?? DEFAULT_ACCOUNT_ID;
      if (values['new-account']) accountId = (await store.accounts.createAccount(values['new-account'])).id;
      else if (accountId === DEFAULT_ACCOUNT_ID) await store.accounts.ensureAccount(DEFAULT_ACCOUNT_ID, 'Default account');
      else if (!(await store.accounts.getAccount(accountId))) throw new UsageError(`No account ${accountId}`);
      const { key, secret } = await store.accounts.createKey({ accountId, scopes, name: values.name });
      process.stderr.write(`Created ${key.id} on ${accountId} with scopes ${scopes.join(', ')}. It is shown once:\n`);
      process.stdout.write(`${secret}\n`);
    } else if (action === 'list') {
      for (const key of await store.accounts.listKeys()) {
        const state = key.revoked_at ? 'revoked' : 'active';
        process.stdout.write(`${key.id}\t${key.account_id}\t${key.key_hint}\t${key.scopes.join(',')}\t${state}\t${key.name ?? ''}\n`);
      }
    } else if (action === 'revoke') {
      const id = positionals[0];
      if (!id) throw new UsageError('Usage: herm keys revoke <key_id>');
      if (!(await store.accounts.revokeKey(id))) throw new UsageError(`No active key ${id}`);
      process.stderr.write(`Revoked ${id}\n`);
    } else {
      throw new UsageError('Usage: herm keys create|list|revoke');
    }
  } finally {
    await store.close();
  }
}

async function secretsCommand(args: string[]): Promise<void> {
  const [action, ...rest] = args;
  const { values } = parseArgs({ args: rest, options: { name: { type: 'string' }, value: { type: 'string' }, account: { type: 'string' } } });
  if (action !== 'create') throw new UsageError('Usage: herm secrets create --name N [--value V]');
  if (!values.name) throw new UsageError('--name is required');
  const value = values.value ?? (await readStdin());
  if (!value) throw new UsageError('The secret value is empty');
  const config = loadConfig();
  const store = await openStore({ dataDir: config.dataDir, databaseUrl: config.DATABASE_URL });
  try {
    const accountId = values.account ?? DEFAULT_ACCOUNT_ID;
    await store.accounts.ensureAccount(DEFAULT_ACCOUNT_ID, 'Default account');
    const cipher = SecretCipher.fromConfig(config.HERM_SECRET_KEY, config.dataDir);
    const secret = await store.secrets.create(accountId, values.name, cipher.encrypt(value));
    process.stdout.write(`${secret.id}\n`);
  } finally {
    await store.close();
  }
}

async function chatCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { thread: { type: 'string' } } });
  const deploymentId = positionals[0];
  if (!deploymentId) throw new UsageError('Usage: herm chat <deployment_id> [--thread thr_…]');
  const { runChat } = await import('./commands/chat.ts');
  await runChat({ deploymentId, threadId: values.thread });
}

export async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  try {
    if (command === 'serve') await serveCommand();
    else if (command === 'keys') await keysCommand(args);
    else if (command === 'secrets') await secretsCommand(args);
    else if (command === 'chat') await chatCommand(args);
    else if (command === undefined || command === 'help' || command === '--help' || command === '-h') process.stdout.write(`${USAGE}\n`);
    else throw new UsageError(`Unknown command "${command}".\n\n${USAGE}`);
  } catch (error) {
    if (error instanceof UsageError || error instanceof ConfigError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`herm: ${(error as Error).message}\n`);
      process.exit(2);
    }
    throw error;
  }
}

if (import.meta.main) await main(process.argv.slice(2));
