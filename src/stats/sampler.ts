/**
 * The background stats sampler: every period it reads each running container's cgroup,
 * each pod's cgroup (or the sum of its containers') and network counters, and walks
 * the writable layers, so that stats RPCs answer from memory and the first call already
 * has usage_nano_cores (cri-api.md item 29; containerd 2.3's collector, CRI-O's
 * `collection_period`). A tick that is still running when the next is due is skipped,
 * and so is a layer walk still running from an earlier tick, so a slow disk never
 * piles work up.
 */
import type { Logger } from 'pino';
import { diskUsage } from '../storage/disk-usage.ts';
import { describeError } from '../lib/errors.ts';
import { cgroupDirsFor, cgroupPathOfMemoryDir, readCgroup, type CgroupMounts, type CgroupSample } from './cgroup.ts';
import { CpuRates } from './cpu-rate.ts';
import { LoadAverages } from './cpu-load.ts';
import { readNetnsCounters } from './net-dev.ts';
import type { ContainerTarget, DiskUsageSample, NetworkSample, PodTarget, StatsTargets } from './targets.ts';

export interface StatsSamplerDeps {
  targets: StatsTargets;
  mounts: CgroupMounts;
  periodMs: number;
  log: Logger;
  nowNs(): bigint;
}

export interface CachedSample {
  atNs: bigint;
  cgroup: CgroupSample;
}

/** Sums container readings into a pod reading (pods without a cgroup of their own). */
function sumSamples(samples: readonly CgroupSample[]): CgroupSample {
  const add = (f: (s: CgroupSample) => number | undefined): number | undefined =>
    samples.some((s) => f(s) !== undefined) ? samples.reduce((n, s) => n + (f(s) ?? 0), 0) : undefined;
  const cpu = samples.some((s) => s.cpuUsageNs !== undefined) ? samples.reduce((n, s) => n + (s.cpuUsageNs ?? 0n), 0n) : undefined;
  return {
    cpuUsageNs: cpu, memoryUsageBytes: add((s) => s.memoryUsageBytes), workingSetBytes: add((s) => s.workingSetBytes),
    rssBytes: add((s) => s.rssBytes), pageFaults: add((s) => s.pageFaults), majorPageFaults: add((s) => s.majorPageFaults),
    memoryLimitBytes: undefined, swapUsageBytes: add((s) => s.swapUsageBytes), swapLimitBytes: undefined, processes: add((s) => s.processes),
    // A sum of containers has no settings or device list of its own.
    detail: undefined, tasks: undefined,
  };
}

export class StatsSampler {
  readonly #deps: StatsSamplerDeps;
  readonly rates = new CpuRates();
  readonly loads = new LoadAverages();
  readonly #cgroups = new Map<string, CachedSample>();
  readonly #disks = new Map<string, DiskUsageSample>();
  readonly #networks = new Map<string, NetworkSample>();
  /** Walks in flight, shared: a stats call during the sampler's walk waits for it rather than answering without a layer. */
  readonly #walking = new Map<string, Promise<DiskUsageSample>>();
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;
  readonly #abort = new AbortController();

  constructor(deps: StatsSamplerDeps) {
    this.#deps = deps;
  }

  get periodMs(): number {
    return this.#deps.periodMs;
  }

