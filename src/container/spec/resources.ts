/**
 * linux.resources and cgroupsPath (cri-api.md §4 items 33–34; containerd WithResources,
 * getCgroupsPath). All-zero fields mean "not specified" and are left out.
 */
import { posix } from 'node:path';
import type { LinuxContainerResources__Output } from '../../generated/cri/runtime/v1/LinuxContainerResources.ts';
import { InvalidArgumentError } from '../../lib/errors.ts';
import type { OciResources } from './oci-spec.ts';

/** Prefix of our cgroup names (cgroupfs `crt-<id>`, systemd scope `crt-<id>.scope`). */
const CGROUP_PREFIX = 'crt';

export interface ResourceHost {
  cgroupVersion: 1 | 2;
  swapControllerAvailable: boolean;
  /**
   * cgroup controllers the OCI runtime can use on this host; absent means all of them.
   * Limits for a missing controller are dropped (issue: a kubelet sends hugepage limits for
   * every page size the kernel has, and runc fails the whole start on a host without the
   * hugetlb controller; containerd's `tolerate_missing_hugetlb_controller` and CRI-O do the same).
   */
  cgroupControllers?: readonly string[];
}

/** The controllers whose limits buildResources() writes, for the start-up warning. */
export const LIMITED_CONTROLLERS: readonly string[] = ['cpu', 'cpuset', 'memory', 'hugetlb'];

function hasController(host: ResourceHost, name: string): boolean {
  return host.cgroupControllers === undefined || host.cgroupControllers.includes(name);
}

function int(value: string, field: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`${field} ${JSON.stringify(value)} is not an integer`);
  return n;
}

/** Hugepage sizes as the kubelet sends them (base 1024, `2MB`, `1GB`), which runc also uses. */
const PAGE_SIZE = /^[1-9][0-9]*(KB|MB|GB|TB|PB)$/;

/**
 * Resource limits without the device rules (see devices.ts). `unified` is cgroup v2's
 * key=value map: on v1 it is refused rather than dropped, because runc would reject it
 * anyway and silently losing a limit the kubelet asked for is worse (the kubelet only sends
 * it on v2 hosts).
 */
export function buildResources(r: LinuxContainerResources__Output | null, host: ResourceHost): Omit<OciResources, 'devices'> {
  if (r === null) return {};
  const out: Omit<OciResources, 'devices'> = {};
  const cpu: NonNullable<OciResources['cpu']> = {};
  const shares = int(r.cpu_shares, 'cpu_shares');
  const quota = int(r.cpu_quota, 'cpu_quota');
  const period = int(r.cpu_period, 'cpu_period');
  if (hasController(host, 'cpu')) {
    if (shares !== 0) cpu.shares = shares;
    if (quota !== 0) cpu.quota = quota;
    if (period !== 0) cpu.period = period;
  }
  if (hasController(host, 'cpuset')) {
    if (r.cpuset_cpus !== '') cpu.cpus = r.cpuset_cpus;
    if (r.cpuset_mems !== '') cpu.mems = r.cpuset_mems;
  }
  if (Object.keys(cpu).length > 0) out.cpu = cpu;

  const memory: NonNullable<OciResources['memory']> = {};
  const limit = int(r.memory_limit_in_bytes, 'memory_limit_in_bytes');
  const swap = int(r.memory_swap_limit_in_bytes, 'memory_swap_limit_in_bytes');
  if (limit !== 0 && hasController(host, 'memory')) memory.limit = limit;
  if (host.swapControllerAvailable && hasController(host, 'memory')) {
    // swap == limit keeps the container from swapping by default (containerd).
    if (swap !== 0) memory.swap = swap;
    else if (limit !== 0) memory.swap = limit;
  }
  if (Object.keys(memory).length > 0) out.memory = memory;

  const hugepageLimits = r.hugepage_limits.map((h) => {
    if (!PAGE_SIZE.test(h.page_size)) throw new InvalidArgumentError(`hugepage page_size ${JSON.stringify(h.page_size)} is not like "2MB" or "1GB"`);
    return { pageSize: h.page_size, limit: int(h.limit, `hugepage limit for ${h.page_size}`) };
  });
  if (hugepageLimits.length > 0 && hasController(host, 'hugetlb')) out.hugepageLimits = hugepageLimits;

  const unifiedKeys = Object.keys(r.unified ?? {});
  if (unifiedKeys.length > 0) {
    if (host.cgroupVersion !== 2) {
      throw new InvalidArgumentError(`unified cgroup settings (${unifiedKeys.sort().join(', ')}) need cgroup v2; this host uses cgroup v1`);
    }
    // A key names its controller before the dot (`memory.high`); `cgroup.*` is the core.
    const kept = unifiedKeys.filter((k) => { const c = k.split('.')[0] ?? ''; return c === 'cgroup' || hasController(host, c); });
    if (kept.length > 0) out.unified = Object.fromEntries(kept.map((k) => [k, r.unified[k] ?? '']));
  }
  return out;
}

/**
 * cgroupsPath per driver. cgroupfs: `<parent>/crt-<id>`. systemd: runc's `slice:prefix:name`
 * form, where the slice is the last element of the (already converted) parent and runc
 * makes `crt-<id>.scope` (containerd getCgroupsPath; CRI-O uses the same shape).
 */
export function cgroupsPath(parent: string, containerId: string, driver: 'cgroupfs' | 'systemd'): string {
  if (driver === 'systemd') {
    const slice = parent === '' ? 'system.slice' : posix.basename(parent);
    if (!slice.endsWith('.slice')) {
      throw new InvalidArgumentError(`cgroup parent ${JSON.stringify(parent)} is not a systemd slice (the systemd cgroup driver needs "*.slice")`);
    }
    return `${slice}:${CGROUP_PREFIX}:${containerId}`;
  }
  if (parent.endsWith('.slice')) {
    throw new InvalidArgumentError(`cgroup parent ${JSON.stringify(parent)} is a systemd slice, but the cgroup driver is cgroupfs`);
  }
  return posix.join('/', parent, `${CGROUP_PREFIX}-${containerId}`);
}
