/**
 * Container lifecycle cost and memory (issue "Containers", benchmark item). In one pod on
 * the CNI network: CreateContainer for N busybox containers, then StartContainer, ExecSync
 * (`true`), StopContainer (timeout 0: both runtimes SIGKILL at once) and RemoveContainer
 * for each, so each RPC's p50/p90 is over N samples. Then "pod + container from scratch"
 * (RunPodSandbox + CreateContainer + StartContainer, timed as one) N times. Last, memory:
 * the server's RSS idle, and with 20 pods each running one container, plus the summed RSS
 * of the per-container/per-pod helper processes (conmon for critter, containerd's shims):
 * the parents of the containers' and sandboxes' pids, as the runtime reports them.
 * Each figure has its PSS beside it (shared pages split between the processes sharing them).
 * The server process is found from the unix socket the client talks to.
 * Target: medians ≤ containerd's; server + helpers at 20 pods ≤ 1/3 of containerd + shims.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CriClient } from '../../test/integration/helpers/cri-client.ts';
import { BenchBusyboxScenario } from './bench-image.ts';
import { PerEndpoint, type Scenario, type Timer } from '../harness.ts';
import { runBenchPod, createSleeper, waitForNetworkReady, type BenchPod } from './workload.ts';
import { rssKiB, pssKiB, serverPid, socketOf } from '../proc.ts';
import { helperPidsOf } from './fleet.ts';

const MEMORY_PODS = 20;
const DEADLINE = { deadlineMs: 120_000 };
const POD_NETWORK = { network: 0, pid: 1, ipc: 0 };

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const mib = (kib: number): string => (kib / 1024).toFixed(1);

class ContainersBenchmark extends BenchBusyboxScenario implements Scenario {
  readonly name = 'containers';
  readonly describe = 'Create/Start/ExecSync/Stop/RemoveContainer for N busybox containers in one pod, pod + container from scratch, RSS at 20 pods';
  /** Per endpoint: the log dir its pods write under. */
  readonly #logs = new PerEndpoint<string>('containers');
  #run = '';

  /**
   * A fresh daemon's first container lifecycles run cold code: measured on critter, the
   * first CreateContainer calls take about twice the steady ones and settle after ~10.
   * Ten untimed cycles, for both runtimes, so the medians describe a daemon in service.
   */
  warmupIterations(): number {
    return 10;
  }

  async setup(client: CriClient): Promise<void> {
    await waitForNetworkReady(client);
    // containerd pulls from 127.0.0.1 over plain HTTP by itself; critter through its registries.conf.
    await client.call('PullImage', { image: { image: this.image.reference } }, DEADLINE);
    this.#logs.set(client, await mkdtemp(join(tmpdir(), 'critter-bench-ctr-logs-')));
  }

  async run(client: CriClient, iterations: number, time: Timer): Promise<void> {
    this.#run = randomBytes(3).toString('hex');
    const pods: string[] = [];
    try {
      const pod = await this.#pod(client, 'lifecycle');
      pods.push(pod.id);
      const ids: string[] = [];
      for (let i = 0; i < iterations; i++) ids.push(await time('CreateContainer', () => this.#create(client, pod, `c${i}`)));
      for (const id of ids) await time('StartContainer', () => client.call('StartContainer', { container_id: id }, DEADLINE));
      for (const id of ids) await time('ExecSync', () => client.call('ExecSync', { container_id: id, cmd: ['true'], timeout: 10 }, DEADLINE));
      for (const id of ids) await time('StopContainer', () => client.call('StopContainer', { container_id: id, timeout: 0 }, DEADLINE));
      for (const id of ids) await time('RemoveContainer', () => client.call('RemoveContainer', { container_id: id }, DEADLINE));
      for (let i = 0; i < iterations; i++) {
        await time('pod + container from scratch', async () => {
          const p = await this.#pod(client, `scratch${i}`);
          pods.push(p.id);
          await client.call('StartContainer', { container_id: await this.#create(client, p, 'app') }, DEADLINE);
        });
      }
    } finally {
      await this.#removePods(client, pods);
    }
  }

  async teardown(client: CriClient): Promise<void> {
    const pid = await serverPid(socketOf(client));
    const idle = await rssKiB(pid);
    const idlePss = await pssKiB(pid);
    const pods: string[] = [];
    try {
      const containers: string[] = [];
      for (let i = 0; i < MEMORY_PODS; i++) {
        const pod = await this.#pod(client, `mem${i}`);
        pods.push(pod.id);
        const id = await this.#create(client, pod, 'app');
        await client.call('StartContainer', { container_id: id }, DEADLINE);
        containers.push(id);
      }
      await new Promise((r) => setTimeout(r, 2000));
      const helpers = await helperPidsOf(client, containers, pods);
      let helperKiB = 0;
      let helperPssKiB = 0;
      for (const h of helpers) {
        helperKiB += await rssKiB(h);
        helperPssKiB += await pssKiB(h);
      }
      const busy = await rssKiB(pid);
      const busyPss = await pssKiB(pid);
      // RSS is the measure; PSS beside it because the helpers share their binary and libraries.
      console.log(`server pid ${pid}: RSS idle ${mib(idle)} MiB (PSS ${mib(idlePss)}), with ${MEMORY_PODS} pods × 1 container ${mib(busy)} MiB (PSS ${mib(busyPss)}); ` +
        `${helpers.size} helper processes (conmon / shims) ${mib(helperKiB)} MiB (PSS ${mib(helperPssKiB)}); total ${mib(busy + helperKiB)} MiB (PSS ${mib(busyPss + helperPssKiB)})`);
    } finally {
      await this.#removePods(client, pods);
      const logs = this.#logs.take(client);
      if (logs) await rm(logs, { recursive: true, force: true });
    }
  }

  #pod(client: CriClient, suffix: string): Promise<BenchPod> {
    return runBenchPod(client, `bench-${this.#run}-${suffix}`, this.#logs.get(client), POD_NETWORK);
  }

  #create(client: CriClient, pod: BenchPod, name: string): Promise<string> {
    return createSleeper(client, pod, name, this.image.reference, POD_NETWORK);
  }

  async #removePods(client: CriClient, pods: string[]): Promise<void> {
    for (const id of pods.splice(0)) {
      // Both runtimes then stop in the same way, without a grace period for `sleep` as pid 1.
      const listed = (await client.call('ListContainers', { filter: { pod_sandbox_id: id } }).catch(() => ({ containers: [] }))).containers as Any[];
      for (const c of listed) await client.call('StopContainer', { container_id: c.id, timeout: 0 }, DEADLINE).catch(() => undefined);
      await client.call('StopPodSandbox', { pod_sandbox_id: id }, DEADLINE).catch(() => undefined);
      await client.call('RemovePodSandbox', { pod_sandbox_id: id }, DEADLINE).catch(() => undefined);
    }
  }
}

export const containers = new ContainersBenchmark();
