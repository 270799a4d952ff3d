/**
 * The benchmark harness: drives any CRI endpoint over gRPC, times each RPC of a scenario
 * and prints p50/p90 per RPC. With a second endpoint (containerd's socket, say) the same
 * scenario runs against both in one process and the table shows the ratio, so figures
 * are comparable on the machine they ran on rather than absolute.
 */
import type { CriClient } from '../test/integration/helpers/cri-client.ts';

/** Samples in milliseconds, per RPC name. */
export type Timings = Map<string, number[]>;

/** One runtime under test, by the name its figures are printed with. */
export interface Endpoint {
  label: string;
  client: CriClient;
}

/** A scenario runs its RPCs `iterations` times against one client and records timings. */
export interface Scenario {
  name: string;
  describe: string;
  /** Prepares what the timed part needs (images pulled, …). Not timed. */
  setup?(client: CriClient): Promise<void>;
  run(client: CriClient, iterations: number, time: Timer): Promise<void>;
  teardown?(client: CriClient): Promise<void>;
  /**
   * Called once per endpoint after its warm-up and before its first timed round: samples
   * a scenario keeps itself (throughput, wall times) start here, so warm-up calls are not
   * among them and interleaved rounds add up instead of replacing each other.
   */
  beginTimed?(client: CriClient): void | Promise<void>;
  /** The scenario's own figures for one endpoint, printed under its label before teardown. */
  summary?(client: CriClient): string | undefined | Promise<string | undefined>;
  /** Iterations of the untimed warm-up run (default: a tenth of the timed ones, at least 1). */
  warmupIterations?(iterations: number): number;
  /**
   * A scenario that measures windows of time rather than timed calls: given every
   * endpoint at once, it sets up, measures and tears down itself and prints its figures.
   * run.ts calls this instead of setup/run/teardown.
   */
  measure?(endpoints: readonly Endpoint[]): Promise<void>;
}

/** What one endpoint's timed run produced: per-RPC samples and the scenario's own summary. */
export interface RunResult {
  timings: Timings;
  summary?: string | undefined;
}

/**
 * State a scenario keeps for each endpoint. With --compare both endpoints share one scenario
 * object, so anything endpoint-specific kept in a plain field would be overwritten by the
 * second endpoint's set-up (and its figures printed for both).
 */
export class PerEndpoint<T> {
  readonly #byClient = new Map<CriClient, T>();
  readonly #scenario: string;

  constructor(scenario: string) {
    this.#scenario = scenario;
  }

  set(client: CriClient, value: T): T {
    this.#byClient.set(client, value);
    return value;
  }

  get(client: CriClient): T {
    const v = this.#byClient.get(client);
    if (v === undefined) throw new Error(`the ${this.#scenario} scenario ran for an endpoint it did not set up`);
    return v;
  }

  /** The endpoint's state, forgotten here (for teardown). */
  take(client: CriClient): T | undefined {
    const v = this.#byClient.get(client);
    this.#byClient.delete(client);
    return v;
  }
}

/** Times one call and files it under `rpc`. */
export type Timer = <T>(rpc: string, fn: () => Promise<T>) => Promise<T>;

export function makeTimer(into: Timings): Timer {
  return async (rpc, fn) => {
    const start = process.hrtime.bigint();
    const out = await fn();
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    const list = into.get(rpc) ?? [];
    list.push(ms);
    into.set(rpc, list);
    return out;
  };
}

/** The q-quantile (0..1) of `samples` by nearest rank. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] as number;
}

/** A text table of p50/p90 per RPC, with ratios against `baseline` when given. */
export function formatTimings(label: string, t: Timings, baseline?: { label: string; timings: Timings }): string {
  const rows: string[][] = [['RPC', 'n', `${label} p50 ms`, `${label} p90 ms`]];
  if (baseline) rows[0]!.push(`${baseline.label} p50 ms`, `${baseline.label} p90 ms`, 'p50 ratio', 'p90 ratio');
  for (const [rpc, samples] of t) {
    const p50 = quantile(samples, 0.5);
    const p90 = quantile(samples, 0.9);
    const row = [rpc, String(samples.length), p50.toFixed(2), p90.toFixed(2)];
    const b = baseline?.timings.get(rpc);
    if (baseline) {
      const b50 = b ? quantile(b, 0.5) : NaN;
      const b90 = b ? quantile(b, 0.9) : NaN;
      row.push(b50.toFixed(2), b90.toFixed(2), (p50 / b50).toFixed(2), (p90 / b90).toFixed(2));
    }
    rows.push(row);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}

export async function runOne(s: Scenario, client: CriClient, iterations: number): Promise<RunResult> {
  const t: Timings = new Map();
  await s.setup?.(client);
  await warmUp(s, client, iterations);
  await s.beginTimed?.(client);
  await s.run(client, iterations, makeTimer(t));
  const summary = await s.summary?.(client);
  await s.teardown?.(client);
  return { timings: t, summary };
}

/** Warm-up: connection set-up and JIT are not what we measure. */
async function warmUp(s: Scenario, client: CriClient, iterations: number): Promise<void> {
  await s.run(client, s.warmupIterations?.(iterations) ?? Math.max(1, Math.floor(iterations / 10)), makeTimer(new Map()));
}

/**
 * Both endpoints, their timed iterations interleaved in rounds of `round`: on a shared VM
 * the machine's speed drifts over minutes, and running one endpoint's whole series before
 * the other's turned that drift into ratios ±30 % apart between runs. Set-up, warm-up and
 * teardown (the memory figures) stay one endpoint at a time.
 */
export async function runInterleaved(s: Scenario, mine: CriClient, theirs: CriClient, iterations: number, round: number): Promise<[RunResult, RunResult]> {
  const tm: Timings = new Map();
  const tt: Timings = new Map();
  await s.setup?.(mine);
  await s.setup?.(theirs);
  await warmUp(s, mine, iterations);
  await warmUp(s, theirs, iterations);
  await s.beginTimed?.(mine);
  await s.beginTimed?.(theirs);
  for (let done = 0; done < iterations; done += round) {
    const n = Math.min(round, iterations - done);
    await s.run(mine, n, makeTimer(tm));
    await s.run(theirs, n, makeTimer(tt));
  }
  const summaries = [await s.summary?.(mine), await s.summary?.(theirs)];
  await s.teardown?.(mine);
  await s.teardown?.(theirs);
  return [{ timings: tm, summary: summaries[0] }, { timings: tt, summary: summaries[1] }];
}
