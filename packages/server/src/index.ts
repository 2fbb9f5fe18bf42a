export { loadConfig, type Config, ConfigError } from './config.ts';
export { ListenError, startServer, type RunningServer, type StartOptions } from './server.ts';
export { openStore } from './store/open-store.ts';
export { SCOPES, type Scope } from './api/auth.ts';
export { DEFAULT_ACCOUNT_ID } from './store/accounts.ts';
export { AccountAdministration, COMMAND_LINE_ACTOR } from './accounts/account-administration.ts';
export { SecretCipher } from './secrets/secret-cipher.ts';
export { parseAllowEntry } from './sandbox/egress/egress-allowlist.ts';
