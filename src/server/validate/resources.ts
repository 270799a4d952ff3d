/**
 * LinuxContainerResources at CreateContainer, UpdateContainerResources and the pod's
 * overhead/resources: every value in a range the kernel and runc accept, so runc never
 * sees one it would reject half-way through an update (issue 12 class 2).
 */
import type { LinuxContainerResources__Output } from '../../generated/cri/runtime/v1/LinuxContainerResources.ts';
import { at, invalid } from './field.ts';
import { checkLine } from './text.ts';

/** Linux sched/fair: shares below 2 are raised, above 262144 capped (MIN/MAX_SHARES; runc refuses them on v2). */
const SHARES = { min: 2n, max: 262144n };
/** CFS bandwidth: period 1 ms .. 1 s, quota at least 1 ms (kernel/sched/core.c min_cfs_quota_period, max_cfs_quota_period). */
const PERIOD = { min: 1000n, max: 1_000_000n };
const QUOTA_MIN = 1000n;
/** Docker's documented floor for a memory limit: below it a container cannot even start its init. */
const MIN_MEMORY_LIMIT = 6n * 1024n * 1024n;
const PAGE_SIZE = /^[1-9][0-9]*(KB|MB|GB|TB|PB)$/;
/** A cgroup v2 interface file name: `memory.high`, `hugetlb.2MB.max`; no `/`, so it stays in its cgroup. */
const UNIFIED_KEY = /^[a-zA-Z0-9_]+(\.[a-zA-Z0-9_]+)+$/;
/** cpuset list format (cpuset(7)): `0-3,5,7-8`. */
const CPU_LIST = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;

/** An int64 field as proto-loader gives it (a decimal string, `longs: String`). */
export function int64(path: string, value: string | number): bigint {
  const text = String(value);
  if (!/^-?\d{1,19}$/.test(text)) throw invalid(path, text, 'is not an integer');
  return BigInt(text);
}

export function checkCpuList(path: string, value: string): void {
  if (value === '') return;
  if (value.length > 4096 || !CPU_LIST.test(value)) throw invalid(path, value, 'is not a cpuset list like "0-3,5"');
  for (const range of value.split(',')) {
    const [lo, hi] = range.split('-').map(Number);
    if (hi !== undefined && hi < lo!) throw invalid(path, value, `has a descending range "${range}"`);
  }
}

/**
 * `overhead` is an amount the runtime adds to the pod's limits (RuntimeClass overhead), not a
 * limit of its own: only its range is checked, not the minimums a cgroup limit must meet.
 */
export function checkResources(path: string, r: LinuxContainerResources__Output | null, kind: 'limits' | 'overhead' = 'limits'): void {
  if (!r) return;
  if (kind === 'overhead') {
    checkOverhead(path, r);
    return;
  }
  const shares = int64(at(path, 'cpu_shares'), r.cpu_shares);
  if (shares !== 0n && (shares < SHARES.min || shares > SHARES.max)) throw invalid(at(path, 'cpu_shares'), r.cpu_shares, `must be 0 (unset) or in ${SHARES.min}..${SHARES.max}`);
  const period = int64(at(path, 'cpu_period'), r.cpu_period);
  if (period !== 0n && (period < PERIOD.min || period > PERIOD.max)) throw invalid(at(path, 'cpu_period'), r.cpu_period, `must be 0 (unset) or in ${PERIOD.min}..${PERIOD.max} µs`);
  const quota = int64(at(path, 'cpu_quota'), r.cpu_quota);
  if (quota !== 0n && quota !== -1n && quota < QUOTA_MIN) throw invalid(at(path, 'cpu_quota'), r.cpu_quota, `must be 0 (unset), -1 (unlimited) or at least ${QUOTA_MIN} µs`);
  const limit = int64(at(path, 'memory_limit_in_bytes'), r.memory_limit_in_bytes);
  if (limit < 0n || (limit !== 0n && limit < MIN_MEMORY_LIMIT)) throw invalid(at(path, 'memory_limit_in_bytes'), r.memory_limit_in_bytes, `must be 0 (unset) or at least ${MIN_MEMORY_LIMIT} bytes (6 MiB)`);
  const swap = int64(at(path, 'memory_swap_limit_in_bytes'), r.memory_swap_limit_in_bytes);
  // runc: "memory+swap limit should be >= memory limit"; -1 is unlimited.
  if (swap < -1n || (swap > 0n && limit > 0n && swap < limit)) throw invalid(at(path, 'memory_swap_limit_in_bytes'), r.memory_swap_limit_in_bytes, 'must be 0 (unset), -1 (unlimited) or at least memory_limit_in_bytes');
  const oom = int64(at(path, 'oom_score_adj'), r.oom_score_adj);
  if (oom < -1000n || oom > 1000n) throw invalid(at(path, 'oom_score_adj'), r.oom_score_adj, 'must be in -1000..1000');
  checkCpuList(at(path, 'cpuset_cpus'), r.cpuset_cpus);
  checkCpuList(at(path, 'cpuset_mems'), r.cpuset_mems);
  for (const [i, h] of r.hugepage_limits.entries()) {
    const p = at(at(path, 'hugepage_limits'), i);
    if (!PAGE_SIZE.test(h.page_size)) throw invalid(at(p, 'page_size'), h.page_size, 'is not a page size like "2MB" or "1GB"');
    if (int64(at(p, 'limit'), h.limit) < 0n) throw invalid(at(p, 'limit'), h.limit, 'must not be negative');
  }
  for (const [key, value] of Object.entries(r.unified ?? {})) {
    if (key.length > 255 || !UNIFIED_KEY.test(key)) throw invalid(`${at(path, 'unified')} key`, key, 'is not a cgroup v2 interface file name like "memory.high"');
    checkLine(`${at(path, 'unified')}[${JSON.stringify(key)}]`, value, 4096);
  }
}

function checkOverhead(path: string, r: LinuxContainerResources__Output): void {
  for (const field of ['cpu_shares', 'cpu_period', 'cpu_quota', 'memory_limit_in_bytes'] as const) {
    if (int64(at(path, field), r[field]) < 0n) throw invalid(at(path, field), r[field], 'must not be negative');
  }
  checkCpuList(at(path, 'cpuset_cpus'), r.cpuset_cpus);
  checkCpuList(at(path, 'cpuset_mems'), r.cpuset_mems);
}
