import type { ApiKeyRecord } from '../store/accounts.ts';
import type { Services } from '../services.ts';
import type { IdempotencyClaim } from '../store/idempotency.ts';

/** Hono context variables set by the middleware. */
export interface AppEnv {
  Variables: {
    requestId: string;
    apiKey: ApiKeyRecord;
    services: Services;
    /** The Idempotency-Key claim of this request, when it sent one (api/idempotency.ts). */
    idempotencyClaim?: IdempotencyClaim;
  };
}
