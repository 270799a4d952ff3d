/**
 * The background stats sampler: every period it reads the cgroups, network counters and
 * writable layers of the containers and pods whose stats were asked for recently (within
 * DEMAND_PERIODS periods), so that a kubelet polling at its housekeeping interval is
 * answered from memory over a steady window (cri-api.md item 29; containerd 2.3's
 * collector, CRI-O's `collection_period`). Nobody asking costs nothing but one reading
 * per target: the first, taken when the sampler starts or a container starts, so the
 * first call already has a window for usage_nano_cores. Targets asked for only by the
 * stats RPCs get the usage files; the settings, block I/O and tasks that only
 * ListPodSandboxMetrics exports are read for targets it asked for. A tick still running
 * when the next is due is skipped, and so is a layer walk still running from an earlier
 * tick, so a slow disk never piles work up.
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
  /** `usage` readings lack the detail and tasks only metrics export. */
  scope: ReadScope;
}

/** What a reading covers: the stats RPCs' usage files, or everything metrics export too. */
export type ReadScope = 'usage' | 'full';

/**
 * A target keeps being sampled this many periods after the last call that asked for it:
 * a kubelet asks every period or so, and one missed poll must not end the steady window.
 */
export const DEMAND_PERIODS = 3;

/** A rate over a window shorter than this is too noisy to report. */
export const MIN_WINDOW_NS = 50_000_000n;

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
  /** Key → when a call last asked for it (ns) and whether for metrics (full scope). */
  readonly #demand = new Map<string, { atNs: bigint; full: boolean }>();
  /** Keys the sampler has given their one first reading (or tried to). */
  readonly #seen = new Set<string>();
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
  async sampleContainer(target: ContainerTarget, scope: ReadScope = 'usage'): Promise<void> {
    await this.#sampleContainer(target, scope);
  }

  /** Samples one pod now (its cgroup or its containers' sum, and its network counters). */
  async samplePod(pod: PodTarget, containers: readonly ContainerTarget[]): Promise<void> {
    await this.#samplePod(pod, containers);
  }

  /** A call asked for `key` (`c:<id>` or `p:<id>`): keep sampling it for a while. */
  demanded(key: string, scope: ReadScope): void {
    const prev = this.#demand.get(key);
    const nowNs = this.#deps.nowNs();
    const full = scope === 'full' || (prev !== undefined && prev.full && this.#recent(prev.atNs, nowNs));
    this.#demand.set(key, { atNs: nowNs, full });
  }

  /** True when a sample taken at `atNs` is too old to answer with (the sampler no longer refreshes it). */
  stale(atNs: bigint): boolean {
    return this.#deps.nowNs() - atNs > 2n * BigInt(this.#deps.periodMs) * 1_000_000n;
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

  #recent(atNs: bigint, nowNs: bigint): boolean {
    return nowNs - atNs <= BigInt(DEMAND_PERIODS * this.#deps.periodMs) * 1_000_000n;
  }

  /** The scope to sample `key` in this round, or undefined to leave it be. */
  #wanted(key: string, nowNs: bigint): ReadScope | undefined {
    const d = this.#demand.get(key);
    if (d !== undefined && this.#recent(d.atNs, nowNs)) return d.full ? 'full' : 'usage';
    // Never read yet (the sampler just started): one reading opens the first window.
    if (this.#seen.has(key) || this.#cgroups.has(key)) return undefined;
    this.#seen.add(key);
    return 'usage';
  }

  async #round(): Promise<void> {
    const containers = this.#deps.targets.containers();
    const pods = this.#deps.targets.pods();
    const live = new Set([...containers.map((c) => `c:${c.id}`), ...pods.map((p) => `p:${p.id}`)]);
    for (const key of this.#cgroups.keys()) if (!live.has(key)) this.#cgroups.delete(key);
    for (const key of this.#demand.keys()) if (!live.has(key)) this.#demand.delete(key);
    for (const key of this.#seen) if (!live.has(key)) this.#seen.delete(key);
    this.rates.retain(live);
    this.loads.retain(live);
    for (const id of this.#disks.keys()) if (!live.has(`c:${id}`)) this.#disks.delete(id);
    for (const id of this.#networks.keys()) if (!live.has(`p:${id}`)) this.#networks.delete(id);
    const nowNs = this.#deps.nowNs();
    const asked = (key: string): boolean => {
      const d = this.#demand.get(key);
      return d !== undefined && this.#recent(d.atNs, nowNs);
    };
    const due = containers.flatMap((c) => {
      const scope = c.running ? this.#wanted(`c:${c.id}`, nowNs) : undefined;
      return scope ? [{ c, scope }] : [];
    });
    await Promise.all(due.map(({ c, scope }) => this.#sampleContainer(c, scope)));
    const duePods = pods.filter((p) => this.#wanted(`p:${p.id}`, nowNs) !== undefined);
    await Promise.all(duePods.map((p) => this.#samplePod(p, containers.filter((c) => c.podId === p.id))));
    // Layer walks run behind the cgroup readings: they may take long on a big layer.
    for (const c of containers) {
      if (this.#abort.signal.aborted) return;
      if (asked(`c:${c.id}`) && (c.running || !this.#disks.has(c.id))) await this.walkLayer(c).catch(() => undefined);
    }
  }

  #containerDirs(target: ContainerTarget) {
    const path = cgroupPathOfMemoryDir(this.#deps.mounts, target.memoryCgroupDir);
    return path === undefined ? undefined : cgroupDirsFor(this.#deps.mounts, path);
  }

  /** Caches a reading and feeds the rate, unless the window since the last one is too short to rate. */
  #record(key: string, s: CachedSample): void {
    this.#cgroups.set(key, s);
    if (s.cgroup.cpuUsageNs === undefined) return;
    const last = this.rates.last(key);
    if (last === undefined || s.atNs - last.atNs >= MIN_WINDOW_NS) this.rates.push(key, { cpuNs: s.cgroup.cpuUsageNs, atNs: s.atNs });
  }

  async #sampleContainer(target: ContainerTarget, scope: ReadScope): Promise<void> {
    const dirs = this.#containerDirs(target);
    const cgroup = dirs && (await readCgroup(dirs, scope));
    if (!cgroup) return;
    const key = `c:${target.id}`;
    const s = { atNs: this.#deps.nowNs(), cgroup, scope };
    this.#record(key, s);
    if (cgroup.tasks) this.loads.push(key, cgroup.tasks.states.running, s.atNs);
  }

  async #samplePod(pod: PodTarget, containers: readonly ContainerTarget[]): Promise<void> {
    const key = `p:${pod.id}`;
    const dirs = pod.cgroupfsParent === '' ? undefined : cgroupDirsFor(this.#deps.mounts, pod.cgroupfsParent);
    let cgroup = dirs && (await readCgroup(dirs, 'usage'));
    let atNs = this.#deps.nowNs();
    if (!cgroup) {
      const own = containers.map((c) => this.#cgroups.get(`c:${c.id}`)).filter((s): s is CachedSample => s !== undefined);
      cgroup = own.length > 0 ? sumSamples(own.map((s) => s.cgroup)) : undefined;
      // A sum is as old as its newest reading: summing the same readings again is no new window.
      if (own.length > 0) atNs = own.reduce((t, s) => (s.atNs > t ? s.atNs : t), 0n);
    }
    if (cgroup) this.#record(key, { atNs, cgroup, scope: 'usage' });
    if (pod.netnsPath !== undefined) {
      const pids = [pod.infraPid, ...containers.filter((c) => c.running).map((c) => c.pid)];
      const interfaces = await readNetnsCounters(pod.netnsPath, pids, this.#abort.signal).catch(() => undefined);
      if (interfaces) this.#networks.set(pod.id, { atNs: this.#deps.nowNs(), interfaces });
    }
  }
}
