import type { Herm } from '../client.ts';

/** Base of every resource class: holds the client its methods send requests through. */
export class APIResource {
  protected readonly _client: Herm;

  constructor(client: Herm) {
    this._client = client;
  }
}

/** Encodes one path segment (an id) so it cannot change the path. */
export function segment(value: string): string {
  return encodeURIComponent(value);
}
