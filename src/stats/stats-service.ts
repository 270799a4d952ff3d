/**
 * Answers stats questions from the sampler's cache. A container the sampler has not
 * seen twice yet (it just started) gets a fresh cgroup reading and a rate over the time
 * since its first sample, so even the first call after a start carries usage_nano_cores
 * (cri-api.md item 29); a container never walked gets its writable layer walked once.
 */
import { nanoCoresBetween } from './cpu-rate.ts';
import type { StatsSampler } from './sampler.ts';
import type { BlockDevice } from './block-device.ts';
import type { ContainerTarget, ContainerUsage, PodTarget, PodUsage } from './targets.ts';

/** A window shorter than this gives a rate too noisy to report. */
const MIN_WINDOW_NS = 50_000_000n;

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

  async container(target: ContainerTarget): Promise<ContainerUsage> {
    const { sampler } = this.#deps;
    const key = `c:${target.id}`;
    let cached = sampler.cgroup(key);
    let nanoCores = sampler.rates.rate(key);
    if (target.running && nanoCores === undefined) {
      const fresh = await sampler.readContainer(target);
      const first = sampler.rates.last(key);
      if (fresh) {
        if (first && fresh.cgroup.cpuUsageNs !== undefined && fresh.atNs - first.atNs >= MIN_WINDOW_NS) {
          nanoCores = nanoCoresBetween(first, { cpuNs: fresh.cgroup.cpuUsageNs, atNs: fresh.atNs });
        } else if (!first) {
          await sampler.sampleContainer(target);
        }
        cached = fresh;
      }
    }
    const disk = sampler.disk(target.id) ?? (await sampler.walkLayer(target).catch(() => undefined));
    return {
      id: target.id, podId: target.podId, atNs: cached?.atNs ?? disk?.atNs ?? 0n, cgroup: cached?.cgroup, nanoCores, loadMilli: sampler.loads.milliLoad(key), disk,
      fsMountpoint: this.#deps.fsMountpoint, layerDevice: this.#deps.layerDevice,
    };
  }

  /** Many containers, read in parallel (ListContainerStats). */
  containers(targets: readonly ContainerTarget[]): Promise<ContainerUsage[]> {
    return Promise.all(targets.map((t) => this.container(t)));
  }

  async pod(pod: PodTarget, containers: readonly ContainerTarget[]): Promise<PodUsage> {
    const { sampler } = this.#deps;
    const key = `p:${pod.id}`;
    const cached = sampler.cgroup(key);
    const usages = await this.containers(containers);
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
