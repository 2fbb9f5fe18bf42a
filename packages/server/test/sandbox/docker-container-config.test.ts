// The pure parts of the docker backend: the isolation policy of its containers and execs, the framing of
// exec output, and DOCKER_HOST. No daemon needed; docker.test.ts proves the same against a real one.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDockerHost } from '../../src/sandbox/docker/docker-api.ts';
import {
  buildContainerConfig,
  buildExecConfig,
  buildExecWrapper,
  CONTAINER_USER,
  IMAGE_REFERENCE,
} from '../../src/sandbox/docker/docker-container-config.ts';
import { createMultiplexedStreamParser, type DockerStreamType } from '../../src/sandbox/docker/docker-multiplexed-stream.ts';

describe('container config', () => {
  const config = buildContainerConfig({ image: 'herm-sandbox:latest', workspaceDir: '/data/workspaces/dep_1', network: false, deploymentId: 'dep_1', user: CONTAINER_USER, selfStopSeconds: 600 });
  const host = config['HostConfig'] as Record<string, unknown>;

  it('runs as the unprivileged sandbox user with no capabilities, no privilege gain and a read-only root', () => {
    expect(config['User']).toBe('1000:1000');
    expect(host).toMatchObject({ CapDrop: ['ALL'], SecurityOpt: ['no-new-privileges'], ReadonlyRootfs: true, Privileged: false, Init: true });
    // Removed once stopped, and it stops itself after 600 s without commands (checked every 30 s).
    expect(host['AutoRemove']).toBe(true);
    expect((config['Entrypoint'] as string[]).slice(-2)).toEqual(['600', '30']);
  });

  it('mounts only the workspace, read-write at /workspace, and a private /tmp', () => {
    expect(host['Mounts']).toEqual([{ Type: 'bind', Source: '/data/workspaces/dep_1', Target: '/workspace', ReadOnly: false }]);
    expect(host['Binds']).toBeUndefined();
    expect(Object.keys(host['Tmpfs'] as object)).toEqual(['/tmp']);
    expect(config['WorkingDir']).toBe('/workspace');
  });

  it('has no network unless the spec asks for it', () => {
    expect(host['NetworkMode']).toBe('none');
    expect(config['NetworkDisabled']).toBe(true);
    const online = buildContainerConfig({ image: 'i', workspaceDir: '/w', network: true, deploymentId: 'dep_1', user: CONTAINER_USER, selfStopSeconds: 600 });
    expect((online['HostConfig'] as Record<string, unknown>)['NetworkMode']).toBe('bridge');
  });

  it('starts with only the base environment: no server variable can reach the container', () => {
    expect(config['Env']).toEqual([
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'HOME=/workspace',
      'LANG=C.UTF-8',
      'TERM=dumb',
    ]);
  });
});

