// Attachments the model cannot take by URL are downloaded by the server and sent as data. The AI SDK would
// download them itself, checking only the URL's literal host (a name resolving to 127.0.0.1 passes); this
// download goes through outboundFetch instead, so it follows the same rules as every other request the
// server makes for a tenant: internal addresses refused after resolution unless HERM_ALLOW_PRIVATE_URLS,
// the connection pinned to the checked address, redirects re-checked, a deadline and a size limit.
import { outboundFetch, type OutboundPolicy } from './outbound-fetch.ts';

/** The AI SDK's `experimental_download` (streamText, generateText). */
export type AttachmentDownload = (
  requests: Array<{ url: URL; isUrlSupportedByModel: boolean; abortSignal?: AbortSignal }>,
) => Promise<Array<{ data: Uint8Array; mediaType: string | undefined } | null>>;

export interface AttachmentDownloadLimits {
  /** Largest attachment taken. Default 20 MiB. */
  maxBytes?: number;
  /** Deadline of one download. Default 30 s. */
  timeoutMs?: number;
}

const DEFAULT_MAX_BYTES = 20 * 1_048_576;
const DEFAULT_TIMEOUT_MS = 30_000;

/** A download function for the AI SDK that fetches with `policy`; URLs the model takes itself are passed through. */
export function createAttachmentDownload(policy: OutboundPolicy, limits: AttachmentDownloadLimits = {}): AttachmentDownload {
  return (requests) =>
    Promise.all(
      requests.map(async ({ url, isUrlSupportedByModel, abortSignal }) => {
        // The provider fetches it (from its own network, not this server's).
        if (isUrlSupportedByModel) return null;
        const response = await outboundFetch({
          url: url.href,
          policy,
          maxBytes: limits.maxBytes ?? DEFAULT_MAX_BYTES,
          timeoutMs: limits.timeoutMs ?? DEFAULT_TIMEOUT_MS,
          ...(abortSignal ? { signal: abortSignal } : {}),
        });
        if (response.status >= 400) throw new Error(`could not fetch the attachment ${url.href}: HTTP ${response.status}`);
        const contentType = response.headers['content-type'];
        return { data: new Uint8Array(response.body), mediaType: contentType ? contentType.split(';')[0]!.trim() : undefined };
      }),
    );
}
