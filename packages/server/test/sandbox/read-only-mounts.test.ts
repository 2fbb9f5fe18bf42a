// SandboxSpec.readOnlyMounts (the deployment's skills at /skills) in the pure builders of both backends: a
// read-only bind, after the workspace's and before the root is made read-only; never over or inside /workspace.
import { describe, expect, it } from 'vitest';
import { buildBubblewrapArguments } from '../../src/sandbox/bubblewrap/bubblewrap-arguments.ts';
import { buildContainerConfig, CONTAINER_USER } from '../../src/sandbox/docker/docker-container-config.ts';
import { checkReadOnlyMount } from '../../src/sandbox/sandbox.ts';

const skills = { hostPath: '/srv/herm/skills/dep_1', sandboxPath: '/skills' };

describe('read-only mounts', () => {
  it('are --ro-bind options of bubblewrap, after the workspace and before / is remounted read-only', () => {
    const { options } = buildBubblewrapArguments({
      workspaceDir: '/srv/herm/workspaces/dep_1',
      network: false,
      environment: {},
      readOnlyMounts: [skills],
      command: 'true',
      commandArguments: [],
      workingDirectory: '.',
      hostLayout: { system: [], etc: [], networkEtc: [] },
      features: { disableUserNamespaces: true },
    });
    const workspace = options.indexOf('/srv/herm/workspaces/dep_1');
    const mount = options.indexOf(skills.hostPath);
    expect(options.slice(mount - 1, mount + 2)).toEqual(['--ro-bind', skills.hostPath, '/skills']);
    expect(workspace).toBeLessThan(mount);
    expect(mount).toBeLessThan(options.indexOf('--remount-ro'));
    expect(options).not.toContain('--bind-try');
  });

  it('are read-only binds of a docker container (part of its config, so of its identity)', () => {
    const config = buildContainerConfig({
      image: 'herm-sandbox:latest',
      workspaceDir: '/data/workspaces/dep_1',
      readOnlyMounts: [skills],
      network: false,
      deploymentId: 'dep_1',
      user: CONTAINER_USER,
      selfStopSeconds: 600,
    });
    expect((config['HostConfig'] as { Mounts: unknown[] }).Mounts).toEqual([
      { Type: 'bind', Source: '/data/workspaces/dep_1', Target: '/workspace', ReadOnly: false },
      { Type: 'bind', Source: skills.hostPath, Target: '/skills', ReadOnly: true },
    ]);
  });

  it('never cover the root, the workspace or a place inside it, and take absolute paths only', () => {
    for (const sandboxPath of ['/', '/workspace', '/workspace/skills', 'skills', '/skills/../workspace']) {
      expect(() => checkReadOnlyMount({ hostPath: '/srv/x', sandboxPath }), sandboxPath).toThrow(TypeError);
    }
    expect(() => checkReadOnlyMount({ hostPath: 'relative/x', sandboxPath: '/skills' })).toThrow(TypeError);
    expect(() => checkReadOnlyMount(skills)).not.toThrow();
  });
});