describe('exec config', () => {
  const base = { wrapper: buildExecWrapper([]), command: 'echo "$1"', commandArguments: ['a b'], environment: { TOKEN: 't' }, user: CONTAINER_USER, attachStdin: false };

  it('passes the working directory, command and arguments as separate argv entries, never through a shell', () => {
    const exec = buildExecConfig({ ...base, workingDirectory: 'sub/dir' });
    expect((exec['Cmd'] as string[]).slice(3)).toEqual(['herm-exec', '/workspace/sub/dir', 'echo "$1"', 'a b']);
    expect(buildExecConfig({ ...base, workingDirectory: '/workspace/x' })['Cmd']).toContain('/workspace/x');
    expect(exec).toMatchObject({ User: '1000:1000', Tty: false, AttachStdin: false });
  });

  it('sets the base variables after the connector ones, so they always win', () => {
    const exec = buildExecConfig({ ...base, workingDirectory: '.' });
    expect(exec['Env']).toEqual(['TOKEN=t', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/workspace', 'LANG=C.UTF-8', 'TERM=dumb']);
  });

  it('refuses NUL characters, which execve cannot carry', () => {
    expect(() => buildExecConfig({ ...base, workingDirectory: '.', commandArguments: ['a\0b'] })).toThrow(/NUL/);
  });

  it('unsets only the variables it is told to', () => {
    expect(buildExecWrapper(['HOSTNAME', 'container'])).toContain('unset HOSTNAME container');
    expect(buildExecWrapper([])).not.toContain('unset ');
  });
});

describe('image references', () => {
  it('accepts what docker prints and refuses what could leave the API path', () => {
    for (const image of ['herm-sandbox:latest', 'python:3.12-slim', 'registry.local:5000/team/agent@sha256:' + 'a'.repeat(64), 'sha256:' + 'b'.repeat(64)]) {
      expect(IMAGE_REFERENCE.test(image), image).toBe(true);
    }
    for (const image of ['', '../x', 'a/../../containers/x', 'a//b', 'a b', 'a?b', '-flag', 'x'.repeat(300)]) {
      expect(IMAGE_REFERENCE.test(image), image).toBe(false);
    }
  });
});

describe('DOCKER_HOST', () => {
  it('takes unix sockets and tcp hosts, and defaults to the standard socket', () => {
    expect(parseDockerHost(undefined)).toEqual({ kind: 'unix', socketPath: '/var/run/docker.sock' });
    expect(parseDockerHost('unix:///run/herm-podman.sock')).toEqual({ kind: 'unix', socketPath: '/run/herm-podman.sock' });
    expect(parseDockerHost('tcp://10.0.0.5:2375')).toEqual({ kind: 'tcp', host: '10.0.0.5', port: 2375 });
    expect(parseDockerHost('tcp://docker')).toEqual({ kind: 'tcp', host: 'docker', port: 2375 });
    expect(parseDockerHost('tcp://[::1]:2376')).toEqual({ kind: 'tcp', host: '::1', port: 2376 });
  });

  it('names what it supports when given something else', () => {
    expect(() => parseDockerHost('ssh://user@host')).toThrow(/unix:\/\/\/path.*tcp:\/\/host:port/);
    expect(() => parseDockerHost('unix://relative.sock')).toThrow(/absolute/);
  });
});

describe('multiplexed exec stream', () => {
  const frame = (type: number, payload: Buffer): Buffer => {
    const header = Buffer.alloc(8);
    header[0] = type;
    header.writeUInt32BE(payload.length, 4);
    return Buffer.concat([header, payload]);
  };

  it('splits stdout from stderr however the bytes are cut', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(1, 2), fc.uint8Array({ maxLength: 300 })), { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 20 }),
        (frames, cuts) => {
          const wire = Buffer.concat(frames.map(([type, payload]) => frame(type, Buffer.from(payload))));
          const received: Record<DockerStreamType, Buffer[]> = { stdin: [], stdout: [], stderr: [] };
          const parser = createMultiplexedStreamParser((type, payload) => received[type].push(Buffer.from(payload)));
          let offset = 0;
          for (let index = 0; offset < wire.length; index++) {
            const size = cuts[index % cuts.length]!;
            parser.push(wire.subarray(offset, offset + size));
            offset += size;
          }
          const expected = (type: number) => Buffer.concat(frames.filter(([t]) => t === type).map(([, payload]) => Buffer.from(payload)));
          expect(Buffer.concat(received.stdout)).toEqual(expected(1));
          expect(Buffer.concat(received.stderr)).toEqual(expected(2));
          expect(parser.pendingBytes).toBe(0);
        },
      ),
    );
  });

  it('reports a cut frame as pending, and refuses an unknown stream type', () => {
    const parser = createMultiplexedStreamParser(() => {});
    parser.push(frame(1, Buffer.from('hello')).subarray(0, 10));
    expect(parser.pendingBytes).toBe(3);
    expect(() => createMultiplexedStreamParser(() => {}).push(frame(7, Buffer.from('x')))).toThrow(/stream type 7/);
  });
});
