/**
 * A fleet of N host-network pods, each with one `sleep 3600` container, on one endpoint:
 * what the stats and idle-CPU scenarios run against. Each endpoint gets its own fleet
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

export class Fleet {
  readonly pods: string[] = [];
  readonly containers: string[] = [];
  readonly #client: CriClient;
  readonly #tag = randomBytes(3).toString('hex');
  #logs = '';

  constructor(client: CriClient) {
    this.#client = client;
  }

  get cgroupParentRoot(): string {
    return `/critter-bench-${this.#tag}`;
  }

  /** Pulls nothing: `image` must be present. Returns the seconds it took. */
  async create(n: number, image: string): Promise<number> {
    const client = this.#client;
    this.#logs = await mkdtemp(join(tmpdir(), 'critter-bench-fleet-logs-'));
    const started = Date.now();
    const createOne = async (i: number): Promise<void> => {
      const pod = await runBenchPod(client, `bench-${this.#tag}-p${i}`, this.#logs, HOST_NETWORK, `${this.cgroupParentRoot}/pod${i}`);
      this.pods.push(pod.id);
      const id = await createSleeper(client, pod, 'app', image, HOST_NETWORK);
      await client.call('StartContainer', { container_id: id }, DEADLINE);
      this.containers.push(id);
    };
    // The first pod alone: the first use of a runtime's state dirs is not what this measures.
    await createOne(0);
    await inLanes(Array.from({ length: n - 1 }, (_, i) => i + 1), LANES, createOne);
    return (Date.now() - started) / 1000;
  }

  /** Parents of the containers' pids: critter's conmons, containerd's shims. */
  async helperPids(): Promise<Set<number>> {
    const out = new Set<number>();
    for (const id of this.containers) {
      const info = (await this.#client.call('ContainerStatus', { container_id: id, verbose: true })).info as Record<string, string>;
      const pid = Number((JSON.parse(info['info'] ?? '{}') as Any).pid ?? 0);
      const parent = pid > 0 ? await parentPid(pid) : undefined;
      if (parent !== undefined) out.add(parent);
    }
    return out;
  }

  /** Removes every pod, then the log dir and the cgroup dirs left under the parent. */
  async remove(): Promise<void> {
    const client = this.#client;
    const pods = this.pods.splice(0);
    this.containers.splice(0);
    await inLanes(pods, LANES, async (id) => {
      // `sleep` as pid 1 ignores SIGTERM: no grace period to wait out.
      const listed = (await client.call('ListContainers', { filter: { pod_sandbox_id: id } }).catch(() => ({ containers: [] }))).containers as Any[];
      for (const c of listed) await client.call('StopContainer', { container_id: c.id, timeout: 0 }, DEADLINE).catch(() => undefined);
      await client.call('StopPodSandbox', { pod_sandbox_id: id }, DEADLINE).catch(() => undefined);
      await client.call('RemovePodSandbox', { pod_sandbox_id: id }, DEADLINE).catch(() => undefined);
    });
    if (this.#logs) await rm(this.#logs, { recursive: true, force: true });
    await removeCgroupTree(this.cgroupParentRoot);
  }
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
