import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../lib/errors.ts';
import { buildResources, cgroupsPath } from './resources.ts';
import { resources } from './testing.ts';

const v1 = { cgroupVersion: 1 as const, swapControllerAvailable: false };
const v2swap = { cgroupVersion: 2 as const, swapControllerAvailable: true };

describe('buildResources()', () => {
  it('buildResources() leaves everything out when all fields are zero', () => {
    assert.deepEqual(buildResources(resources(), v1), {});
    assert.deepEqual(buildResources(null, v1), {});
  });

  it('buildResources() maps cpu and cpuset fields', () => {
    const got = buildResources(resources({ cpu_shares: '512', cpu_quota: '50000', cpu_period: '100000', cpuset_cpus: '0-1', cpuset_mems: '0' }), v1);
    assert.deepEqual(got.cpu, { shares: 512, quota: 50000, period: 100000, cpus: '0-1', mems: '0' });
  });

  const memory = [
    { name: 'limit only, no swap controller', r: { memory_limit_in_bytes: '1048576' }, host: v1, want: { limit: 1048576 } },
    { name: 'limit only sets swap = limit', r: { memory_limit_in_bytes: '1048576' }, host: v2swap, want: { limit: 1048576, swap: 1048576 } },
    { name: 'explicit swap', r: { memory_limit_in_bytes: '1048576', memory_swap_limit_in_bytes: '4194304' }, host: v2swap, want: { limit: 1048576, swap: 4194304 } },
    { name: 'swap ignored without the controller', r: { memory_swap_limit_in_bytes: '4194304' }, host: v1, want: undefined },
  ];
  for (const c of memory) {
    it(`buildResources() memory: ${c.name}`, () => {
      assert.deepEqual(buildResources(resources(c.r), c.host).memory, c.want);
    });
  }

  it('buildResources() passes hugepage limits with their page size strings', () => {
    const got = buildResources(resources({ hugepage_limits: [{ page_size: '2MB', limit: '4194304' }, { page_size: '1GB', limit: '0' }] }), v1);
    assert.deepEqual(got.hugepageLimits, [{ pageSize: '2MB', limit: 4194304 }, { pageSize: '1GB', limit: 0 }]);
    assert.throws(() => buildResources(resources({ hugepage_limits: [{ page_size: '2M', limit: '1' }] }), v1), InvalidArgumentError);
  });

  it('buildResources() copies unified on cgroup v2 and refuses it on v1', () => {
    const r = resources({ unified: { 'memory.high': '1000000', 'memory.oom.group': '1' } });
    assert.deepEqual(buildResources(r, v2swap).unified, { 'memory.high': '1000000', 'memory.oom.group': '1' });
    assert.throws(() => buildResources(r, v1), (err: unknown) => err instanceof InvalidArgumentError && /memory\.high, memory\.oom\.group.*cgroup v2/.test(err.message));
  });

  it('buildResources() refuses non-integer values', () => {
    assert.throws(() => buildResources(resources({ cpu_shares: 'x' }), v1), InvalidArgumentError);
  });
});

describe('cgroupsPath()', () => {
  const cases = [
    { name: 'cgroupfs', parent: '/kubepods/burstable/pod1', driver: 'cgroupfs' as const, want: '/kubepods/burstable/pod1/crt-abc' },
    { name: 'cgroupfs without a parent', parent: '', driver: 'cgroupfs' as const, want: '/crt-abc' },
    { name: 'systemd slice', parent: 'kubepods-burstable-pod1.slice', driver: 'systemd' as const, want: 'kubepods-burstable-pod1.slice:crt:abc' },
    { name: 'systemd slice given as a path', parent: '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice', driver: 'systemd' as const, want: 'kubepods-burstable-pod1.slice:crt:abc' },
    { name: 'systemd without a parent', parent: '', driver: 'systemd' as const, want: 'system.slice:crt:abc' },
  ];
  for (const c of cases) {
    it(`cgroupsPath() ${c.name}`, () => {
      assert.equal(cgroupsPath(c.parent, 'abc', c.driver), c.want);
    });
  }
  it('cgroupsPath() refuses a parent in the other driver\'s syntax', () => {
    assert.throws(() => cgroupsPath('/kubepods/pod1', 'abc', 'systemd'), /not a systemd slice/);
    assert.throws(() => cgroupsPath('kubepods-pod1.slice', 'abc', 'cgroupfs'), /driver is cgroupfs/);
  });
});

describe('buildResources() on a host without some controllers', () => {
  const noHugetlb = { cgroupVersion: 1 as const, swapControllerAvailable: true, cgroupControllers: ['cpu', 'cpuset', 'memory'] };
  it('buildResources() drops hugepage limits without the hugetlb controller, as containerd does', () => {
    const got = buildResources(resources({ memory_limit_in_bytes: '1048576', hugepage_limits: [{ page_size: '2MB', limit: '0' }] }), noHugetlb);
    assert.equal(got.hugepageLimits, undefined);
    assert.equal(got.memory?.limit, 1048576);
    assert.throws(() => buildResources(resources({ hugepage_limits: [{ page_size: '2M', limit: '1' }] }), noHugetlb), InvalidArgumentError, 'a malformed value is still refused');
  });
  it('buildResources() drops cpu, cpuset, memory and unified keys of missing controllers', () => {
    const host = { cgroupVersion: 2 as const, swapControllerAvailable: true, cgroupControllers: ['pids'] };
    const got = buildResources(resources({ cpu_shares: '512', cpuset_cpus: '0', memory_limit_in_bytes: '1048576', unified: { 'memory.high': '1', 'pids.max': '10', 'cgroup.freeze': '0' } }), host);
    assert.deepEqual(got, { unified: { 'pids.max': '10', 'cgroup.freeze': '0' } });
  });
});
