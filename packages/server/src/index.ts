export { loadConfig, type Config, ConfigError } from './config.ts';
export { ListenError, startServer, type RunningServer, type StartOptions } from './server.ts';
export { openStore } from './store/open-store.ts';
export { SCOPES, type Scope } from './api/auth.ts';
export { DEFAULT_ACCOUNT_ID } from './store/accounts.ts';
export { SecretCipher } from './secrets/secret-cipher.ts';
