/**
 * The rest of a cgroup reading that cAdvisor exports as `container_*` metrics (and the
 * kubelet serves as /metrics/cadvisor when it takes them from the runtime): user/system CPU,
 * page cache, mapped files, fail counts, peak usage, per-scope page faults, OOM kills,
 * the cgroup's own CPU and memory settings, and block I/O per device. Read from the same
 * dirs as `cgroup.ts`, the v1 and v2 files cAdvisor's libcontainer handler reads.
 */
import { readFile } from 'node:fs/promises';
import { parseFlatKeyed } from './flat-keyed.ts';

/** Block I/O of one device (v1 blkio.throttle.*_recursive, v2 io.stat). */
export interface DeviceIo {
  /** `/dev/<name>` as cAdvisor labels it (deviceNames()); `major:minor` until resolved. */
  device: string;
  major: number;
  minor: number;
  readBytes: number;
  writeBytes: number;
  reads: number;
  writes: number;
}

/** A value the kernel does not offer is undefined, never a made-up 0. */
export interface CgroupDetail {
  cpuUserNs: bigint | undefined;
  cpuSystemNs: bigint | undefined;
  cacheBytes: number | undefined;
  mappedFileBytes: number | undefined;
  failcnt: number | undefined;
  maxUsageBytes: number | undefined;
  /** Page faults of the cgroup itself (cAdvisor's scope="container"); the sample's are hierarchical. */
  ownPageFaults: number | undefined;
  ownMajorPageFaults: number | undefined;
  oomKills: number | undefined;
  cpuShares: number | undefined;
  cpuPeriodUs: number | undefined;
  /** undefined when no quota is set. */
  cpuQuotaUs: number | undefined;
  /** memory.soft_limit_in_bytes / memory.low; 0 when unlimited, as cAdvisor reports it. */
  memoryReservationBytes: number | undefined;
  /** memory + swap limit on v1 (memsw), swap alone on v2; 0 when unlimited. */
  swapLimitBytes: number | undefined;
  /** pids.max; 0 when "max" (cAdvisor: "infinity if value is zero"). */
  threadsMax: number | undefined;
  devices: DeviceIo[];
}

/** Anything at or above this is "no limit" (cAdvisor's specMemoryValue threshold). */
const UNLIMITED = 2 ** 62;
/** USER_HZ: cpuacct.stat counts in these ticks on every Linux architecture Node runs on. */
const NS_PER_TICK = 10_000_000n;

