// Cursor pagination: every list endpoint answers `{ data, next_cursor }` and takes `cursor` back.
import { HermError } from './error.ts';

/** The body of every list response. */
export interface CursorPageResponse<Item> {
  data: Item[];
  /** Pass as `cursor` to get the next page; null on the last page. */
  next_cursor: string | null;
}

/** Fetches the page that starts at `cursor`, with the same filters as the first page. */
export type PageFetcher<Item> = (cursor: string) => Promise<CursorPage<Item>>;

/**
 * One page of a list. Destructure it (`const { data, next_cursor } = page`), walk on with
 * `getNextPage()`, or `for await` over it to get every item of this page and the ones after it.
 *
 * @example
 * let page = await herm.deployments.list({ limit: 50 });
 * while (true) {
 *   for (const deployment of page.data) console.log(deployment.deployment_id);
 *   if (!page.hasNextPage()) break;
 *   page = await page.getNextPage();
 * }
 */
export class CursorPage<Item> implements CursorPageResponse<Item>, AsyncIterable<Item> {
  data: Item[];
  next_cursor: string | null;
  readonly #fetchPage: PageFetcher<Item>;

  constructor(response: CursorPageResponse<Item>, fetchPage: PageFetcher<Item>) {
    this.data = Array.isArray(response.data) ? response.data : [];
    this.next_cursor = response.next_cursor ?? null;
    this.#fetchPage = fetchPage;
  }

  hasNextPage(): boolean {
    return typeof this.next_cursor === 'string' && this.next_cursor !== '';
  }

  /** @throws HermError on the last page; check `hasNextPage()` first. */
  async getNextPage(): Promise<CursorPage<Item>> {
    const cursor = this.next_cursor;
    if (cursor === null || cursor === '') {
      throw new HermError('No next page expected; check hasNextPage() before calling getNextPage().');
    }
    return await this.#fetchPage(cursor);
  }

  /** This page, then every following page, fetched one at a time as you iterate. */
  async *iterPages(): AsyncGenerator<CursorPage<Item>, void, undefined> {
    let page: CursorPage<Item> = this;
    yield page;
    while (page.hasNextPage()) {
      page = await page.getNextPage();
      yield page;
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Item, void, undefined> {
    for await (const page of this.iterPages()) yield* page.data;
  }
}

/**
 * What list methods return: await it for the first page, or `for await` over it for every item across
 * all pages. The first request is sent when you do either, not before.
 *
 * @example
 * const { data, next_cursor } = await herm.deployments.list({ customer_id: 'cus_123' });
 *
 * for await (const deployment of herm.deployments.list({ status: 'ready' })) {
 *   console.log(deployment.deployment_id);
 * }
 */
export class PagePromise<Item> implements PromiseLike<CursorPage<Item>>, AsyncIterable<Item> {
  readonly #load: () => Promise<CursorPage<Item>>;
  #firstPage: Promise<CursorPage<Item>> | undefined;

  constructor(load: () => Promise<CursorPage<Item>>) {
    this.#load = load;
  }

  #page(): Promise<CursorPage<Item>> {
    this.#firstPage ??= this.#load();
    return this.#firstPage;
  }

  then<Fulfilled = CursorPage<Item>, Rejected = never>(
    onFulfilled?: ((page: CursorPage<Item>) => Fulfilled | PromiseLike<Fulfilled>) | null,
    onRejected?: ((reason: unknown) => Rejected | PromiseLike<Rejected>) | null,
  ): Promise<Fulfilled | Rejected> {
    return this.#page().then(onFulfilled, onRejected);
  }

  catch<Rejected = never>(
    onRejected?: ((reason: unknown) => Rejected | PromiseLike<Rejected>) | null,
  ): Promise<CursorPage<Item> | Rejected> {
    return this.#page().catch(onRejected);
  }

  finally(onFinally?: (() => void) | null): Promise<CursorPage<Item>> {
    return this.#page().finally(onFinally);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Item, void, undefined> {
    yield* await this.#page();
  }
}
