/**
 * Reads one cgroup's usage the way the kubelet's cAdvisor did, for cgroup v1 and v2
 * (cri-api.md item 29): CPU time, memory usage / working set / rss / page faults, swap and
 * the process count. Working set = usage − inactive file pages (cAdvisor
 * `setMemoryStats`), so page cache the kernel can drop cheaply does not count.
 */
import { readSmallFileSync } from '../lib/read-small.ts';
import { join } from 'node:path';
import { detailFromV1, detailFromV2, deviceNames, V1_DETAIL_FILES, V2_DETAIL_FILES, type CgroupDetail } from './cgroup-detail.ts';
import { parsePids, readTaskStats, type TaskStats } from './proc-tasks.ts';
import { parseFlatKeyed } from './flat-keyed.ts';


/** Where one cgroup's files are: v1 has a dir per controller, v2 one dir. */
export type CgroupDirs =
  | { version: 1; cpuacct: string; cpu: string; memory: string; pids: string; blkio: string }
  | { version: 2; dir: string };

/** Controller mount points of the host, from /proc/self/mountinfo. */
export interface CgroupMounts {
  /** v1 controller → mount point (`cpuacct` → `/sys/fs/cgroup/cpuacct` or `/sys/fs/cgroup/cpu,cpuacct`). */
  v1: ReadonlyMap<string, string>;
  /** The cgroup2 mount, when the host is on the unified hierarchy. */
  v2Root: string | undefined;
}

/** One reading of a cgroup; a value the kernel did not offer is undefined. */
export interface CgroupSample {
  cpuUsageNs: bigint | undefined;
  memoryUsageBytes: number | undefined;
  workingSetBytes: number | undefined;
  rssBytes: number | undefined;
  pageFaults: number | undefined;
  majorPageFaults: number | undefined;
  /** Memory limit, when one is set: `available_bytes` = limit − working set. */
  memoryLimitBytes: number | undefined;
  swapUsageBytes: number | undefined;
  swapLimitBytes: number | undefined;
  processes: number | undefined;
  /** What else cAdvisor exports about the cgroup (cgroup-detail.ts). */
  detail: CgroupDetail | undefined;
  /** fds, sockets, threads of its processes; undefined when not read. */
  tasks: TaskStats | undefined;
}

/** Anything at or above this is "no limit" (v1 reports PAGE_COUNTER_MAX × page size). */
const UNLIMITED = 2 ** 62;

/** Parses /proc/self/mountinfo text into controller mount points. */
export function parseCgroupMounts(mountinfo: string): CgroupMounts {
  const v1 = new Map<string, string>();
  let v2Root: string | undefined;
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const mountPoint = line.slice(0, sep).split(' ')[4];
    const [fstype, , superOpts = ''] = line.slice(sep + 3).split(' ');
    if (mountPoint === undefined) continue;
    if (fstype === 'cgroup2') v2Root ??= mountPoint;
    if (fstype !== 'cgroup') continue;
    for (const opt of superOpts.split(',')) if (['cpu', 'cpuacct', 'memory', 'pids', 'blkio'].includes(opt)) v1.set(opt, mountPoint);
  }
  return { v1, v2Root };
}

/**
 * The dirs of cgroup `path` (relative to the hierarchy root, e.g. `/kubepods/pod1/crt-…`).
 * v1 wins when its memory controller is mounted: on a hybrid host the v2 tree holds no
 * controllers.
 */
export function cgroupDirsFor(mounts: CgroupMounts, path: string): CgroupDirs | undefined {
  const memory = mounts.v1.get('memory');
  if (memory !== undefined) {
    const dir = (c: string): string => join(mounts.v1.get(c) ?? memory, path);
    return { version: 1, memory: join(memory, path), cpuacct: dir('cpuacct'), cpu: dir('cpu'), pids: dir('pids'), blkio: dir('blkio') };
  }
  return mounts.v2Root === undefined ? undefined : { version: 2, dir: join(mounts.v2Root, path) };
}

/** The path inside the hierarchy of a memory cgroup dir the container service recorded. */
export function cgroupPathOfMemoryDir(mounts: CgroupMounts, memoryDir: string): string | undefined {
  for (const root of [mounts.v1.get('memory'), mounts.v2Root]) {
    if (root !== undefined && (memoryDir === root || memoryDir.startsWith(`${root}/`))) return memoryDir.slice(root.length) || '/';
  }
  return undefined;
}

