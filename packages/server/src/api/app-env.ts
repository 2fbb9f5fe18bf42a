import type { ApiKeyRecord } from '../store/accounts.ts';
import type { Services } from '../services.ts';

/** Hono context variables set by the middleware. */
export interface AppEnv {
  Variables: {
    requestId: string;
    apiKey: ApiKeyRecord;
    services: Services;
  };
}
