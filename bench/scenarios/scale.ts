/**
 * Scale (issue 15 item 6): N pods on the CNI network (default 100, env
 * CRITTER_BENCH_SCALE_PODS), each with one `sleep` container, created and then removed on
 * each endpoint, first one pod after another, then in 10 parallel lanes. Per phase and
 * endpoint: the wall time to create them all and each pod's own time (RunPodSandbox +
 * CreateContainer + StartContainer, p50/p90), the time to remove them all, the daemon's
 * and the helpers' (conmons, shims) RSS and PSS before, at 20 and at N pods, the per-pod
 * slope between 20 and N, and the daemon's RSS 3 s and 30 s after all are removed.
 * Endpoints take turns phase by phase, and the second phase starts with the endpoint that
 * went second in the first, so slow drift on a shared machine does not favour one of them.
 * Memory figures are read after a short settle, when the last start's buffers are gone.
 */
import { BenchBusyboxScenario } from './bench-image.ts';
import { quantile, type Endpoint, type Scenario } from '../harness.ts';
import { Fleet } from './fleet.ts';
import { waitForNetworkReady } from './workload.ts';
import { pssKiB, rssKiB, serverPid, socketOf } from '../proc.ts';

const PODS_ENV = 'CRITTER_BENCH_SCALE_PODS';
const EARLY_PODS = 20;
const PARALLEL_LANES = 10;
const SETTLE_MS = 3000;
/** A second reading after removal: the daemon gives memory back once calls go quiet. */
const QUIET_MS = 30_000;
const DEADLINE = { deadlineMs: 120_000 };
/** Pod network from CNI, the containers in their own PID namespaces: a kubelet's default pod. */
const POD_NETWORK = { network: 0, pid: 1, ipc: 0 };

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const mib = (kib: number): string => (kib / 1024).toFixed(1);

function podCount(): number {
  const raw = process.env[PODS_ENV];
  const n = raw === undefined ? 100 : Number(raw);
  if (!Number.isInteger(n) || n <= EARLY_PODS) throw new Error(`${PODS_ENV}=${raw} must be an integer above ${EARLY_PODS}`);
  return n;
}

/** Daemon and helper memory at one moment, KiB. */
interface Memory {
  daemonRss: number;
  daemonPss: number;
  helpers: number;
  helperRss: number;
  helperPss: number;
}

async function memoryOf(daemonPid: number, fleet: Fleet | undefined): Promise<Memory> {
  const helpers = fleet ? [...(await fleet.helperPids())] : [];
  let helperRss = 0;
  let helperPss = 0;
  for (const h of helpers) {
    helperRss += await rssKiB(h);
    helperPss += await pssKiB(h);
  }
  return { daemonRss: await rssKiB(daemonPid), daemonPss: await pssKiB(daemonPid), helpers: helpers.length, helperRss, helperPss };
}

function describeMemory(m: Memory): string {
  return `daemon RSS ${mib(m.daemonRss)} MiB (PSS ${mib(m.daemonPss)}), ${m.helpers} helpers RSS ${mib(m.helperRss)} (PSS ${mib(m.helperPss)}), ` +
    `total RSS ${mib(m.daemonRss + m.helperRss)} (PSS ${mib(m.daemonPss + m.helperPss)})`;
}

/** KiB per pod between two readings `pods` apart, daemon and daemon + helpers. */
function slope(from: Memory, to: Memory, pods: number): string {
  const per = (a: number, b: number): string => ((b - a) / pods).toFixed(0);
  return `per pod from ${EARLY_PODS} to ${EARLY_PODS + pods}: daemon RSS ${per(from.daemonRss, to.daemonRss)} KiB (PSS ${per(from.daemonPss, to.daemonPss)}), ` +
    `daemon + helpers RSS ${per(from.daemonRss + from.helperRss, to.daemonRss + to.helperRss)} KiB (PSS ${per(from.daemonPss + from.helperPss, to.daemonPss + to.helperPss)})`;
}

function describeTimes(ms: number[]): string {
  return `per pod p50 ${quantile(ms, 0.5).toFixed(0)} ms, p90 ${quantile(ms, 0.9).toFixed(0)} ms`;
}

class ScaleBenchmark extends BenchBusyboxScenario implements Scenario {
  readonly name = 'scale';
  readonly describe = `N CNI pods × 1 container (N = $${PODS_ENV}, default 100) created and removed one after another, then in ${PARALLEL_LANES} lanes: times, daemon + helper RSS/PSS at ${EARLY_PODS} and N pods, per-pod slope, RSS after removal`;

  async run(): Promise<void> {
    throw new Error('the scale scenario measures whole fleets, not iterations: run.ts calls measure()');
  }

  async measure(endpoints: readonly Endpoint[]): Promise<void> {
    const image = this.image;
    const pods = podCount();
    for (const { client } of endpoints) {
      await waitForNetworkReady(client);
      await client.call('PullImage', { image: { image: image.reference } }, DEADLINE);
    }
    const order = [...endpoints];
    for (const lanes of [1, PARALLEL_LANES]) {
      for (const ep of order) await this.#phase(ep, pods, lanes, image.reference);
      order.reverse();
    }
  }

  async #phase({ label, client }: Endpoint, pods: number, lanes: number, image: string): Promise<void> {
    const phase = lanes === 1 ? 'sequential' : `${lanes} lanes`;
    const daemonPid = await serverPid(socketOf(client));
    const fleet = new Fleet(client, { namespaceOptions: POD_NETWORK });
    try {
      const before = await memoryOf(daemonPid, undefined);
      const started = Date.now();
      const early = await fleet.add(EARLY_PODS, image, lanes);
      const earlySeconds = (Date.now() - started) / 1000;
      await delay(SETTLE_MS);
      const at20 = await memoryOf(daemonPid, fleet);
      const t1 = Date.now();
      const rest = await fleet.add(pods - EARLY_PODS, image, lanes);
      const createSeconds = earlySeconds + (Date.now() - t1) / 1000;
      await delay(SETTLE_MS);
      const atN = await memoryOf(daemonPid, fleet);
      const removeSeconds = await fleet.remove(lanes);
      await delay(SETTLE_MS);
      const after = await memoryOf(daemonPid, undefined);
      await delay(QUIET_MS - SETTLE_MS);
      const quiet = await memoryOf(daemonPid, undefined);
      console.log(`${label} ${phase}: ${pods} pods created in ${createSeconds.toFixed(1)} s (${describeTimes([...early, ...rest])}), removed in ${removeSeconds.toFixed(1)} s`);
      console.log(`${label} ${phase}: before: ${describeMemory(before)}`);
      console.log(`${label} ${phase}: at ${EARLY_PODS} pods: ${describeMemory(at20)}`);
      console.log(`${label} ${phase}: at ${pods} pods: ${describeMemory(atN)}`);
      console.log(`${label} ${phase}: ${slope(at20, atN, pods - EARLY_PODS)}`);
      const above = (m: Memory): string => `daemon RSS ${mib(m.daemonRss)} MiB (PSS ${mib(m.daemonPss)}), ${mib(m.daemonRss - before.daemonRss)} MiB above before`;
      console.log(`${label} ${phase}: ${SETTLE_MS / 1000} s after removal: ${above(after)}; ${QUIET_MS / 1000} s after: ${above(quiet)}`);
    } finally {
      await fleet.remove(lanes).catch(() => undefined);
    }
  }
}

export const scale = new ScaleBenchmark();
