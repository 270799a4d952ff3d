/**
 * Limits of one cgroup written straight to its cgroupfs files, for the pod-level cgroup
 * (UpdatePodSandboxResources): the pod cgroup is not an OCI container, so `runc update`
 * cannot reach it. The values are the ones runc writes for a container on each version
 * (libcontainer cgroups/fs and fs2), so a pod and its containers read alike.
 */
import { access, readFile, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { FailedPreconditionError } from '../lib/errors.ts';

/** The limits a pod cgroup takes; an absent field is left as the cgroup has it. */
export interface CgroupLimits {
  cpuShares?: number;
  /** µs per period; -1 is "no limit". */
  cpuQuota?: number;
  cpuPeriod?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  /** Bytes; -1 is "no limit". */
  memoryLimit?: number;
}

/** 2 on the unified hierarchy, 1 on v1 or hybrid hosts (whose v2 tree holds no controllers). */
export async function detectCgroupVersion(root = '/sys/fs/cgroup'): Promise<1 | 2> {
  return access(join(root, 'cgroup.controllers')).then(() => 2 as const, () => 1 as const);
}

/** One file write: v1 names the controller's hierarchy, v2 has one dir for all. */
export interface CgroupWrite {
  controller: 'cpu' | 'cpuset' | 'memory';
  file: string;
  value: string;
}

/**
 * cpu.shares (2…262144) → cpu.weight (1…10000), the linear map runc 1.1 and the kubelet's
 * libcontainer use (cgroups.ConvertCPUSharesToCgroupV2Value); 0 means "not set".
 */
export function cpuSharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  return 1 + Math.floor(((Math.min(Math.max(shares, 2), 262144) - 2) * 9999) / 262142);
}

/** The files to write, in the order to write them (period before quota on v1, as runc). */
export function cgroupWrites(l: CgroupLimits, version: 1 | 2): CgroupWrite[] {
  const out: CgroupWrite[] = [];
  const cpu = (file: string, value: string | number): void => { out.push({ controller: 'cpu', file, value: String(value) }); };
  if (version === 1) {
    if (l.cpuShares !== undefined) cpu('cpu.shares', l.cpuShares);
    if (l.cpuPeriod !== undefined) cpu('cpu.cfs_period_us', l.cpuPeriod);
    if (l.cpuQuota !== undefined) cpu('cpu.cfs_quota_us', l.cpuQuota < 0 ? -1 : l.cpuQuota);
  } else {
    if (l.cpuShares !== undefined) cpu('cpu.weight', cpuSharesToWeight(l.cpuShares));
    // runc fs2: a period alone still rewrites cpu.max, with "max" as its quota.
    if (l.cpuQuota !== undefined || l.cpuPeriod !== undefined) {
      const quota = l.cpuQuota !== undefined && l.cpuQuota > 0 ? String(l.cpuQuota) : 'max';
      cpu('cpu.max', l.cpuPeriod !== undefined ? `${quota} ${l.cpuPeriod}` : quota);
    }
  }
  if (l.cpusetCpus !== undefined) out.push({ controller: 'cpuset', file: 'cpuset.cpus', value: l.cpusetCpus });
  if (l.cpusetMems !== undefined) out.push({ controller: 'cpuset', file: 'cpuset.mems', value: l.cpusetMems });
  if (l.memoryLimit !== undefined) {
    const unlimited = l.memoryLimit < 0;
    out.push(version === 1
      ? { controller: 'memory', file: 'memory.limit_in_bytes', value: unlimited ? '-1' : String(l.memoryLimit) }
      : { controller: 'memory', file: 'memory.max', value: unlimited ? 'max' : String(l.memoryLimit) });
  }
  return out;
}

/**
 * A systemd slice as its path in the hierarchy: each dash nests (systemd.slice(5)),
 * `kubepods-burstable-pod1.slice` → `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice`.
 */
export function slicePath(slice: string): string {
  if (slice === '-.slice') return '/';
  const name = slice.slice(0, -'.slice'.length);
  const parts = name.split('-');
  return `/${parts.map((_, i) => `${parts.slice(0, i + 1).join('-')}.slice`).join('/')}`;
}

/** A cgroup parent as the pod record holds it → its path relative to each hierarchy's root. */
export function cgroupRelativePath(parent: string, driver: 'cgroupfs' | 'systemd'): string {
  return driver === 'systemd' ? slicePath(posix.basename(parent)) : posix.normalize(`/${parent}`);
}

export interface AppliedLimits {
  written: CgroupWrite[];
  /** Writes skipped because the hierarchy has no such cgroup (or file) on this host. */
  skipped: CgroupWrite[];
}

