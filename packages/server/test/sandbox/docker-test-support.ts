// Shared by the docker sandbox tests: whether a real Docker Engine API (Docker, or Podman's service)
// with the sandbox image answers here, and how to look at the host's processes and the daemon's containers.
export { hostProcessesMatching } from '../support/host-processes.ts';
import { createDockerApi } from '../../src/sandbox/docker/docker-api.ts';
import { createDockerBackend, DEFAULT_DOCKER_IMAGE } from '../../src/sandbox/docker/docker.ts';
import { DEPLOYMENT_LABEL } from '../../src/sandbox/docker/docker-container-config.ts';
import type { SandboxLimits } from '../../src/sandbox/sandbox.ts';

export const DOCKER_TEST_LIMITS: SandboxLimits = { timeoutMs: 20_000, maxOutputBytes: 1024 * 1024 };

/** The API the tests use: DOCKER_HOST, as the server would read it. */
export const dockerHost: string | undefined = process.env['DOCKER_HOST'] || undefined;
export const dockerImage: string = process.env['HERM_DOCKER_IMAGE'] || DEFAULT_DOCKER_IMAGE;

async function probe(): Promise<string | null> {
  const backend = createDockerBackend({ limits: DOCKER_TEST_LIMITS, image: dockerImage, ...(dockerHost ? { dockerHost } : {}) });
  try {
    const check = await backend.check();
    // The reason says what to do: set DOCKER_HOST, or build the image.
    return check.ok ? null : `docker sandbox tests skipped: ${check.reason} (.ci/run starts a Podman API service and builds the image)`;
  } finally {
    await backend.close();
  }
}

/** Null when the docker backend works here; otherwise why the docker tests are skipped. */
export const dockerUnavailable: string | null = await probe();

if (dockerUnavailable) console.warn(dockerUnavailable);

/** Names of the daemon's containers (running or not) labelled with this deployment id. */
export async function containersOf(deploymentId: string): Promise<Array<{ id: string; state: string }>> {
  const api = createDockerApi(dockerHost);
  try {
    const filters = encodeURIComponent(JSON.stringify({ label: [`${DEPLOYMENT_LABEL}=${deploymentId}`] }));
    const containers = await api.request<Array<{ Id: string; State: string }>>('GET', `/containers/json?all=true&filters=${filters}`);
    return containers.map((container) => ({ id: container.Id, state: container.State }));
  } finally {
    api.close();
  }
}

/** Removes a container behind the backend's back, as an operator or a daemon restart would. */
export async function removeContainer(id: string): Promise<void> {
  const api = createDockerApi(dockerHost);
  try {
    await api.request('DELETE', `/containers/${id}?force=true`);
  } finally {
    api.close();
  }
}

/** Stops a container at once (with AutoRemove the daemon then removes it, shortly after). */
export async function stopContainer(id: string): Promise<void> {
  const api = createDockerApi(dockerHost);
  try {
    await api.request('POST', `/containers/${id}/stop?t=0`);
  } finally {
    api.close();
  }
}

/** Polls `condition` every 50 ms until it holds or `timeoutMs` passes; returns whether it held. */
export async function eventually(condition: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
