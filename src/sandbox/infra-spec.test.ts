import { test } from 'node:test';
import assert from 'node:assert/strict';
import { INFRA_ARGS, buildInfraSpec, infraCgroupsPath } from './infra-spec.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const base = { podId: 'p1', hostBinary: '/usr/bin/catatonit', cgroupParent: '/kubepods/pod1', cgroupDriver: 'cgroupfs' as const };

test('buildInfraSpec() runs catatonit -P, bind-mounted read-only into a read-only rootfs, without capabilities', () => {
  const spec = buildInfraSpec({ ...base, namespaces: { net: '/run/ns/net', ipc: '/run/ns/ipc', uts: '/run/ns/uts' } }) as Any;
  assert.deepEqual(spec.process.args, [...INFRA_ARGS]);
  assert.equal(spec.process.args[0], '/catatonit');
  assert.equal(spec.process.noNewPrivileges, true);
  for (const set of Object.values(spec.process.capabilities)) assert.deepEqual(set, []);
  assert.deepEqual(spec.root, { path: 'rootfs', readonly: true });
  const bin = spec.mounts.find((m: Any) => m.destination === '/catatonit');
  assert.equal(bin.source, '/usr/bin/catatonit');
  assert.ok(bin.options.includes('ro') && bin.options.includes('bind'));
  assert.deepEqual(spec.mounts.map((m: Any) => m.destination), ['/proc', '/dev', '/catatonit']);
});

test('buildInfraSpec() creates pid and mount namespaces and joins the pod\'s pinned ones', () => {
  const spec = buildInfraSpec({ ...base, namespaces: { net: '/run/ns/net', ipc: '/run/ns/ipc', uts: '/run/ns/uts' } }) as Any;
  assert.deepEqual(spec.linux.namespaces, [
    { type: 'pid' }, { type: 'mount' },
    { type: 'network', path: '/run/ns/net' }, { type: 'ipc', path: '/run/ns/ipc' }, { type: 'uts', path: '/run/ns/uts' },
  ]);
});

test('buildInfraSpec() stays in the host\'s namespaces the pod shares (NODE modes)', () => {
  const spec = buildInfraSpec({ ...base, namespaces: { ipc: '/run/ns/ipc' } }) as Any;
  assert.deepEqual(spec.linux.namespaces.map((n: Any) => n.type), ['pid', 'mount', 'ipc']);
});

test('infraCgroupsPath() puts the infra process under the pod cgroup parent in the driver\'s syntax', () => {
  assert.equal(infraCgroupsPath('/kubepods/pod1', 'abc', 'cgroupfs'), '/kubepods/pod1/crt-abc');
  assert.equal(infraCgroupsPath('', 'abc', 'cgroupfs'), '/crt-abc');
  assert.equal(infraCgroupsPath('kubepods-pod1.slice', 'abc', 'systemd'), 'kubepods-pod1.slice:crt:abc');
  assert.equal(infraCgroupsPath('', 'abc', 'systemd'), 'system.slice:crt:abc');
});

test('buildInfraSpec() with a pause image runs the image\'s process as its user, without the catatonit bind mount', () => {
  const image = { args: ['/pause'], env: ['PATH=/bin'], cwd: '/', uid: 65535, gid: 65535 };
  const spec = buildInfraSpec({ podId: 'p1', image, cgroupParent: '/kubepods/pod1', cgroupDriver: 'cgroupfs', namespaces: { net: '/run/ns/net' } }) as Any;
  assert.deepEqual(spec.process.args, ['/pause']);
  assert.deepEqual(spec.process.user, { uid: 65535, gid: 65535 });
  assert.deepEqual(spec.process.env, ['PATH=/bin']);
  assert.equal(spec.process.noNewPrivileges, true);
  for (const set of Object.values(spec.process.capabilities)) assert.deepEqual(set, []);
  assert.deepEqual(spec.root, { path: 'rootfs', readonly: true });
  assert.deepEqual(spec.mounts.map((m: Any) => m.destination), ['/proc', '/dev']);
  assert.equal(spec.linux.cgroupsPath, '/kubepods/pod1/crt-p1');
});

test('buildInfraSpec() joins a pod user namespace by path with the pod\'s mappings (runc 1.1 wants them to join)', () => {
  const maps = [{ containerId: 0, hostId: 100000, length: 65536 }];
  const spec = buildInfraSpec({ ...base, namespaces: { net: '/run/ns/net', user: '/run/ns/user' }, userns: { uids: maps, gids: maps } }) as Any;
  assert.ok(spec.linux.namespaces.some((n: Any) => n.type === 'user' && n.path === '/run/ns/user'));
  assert.deepEqual(spec.linux.uidMappings, [{ containerID: 0, hostID: 100000, size: 65536 }]);
  assert.deepEqual(spec.linux.gidMappings, [{ containerID: 0, hostID: 100000, size: 65536 }]);
  const plain = buildInfraSpec({ ...base, namespaces: { net: '/run/ns/net' } }) as Any;
  assert.equal(plain.linux.uidMappings, undefined);
  assert.ok(!plain.linux.namespaces.some((n: Any) => n.type === 'user'));
});