/** Writes limits to cgroupfs under `root` (default /sys/fs/cgroup). */
export class CgroupLimitWriter {
  readonly #root: string;
  readonly #version: 1 | 2;

  constructor(opts: { version: 1 | 2; root?: string }) {
    this.#root = opts.root ?? '/sys/fs/cgroup';
    this.#version = opts.version;
  }

  #dir(controller: string, relPath: string): string {
    return this.#version === 1 ? join(this.#root, controller, relPath) : join(this.#root, relPath);
  }

  /**
   * Applies every write or none: a refused write puts back the values written before it
   * (DESIGN convention 4), so a half-resized pod is never left behind. A cgroup dir that
   * does not exist is skipped: the kubelet creates pod cgroups, and runc only when it
   * starts the pod's first container.
   * @throws FailedPreconditionError when the kernel refuses a value (a memory limit below usage: EBUSY)
   */
  async apply(relPath: string, writes: readonly CgroupWrite[]): Promise<AppliedLimits> {
    const done: { path: string; old: string }[] = [];
    const result: AppliedLimits = { written: [], skipped: [] };
    try {
      for (const w of writes) {
        const dir = this.#dir(w.controller, relPath);
        const path = join(dir, w.file);
        const old = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => { if (err.code === 'ENOENT') return undefined; throw err; });
        if (old === undefined) {
          result.skipped.push(w);
          continue;
        }
        await this.#checkFits(dir, w);
        await writeFile(path, w.value).catch(async (err: NodeJS.ErrnoException) => { throw await this.#refused(err, dir, w); });
        done.push({ path, old: old.trim() });
        result.written.push(w);
      }
    } catch (err) {
      for (const d of done.reverse()) await writeFile(d.path, d.old).catch(() => undefined);
      throw err;
    }
    return result;
  }

  /** Limits onto the cgroup of a pod's cgroup parent (see apply()). */
  applyLimits(parent: string, driver: 'cgroupfs' | 'systemd', limits: CgroupLimits): Promise<AppliedLimits> {
    return this.apply(cgroupRelativePath(parent, driver), cgroupWrites(limits, this.#version));
  }

  async #refused(err: NodeJS.ErrnoException, dir: string, w: CgroupWrite): Promise<Error> {
    if (w.controller === 'memory' && err.code === 'EBUSY') {
      const usage = (await readFile(join(dir, 'memory.usage_in_bytes'), 'utf8').catch(() => '?')).trim();
      return new FailedPreconditionError(`memory limit ${w.value} of cgroup ${dir} is below its current usage (${usage} bytes) and the kernel could not reclaim enough (${w.file}: EBUSY)`, { cause: err });
    }
    if (err.code === 'EINVAL' || err.code === 'EBUSY' || err.code === 'EACCES' || err.code === 'EPERM') {
      return new FailedPreconditionError(`cgroup ${dir} refused ${w.file} = ${w.value} (${err.code}; a value outside what its parent or children allow?)`, { cause: err });
    }
    return err;
  }

  /**
   * cgroup v2 does not refuse a memory.max below usage: it reclaims, then OOM-kills. Refuse
   * it first when the working set (usage − inactive file pages, which the kernel drops
   * cheaply: the kubelet's measure) is above the new limit.
   */
  async #checkFits(dir: string, w: CgroupWrite): Promise<void> {
    if (this.#version !== 2 || w.controller !== 'memory' || w.value === 'max') return;
    const workingSet = await workingSetBytes(dir, 2);
    if (workingSet !== undefined && workingSet > Number(w.value)) {
      throw new FailedPreconditionError(`memory limit ${w.value} of cgroup ${dir} is below its current usage (working set ${workingSet} bytes); lowering it would OOM-kill its processes`);
    }
  }
}

/** usage − inactive_file of a memory cgroup dir; undefined when unreadable. */
export async function workingSetBytes(dir: string, version: 1 | 2): Promise<number | undefined> {
  const usage = Number((await readFile(join(dir, version === 1 ? 'memory.usage_in_bytes' : 'memory.current'), 'utf8').catch(() => '')).trim());
  if (!Number.isFinite(usage) || usage === 0) return undefined;
  const stat = await readFile(join(dir, 'memory.stat'), 'utf8').catch(() => '');
  const inactive = Number(new RegExp(`^${version === 1 ? 'total_inactive_file' : 'inactive_file'} (\\d+)$`, 'm').exec(stat)?.[1] ?? 0);
  return Math.max(usage - inactive, 0);
}
