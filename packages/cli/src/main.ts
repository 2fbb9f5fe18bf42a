// The `herm` command: serve, keys, secrets, deployments, threads, events, chat.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { AccountAdministration, COMMAND_LINE_ACTOR, DEFAULT_ACCOUNT_ID, ListenError, loadConfig, openStore, parseAllowEntry, SCOPES, SecretCipher, startServer, ConfigError } from '@herm/server';
import { CliError, EXIT, reportError, UsageError, type ErrorContext } from './cli-errors.ts';
import { accountsCommand, auditLogCommand, budgetsCommand, keysApiCommand, QUOTA_FLAGS } from './commands/admin.ts';
import { CLIENT_OPTIONS, createClient, deploymentsCommand, eventsTailCommand, filesCommand, resolveBaseURL, threadsCommand } from './commands/api.ts';

const API_ENV = `Options for commands that talk to the API:
  --api-key KEY     API key (default: PRISM_API_KEY)
  --base-url URL    Server URL (default: HERM_BASE_URL, else http://localhost:8787)
  --json            One JSON object per line, for scripts`;

const EXIT_CODES = `Exit codes: 0 ok, 1 error, 2 usage, 3 auth (missing, refused or unscoped key), 4 not found, 5 server unreachable.`;

const USAGE = `Usage: herm <command> [options]

Commands:
  serve                               Start the server (embedded SQLite + bubblewrap unless DATABASE_URL is set)
  keys create|list|revoke             Manage API keys (on the local data directory, or --api: through the API)
  accounts create|list|get|rename     Manage accounts through the API (admin key)
  accounts quotas <account_id>        Set an account's quotas through the API (admin key)
  budgets list|set|delete             Manage credit budgets through the API (admin key)
  audit-log                           List the audit log of accounts, keys and budgets through the API (admin key)
  secrets create                      Register a connector secret (on the local data directory)
  deployments list|get|create|delete  Manage deployments
  threads list|get                    List a deployment's threads, show one with its messages
  events tail <deployment_id>         Follow a deployment's events
  files ls|get|put <deployment_id>    List, read and write a deployment's workspace files
  chat <deployment_id>                Talk to a deployment in the terminal

Run 'herm <command> --help' for a command's options.

Environment: PRISM_API_KEY, HERM_BASE_URL (API commands); PORT, HOST, HERM_DATA_DIR, DATABASE_URL, HERM_ADMIN_KEY,
LOG_LEVEL, LOG_FORMAT (serve; see README). HERM_DEBUG=1 prints stack traces of errors.

${EXIT_CODES}`;

