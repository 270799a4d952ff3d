/**
 * Memory after load (issue 18 item 6). An ExecSync storm: 1,000 calls, 50 at a time, one in
 * ten printing 20 MiB (past the 16 MiB cap) and the rest a line. Then 100 pods created and
 * removed one after another. For each: the daemon's RSS before (quiet), its peak (sampled
 * every 50 ms), at the end and 30 s after. Targets: 30 s after the storm within 20 MiB of
 * the RSS before it, 30 s after the pods within 10 MiB. The timed part is ExecSync of `true`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CriClient } from '../../test/integration/helpers/cri-client.ts';
import { startRegistry, type RunningRegistry } from '../../test/fixtures/registry.ts';
import { registriesConfText } from '../../test/fixtures/registries-conf.ts';
import { buildImage, busyboxRootfsLayer, DEFAULT_PATH_ENV, pushImage, type PushedImage } from '../../test/fixtures/image-builder.ts';
import { PerEndpoint, type Scenario, type Timer } from '../harness.ts';
import { runBenchPod, createSleeper, type BenchPod } from './workload.ts';
import { rssKiB, serverPid, socketOf } from '../proc.ts';

const STORM_CALLS = 1000;
const STORM_CONCURRENCY = 50;
const BIG_EVERY = 10;
const BIG_BYTES = 20 * 1024 * 1024;
const SETTLE_MS = 30_000;
const PODS = 100;
const DEADLINE = { deadlineMs: 120_000 };
const POD_NETWORK = { network: 0, pid: 1, ipc: 0 };

const mib = (kib: number): string => (kib / 1024).toFixed(1);
const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The daemon's RSS before `work` (the daemon quiet), its peak during (sampled every 50 ms) and 30 s after. */
async function measureAround(pid: number, work: () => Promise<unknown>): Promise<{ ms: number; text: string }> {
  const idle = await rssKiB(pid);
  let peak = idle;
  const sampler = setInterval(() => void rssKiB(pid).then((k) => { peak = Math.max(peak, k); }), 50);
  const started = Date.now();
  try {
    await work();
  } finally {
    clearInterval(sampler);
  }
  const ms = Date.now() - started;
  const end = await rssKiB(pid);
  await delay(SETTLE_MS);
  const after = await rssKiB(pid);
  return { ms, text: `RSS idle ${mib(idle)} MiB, peak ${mib(peak)} MiB, at the end ${mib(end)} MiB, ${SETTLE_MS / 1000} s later ${mib(after)} MiB (${after >= idle ? '+' : ''}${mib(after - idle)} MiB)` };
}

class MemoryBenchmark implements Scenario {
  readonly name = 'memory';
  readonly describe = 'RSS around an ExecSync storm (1,000 calls, 50 concurrent, some > 16 MiB) and after 100 pods come and go';
  #registry: RunningRegistry | undefined;
  #image: PushedImage | undefined;
  /** Per endpoint: its log dir, its exec pod and container. */
  readonly #state = new PerEndpoint<{ logs: string; pod?: BenchPod; container: string }>('memory');

  async beforeDaemon(): Promise<{ registriesConf: string; close(): Promise<void> }> {
    const built = await buildImage({ layers: [await busyboxRootfsLayer()], config: { Cmd: ['sh'], Env: [DEFAULT_PATH_ENV] } });
    this.#registry = await startRegistry();
    this.#image = await pushImage(this.#registry, 'critter-bench/busybox', 'latest', built);
    const registry = this.#registry;
    return { registriesConf: registriesConfText(registry.host), close: () => registry.stop() };
  }

