/**
 * Answers stats questions from the sampler's cache, and tells the sampler what was asked
 * for so it keeps those targets fresh. A target with no rate yet (it just started), with
 * a reading too old (nobody asked for a while, so the sampler let it be) or one lacking
 * what metrics need gets a fresh reading now; the rate then spans the time since its
 * previous reading, so even the first call after a start carries usage_nano_cores
 * (cri-api.md item 29). A container never walked gets its writable layer walked once.
 */
import type { ReadScope, StatsSampler } from './sampler.ts';
import type { BlockDevice } from './block-device.ts';
import type { ContainerTarget, ContainerUsage, PodTarget, PodUsage } from './targets.ts';

export interface StatsServiceDeps {
  sampler: StatsSampler;
  /** Mount point reported as the writable layer's fs_id. */
  fsMountpoint: string;
  /** The block device fsMountpoint is on (block-device.ts). */
  layerDevice: BlockDevice | undefined;
}

export class StatsService {
  readonly #deps: StatsServiceDeps;

  constructor(deps: StatsServiceDeps) {
    this.#deps = deps;
  }

  /** Tells the sampler a container started, so its first window begins now. */
  async containerStarted(target: ContainerTarget): Promise<void> {
    await this.#deps.sampler.sampleContainer(target);
  }

  async container(target: ContainerTarget, scope: ReadScope = 'usage'): Promise<ContainerUsage> {
    const { sampler } = this.#deps;
    const key = `c:${target.id}`;
    sampler.demanded(key, scope);
    let cached = sampler.cgroup(key);
    const unfit = cached === undefined || sampler.stale(cached.atNs) || (scope === 'full' && cached.scope !== 'full') || sampler.rates.rate(key) === undefined;
    if (target.running && unfit) {
      await sampler.sampleContainer(target, scope);
      cached = sampler.cgroup(key);
    }
    const disk = sampler.disk(target.id) ?? (await sampler.walkLayer(target).catch(() => undefined));
    return {
      id: target.id, podId: target.podId, atNs: cached?.atNs ?? disk?.atNs ?? 0n, cgroup: cached?.cgroup, nanoCores: sampler.rates.rate(key),
      loadMilli: sampler.loads.milliLoad(key), disk, fsMountpoint: this.#deps.fsMountpoint, layerDevice: this.#deps.layerDevice,
    };
  }

  /** Many containers, read in parallel (ListContainerStats). */
  containers(targets: readonly ContainerTarget[], scope: ReadScope = 'usage'): Promise<ContainerUsage[]> {
    return Promise.all(targets.map((t) => this.container(t, scope)));
  }

  async pod(pod: PodTarget, containers: readonly ContainerTarget[], scope: ReadScope = 'usage'): Promise<PodUsage> {
    const { sampler } = this.#deps;
    const key = `p:${pod.id}`;
    sampler.demanded(key, scope);
    const usages = await this.containers(containers, scope);
    let cached = sampler.cgroup(key);
    if (cached === undefined || sampler.stale(cached.atNs) || sampler.rates.rate(key) === undefined) {
      await sampler.samplePod(pod, containers);
      cached = sampler.cgroup(key);
    }
    // Before the pod's own second sample, its rate is its running containers' rates.
    const running = usages.filter((u, i) => containers[i]!.running);
    const summed = running.length > 0 && running.every((u) => u.nanoCores !== undefined) ? running.reduce((n, u) => n + u.nanoCores!, 0) : undefined;
    return {
      id: pod.id,
      atNs: cached?.atNs ?? usages[0]?.atNs ?? 0n,
      cgroup: cached?.cgroup,
      nanoCores: sampler.rates.rate(key) ?? summed,
      network: sampler.network(pod.id),
      containers: usages,
    };
  }
}