/** Help of every command and subcommand; each starts with its Usage: line. */
const HELP: Record<string, string> = {
  serve: `Usage: herm serve

Starts the server on HOST:PORT (default 127.0.0.1:8787) with the settings of the environment (see README).
Ctrl-C stops it gracefully; a second Ctrl-C stops at once.`,
  keys: `Usage: herm keys <create|list|revoke> [options]

Commands:
  create --scopes a,b [--name N] [--account acct_… | --new-account NAME]   Create an API key; it is printed once
  list                                                                    List keys (hints only, never the secret)
  revoke <key_id>                                                         Revoke a key

Works on the local store (HERM_DATA_DIR or DATABASE_URL); with --api, through the API with an admin-scoped key
(PRISM_API_KEY or --api-key; HERM_BASE_URL or --base-url). Either way each action lands in the audit log
(herm audit-log). --json: one JSON object per line.`,
  'keys create': `Usage: herm keys create --scopes a,b [--name N] [--account acct_… | --new-account NAME] [--api] [--json]

Creates an API key and prints its secret once on stdout. Scopes: ${SCOPES.join(', ')}.
--json prints the key as one JSON object, its secret in "secret".`,
  'keys list': `Usage: herm keys list [--api [--account acct_…]] [--json]

Lists keys: id, account, hint, scopes, state, name (tab-separated); --json: one JSON object per key.`,
  'keys revoke': `Usage: herm keys revoke <key_id> [--api] [--json]`,
  accounts: `Usage: herm accounts <create|list|get|rename|quotas> [options]

Commands:
  create --name N                  Create an account; prints its acct_… id
  list                             List accounts: id, name, created (tab-separated)
  get <account_id>                 Show an account
  rename <account_id> --name N     Rename an account
  quotas <account_id> [--deployments N] [--concurrent-runs N] …   Set an account's quotas; prints those in force

Through the API with an admin-scoped key; issue an account keys with: herm keys create --api --account acct_… --scopes …

${API_ENV}`,
  'accounts create': `Usage: herm accounts create --name N [--json]

${API_ENV}`,
  'accounts list': `Usage: herm accounts list [--json]

${API_ENV}`,
  'accounts get': `Usage: herm accounts get <account_id> [--json]

${API_ENV}`,
  'accounts rename': `Usage: herm accounts rename <account_id> --name N [--json]

${API_ENV}`,
  'accounts quotas': `Usage: herm accounts quotas <account_id> [--deployments N] [--concurrent-runs N] [--runs-per-minute N]
                           [--requests-per-second N] [--sse-streams N] [--workspace-bytes N] [--json]

Sets the account's own quotas given (N: a whole number, 0 for no limit; "default": back to the server's
HERM_QUOTA_* / HERM_RATE_LIMIT_RPS), then prints the quotas in force: name, value (tab-separated); --json: the
account. With no quota flag it only prints them. Each change lands in the audit log (account.updated).

${API_ENV}`,
  budgets: `Usage: herm budgets <list|set|delete> [options]

Commands:
  list [--account acct_…]                                          List budgets: account, customer (- for the
                                                                   account's own), credits, spent, remaining, state
  set --credits N [--account acct_…] [--customer ID] [--reset-spent]   Grant credits (top up by raising N)
  delete [--account acct_…] [--customer ID]                        Remove a budget: its usage is no longer limited

Credit budgets (usage priced by HERM_MODEL_PRICES) through the API with an admin-scoped key; the account defaults
to the key's own, no --customer means the account's own budget. Setting and removing one lands in the audit log
(budget.set, budget.deleted).

${API_ENV}`,
  'budgets list': `Usage: herm budgets list [--account acct_…] [--json]

${API_ENV}`,
  'budgets set': `Usage: herm budgets set --credits N [--account acct_…] [--customer ID] [--reset-spent] [--json]

Sets a budget's credits (creating it with nothing spent); --reset-spent counts what is spent from zero again.

${API_ENV}`,
  'budgets delete': `Usage: herm budgets delete [--account acct_…] [--customer ID] [--json]

${API_ENV}`,
  'audit-log': `Usage: herm audit-log [--action A] [--target ID] [--account acct_…] [--json]

Lists the audit log, newest first: time, action, target, actor (key id, or cli), summary (tab-separated).
Actions: account.created, account.updated, key.created, key.revoked, budget.set, budget.deleted. Through the API
with an admin-scoped key.

${API_ENV}`,
  secrets: `Usage: herm secrets create --name N [--value V] [--allowed-hosts H,H] [--account acct_…] [--json]

Commands:
  create   Register a connector secret (the value from stdin when --value is omitted); prints its sec_… id`,
  'secrets create': `Usage: herm secrets create --name N [--value V] [--allowed-hosts H,H] [--account acct_…] [--json]

Registers a connector secret; the value is read from stdin when --value is omitted. --allowed-hosts: the hosts
(comma-separated, as in sandbox.network.allow: api.example.com, *.example.com, host:port) the egress proxy may
send it to from a sandbox, which sees a placeholder instead (docs/secrets.md). Prints its sec_… id
(--json: the secret's reference as the API returns it, { secret_id, name, allowed_hosts, created_at }).`,
  deployments: `Usage: herm deployments <list|get|create|delete> [options]

Commands:
  list [--customer ID]                                        List deployments
  get <deployment_id>                                         Show a deployment
  create --name N --customer ID --system-prompt P [--model M] Create a deployment
  delete <deployment_id> [--retain-filesystem]                Delete a deployment

${API_ENV}`,
  'deployments list': `Usage: herm deployments list [--customer ID] [--json]

${API_ENV}`,
  'deployments get': `Usage: herm deployments get <deployment_id> [--json]

${API_ENV}`,
  'deployments create': `Usage: herm deployments create --name N --customer ID --system-prompt P [--model provider/model] [--json]

${API_ENV}`,
  'deployments delete': `Usage: herm deployments delete <deployment_id> [--retain-filesystem] [--json]

${API_ENV}`,
  threads: `Usage: herm threads <list|get> <deployment_id> [thread_id] [--json]

Commands:
  list <deployment_id>               List a deployment's threads
  get <deployment_id> <thread_id>    Show a thread and its messages

${API_ENV}`,
  'threads list': `Usage: herm threads list <deployment_id> [--json]

${API_ENV}`,
  'threads get': `Usage: herm threads get <deployment_id> <thread_id> [--json]

${API_ENV}`,
  events: `Usage: herm events tail <deployment_id> [--thread thr_…] [--json]

Commands:
  tail   Follow a deployment's events (tokens, tool calls, run status) until Ctrl-C

${API_ENV}`,
  'events tail': `Usage: herm events tail <deployment_id> [--thread thr_…] [--json]

Follows a deployment's events until Ctrl-C; --json prints each event as one JSON line.

${API_ENV}`,
  files: `Usage: herm files <ls|get|put> <deployment_id> [path] [options]

Commands:
  ls <deployment_id> [dir]                      List a directory of the workspace
  get <deployment_id> <path> [-o FILE]          Print a file (or write it to FILE)
  put <deployment_id> <path> [LOCAL_FILE|-]     Write a file from LOCAL_FILE or stdin

--thread thr_… picks the thread's workspace of a deployment with one per thread.

${API_ENV}`,
  'files ls': `Usage: herm files ls <deployment_id> [dir] [--thread thr_…] [--json]

${API_ENV}`,
  'files get': `Usage: herm files get <deployment_id> <path> [-o FILE] [--thread thr_…]

Writes the file's bytes to stdout, or to FILE with -o.

${API_ENV}`,
  'files put': `Usage: herm files put <deployment_id> <path> [LOCAL_FILE|-] [--thread thr_…] [--json]

Creates or overwrites <path> in the workspace with LOCAL_FILE, or stdin when it is omitted or -.

${API_ENV}`,
  chat: `Usage: herm chat <deployment_id> [--thread thr_…|new] [--json]

Talks to a deployment in the terminal: each line you type is a message; the agent's reply streams back.
/exit or Ctrl-D quits; Ctrl-C cancels a run in progress. --thread new starts a fresh thread.

${API_ENV}`,
};