  async setup(client: CriClient): Promise<void> {
    if (!this.#image) throw new Error('the memory scenario needs run.ts to call beforeDaemon() first');
    await client.call('PullImage', { image: { image: this.#image.reference } }, DEADLINE);
    const state = this.#state.set(client, { logs: await mkdtemp(join(tmpdir(), 'critter-bench-mem-logs-')), container: '' });
    state.pod = await runBenchPod(client, `bench-mem-${randomBytes(3).toString('hex')}`, state.logs, POD_NETWORK);
    state.container = await createSleeper(client, state.pod, 'exec', this.#image.reference, POD_NETWORK);
    await client.call('StartContainer', { container_id: state.container }, DEADLINE);
  }

  async run(client: CriClient, iterations: number, time: Timer): Promise<void> {
    const { container } = this.#state.get(client);
    for (let i = 0; i < iterations; i++) await time('ExecSync', () => client.call('ExecSync', { container_id: container, cmd: ['true'], timeout: 10 }, DEADLINE));
  }

  async teardown(client: CriClient): Promise<void> {
    const pid = await serverPid(socketOf(client));
    const state = this.#state.get(client);
    try {
      await delay(5000);
      const outcomes = { ok: 0, big: 0, bigEmpty: 0, exhausted: 0, other: 0 };
      // What the other errors were: "code message" → count, so a failure is named, not counted.
      const others = new Map<string, number>();
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < STORM_CALLS) {
          const i = next++;
          const big = i % BIG_EVERY === 0;
          const cmd = big ? ['head', '-c', String(BIG_BYTES), '/dev/zero'] : ['echo', 'ok'];
          try {
            const r = await client.call('ExecSync', { container_id: state.container, cmd, timeout: 30 }, DEADLINE);
            if (!big) outcomes.ok++;
            else if ((r.stdout as Buffer).length > 0) outcomes.big++;
            else outcomes.bigEmpty++;
          } catch (err) {
            if ((err as { code?: number }).code === 8) outcomes.exhausted++;
            else {
              outcomes.other++;
              const e = err as { code?: number; details?: string; message?: string };
              const key = `${big ? 'big' : 'small'} code ${e.code ?? '?'}: ${(e.details ?? e.message ?? String(err)).slice(0, 200)}`;
              others.set(key, (others.get(key) ?? 0) + 1);
            }
          }
        }
      };
      const storm = await measureAround(pid, () => Promise.all(Array.from({ length: STORM_CONCURRENCY }, worker)));
      console.log(`ExecSync storm: ${STORM_CALLS} calls, ${STORM_CONCURRENCY} concurrent, 1 in ${BIG_EVERY} printing ${BIG_BYTES / 1024 / 1024} MiB, in ${(storm.ms / 1000).toFixed(1)} s ` +
        `(small ok ${outcomes.ok}, big answered ${outcomes.big}${outcomes.bigEmpty ? ` (${outcomes.bigEmpty} more with no output)` : ''}, RESOURCE_EXHAUSTED ${outcomes.exhausted}, other errors ${outcomes.other}); ` +
        `${storm.text} (target: ≤ +20 MiB)`);
      for (const [key, n] of others) console.log(`  ${n} × ${key}`);

      const pods = await measureAround(pid, async () => {
        for (let i = 0; i < PODS; i++) {
          const p = await runBenchPod(client, `bench-mem-pod-${i}-${randomBytes(2).toString('hex')}`, state.logs, POD_NETWORK);
          await client.call('StopPodSandbox', { pod_sandbox_id: p.id }, DEADLINE);
          await client.call('RemovePodSandbox', { pod_sandbox_id: p.id }, DEADLINE);
        }
      });
      console.log(`${PODS} pods created and removed one after another in ${(pods.ms / 1000).toFixed(1)} s: ${pods.text} (target: ≤ +10 MiB)`);
    } finally {
      this.#state.take(client);
      if (state.pod) {
        await client.call('StopPodSandbox', { pod_sandbox_id: state.pod.id }, DEADLINE).catch(() => undefined);
        await client.call('RemovePodSandbox', { pod_sandbox_id: state.pod.id }, DEADLINE).catch(() => undefined);
      }
      await rm(state.logs, { recursive: true, force: true });
    }
  }
}

export const memory = new MemoryBenchmark();
