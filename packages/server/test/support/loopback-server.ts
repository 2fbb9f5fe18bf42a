// A plain HTTP server on 127.0.0.1 with an ephemeral port, for tests that need something to reach.
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export async function startLoopbackServer(handler: RequestListener): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/** A loopback port nothing listens on (one that just closed): connections to it are refused. */
export async function closedLoopbackPort(): Promise<number> {
  const { server, port } = await startLoopbackServer(() => {});
  await new Promise((resolve) => server.close(resolve));
  return port;
}