const SUBCOMMANDS: Record<string, string[]> = {
  keys: ['create', 'list', 'revoke'],
  accounts: ['create', 'list', 'get', 'rename', 'quotas'],
  budgets: ['list', 'set', 'delete'],
  secrets: ['create'],
  deployments: ['list', 'get', 'create', 'delete'],
  threads: ['list', 'get'],
  events: ['tail'],
  files: ['ls', 'get', 'put'],
};

/** parseArgs whose errors (unknown flag, missing value) are usage errors pointing at the command's help. */
function parse<const T extends ParseArgsConfig['options']>(command: string, args: string[], options: T, allowPositionals = true) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (error) {
    if ((error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      // Node's message goes on to explain `--`; the first sentence is the error.
      throw new UsageError((error as Error).message.replace(/\. To specify a positional argument.*$/s, ''), command);
    }
    throw error;
  }
}

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

async function keysCommand(action: string, rest: string[], context: ErrorContext): Promise<void> {
  const { values, positionals } = parse(`herm keys ${action}`, rest, {
    ...CLIENT_OPTIONS,
    scopes: { type: 'string' },
    name: { type: 'string' },
    account: { type: 'string' },
    'new-account': { type: 'string' },
    api: { type: 'boolean' },
  });
  if (values.api) {
    context.baseURL = resolveBaseURL(values);
    return keysApiCommand(createClient(values), { action, positionals, values });
  }
  if (values['api-key'] || values['base-url']) throw new UsageError('--api-key and --base-url go with --api', `herm keys ${action}`);
  const config = loadConfig();
  const store = await openStore({ dataDir: config.dataDir, databaseUrl: config.DATABASE_URL });
  // Audited like the API's actions, with the command line as the actor.
  const administration = new AccountAdministration(store);
  try {
    if (action === 'create') {
      const scopes = (values.scopes ?? '').split(',').map((scope) => scope.trim()).filter(Boolean);
      if (scopes.length === 0) throw new UsageError(`--scopes is required, a comma-separated list of: ${SCOPES.join(', ')}`, 'herm keys create');
      const unknown = scopes.filter((scope) => !(SCOPES as readonly string[]).includes(scope));
      if (unknown.length > 0) throw new UsageError(`Unknown scope ${unknown.join(', ')}; valid scopes: ${SCOPES.join(', ')}`, 'herm keys create');
      let accountId = values.account ?? DEFAULT_ACCOUNT_ID;
      if (values['new-account']) accountId = (await administration.createAccount(COMMAND_LINE_ACTOR, values['new-account'])).id;
      else if (accountId === DEFAULT_ACCOUNT_ID) await store.accounts.ensureAccount(DEFAULT_ACCOUNT_ID, 'Default account');
      else if (!(await store.accounts.getAccount(accountId))) throw new CliError(`no account ${accountId}`, undefined, EXIT.notFound);
      const created = await administration.createKey(COMMAND_LINE_ACTOR, { accountId, scopes, name: values.name });
      if (!created) throw new CliError(`no account ${accountId}`, undefined, EXIT.notFound);
      const { key, secret } = created;
      process.stderr.write(`Created ${key.id} on ${accountId} with scopes ${scopes.join(', ')}. It is shown once:\n`);
      process.stdout.write(values.json ? `${JSON.stringify({ ...renderKey(key), secret })}\n` : `${secret}\n`);
    } else if (action === 'list') {
      for (const key of await store.accounts.listKeys()) {
        const state = key.revoked_at ? 'revoked' : 'active';
        if (values.json) process.stdout.write(`${JSON.stringify(renderKey(key))}\n`);
        else process.stdout.write(`${key.id}\t${key.account_id}\t${key.key_hint}\t${key.scopes.join(',')}\t${state}\t${key.name ?? ''}\n`);
      }
    } else if (action === 'revoke') {
      const id = positionals[0];
      if (!id) throw new UsageError('missing <key_id>', 'herm keys revoke');
      if (!(await administration.revokeKey(COMMAND_LINE_ACTOR, id))?.revoked) throw new CliError(`no active key ${id}`, "list keys with 'herm keys list'", EXIT.notFound);
      if (values.json) process.stdout.write(`${JSON.stringify({ key_id: id, revoked: true })}\n`);
      else process.stderr.write(`Revoked ${id}\n`);
    }
  } finally {
    await store.close();
  }
}

