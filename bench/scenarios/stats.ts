/**
 * Stats at scale (issue "Stats", "a stats call for 100 containers stays cheap"): N pods
 * (default 100, env CRITTER_BENCH_STATS_PODS) on the host network with a per-container pid
 * namespace, so no infra process runs, each with one `sleep 3600` busybox container. Then
 * ListContainerStats and ListPodSandboxStats are timed `iterations` times each (they answer
 * from the sampler's latest sample, so the cost is the per-call assembly for N entries).
 * Last, memory and the sampler's cost: the server's RSS, the summed RSS of the conmons
 * (parents of the containers' pids), and the server's CPU time over an idle window with
 * the N containers running, i.e. what sampling them costs in the background.
 * The server process is found from the unix socket the client talks to.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CriClient } from '../../test/integration/helpers/cri-client.ts';
import { startRegistry, type RunningRegistry } from '../../test/fixtures/registry.ts';
import { registriesConfText } from '../../test/fixtures/registries-conf.ts';
import { buildImage, busyboxRootfsLayer, DEFAULT_PATH_ENV, pushImage, symlink, type PushedImage } from '../../test/fixtures/image-builder.ts';
import type { Scenario, Timer } from '../harness.ts';
import { runBenchPod, createSleeper, type BenchPod } from './workload.ts';
import { rssKiB, parentPid, cpuTicks, serverPid, socketOf } from '../proc.ts';

const DEFAULT_PODS = 100;
const PODS_ENV = 'CRITTER_BENCH_STATS_PODS';
/** Creating and removing pods in a few parallel lanes keeps set-up short on 2 cores. */
const SETUP_LANES = 4;
/** Two default sample periods (10 s): the idle CPU window covers whole sampler rounds. */
const IDLE_WINDOW_MS = 20_000;
const DEADLINE = { deadlineMs: 120_000 };
/** NODE network (no CNI, no netns), CONTAINER pid: nothing runs for the pod itself. */
const HOST_NETWORK = { network: 2, pid: 1, ipc: 0 };

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function podCount(): number {
  const raw = process.env[PODS_ENV];
  const n = raw === undefined ? DEFAULT_PODS : Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${PODS_ENV}=${raw} is not a positive integer`);
  return n;
}

async function inLanes<T>(items: readonly T[], lanes: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: lanes }, lane));
}

const mib = (kib: number): string => (kib / 1024).toFixed(1);

class StatsBenchmark implements Scenario {
  readonly name = 'stats';
  readonly describe = `ListContainerStats and ListPodSandboxStats with N host-network pods × 1 busybox container (N = $${PODS_ENV}, default ${DEFAULT_PODS}), RSS and idle sampler CPU`;
  #registry: RunningRegistry | undefined;
  #image: PushedImage | undefined;
  #logs = '';
  #pods: string[] = [];
  #containers: string[] = [];

  async beforeDaemon(): Promise<{ registriesConf: string; close(): Promise<void> }> {
    // Applets as symlinks, as in the containers scenario, so the image also runs under containerd (--compare).
    const base = await busyboxRootfsLayer();
    const layer = { ...base, entries: base.entries.map((e) => (e.type === 'hardlink' ? symlink(e.path, 'busybox') : e)) };
    const built = await buildImage({ layers: [layer], config: { Cmd: ['sh'], Env: [DEFAULT_PATH_ENV] } });
    this.#registry = await startRegistry();
    this.#image = await pushImage(this.#registry, 'critter-bench/busybox', 'latest', built);
    const registry = this.#registry;
    return { registriesConf: registriesConfText(registry.host), close: () => registry.stop() };
  }

  async setup(client: CriClient): Promise<void> {
    if (!this.#image) throw new Error('the stats scenario needs run.ts to call beforeDaemon() first');
    await client.call('PullImage', { image: { image: this.#image.reference } }, DEADLINE);
    this.#logs = await mkdtemp(join(tmpdir(), 'critter-bench-stats-logs-'));
    const n = podCount();
    const run = randomBytes(3).toString('hex');
    const started = Date.now();
    const createOne = async (i: number): Promise<void> => {
      const pod = await this.#pod(client, `bench-${run}-stats${i}`);
      this.#pods.push(pod.id);
      const id = await this.#create(client, pod, 'app');
      await client.call('StartContainer', { container_id: id }, DEADLINE);
      this.#containers.push(id);
    };
    // The first pod alone: the daemon mounts its namespace directory on first use, and
    // concurrent first uses race to mount it twice (a known daemon bug, not what this measures).
    await createOne(0);
    await inLanes(Array.from({ length: n - 1 }, (_, i) => i + 1), SETUP_LANES, createOne);
    console.log(`${n} pods × 1 container created and started in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }

  async run(client: CriClient, iterations: number, time: Timer): Promise<void> {
    for (let i = 0; i < iterations; i++) {
      const { stats } = await time('ListContainerStats', () => client.call('ListContainerStats', {}, DEADLINE));
      if (stats.length !== this.#containers.length) throw new Error(`ListContainerStats listed ${stats.length} of ${this.#containers.length} containers`);
    }
    for (let i = 0; i < iterations; i++) {
      const { stats } = await time('ListPodSandboxStats', () => client.call('ListPodSandboxStats', {}, DEADLINE));
      if (stats.length !== this.#pods.length) throw new Error(`ListPodSandboxStats listed ${stats.length} of ${this.#pods.length} pods`);
    }
  }

  async teardown(client: CriClient): Promise<void> {
    try {
      const pid = await serverPid(socketOf(client));
      const helpers = await this.#conmonPids(client);
      let helperKiB = 0;
      for (const h of helpers) helperKiB += await rssKiB(h);
      const ticks0 = await cpuTicks(pid);
      await new Promise((r) => setTimeout(r, IDLE_WINDOW_MS));
      const cpuPct = ((await cpuTicks(pid)) - ticks0) / (IDLE_WINDOW_MS / 1000); // ticks/s at 100 Hz = % of a core
      const busy = await rssKiB(pid);
      console.log(`server pid ${pid} with ${this.#pods.length} pods × 1 container: RSS ${mib(busy)} MiB; ` +
        `${helpers.size} conmon processes ${mib(helperKiB)} MiB (${mib(helperKiB / Math.max(1, helpers.size))} MiB each); ` +
        `total ${mib(busy + helperKiB)} MiB; server CPU while idle (sampling) ${cpuPct.toFixed(1)}% of a core over ${IDLE_WINDOW_MS / 1000} s`);
    } finally {
      const started = Date.now();
      await this.#removeAll(client);
      console.log(`removed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      if (this.#logs) await rm(this.#logs, { recursive: true, force: true });
    }
  }

  /** Parents of the containers' pids: each container's conmon. */
  async #conmonPids(client: CriClient): Promise<Set<number>> {
    const out = new Set<number>();
    for (const id of this.#containers) {
      const info = (await client.call('ContainerStatus', { container_id: id, verbose: true })).info as Record<string, string>;
      const pid = Number((JSON.parse(info['info'] ?? '{}') as Any).pid ?? 0);
      const parent = pid > 0 ? await parentPid(pid) : undefined;
      if (parent !== undefined) out.add(parent);
    }
    return out;
  }

  #pod(client: CriClient, name: string): Promise<BenchPod> {
    return runBenchPod(client, name, this.#logs, HOST_NETWORK);
  }

  #create(client: CriClient, pod: BenchPod, name: string): Promise<string> {
    return createSleeper(client, pod, name, this.#image!.reference, HOST_NETWORK);
  }


  async #removeAll(client: CriClient): Promise<void> {
    const pods = this.#pods.splice(0);
    this.#containers = [];
    await inLanes(pods, SETUP_LANES, async (id) => {
      // `sleep` as pid 1 ignores SIGTERM: no grace period to wait out.
      const listed = (await client.call('ListContainers', { filter: { pod_sandbox_id: id } }).catch(() => ({ containers: [] }))).containers as Any[];
      for (const c of listed) await client.call('StopContainer', { container_id: c.id, timeout: 0 }, DEADLINE).catch(() => undefined);
      await client.call('StopPodSandbox', { pod_sandbox_id: id }, DEADLINE).catch(() => undefined);
      await client.call('RemovePodSandbox', { pod_sandbox_id: id }, DEADLINE).catch(() => undefined);
    });
  }
}

export const stats = new StatsBenchmark();