function num(text: string | undefined): number | undefined {
  const t = text?.trim();
  if (t === undefined || t === '') return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

/** A limit file: "max" or the v1 huge value means unlimited, reported as 0 like cAdvisor. */
function limit(text: string | undefined): number | undefined {
  if (text?.trim() === 'max') return 0;
  const n = num(text);
  return n === undefined ? undefined : n >= UNLIMITED ? 0 : n;
}

/** `8:0 Read 4096` lines of blkio.throttle.io_service_bytes / io_serviced. */
function parseBlkio(text: string | undefined): Map<string, { read: number; write: number }> {
  const out = new Map<string, { read: number; write: number }>();
  for (const line of (text ?? '').split('\n')) {
    const [dev, op, v] = line.trim().split(/\s+/);
    if (!dev?.includes(':') || v === undefined) continue;
    const e = out.get(dev) ?? { read: 0, write: 0 };
    if (op === 'Read') e.read = Number(v);
    if (op === 'Write') e.write = Number(v);
    out.set(dev, e);
  }
  return out;
}

function device(key: string): { device: string; major: number; minor: number } {
  const [major, minor] = key.split(':').map(Number);
  return { device: key, major: major ?? 0, minor: minor ?? 0 };
}

/** DEVNAME of a /sys/dev/block/<major>:<minor>/uevent text. */
export function devName(uevent: string): string | undefined {
  return /^DEVNAME=(.+)$/m.exec(uevent)?.[1];
}

/** `<sys>/dev/block/<major>:<minor>` → DEVNAME: a block device keeps its name, so sysfs is read once per device, not per sample. */
const devNames = new Map<string, string>();

/** `/dev/<DEVNAME>` of a block device from sysfs (`sys` is the sysfs mount; tests point it elsewhere); undefined when sysfs has no name. */
export async function blockDeviceName(major: number, minor: number, sys = '/sys'): Promise<string | undefined> {
  const key = `${sys}/dev/block/${major}:${minor}`;
  const name = devNames.get(key) ?? devName(await readFile(`${key}/uevent`, 'utf8').catch(() => ''));
  if (name !== undefined) devNames.set(key, name);
  return name === undefined ? undefined : `/dev/${name}`;
}

/** Names each device as cAdvisor does (blockDeviceName); one sysfs has no name for keeps `major:minor`. */
export async function deviceNames(devices: readonly DeviceIo[], sys = '/sys'): Promise<DeviceIo[]> {
  return Promise.all(devices.map(async (d) => {
    const name = await blockDeviceName(d.major, d.minor, sys);
    return name === undefined ? d : { ...d, device: name };
  }));
}

export function v1DevicesIo(bytesText: string | undefined, opsText: string | undefined): DeviceIo[] {
  const bytes = parseBlkio(bytesText);
  const ops = parseBlkio(opsText);
  return [...new Set([...bytes.keys(), ...ops.keys()])].map((k) => ({
    ...device(k), readBytes: bytes.get(k)?.read ?? 0, writeBytes: bytes.get(k)?.write ?? 0, reads: ops.get(k)?.read ?? 0, writes: ops.get(k)?.write ?? 0,
  }));
}

/** io.stat: `8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0`. */
function v2DevicesIo(text: string | undefined): DeviceIo[] {
  const out: DeviceIo[] = [];
  for (const line of (text ?? '').split('\n')) {
    const [dev, ...pairs] = line.trim().split(/\s+/);
    if (!dev?.includes(':')) continue;
    const kv = new Map(pairs.map((p) => p.split('=') as [string, string]));
    const n = (k: string): number => Number(kv.get(k) ?? 0);
    out.push({ ...device(dev), readBytes: n('rbytes'), writeBytes: n('wbytes'), reads: n('rios'), writes: n('wios') });
  }
  return out;
}

export const V1_DETAIL_FILES = {
  cpuacct: ['cpuacct.stat'],
  cpu: ['cpu.shares', 'cpu.cfs_period_us', 'cpu.cfs_quota_us'],
  memory: ['memory.failcnt', 'memory.max_usage_in_bytes', 'memory.oom_control', 'memory.soft_limit_in_bytes', 'memory.memsw.limit_in_bytes'],
  pids: ['pids.max'],
  blkio: ['blkio.throttle.io_service_bytes_recursive', 'blkio.throttle.io_serviced_recursive'],
} as const;

export function detailFromV1(files: Record<string, string | undefined>): CgroupDetail {
  const stat = parseFlatKeyed(files['memory.stat'] ?? '');
  const cpu = parseFlatKeyed(files['cpuacct.stat'] ?? '');
  const ticks = (k: string): bigint | undefined => (cpu.has(k) ? BigInt(cpu.get(k)!) * NS_PER_TICK : undefined);
  const quota = num(files['cpu.cfs_quota_us']);
  return {
    cpuUserNs: ticks('user'), cpuSystemNs: ticks('system'),
    cacheBytes: stat.get('total_cache'), mappedFileBytes: stat.get('total_mapped_file'),
    failcnt: num(files['memory.failcnt']), maxUsageBytes: num(files['memory.max_usage_in_bytes']),
    ownPageFaults: stat.get('pgfault'), ownMajorPageFaults: stat.get('pgmajfault'),
    oomKills: parseFlatKeyed(files['memory.oom_control'] ?? '').get('oom_kill'),
    cpuShares: num(files['cpu.shares']), cpuPeriodUs: num(files['cpu.cfs_period_us']),
    cpuQuotaUs: quota === undefined || quota < 0 ? undefined : quota,
    memoryReservationBytes: limit(files['memory.soft_limit_in_bytes']),
    swapLimitBytes: limit(files['memory.memsw.limit_in_bytes']),
    threadsMax: limit(files['pids.max']),
    devices: v1DevicesIo(files['blkio.throttle.io_service_bytes_recursive'], files['blkio.throttle.io_serviced_recursive']),
  };
}

export const V2_DETAIL_FILES = ['memory.events', 'memory.peak', 'memory.low', 'memory.swap.max', 'cpu.weight', 'cpu.max', 'pids.max', 'io.stat'] as const;

/** cpu.weight back to cpu.shares, cAdvisor's and runc's conversion (weight 1..10000 ↔ shares 2..262144). */
export function sharesOfWeight(weight: number): number {
  return Math.round(2 + ((weight - 1) * 262142) / 9999);
}

export function detailFromV2(files: Record<string, string | undefined>): CgroupDetail {
  const stat = parseFlatKeyed(files['memory.stat'] ?? '');
  const cpu = parseFlatKeyed(files['cpu.stat'] ?? '');
  const events = parseFlatKeyed(files['memory.events'] ?? '');
  const usec = (k: string): bigint | undefined => (cpu.has(k) ? BigInt(cpu.get(k)!) * 1000n : undefined);
  const [quota, period] = (files['cpu.max'] ?? '').trim().split(' ');
  const weight = num(files['cpu.weight']);
  return {
    cpuUserNs: usec('user_usec'), cpuSystemNs: usec('system_usec'),
    cacheBytes: stat.get('file'), mappedFileBytes: stat.get('file_mapped'),
    // v2 has no fail counter; runc reports memory.events "max" (times the limit was hit) as one.
    failcnt: events.get('max'), maxUsageBytes: num(files['memory.peak']),
    // v2 counters are hierarchical only: the cgroup's own count is the same number.
    ownPageFaults: stat.get('pgfault'), ownMajorPageFaults: stat.get('pgmajfault'),
    oomKills: events.get('oom_kill'),
    cpuShares: weight === undefined ? undefined : sharesOfWeight(weight),
    cpuPeriodUs: num(period), cpuQuotaUs: quota === undefined || quota === 'max' ? undefined : num(quota),
    memoryReservationBytes: limit(files['memory.low']), swapLimitBytes: limit(files['memory.swap.max']),
    threadsMax: limit(files['pids.max']),
    devices: v2DevicesIo(files['io.stat']),
  };
}