async function secretsCommand(rest: string[]): Promise<void> {
  const { values } = parse(
    'herm secrets create',
    rest,
    { name: { type: 'string' }, value: { type: 'string' }, 'allowed-hosts': { type: 'string' }, account: { type: 'string' }, json: { type: 'boolean' } },
    false,
  );
  if (!values.name) throw new UsageError('--name is required', 'herm secrets create');
  const allowedHosts: string[] = [];
  for (const host of (values['allowed-hosts'] ?? '').split(',').map((entry) => entry.trim()).filter((entry) => entry !== '')) {
    const entry = parseAllowEntry(host);
    if (typeof entry === 'string') throw new UsageError(`--allowed-hosts: ${JSON.stringify(host)} ${entry}`, 'herm secrets create');
    if (!allowedHosts.includes(entry.text)) allowedHosts.push(entry.text);
  }
  const value = values.value ?? (await readStdin());
  if (!value) throw new UsageError('the secret value is empty', 'herm secrets create');
  const config = loadConfig();
  const store = await openStore({ dataDir: config.dataDir, databaseUrl: config.DATABASE_URL });
  try {
    const accountId = values.account ?? DEFAULT_ACCOUNT_ID;
    await store.accounts.ensureAccount(DEFAULT_ACCOUNT_ID, 'Default account');
    const cipher = SecretCipher.fromConfig(config.HERM_SECRET_KEY, config.dataDir);
    const secret = await store.secrets.create(accountId, values.name, cipher.encrypt(value), allowedHosts);
    // --json: the shape of the API's Create Secret response.
    const created = { secret_id: secret.id, name: secret.name, allowed_hosts: hostList(secret.allowed_hosts), created_at: isoTime(secret.created_at) };
    process.stdout.write(values.json ? `${JSON.stringify(created)}\n` : `${secret.id}\n`);
  } finally {
    await store.close();
  }
}

