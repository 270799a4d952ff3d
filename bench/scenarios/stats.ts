/**
 * Stats at scale (issue "Stats", "a stats call for 100 containers stays cheap"): N pods
 * (default 100, env CRITTER_BENCH_STATS_PODS) on the host network with a per-container pid
 * namespace, so no infra process runs, each with one `sleep 3600` busybox container. Then
 * ListContainerStats and ListPodSandboxStats are timed `iterations` times each (they answer
 * from the sampler's latest sample, so the cost is the per-call assembly for N entries).
 * Last, memory and the sampler's cost: the server's RSS, the summed RSS of the helpers
 * (conmons or shims: parents of the containers' pids), and the server's CPU time over a
 * window right after the calls, while the sampler still refreshes what they asked for.
 * Each endpoint has its own fleet (fleet.ts), so --compare never mixes their lists.
 * The server process is found from the unix socket the client talks to.
 */
import type { CriClient } from '../../test/integration/helpers/cri-client.ts';
import { BenchBusyboxScenario } from './bench-image.ts';
import type { Scenario, Timer } from '../harness.ts';
import { Fleet } from './fleet.ts';
import { rssKiB, cpuTicks, serverPid, socketOf } from '../proc.ts';

const DEFAULT_PODS = 100;
const PODS_ENV = 'CRITTER_BENCH_STATS_PODS';
/** Two default sample periods (10 s): the idle CPU window covers whole sampler rounds. */
const IDLE_WINDOW_MS = 20_000;
const DEADLINE = { deadlineMs: 120_000 };

function podCount(): number {
  const raw = process.env[PODS_ENV];
  const n = raw === undefined ? DEFAULT_PODS : Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${PODS_ENV}=${raw} is not a positive integer`);
  return n;
}

const mib = (kib: number): string => (kib / 1024).toFixed(1);

class StatsBenchmark extends BenchBusyboxScenario implements Scenario {
  readonly name = 'stats';
  readonly describe = `ListContainerStats and ListPodSandboxStats with N host-network pods × 1 busybox container (N = $${PODS_ENV}, default ${DEFAULT_PODS}), RSS and idle sampler CPU`;
  readonly #fleets = new Map<CriClient, Fleet>();

  async setup(client: CriClient): Promise<void> {
    await client.call('PullImage', { image: { image: this.image.reference } }, DEADLINE);
    // One fleet per endpoint: with --compare each runtime lists only its own pods.
    const fleet = new Fleet(client);
    this.#fleets.set(client, fleet);
    const n = podCount();
    const seconds = await fleet.create(n, this.image.reference);
    console.log(`${n} pods × 1 container created and started in ${seconds.toFixed(1)} s`);
  }

  async run(client: CriClient, iterations: number, time: Timer): Promise<void> {
    const fleet = this.#fleet(client);
    for (let i = 0; i < iterations; i++) {
      const { stats } = await time('ListContainerStats', () => client.call('ListContainerStats', {}, DEADLINE));
      if (stats.length !== fleet.containers.length) throw new Error(`ListContainerStats listed ${stats.length} of ${fleet.containers.length} containers`);
    }
    for (let i = 0; i < iterations; i++) {
      const { stats } = await time('ListPodSandboxStats', () => client.call('ListPodSandboxStats', {}, DEADLINE));
      if (stats.length !== fleet.pods.length) throw new Error(`ListPodSandboxStats listed ${stats.length} of ${fleet.pods.length} pods`);
    }
  }

  async teardown(client: CriClient): Promise<void> {
    const fleet = this.#fleet(client);
    try {
      const pid = await serverPid(socketOf(client));
      const helpers = await fleet.helperPids();
      let helperKiB = 0;
      for (const h of helpers) helperKiB += await rssKiB(h);
      const ticks0 = await cpuTicks(pid);
      await new Promise((r) => setTimeout(r, IDLE_WINDOW_MS));
      const cpuPct = ((await cpuTicks(pid)) - ticks0) / (IDLE_WINDOW_MS / 1000); // ticks/s at 100 Hz = % of a core
      const busy = await rssKiB(pid);
      console.log(`server pid ${pid} with ${fleet.pods.length} pods × 1 container: RSS ${mib(busy)} MiB; ` +
        `${helpers.size} helper processes ${mib(helperKiB)} MiB (${mib(helperKiB / Math.max(1, helpers.size))} MiB each); ` +
        `total ${mib(busy + helperKiB)} MiB; server CPU after the calls ${cpuPct.toFixed(1)}% of a core over ${IDLE_WINDOW_MS / 1000} s`);
    } finally {
      const started = Date.now();
      await fleet.remove();
      this.#fleets.delete(client);
      console.log(`removed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
  }

  #fleet(client: CriClient): Fleet {
    const fleet = this.#fleets.get(client);
    if (!fleet) throw new Error('the stats scenario ran before its setup');
    return fleet;
  }
}

export const stats = new StatsBenchmark();
