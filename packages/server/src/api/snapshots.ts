// /v1/snapshots: workspaces kept when deployments were deleted with retain_filesystem=true.
import fs from 'node:fs/promises';
import { Readable } from 'node:stream';
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { SnapshotRecord } from '../store/snapshots.ts';
import { notFound } from './api-error.ts';
import type { AppEnv } from './app-env.ts';
import { renderSnapshot } from './render.ts';
import { bearerSecurity, errorResponses, json } from './route-helpers.ts';
import { cursorQuery, idParam, limitQuery, Snapshot, SnapshotList } from './schemas.ts';

const SnapshotParams = z.strictObject({ snapshot_id: idParam('snapshot_id', 'snap') });
const binary = z.string().openapi({ type: 'string', format: 'binary' });

async function loadSnapshot(c: Context<AppEnv>, snapshotId: string): Promise<SnapshotRecord> {
  const snapshot = await c.get('services').snapshots.get(c.get('apiKey').account_id, snapshotId);
  if (!snapshot) throw notFound('snapshot', snapshotId, 'snapshot_id');
  return snapshot;
}

export function snapshotRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'get',
      path: '/snapshots',
      summary: 'List workspace snapshots, newest first',
      description:
        'Deleting a deployment with retain_filesystem=true keeps a compressed snapshot of its workspace until expires_at ' +
        '(HERM_SNAPSHOT_RETENTION_DAYS, 30 by default). Expired snapshots are not listed.',
      tags: ['Snapshots'],
      security: bearerSecurity,
      request: {
        query: z.strictObject({
          customer_id: z.string().min(1).max(255).optional(),
          limit: limitQuery,
          cursor: cursorQuery,
        }),
      },
      responses: { 200: json(SnapshotList, 'A page of snapshots'), ...errorResponses },
    }),
    async (c) => {
      const query = c.req.valid('query');
      const services = c.get('services');
      const page = await services.store.snapshots.list(
        c.get('apiKey').account_id,
        { customer_id: query.customer_id },
        { limit: query.limit, cursor: query.cursor },
        services.snapshots.now(),
      );
      return c.json({ data: page.data.map(renderSnapshot), next_cursor: page.next_cursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/snapshots/{snapshot_id}',
      summary: 'Get a snapshot',
      tags: ['Snapshots'],
      security: bearerSecurity,
      request: { params: SnapshotParams },
      responses: { 200: json(Snapshot, 'The snapshot'), ...errorResponses },
    }),
    async (c) => {
      const snapshot = await loadSnapshot(c, c.req.valid('param').snapshot_id);
      return c.json(renderSnapshot(snapshot), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/snapshots/{snapshot_id}/content',
      summary: 'Download a snapshot',
      description: 'The workspace as a gzip-compressed tar archive; symlinks are stored as symlinks.',
      tags: ['Snapshots'],
      security: bearerSecurity,
      request: { params: SnapshotParams },
      responses: {
        200: { description: 'The archive (tar.gz)', content: { 'application/gzip': { schema: binary } } },
        ...errorResponses,
      },
    }),
    async (c) => {
      const snapshot = await loadSnapshot(c, c.req.valid('param').snapshot_id);
      const file = c.get('services').snapshots.file(snapshot.id);
      // Opened before answering: a snapshot swept meanwhile is a 404, not a broken download.
      const handle = await fs.open(file, 'r').catch(() => undefined);
      if (!handle) throw notFound('snapshot', snapshot.id, 'snapshot_id');
      const { size } = await handle.stat();
      const stream = Readable.toWeb(handle.createReadStream()) as ReadableStream<Uint8Array>;
      return c.body(stream, 200, {
        'content-type': 'application/gzip',
        'content-length': String(size),
        'content-disposition': `attachment; filename="${snapshot.id}.tar.gz"`,
      });
    },
  );

  return app;
}