/** A key as --json prints it: never its hash; times as ISO 8601, like the API's. */
function renderKey(key: { id: string; account_id: string; name: string | null; key_hint: string; scopes: string[]; created_at: number; last_used_at: number | null; revoked_at: number | null }) {
  return {
    key_id: key.id,
    account_id: key.account_id,
    name: key.name,
    key_hint: key.key_hint,
    scopes: key.scopes,
    state: key.revoked_at ? 'revoked' : 'active',
    created_at: isoTime(key.created_at),
    last_used_at: key.last_used_at === null ? null : isoTime(key.last_used_at),
    revoked_at: key.revoked_at === null ? null : isoTime(key.revoked_at),
  };
}

/** A secret's stored `allowed_hosts` (a JSON array) as a list. */
function hostList(stored: string | null | undefined): string[] {
  try {
    const hosts = JSON.parse(stored ?? '[]') as unknown;
    return Array.isArray(hosts) ? hosts.filter((host): host is string => typeof host === 'string') : [];
  } catch {
    return [];
  }
}

/** Milliseconds since the epoch as the API writes times: ISO 8601 to the second, UTC. */
function isoTime(milliseconds: number): string {
  return new Date(Number(milliseconds)).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Runs an API command: parses its flags, builds the client, and records the URL for error hints. */
async function apiCommand(path: string, args: string[], context: ErrorContext): Promise<void> {
  const [command, action] = path.split(' ') as [string, string | undefined];
  if (command === 'deployments') {
    const { values, positionals } = parse(`herm ${path}`, args, {
      ...CLIENT_OPTIONS,
      customer: { type: 'string' },
      name: { type: 'string' },
      'system-prompt': { type: 'string' },
      model: { type: 'string' },
      'retain-filesystem': { type: 'boolean' },
    });
    context.baseURL = resolveBaseURL(values);
    await deploymentsCommand(createClient(values), { action: action!, positionals, values });
  } else if (command === 'threads') {
    const { values, positionals } = parse(`herm ${path}`, args, CLIENT_OPTIONS);
    context.baseURL = resolveBaseURL(values);
    await threadsCommand(createClient(values), { action: action!, positionals, values });
  } else if (command === 'events') {
    const { values, positionals } = parse(`herm ${path}`, args, { ...CLIENT_OPTIONS, thread: { type: 'string' } });
    context.baseURL = resolveBaseURL(values);
    await eventsTailCommand(createClient(values), { positionals, values });
  } else if (command === 'files') {
    const { values, positionals } = parse(`herm ${path}`, args, { ...CLIENT_OPTIONS, thread: { type: 'string' }, output: { type: 'string', short: 'o' } });
    context.baseURL = resolveBaseURL(values);
    const readAll = async (): Promise<Uint8Array> => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    };
    await filesCommand(createClient(values), { action: action!, positionals, values, readStdin: readAll });
  } else if ((command === 'accounts' && action !== 'quotas') || command === 'audit-log') {
    const { values, positionals } = parse(`herm ${path}`, args, { ...CLIENT_OPTIONS, name: { type: 'string' }, action: { type: 'string' }, target: { type: 'string' }, account: { type: 'string' } });
    context.baseURL = resolveBaseURL(values);
    const client = createClient(values);
    if (command === 'accounts') await accountsCommand(client, { action: action!, positionals, values });
    else await auditLogCommand(client, { action: 'list', positionals, values });
  } else if (command === 'accounts' && action === 'quotas') {
    const quotaOptions = Object.fromEntries(QUOTA_FLAGS.map((name) => [name.replaceAll('_', '-'), { type: 'string' as const }]));
    const { values, positionals } = parse(`herm ${path}`, args, { ...CLIENT_OPTIONS, ...quotaOptions });
    context.baseURL = resolveBaseURL(values);
    await accountsCommand(createClient(values), { action: action, positionals, values });
  } else if (command === 'budgets') {
    const { values, positionals } = parse(`herm ${path}`, args, {
      ...CLIENT_OPTIONS,
      account: { type: 'string' },
      customer: { type: 'string' },
      credits: { type: 'string' },
      'reset-spent': { type: 'boolean' },
    });
    context.baseURL = resolveBaseURL(values);
    await budgetsCommand(createClient(values), { action: action!, positionals, values });
  } else if (command === 'chat') {
    const { values, positionals } = parse('herm chat', args, { ...CLIENT_OPTIONS, thread: { type: 'string' } });
    const deploymentId = positionals[0];
    if (!deploymentId) throw new UsageError('missing <deployment_id>', 'herm chat');
    context.baseURL = resolveBaseURL(values);
    const client = createClient(values);
    const { runChat } = await import('./commands/chat.ts');
    await runChat({ deploymentId, threadId: values.thread, client, json: values.json });
  }
}

