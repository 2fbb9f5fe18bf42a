import type { RequestOptions } from '../core/request-options.ts';
import { APIResource, segment } from '../core/resource.ts';

/** One entry of a workspace directory. */
export interface FileEntry {
  name: string;
  /** Symlinks show as what they point at, and only when that is inside the workspace. */
  type: 'file' | 'directory';
  /** Bytes; files only. */
  size?: number;
  modified_at: string;
}

export interface FileListParams {
  /** Directory to list, relative to the workspace root. Defaults to the root. */
  path?: string;
  /**
   * The thread whose workspace to use. Required for a deployment with `sandbox.persistent_filesystem: false`,
   * where each thread (session) has a workspace of its own; optional otherwise, all threads sharing one.
   */
  thread_id?: string;
}

export interface FileListResponse {
  /** The directory listed, relative to the workspace root with a trailing slash (`"videos/"`); `""` for the root. */
  path: string;
  /** Sorted by name. */
  entries: FileEntry[];
}

export interface FileReadParams {
  /** The file, relative to the workspace root (or absolute under `/workspace`). */
  path: string;
  /**
   * The thread whose workspace to use. Required for a deployment with `sandbox.persistent_filesystem: false`,
   * where each thread (session) has a workspace of its own; optional otherwise, all threads sharing one.
   */
  thread_id?: string;
}

export interface FileWriteParams {
  /** The file, relative to the workspace root; missing parent directories are created. */
  path: string;
  /** The new content, stored byte for byte (a string as UTF-8). */
  content: string | Uint8Array | Blob;
  /**
   * The thread whose workspace to use. Required for a deployment with `sandbox.persistent_filesystem: false`,
   * where each thread (session) has a workspace of its own; optional otherwise, all threads sharing one.
   */
  thread_id?: string;
}

export interface FileWriteResponse {
  /** The file written, relative to the workspace root. */
  path: string;
  /** Bytes. */
  size: number;
  modified_at: string;
}

export interface FileDeleteParams {
  /** A file, or a directory to delete with everything in it. */
  path: string;
  /**
   * The thread whose workspace to use. Required for a deployment with `sandbox.persistent_filesystem: false`,
   * where each thread (session) has a workspace of its own; optional otherwise, all threads sharing one.
   */
  thread_id?: string;
}

export interface FileDeleteResponse {
  path: string;
  deleted: true;
}

/**
 * A file read from a workspace: its bytes plus a text() convenience.
 *
 * @example
 * const file = await herm.files.read('dep_7xK9s2', { path: 'storyboard.md' });
 * console.log(file.contentType, file.size); // "text/markdown; charset=utf-8", 2048
 * const markdown = await file.text();
 */
export class WorkspaceFile {
  /** The path that was read, as given. */
  readonly path: string;
  /** Bytes. */
  readonly size: number;
  /** Guessed by the server from the file name; `application/octet-stream` when it cannot tell. */
  readonly contentType: string;
  /** When the file last changed (ISO 8601, whole seconds), when the server said. */
  readonly modified_at: string | undefined;
  readonly #bytes: Uint8Array;

  constructor(path: string, bytes: Uint8Array, headers: Headers) {
    this.path = path;
    this.#bytes = bytes;
    this.size = bytes.byteLength;
    this.contentType = headers.get('content-type') ?? 'application/octet-stream';
    const lastModified = Date.parse(headers.get('last-modified') ?? '');
    this.modified_at = Number.isNaN(lastModified) ? undefined : new Date(lastModified).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  /** The raw bytes (a copy: change it freely). */
  async bytes(): Promise<Uint8Array> {
    return this.#bytes.slice();
  }

  /** The content decoded as UTF-8; invalid sequences become U+FFFD. */
  async text(): Promise<string> {
    return new TextDecoder().decode(this.#bytes);
  }
}

/**
 * A deployment's workspace (`/workspace`): `herm.files`. All paths are relative to its root. A deployment with
 * `sandbox.persistent_filesystem: false` has one per thread: pass `thread_id` to choose it.
 *
 * @example
 * await herm.files.write('dep_7xK9s2', { thread_id: 'thr_9kQv32', path: 'brief.md', content: '# Brief\n' });
 */
export class Files extends APIResource {
  /**
   * Lists one directory of the workspace.
   *
   * @example
   * const { entries } = await herm.files.list('dep_7xK9s2', { path: 'videos/' });
   * for (const entry of entries) console.log(entry.type, entry.name, entry.size ?? '');
   */
  list(deploymentId: string, params: FileListParams = {}, options?: RequestOptions): Promise<FileListResponse> {
    return this._client.get<FileListResponse>(`/deployments/${segment(deploymentId)}/files`, {
      ...options,
      query: { path: params.path, thread_id: params.thread_id },
    });
  }

  /**
   * Reads a file: the raw bytes plus a `text()` convenience.
   *
   * @example
   * const file = await herm.files.read('dep_7xK9s2', { path: 'storyboard.md' });
   * const markdown = await file.text();
   * // or: const bytes = await file.bytes();
   */
  async read(deploymentId: string, params: FileReadParams, options?: RequestOptions): Promise<WorkspaceFile> {
    const response = await this._client.requestBinary({
      ...options,
      method: 'GET',
      path: `/deployments/${segment(deploymentId)}/files/content`,
      query: { path: params.path, thread_id: params.thread_id },
    });
    return new WorkspaceFile(params.path, response.bytes, response.headers);
  }

  /**
   * Creates or overwrites a file; parent directories are created automatically. Files over the server's
   * size limit (25 MiB by default) are refused with a 413.
   *
   * @example
   * await herm.files.write('dep_7xK9s2', { path: 'briefs/q3-brief.md', content: '# Q3 brief\n' });
   * await herm.files.write('dep_7xK9s2', { path: 'assets/logo.png', content: await fs.readFile('logo.png') });
   */
  write(deploymentId: string, params: FileWriteParams, options?: RequestOptions): Promise<FileWriteResponse> {
    const { content } = params;
    const contentType =
      typeof content === 'string'
        ? 'text/plain; charset=utf-8'
        : content instanceof Blob && content.type !== ''
          ? content.type
          : 'application/octet-stream';
    return this._client.put<FileWriteResponse>(`/deployments/${segment(deploymentId)}/files`, {
      ...options,
      query: { path: params.path, thread_id: params.thread_id },
      rawBody: content,
      headers: { 'Content-Type': contentType, ...options?.headers },
    });
  }

  /**
   * Deletes a file, or a directory with everything in it.
   *
   * @example
   * await herm.files.delete('dep_7xK9s2', { path: 'drafts/old-take.mp4' });
   */
  delete(deploymentId: string, params: FileDeleteParams, options?: RequestOptions): Promise<FileDeleteResponse> {
    return this._client.delete<FileDeleteResponse>(`/deployments/${segment(deploymentId)}/files`, {
      ...options,
      query: { path: params.path, thread_id: params.thread_id },
    });
  }
}
