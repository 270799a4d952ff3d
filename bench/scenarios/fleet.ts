/**
 * A fleet of N pods, each with one `sleep 3600` container, on one endpoint: what the stats,
 * idle-CPU (host network) and scale (CNI network) scenarios run against. Each endpoint gets its own fleet
 * (own ids, own log dir, own pod cgroup parent), so a comparison never mixes the two
 * runtimes' lists. Pods sit under a cgroup parent of their own (`/critter-bench-<tag>/podN`),
 * which containerd's ListPodSandboxStats needs; `remove()` removes the pods and then the
 * cgroup dirs the runtimes leave behind under that parent.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CriClient } from '../../test/integration/helpers/cri-client.ts';
import { createSleeper, runBenchPod } from './workload.ts';
import { parentPid } from '../proc.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const DEADLINE = { deadlineMs: 120_000 };
/** NODE network (no CNI, no netns), CONTAINER pid: nothing runs for the pod itself in critter. */
export const HOST_NETWORK = { network: 2, pid: 1, ipc: 0 };
/** Creating and removing pods in a few parallel lanes keeps set-up short on 2 cores. */
const LANES = 4;
const CGROUP_ROOT = '/sys/fs/cgroup';

export async function inLanes<T>(items: readonly T[], lanes: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: lanes }, lane));
}

export interface FleetOptions {
  /** The pods' namespace options (default HOST_NETWORK). */
  namespaceOptions?: { network: number; pid: number; ipc: number };
}

export class Fleet {
  readonly pods: string[] = [];
  readonly containers: string[] = [];
  readonly #client: CriClient;
  readonly #tag = randomBytes(3).toString('hex');
  readonly #ns: { network: number; pid: number; ipc: number };
  #logs = '';
  #created = 0;

  constructor(client: CriClient, opts: FleetOptions = {}) {
    this.#client = client;
    this.#ns = opts.namespaceOptions ?? HOST_NETWORK;
  }

  get cgroupParentRoot(): string {
    return `/critter-bench-${this.#tag}`;
  }

  /** Pulls nothing: `image` must be present. Returns the seconds it took. */
  async create(n: number, image: string): Promise<number> {
    const started = Date.now();
    // The first pod alone: the first use of a runtime's state dirs is not what this measures.
    await this.add(1, image, 1);
    await this.add(n - 1, image, LANES);
    return (Date.now() - started) / 1000;
  }

  /**
   * `count` more pods (RunPodSandbox + CreateContainer + StartContainer each) in `lanes`
   * parallel lanes; returns each pod's wall time in ms, in the order they finished.
   */
  async add(count: number, image: string, lanes: number): Promise<number[]> {
    const client = this.#client;
    if (!this.#logs) this.#logs = await mkdtemp(join(tmpdir(), 'critter-bench-fleet-logs-'));
    const first = this.#created;
    this.#created += count;
    const times: number[] = [];
    await inLanes(Array.from({ length: count }, (_, i) => first + i), lanes, async (i) => {
      const t0 = process.hrtime.bigint();
      const pod = await runBenchPod(client, `bench-${this.#tag}-p${i}`, this.#logs, this.#ns, `${this.cgroupParentRoot}/pod${i}`);
      this.pods.push(pod.id);
      const id = await createSleeper(client, pod, 'app', image, this.#ns);
      await client.call('StartContainer', { container_id: id }, DEADLINE);
      this.containers.push(id);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    });
    return times;
  }

  /** Parents of the containers' and pod processes' pids: critter's conmons, containerd's shims. */
  async helperPids(): Promise<Set<number>> {
    return helperPidsOf(this.#client, this.containers, this.pods);
  }

  /**
   * Removes every pod (`lanes` at a time), then the log dir and the cgroup dirs left under
   * the parent. Returns the seconds the pods' removal took.
   */
  async remove(lanes = LANES): Promise<number> {
    const client = this.#client;
    const pods = this.pods.splice(0);
    this.containers.splice(0);
    const started = Date.now();
    await inLanes(pods, lanes, async (id) => {
      // `sleep` as pid 1 ignores SIGTERM: no grace period to wait out.
      const listed = (await client.call('ListContainers', { filter: { pod_sandbox_id: id } }).catch(() => ({ containers: [] }))).containers as Any[];
      for (const c of listed) await client.call('StopContainer', { container_id: c.id, timeout: 0 }, DEADLINE).catch(() => undefined);
      await client.call('StopPodSandbox', { pod_sandbox_id: id }, DEADLINE).catch(() => undefined);
      await client.call('RemovePodSandbox', { pod_sandbox_id: id }, DEADLINE).catch(() => undefined);
    });
    const seconds = (Date.now() - started) / 1000;
    if (this.#logs) await rm(this.#logs, { recursive: true, force: true });
    this.#logs = '';
    await removeCgroupTree(this.cgroupParentRoot);
    return seconds;
  }
}

/**
 * Parents of the given containers' and pods' processes, as the runtime reports them in
 * verbose status: conmon for critter, the pod's shim for containerd (whose pause process
 * is the pod's).
 */
export async function helperPidsOf(client: CriClient, containers: readonly string[], pods: readonly string[]): Promise<Set<number>> {
  const pids: number[] = [];
  const pidOf = (info: Record<string, string> | undefined): number => Number((JSON.parse(info?.['info'] ?? '{}') as Any).pid ?? 0);
  for (const id of containers) pids.push(pidOf((await client.call('ContainerStatus', { container_id: id, verbose: true })).info as Record<string, string>));
  for (const id of pods) pids.push(pidOf((await client.call('PodSandboxStatus', { pod_sandbox_id: id, verbose: true })).info as Record<string, string>));
  const out = new Set<number>();
  for (const p of pids) {
    const parent = p > 0 ? await parentPid(p) : undefined;
    if (parent !== undefined) out.add(parent);
  }
  return out;
}

/** rmdir of `path` in every hierarchy under /sys/fs/cgroup, children first. */
async function removeCgroupTree(path: string): Promise<void> {
  const hierarchies = await readdir(CGROUP_ROOT).catch(() => [] as string[]);
  const remove = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) if (e.isDirectory()) await remove(join(dir, e.name));
    await rmdir(dir).catch(() => undefined);
  };
  for (const h of hierarchies) await remove(join(CGROUP_ROOT, h, path));
  await remove(join(CGROUP_ROOT, path));
}