/** `herm keys create --help` → 'keys create'; undefined when the words name no command. */
function helpTopic(words: string[]): string | undefined {
  const [command, sub] = words;
  if (command === undefined) return undefined;
  if (sub !== undefined && HELP[`${command} ${sub}`]) return `${command} ${sub}`;
  return HELP[command] ? command : undefined;
}

function wantsHelp(args: string[]): boolean {
  for (const arg of args) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}

/** Runs the command line and returns the exit code (serve keeps running; its exit comes from the signals). */
export async function run(argv: string[]): Promise<number> {
  const context: ErrorContext = {};
  try {
    const [command, ...args] = argv;
    if (command === undefined || command === '--help' || command === '-h') {
      process.stdout.write(`${USAGE}\n`);
      return EXIT.ok;
    }
    if (command === 'help') {
      if (args.length === 0) {
        process.stdout.write(`${USAGE}\n`);
        return EXIT.ok;
      }
      const topic = helpTopic(args);
      if (!topic) throw new UsageError(`unknown command '${args.join(' ')}'`);
      process.stdout.write(`${HELP[topic]}\n`);
      return EXIT.ok;
    }
    if (!HELP[command]) throw new UsageError(`unknown command '${command}'`);
    if (wantsHelp(args)) {
      const words = [command, ...args.filter((arg) => !arg.startsWith('-'))];
      process.stdout.write(`${HELP[helpTopic(words) ?? command]}\n`);
      return EXIT.ok;
    }
    const subcommands = SUBCOMMANDS[command];
    let path = command;
    let rest = args;
    if (subcommands) {
      const [action, ...after] = args;
      if (action === undefined) throw new UsageError(`missing subcommand: herm ${command} ${subcommands.join('|')}`, `herm ${command}`);
      if (!subcommands.includes(action)) throw new UsageError(`unknown command 'herm ${command} ${action}'; expected one of ${subcommands.join(', ')}`, `herm ${command}`);
      path = `${command} ${action}`;
      rest = after;
    }
    if (command === 'serve') {
      parse('herm serve', rest, {}, false);
      await serveCommand();
    } else if (command === 'keys') await keysCommand(path.split(' ')[1]!, rest, context);
    else if (command === 'secrets') await secretsCommand(rest);
    else await apiCommand(path, rest, context);
    return EXIT.ok;
  } catch (error) {
    if (error instanceof ConfigError) return reportError(new CliError(error.message, 'see README, "Configuration"', EXIT.usage), context);
    return reportError(error, context);
  }
}

export async function main(argv: string[]): Promise<void> {
  const code = await run(argv);
  if (code !== EXIT.ok) process.exit(code);
}

if (import.meta.main) await main(process.argv.slice(2));
