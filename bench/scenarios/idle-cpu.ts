/**
 * Daemon CPU at scale (issue 15 item 2): N host-network pods × 1 `sleep` container
 * (default 100, env CRITTER_BENCH_IDLE_PODS) on each endpoint, then the daemons' CPU time
 * (utime + stime from /proc/PID/stat) over two windows of CRITTER_BENCH_IDLE_WINDOW_S
 * seconds (default 60):
 *  - idle: no calls at all;
 *  - kubelet-like: ListPodSandbox + ListContainers every second, ListContainerStats +
 *    ListPodSandboxStats every 10 s (the kubelet's PLEG relist and its stats housekeeping).
 * With --compare both endpoints hold their fleets at once and each window is measured on
 * both daemons over the same seconds, so a shared machine's load falls on both alike.
 * The helpers (conmons, shims: the parents of the containers) are measured too, apart.
 * CPU time, not wall time: on a busy machine it counts what the daemon did, not how long
 * it waited for a core.
 */
import type { CriClient } from '../../test/integration/helpers/cri-client.ts';
import { BenchBusyboxScenario } from './bench-image.ts';
import type { Endpoint, Scenario } from '../harness.ts';
import { Fleet } from './fleet.ts';
import { cpuTicks, serverPid, socketOf } from '../proc.ts';

const PODS_ENV = 'CRITTER_BENCH_IDLE_PODS';
const WINDOW_ENV = 'CRITTER_BENCH_IDLE_WINDOW_S';
const LIST_PERIOD_MS = 1000;
const STATS_PERIOD_MS = 10_000;
/** Settling before the idle window: creation's after-effects (first samples, GC) are not idle. */
const SETTLE_MS = 15_000;
const DEADLINE = { deadlineMs: 120_000 };

function positiveInt(env: string, dflt: number): number {
  const raw = process.env[env];
  const n = raw === undefined ? dflt : Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${env}=${raw} is not a positive integer`);
  return n;
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Measured {
  label: string;
  client: CriClient;
  fleet: Fleet;
  daemonPid: number;
  helpers: number[];
}

async function ticksOf(pids: readonly number[]): Promise<number> {
  let n = 0;
  for (const p of pids) n += await cpuTicks(p).catch(() => 0);
  return n;
}

/** The kubelet-like call pattern against one endpoint until `stopAt` (ms since the epoch); returns the calls made. */
async function kubeletLoad(client: CriClient, expectPods: number, stopAt: number): Promise<number> {
  let calls = 0;
  let nextStats = Date.now();
  while (Date.now() < stopAt) {
    const tickStart = Date.now();
    const [{ items }] = await Promise.all([client.call('ListPodSandbox', {}, DEADLINE), client.call('ListContainers', {}, DEADLINE)]);
    calls += 2;
    if ((items as unknown[]).length < expectPods) throw new Error(`ListPodSandbox listed ${(items as unknown[]).length} of ${expectPods} pods`);
    if (tickStart >= nextStats) {
      nextStats += STATS_PERIOD_MS;
      const [c, p] = await Promise.all([client.call('ListContainerStats', {}, DEADLINE), client.call('ListPodSandboxStats', {}, DEADLINE)]);
      calls += 2;
      if ((c.stats as unknown[]).length < expectPods || (p.stats as unknown[]).length < expectPods) {
        throw new Error(`stats listed ${(c.stats as unknown[]).length} containers and ${(p.stats as unknown[]).length} pods of ${expectPods}`);
      }
    }
    await delay(Math.max(0, tickStart + LIST_PERIOD_MS - Date.now()));
  }
  return calls;
}

class IdleCpuBenchmark extends BenchBusyboxScenario implements Scenario {
  readonly name = 'idle-cpu';
  readonly describe = `daemon CPU with N host-network pods × 1 container (N = $${PODS_ENV}, default 100) idle and under a kubelet-like call pattern`;

  async run(): Promise<void> {
    throw new Error('the idle-cpu scenario measures windows, not iterations: run.ts calls measure()');
  }

  async measure(endpoints: readonly Endpoint[]): Promise<void> {
    const pods = positiveInt(PODS_ENV, 100);
    const windowMs = positiveInt(WINDOW_ENV, 60) * 1000;
    const measured: Measured[] = [];
    try {
      for (const { label, client } of endpoints) {
        await client.call('PullImage', { image: { image: this.image.reference } }, DEADLINE);
        const fleet = new Fleet(client);
        measured.push({ label, client, fleet, daemonPid: await serverPid(socketOf(client)), helpers: [] });
        const s = await fleet.create(pods, this.image.reference);
        console.log(`${label}: ${pods} pods × 1 container created and started in ${s.toFixed(1)} s`);
      }
      for (const m of measured) m.helpers = [...(await m.fleet.helperPids())];
      await delay(SETTLE_MS);
      const window = async (name: string, load: boolean): Promise<void> => {
        const before = await Promise.all(measured.map(async (m) => [await ticksOf([m.daemonPid]), await ticksOf(m.helpers)]));
        const started = Date.now();
        const calls = load
          ? await Promise.all(measured.map((m) => kubeletLoad(m.client, pods, started + windowMs)))
          : (await delay(windowMs), measured.map(() => 0));
        const seconds = (Date.now() - started) / 1000;
        const after = await Promise.all(measured.map(async (m) => [await ticksOf([m.daemonPid]), await ticksOf(m.helpers)]));
        // Ticks are 1/100 s: ticks per second is % of a core.
        const pct = measured.map((_, i) => ((after[i]![0]! - before[i]![0]!) / seconds));
        measured.forEach((m, i) => {
          const helperPct = (after[i]![1]! - before[i]![1]!) / seconds;
          console.log(`${name}: ${m.label} daemon CPU ${pct[i]!.toFixed(2)} % of a core over ${seconds.toFixed(0)} s` +
            `${load ? ` (${calls[i]} calls)` : ''}; ${m.helpers.length} helper processes ${helperPct.toFixed(2)} %`);
        });
        if (measured.length === 2) console.log(`${name}: daemon CPU ratio ${measured[0]!.label}/${measured[1]!.label} ${(pct[0]! / pct[1]!).toFixed(2)}`);
      };
      await window('idle', false);
      await window('kubelet-like', true);
    } finally {
      for (const m of measured) await m.fleet.remove();
    }
  }
}

export const idleCpu = new IdleCpuBenchmark();
