import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FailedPreconditionError, InvalidArgumentError } from '../../lib/errors.ts';
import { buildNamespaces } from './namespaces.ts';
import { namespaceOptions, specInputs } from './testing.ts';

const POD = 0;
const CONTAINER = 1;
const NODE = 2;
const TARGET = 3;

describe('buildNamespaces()', () => {
  const pod = { ...specInputs().pod, infraPid: 42, targetPid: 77 };
  const net = { type: 'network', path: pod.netnsPath };
  const ipc = { type: 'ipc', path: pod.ipcnsPath };
  const uts = { type: 'uts', path: pod.utsnsPath };
  const cases = [
    { name: 'normal pod (pid CONTAINER)', opts: namespaceOptions({ pid: CONTAINER }), v: 1 as const, want: [net, ipc, uts, { type: 'pid' }, { type: 'mount' }] },
    { name: 'shared pid (POD) joins the infra process', opts: namespaceOptions({ pid: POD }), v: 1 as const, want: [net, ipc, uts, { type: 'pid', path: '/proc/42/ns/pid' }, { type: 'mount' }] },
    { name: 'host pid (NODE) has no pid entry', opts: namespaceOptions({ pid: NODE }), v: 1 as const, want: [net, ipc, uts, { type: 'mount' }] },
    { name: 'TARGET joins the target container', opts: namespaceOptions({ pid: TARGET, target_id: 'abc' }), v: 1 as const, want: [net, ipc, uts, { type: 'pid', path: '/proc/77/ns/pid' }, { type: 'mount' }] },
    { name: 'cgroup v2 adds a cgroup namespace', opts: namespaceOptions(), v: 2 as const, want: [net, ipc, uts, { type: 'pid' }, { type: 'mount' }, { type: 'cgroup' }] },
    // Network and IPC follow the pod, not the container's own options (containerd does the same).
    { name: 'container asking for host network and IPC still joins its pod\'s', opts: namespaceOptions({ network: NODE, ipc: NODE }), v: 1 as const, want: [net, ipc, uts, { type: 'pid' }, { type: 'mount' }] },
  ];
  for (const c of cases) {
    it(`buildNamespaces() ${c.name}`, () => {
      assert.deepEqual(buildNamespaces({ options: c.opts, pod, cgroupVersion: c.v, privileged: false }), c.want);
    });
  }

  it('buildNamespaces() gives privileged containers no cgroup namespace', () => {
    const got = buildNamespaces({ options: namespaceOptions(), pod, cgroupVersion: 2, privileged: true });
    assert.ok(!got.some((n) => n.type === 'cgroup'));
  });

  it('buildNamespaces() uses the host UTS only with the host network', () => {
    const { utsnsPath: _, netnsPath: __, ...hostNetPod } = pod;
    const got = buildNamespaces({ options: namespaceOptions({ network: NODE }), pod: hostNetPod, cgroupVersion: 1, privileged: false });
    assert.ok(!got.some((n) => n.type === 'uts' || n.type === 'network'));
  });

  it('buildNamespaces() puts a container without namespace options in a host-network pod on the host network', () => {
    const { utsnsPath: _, netnsPath: __, ipcnsPath: ___, ...hostPod } = pod;
    const got = buildNamespaces({ options: null, pod: hostPod, cgroupVersion: 1, privileged: false });
    assert.ok(!got.some((n) => n.type === 'uts' || n.type === 'network' || n.type === 'ipc'), JSON.stringify(got));
  });

  it('buildNamespaces() treats a missing NamespaceOption as all POD', () => {
    const got = buildNamespaces({ options: null, pod, cgroupVersion: 1, privileged: false });
    assert.deepEqual(got.find((n) => n.type === 'pid'), { type: 'pid', path: '/proc/42/ns/pid' });
  });

  const maps = [{ containerId: 0, hostId: 100000, length: 65536 }];
  const criMaps = [{ container_id: 0, host_id: 100000, length: 65536 }];
  const usernsPod = { ...pod, userns: { path: '/run/userns/p', uids: maps, gids: maps } };

  it('buildNamespaces() joins the pod user namespace first, with or without the container naming it', () => {
    for (const opts of [namespaceOptions(), namespaceOptions({ userns_options: { mode: POD, uids: criMaps, gids: criMaps } })]) {
      const got = buildNamespaces({ options: opts, pod: usernsPod, cgroupVersion: 1, privileged: false });
      assert.deepEqual(got[0], { type: 'user', path: '/run/userns/p' });
    }
  });

  const errors = [
    { name: 'POD pid without an infra process', opts: namespaceOptions({ pid: POD }), pod: { ...pod, infraPid: undefined }, cls: FailedPreconditionError },
    { name: 'TARGET without a target pid', opts: namespaceOptions({ pid: TARGET, target_id: 'gone' }), pod: { ...pod, targetPid: undefined }, cls: FailedPreconditionError },
    { name: 'CONTAINER network mode', opts: namespaceOptions({ network: CONTAINER }), pod, cls: InvalidArgumentError },
    { name: 'userns mode POD in a pod without a user namespace', opts: namespaceOptions({ userns_options: { mode: POD, uids: [], gids: [] } }), pod, cls: InvalidArgumentError },
    { name: 'userns mode NODE in a pod with a user namespace', opts: namespaceOptions({ userns_options: { mode: NODE, uids: [], gids: [] } }), pod: usernsPod, cls: InvalidArgumentError },
    { name: 'mappings other than the pod\'s', opts: namespaceOptions({ userns_options: { mode: POD, uids: [{ container_id: 0, host_id: 5, length: 1 }], gids: criMaps } }), pod: usernsPod, cls: InvalidArgumentError },
    { name: 'host pid in a pod with a user namespace', opts: namespaceOptions({ pid: NODE }), pod: usernsPod, cls: InvalidArgumentError },
  ];
  for (const c of errors) {
    it(`buildNamespaces() refuses ${c.name}`, () => {
      assert.throws(() => buildNamespaces({ options: c.opts, pod: c.pod, cgroupVersion: 1, privileged: false }), c.cls);
    });
  }

  it('buildNamespaces() accepts userns_options mode NODE as the host user namespace', () => {
    const got = buildNamespaces({ options: namespaceOptions({ userns_options: { mode: NODE, uids: [], gids: [] } }), pod, cgroupVersion: 1, privileged: false });
    assert.ok(!got.some((n) => n.type === 'user'));
  });
});
