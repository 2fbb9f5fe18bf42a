// /v1/deployments/:deployment_id/files — the deployment's workspace, through its sandbox.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { getMimeType, mimes } from 'hono/utils/mime';
import { WorkspaceFileError } from '../files/workspace-file-error.ts';
import { MAX_PATH_LENGTH } from '../files/workspace-file-path.ts';
import { fileTooLargeMessage, type FilesWorkspace } from '../files/workspace-files.ts';
import { ApiError, notFound, validationError } from './api-error.ts';
import type { AppEnv } from './app-env.ts';
import { bearerSecurity, errorResponses, json, loadReadyDeployment } from './route-helpers.ts';
import { DeletedFile, ErrorResponse, FileList, idParam, WrittenFile } from './schemas.ts';

const UPLOAD_PATH = /^\/v1\/deployments\/[^/]+\/files$/;

/** Whether a request is a file upload, whose body is the file's bytes rather than JSON (see app.ts). */
export function isFileUpload(method: string, pathname: string): boolean {
  return method === 'PUT' && UPLOAD_PATH.test(pathname);
}

const DeploymentParams = z.strictObject({ deployment_id: idParam('deployment_id', 'dep') });

// The type error only: a custom `error` on z.string() would otherwise replace the messages of its checks too.
const PATH_TOO_LONG = `must be at most ${MAX_PATH_LENGTH} characters`;

const requiredPath = z
  .string({ error: (issue) => (issue.code !== 'invalid_type' || issue.input === undefined ? undefined : 'must be a string') })
  .min(1, 'must not be empty')
  .max(MAX_PATH_LENGTH, PATH_TOO_LONG)
  .openapi({ description: 'Relative to the workspace root, or absolute under /workspace', example: 'briefs/q3-brief.md' });

const threadQuery = z
  .string({ error: 'must be a string' })
  .regex(/^thr_[A-Za-z0-9_]{1,64}$/, 'must be a thread id (thr_…)')
  .optional()
  .openapi({
    description:
      'The thread whose workspace to use. Required when the deployment has sandbox.persistent_filesystem false: each of its ' +
      "threads has a workspace of its own. Otherwise optional (it must name one of the deployment's threads): all threads share one workspace",
    example: 'thr_9kQv32',
  });

const PathQuery = z.strictObject({ path: requiredPath, thread_id: threadQuery });

const binary = z.string().openapi({ type: 'string', format: 'binary' });

const fileErrorResponses = {
  ...errorResponses,
  409: { description: 'deployment_not_ready', content: { 'application/json': { schema: ErrorResponse } } },
  413: { description: 'validation_error: the file exceeds the size limit', content: { 'application/json': { schema: ErrorResponse } } },
} as const;

// Workspaces are full of text the agent writes; Hono's table lacks most of those types.
const MIME_TYPES: Record<string, string> = {
  ...mimes,
  md: 'text/markdown; charset=utf-8',
  markdown: 'text/markdown; charset=utf-8',
  yaml: 'application/yaml; charset=utf-8',
  yml: 'application/yaml; charset=utf-8',
  toml: 'application/toml; charset=utf-8',
  log: 'text/plain; charset=utf-8',
  py: 'text/x-python; charset=utf-8',
  sh: 'text/x-shellscript; charset=utf-8',
  jsonl: 'application/jsonl; charset=utf-8',
};