function numberOrUndefined(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (t === '' || t === 'max') return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

function limitOrUndefined(text: string | undefined): number | undefined {
  const n = numberOrUndefined(text);
  return n === undefined || n >= UNLIMITED ? undefined : n;
}


/** v1: cpuacct.usage, memory.usage_in_bytes, memory.stat total_*, memory.memsw.*, pids.current. */
export function sampleFromV1(files: Record<string, string | undefined>): CgroupSample {
  const stat = parseFlatKeyed(files['memory.stat'] ?? '');
  const usage = numberOrUndefined(files['memory.usage_in_bytes']);
  const inactiveFile = stat.get('total_inactive_file') ?? 0;
  const memsw = numberOrUndefined(files['memory.memsw.usage_in_bytes']);
  const memswLimit = limitOrUndefined(files['memory.memsw.limit_in_bytes']);
  const memLimit = limitOrUndefined(files['memory.limit_in_bytes']);
  const cpu = files['cpuacct.usage']?.trim();
  return {
    cpuUsageNs: cpu ? BigInt(cpu) : undefined,
    memoryUsageBytes: usage,
    workingSetBytes: usage === undefined ? undefined : Math.max(0, usage - inactiveFile),
    rssBytes: stat.get('total_rss'),
    pageFaults: stat.get('total_pgfault'),
    majorPageFaults: stat.get('total_pgmajfault'),
    memoryLimitBytes: memLimit,
    // memsw counts memory + swap; swap alone is the difference (cAdvisor does the same).
    swapUsageBytes: memsw === undefined || usage === undefined ? undefined : Math.max(0, memsw - usage),
    swapLimitBytes: memswLimit === undefined || memLimit === undefined ? undefined : Math.max(0, memswLimit - memLimit),
    processes: numberOrUndefined(files['pids.current']),
    detail: detailFromV1(files),
    tasks: undefined,
  };
}

/** v2: cpu.stat usage_usec, memory.current, memory.stat anon/file/…, memory.swap.*, pids.current. */
export function sampleFromV2(files: Record<string, string | undefined>): CgroupSample {
  const cpuStat = parseFlatKeyed(files['cpu.stat'] ?? '');
  const stat = parseFlatKeyed(files['memory.stat'] ?? '');
  const usage = numberOrUndefined(files['memory.current']);
  const usec = cpuStat.get('usage_usec');
  return {
    cpuUsageNs: usec === undefined ? undefined : BigInt(usec) * 1000n,
    memoryUsageBytes: usage,
    workingSetBytes: usage === undefined ? undefined : Math.max(0, usage - (stat.get('inactive_file') ?? 0)),
    rssBytes: stat.get('anon'),
    pageFaults: stat.get('pgfault'),
    majorPageFaults: stat.get('pgmajfault'),
    memoryLimitBytes: limitOrUndefined(files['memory.max']),
    swapUsageBytes: numberOrUndefined(files['memory.swap.current']),
    swapLimitBytes: limitOrUndefined(files['memory.swap.max']),
    processes: numberOrUndefined(files['pids.current']),
    detail: detailFromV2(files),
    tasks: undefined,
  };
}

type V1Controller = 'cpuacct' | 'cpu' | 'memory' | 'pids' | 'blkio';
const V1_USAGE_FILES: readonly (readonly [string, V1Controller])[] = [
  ['cpuacct.usage', 'cpuacct'], ['memory.usage_in_bytes', 'memory'], ['memory.limit_in_bytes', 'memory'], ['memory.stat', 'memory'],
  ['memory.memsw.usage_in_bytes', 'memory'], ['memory.memsw.limit_in_bytes', 'memory'], ['pids.current', 'pids'],
];
const V1_FILES: readonly (readonly [string, V1Controller])[] = [
  ...new Map([...V1_USAGE_FILES, ...Object.entries(V1_DETAIL_FILES).flatMap(([c, names]) => names.map((n) => [n, c as V1Controller] as const))]),
];
const V2_USAGE_FILES = ['cpu.stat', 'memory.current', 'memory.max', 'memory.stat', 'memory.swap.current', 'memory.swap.max', 'pids.current'];
const V2_FILES = [...new Set([...V2_USAGE_FILES, ...V2_DETAIL_FILES])];

/**
 * Reads a cgroup; undefined when it does not exist (any more). `usage` reads only what the
 * stats RPCs report (a pod's cgroup: nothing reads its detail or tasks), `full` also the
 * settings, block I/O and the processes' tasks that only container metrics export.
 */
export async function readCgroup(dirs: CgroupDirs, scope: 'usage' | 'full' = 'full'): Promise<CgroupSample | undefined> {
  const full = scope === 'full';
  const v1Files = full ? V1_FILES : V1_USAGE_FILES;
  const names = dirs.version === 1 ? v1Files.map(([n]) => n) : full ? V2_FILES : V2_USAGE_FILES;
  const paths = dirs.version === 1 ? v1Files.map(([n, c]) => join(dirs[c], n)) : names.map((n) => join(dirs.dir, n));
  const texts = paths.map(readSmallFileSync);
  if (texts.every((t) => t === undefined)) return undefined;
  const files = Object.fromEntries(names.map((n, i) => [n, texts[i]]));
  const sample = dirs.version === 1 ? sampleFromV1(files) : sampleFromV2(files);
  if (!full) return { ...sample, detail: undefined };
  const procs = readSmallFileSync(join(dirs.version === 1 ? dirs.pids : dirs.dir, 'cgroup.procs'));
  const detail = sample.detail && { ...sample.detail, devices: await deviceNames(sample.detail.devices) };
  return { ...sample, detail, tasks: procs === undefined ? undefined : await readTaskStats(parsePids(procs)) };
}