  /** Takes a first sample at once, then one every period. */
  start(): void {
    if (this.#timer) return;
    void this.tick();
    this.#timer = setInterval(() => void this.tick(), this.#deps.periodMs);
    this.#timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#abort.abort(new Error('stats sampler closed'));
    await this.#ticking;
  }

  /** One round over every target; concurrent calls share the round in progress. */
  tick(): Promise<void> {
    this.#ticking ??= this.#round().catch((err: unknown) => this.#deps.log.warn({ err: describeError(err) }, 'Stats sampling round failed'))
      .finally(() => { this.#ticking = undefined; });
    return this.#ticking;
  }

  /** Samples one container now (a container that just started gets its first reading). */
  async sampleContainer(target: ContainerTarget): Promise<void> {
    await this.#sampleContainer(target);
  }

  cgroup(key: string): CachedSample | undefined {
    return this.#cgroups.get(key);
  }

  disk(containerId: string): DiskUsageSample | undefined {
    return this.#disks.get(containerId);
  }

  network(podId: string): NetworkSample | undefined {
    return this.#networks.get(podId);
  }

  /** Reads a container's cgroup now without touching the cache (RPC fallback). */
  async readContainer(target: ContainerTarget): Promise<CachedSample | undefined> {
    const dirs = this.#containerDirs(target);
    const cgroup = dirs && (await readCgroup(dirs));
    return cgroup ? { atNs: this.#deps.nowNs(), cgroup } : undefined;
  }

  /** Walks a writable layer now and caches the result (first stats call for a container). */
  walkLayer(target: ContainerTarget): Promise<DiskUsageSample> {
    const inFlight = this.#walking.get(target.id);
    if (inFlight) return inFlight;
    const walk = (async () => {
      const u = await diskUsage([target.writableLayerDir]);
      const sample = { atNs: this.#deps.nowNs(), bytes: u.bytes, inodes: u.inodes };
      this.#disks.set(target.id, sample);
      return sample;
    })().finally(() => this.#walking.delete(target.id));
    this.#walking.set(target.id, walk);
    return walk;
  }

  async #round(): Promise<void> {
    const containers = this.#deps.targets.containers();
    const pods = this.#deps.targets.pods();
    const live = new Set([...containers.map((c) => `c:${c.id}`), ...pods.map((p) => `p:${p.id}`)]);
    for (const key of this.#cgroups.keys()) if (!live.has(key)) this.#cgroups.delete(key);
    this.rates.retain(live);
    this.loads.retain(live);
    for (const id of this.#disks.keys()) if (!live.has(`c:${id}`)) this.#disks.delete(id);
    for (const id of this.#networks.keys()) if (!live.has(`p:${id}`)) this.#networks.delete(id);
    await Promise.all(containers.filter((c) => c.running).map((c) => this.#sampleContainer(c)));
    await Promise.all(pods.map((p) => this.#samplePod(p, containers.filter((c) => c.podId === p.id))));
    // Layer walks run behind the cgroup readings: they may take long on a big layer.
    for (const c of containers) {
      if (this.#abort.signal.aborted) return;
      if (c.running || !this.#disks.has(c.id)) await this.walkLayer(c).catch(() => undefined);
    }
  }

  #containerDirs(target: ContainerTarget) {
    const path = cgroupPathOfMemoryDir(this.#deps.mounts, target.memoryCgroupDir);
    return path === undefined ? undefined : cgroupDirsFor(this.#deps.mounts, path);
  }

  async #sampleContainer(target: ContainerTarget): Promise<void> {
    const s = await this.readContainer(target);
    if (!s) return;
    this.#cgroups.set(`c:${target.id}`, s);
    if (s.cgroup.cpuUsageNs !== undefined) this.rates.push(`c:${target.id}`, { cpuNs: s.cgroup.cpuUsageNs, atNs: s.atNs });
    if (s.cgroup.tasks) this.loads.push(`c:${target.id}`, s.cgroup.tasks.states.running, s.atNs);
  }

  async #samplePod(pod: PodTarget, containers: readonly ContainerTarget[]): Promise<void> {
    const key = `p:${pod.id}`;
    const dirs = pod.cgroupfsParent === '' ? undefined : cgroupDirsFor(this.#deps.mounts, pod.cgroupfsParent);
    let cgroup = dirs && (await readCgroup(dirs, 'usage'));
    if (!cgroup) {
      const own = containers.map((c) => this.#cgroups.get(`c:${c.id}`)?.cgroup).filter((s): s is CgroupSample => s !== undefined);
      cgroup = own.length > 0 ? sumSamples(own) : undefined;
    }
    const atNs = this.#deps.nowNs();
    if (cgroup) {
      this.#cgroups.set(key, { atNs, cgroup });
      if (cgroup.cpuUsageNs !== undefined) this.rates.push(key, { cpuNs: cgroup.cpuUsageNs, atNs });
    }
    if (pod.netnsPath !== undefined) {
      const pids = [pod.infraPid, ...containers.filter((c) => c.running).map((c) => c.pid)];
      const interfaces = await readNetnsCounters(pod.netnsPath, pids, this.#abort.signal).catch(() => undefined);
      if (interfaces) this.#networks.set(pod.id, { atNs: this.#deps.nowNs(), interfaces });
    }
  }
}