export function fileRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'get',
      path: '/deployments/{deployment_id}/files',
      summary: 'List files',
      description:
        'Lists one directory of the workspace. Symlinks leading outside the workspace, FIFOs, sockets and devices are left out, ' +
        'and so is `.herm/uploads`, where uploads are written before they take their name.',
      tags: ['Files'],
      security: bearerSecurity,
      request: {
        params: DeploymentParams,
        query: z.strictObject({
          path: z
            .string({ error: (issue) => (issue.code === 'invalid_type' ? 'must be a string' : undefined) })
            .max(MAX_PATH_LENGTH, PATH_TOO_LONG)
            .optional()
            .openapi({ description: 'Directory to list. Defaults to the root', example: 'videos/' }),
          thread_id: threadQuery,
        }),
      },
      responses: { 200: json(FileList, 'The directory and its entries, sorted by name'), ...fileErrorResponses },
    }),
    async (c) => {
      const { path, thread_id } = c.req.valid('query');
      const workspace = await loadWorkspace(c, c.req.valid('param').deployment_id, thread_id);
      const listing = await holdWorkspace(c, workspace, () => withFileErrors(c, () => c.get('services').files.list(workspace, path ?? '', c.req.raw.signal)));
      return c.json(listing, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/deployments/{deployment_id}/files/content',
      summary: 'Read a file',
      description: 'Returns the raw bytes, with a Content-Type guessed from the file name (application/octet-stream otherwise).',
      tags: ['Files'],
      security: bearerSecurity,
      request: { params: DeploymentParams, query: PathQuery },
      responses: {
        200: { description: 'The file contents', content: { 'application/octet-stream': { schema: binary } } },
        ...fileErrorResponses,
      },
    }),
    async (c) => {
      const { path, thread_id } = c.req.valid('query');
      const workspace = await loadWorkspace(c, c.req.valid('param').deployment_id, thread_id);
      const file = await holdWorkspace(c, workspace, () => withFileErrors(c, () => c.get('services').files.read(workspace, path, c.req.raw.signal)));
      const name = file.path.slice(file.path.lastIndexOf('/') + 1);
      // Buffer.concat never hands out a SharedArrayBuffer; the cast only narrows the type.
      return c.body(new Uint8Array(file.bytes.buffer as ArrayBuffer, file.bytes.byteOffset, file.bytes.byteLength), 200, {
        'content-type': getMimeType(name, MIME_TYPES) ?? 'application/octet-stream',
        'content-length': String(file.bytes.byteLength),
        'last-modified': new Date(file.modifiedAt).toUTCString(),
        // The bytes are whatever the agent wrote: never let a browser render them in the API's origin.
        'content-disposition': contentDisposition(name),
        'x-content-type-options': 'nosniff',
        'cache-control': 'no-store',
      });
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/deployments/{deployment_id}/files',
      summary: 'Write a file',
      description:
        'Creates or overwrites the file at `path` with the request body, byte for byte (send any Content-Type but ' +
        'multipart/form-data; application/octet-stream is usual). Parent directories are created automatically. ' +
        'The file is replaced atomically; a symlink at the path is replaced, not followed. The bytes are first written to a ' +
        'temporary file in `.herm/uploads` (never listed; paths into it are a 400), so an interrupted upload leaves no part ' +
        'of a file under the path, and what a killed server left there is removed at its next start.',
      tags: ['Files'],
      security: bearerSecurity,
      request: {
        params: DeploymentParams,
        query: PathQuery,
        body: { required: false, content: { 'application/octet-stream': { schema: binary } } },
      },
      responses: { 200: json(WrittenFile, 'The file written'), ...fileErrorResponses },
    }),
    async (c) => {
      const services = c.get('services');
      const { path, thread_id } = c.req.valid('query');
      const workspace = await loadWorkspace(c, c.req.valid('param').deployment_id, thread_id);
      if (/^multipart\/form-data\b/i.test(c.req.header('content-type') ?? '')) {
        throw validationError('body', "Send the file's bytes as the request body (Content-Type: application/octet-stream), not as a form.");
      }
      const content = await readUpload(c, services.files.maxFileBytes);
      const written = await holdWorkspace(c, workspace, () => withFileErrors(c, () => services.files.write(workspace, path, content), 'body'));
      return c.json(written, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/deployments/{deployment_id}/files',
      summary: 'Delete a file',
      description: 'Deletes a file, or a directory with everything in it. A symlink is deleted itself, never what it points at.',
      tags: ['Files'],
      security: bearerSecurity,
      request: { params: DeploymentParams, query: PathQuery },
      responses: { 200: json(DeletedFile, 'Deleted'), ...fileErrorResponses },
    }),
    async (c) => {
      const { path, thread_id } = c.req.valid('query');
      const workspace = await loadWorkspace(c, c.req.valid('param').deployment_id, thread_id);
      const deleted = await holdWorkspace(c, workspace, () => withFileErrors(c, () => c.get('services').files.delete(workspace, path)));
      return c.json({ path: deleted.path, deleted: true as const }, 200);
    },
  );

  return app;
}

/**
 * The workspace a request works on. A deployment with `sandbox.persistent_filesystem: false` has one per
 * thread, so `thread_id` is required; on the others it is optional and all threads share one workspace.
 */
async function loadWorkspace(c: Context<AppEnv>, deploymentId: string, threadId: string | undefined): Promise<FilesWorkspace> {
  const deployment = await loadReadyDeployment(c, deploymentId);
  if (threadId === undefined) {
    if (deployment.sandbox.persistent_filesystem) return { deployment };
    throw validationError(
      'thread_id',
      'This deployment has sandbox.persistent_filesystem false: each of its threads has a workspace of its own. Pass thread_id to choose one.',
    );
  }
  const thread = await c.get('services').store.threads.get(deployment.id, threadId);
  if (!thread) throw notFound('thread', threadId, 'thread_id');
  return { deployment, threadId: thread.id };
}

/** Runs `operation` while the workspace is held: a thread's session workspace is created if missing and kept from the idle sweeper. */
async function holdWorkspace<T>(c: Context<AppEnv>, workspace: FilesWorkspace, operation: () => Promise<T>): Promise<T> {
  if (workspace.threadId === undefined) return operation();
  const release = await c.get('services').deployments.acquireWorkspace(workspace.deployment, workspace.threadId);
  try {
    return await operation();
  } finally {
    release();
  }
}

/** The request body, refused with 413 as soon as it is known to exceed `limit` bytes. */
async function readUpload(c: Context<AppEnv>, limit: number): Promise<Uint8Array> {
  const declared = Number(c.req.header('content-length'));
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(declared, limit);
  const body = c.req.raw.body;
  if (!body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.byteLength;
    if (total > limit) throw tooLarge(undefined, limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}

function tooLarge(size: number | undefined, limit: number): ApiError {
  return new ApiError('validation_error', fileTooLargeMessage(size, limit), 'body', 413);
}

/** Runs a workspace operation, turning its WorkspaceFileErrors into the documented API errors. */
async function withFileErrors<T>(c: Context<AppEnv>, operation: () => Promise<T>, tooLargeParam = 'path'): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    // A client that hung up aborts the sandbox command: nobody gets this answer, and it is no server fault to log.
    if (c.req.raw.signal.aborted) throw new ApiError('server_error', 'The client closed the request.');
    if (!(error instanceof WorkspaceFileError)) throw error;
    switch (error.reason) {
      case 'not_found':
        throw new ApiError('not_found', error.message, 'path');
      case 'too_large':
        throw new ApiError('validation_error', error.message, tooLargeParam, 413);
      case 'permission_denied':
        throw new ApiError('forbidden', error.message, 'path');
      case 'changed':
        throw new ApiError('conflict', error.message, 'path');
      default:
        throw validationError('path', error.message);
    }
  }
}

function contentDisposition(name: string): string {
  const fallback = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}
