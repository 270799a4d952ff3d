/**
 * critter's Prometheus metrics: one prom-client Registry built by the composition root
 * and injected (no global registry). Names follow the `critter_` prefix; units in names.
 */
import { Registry, Counter, Histogram, Gauge, collectDefaultMetrics } from 'prom-client';
import type { RpcObserver } from '../server/adapt.ts';

/** Latency buckets (seconds) spanning a cheap Status call to a long image pull. */
/**
 * How often the event-loop lag monitor samples, in ms. prom-client's default of 10 ms is a
 * timer waking the daemon 100 times a second even when it has nothing to do, which was
 * most of an idle daemon's CPU; at 100 ms a stall still shows (the next sample is late
 * by the stall) at a tenth of the wake-ups.
 */
export const EVENT_LOOP_MONITOR_MS = 100;

const RPC_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export class Metrics implements RpcObserver {
  readonly registry = new Registry();
  readonly rpcRequests: Counter<'rpc' | 'code'>;
  readonly rpcDuration: Histogram<'rpc'>;
  readonly pullBytes: Counter<never>;
  readonly pulls: Counter<'outcome' | 'reason'>;
  readonly pullsInProgress: Gauge<never>;
  readonly oomKills: Counter<never>;
  readonly cniDuration: Histogram<'operation'>;
  readonly cniErrors: Counter<'operation'>;
  readonly eventsDropped: Counter<never>;
  readonly eventSubscribers: Gauge<never>;
  #eventSubscriberCount: () => number = () => 0;
  readonly checkpointOps: Counter<'operation' | 'outcome'>;
  readonly checkpointDuration: Histogram<'operation'>;

  /** `processMetrics: false` (metrics served by nobody) leaves out Node's process metrics and their timers. */
  constructor(opts: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.rpcRequests = new Counter({ name: 'critter_rpc_requests_total', help: 'CRI RPCs served, by method and gRPC status code.', labelNames: ['rpc', 'code'], registers });
    this.rpcDuration = new Histogram({ name: 'critter_rpc_duration_seconds', help: 'CRI RPC latency by method.', labelNames: ['rpc'], buckets: RPC_BUCKETS, registers });
    this.pullBytes = new Counter({ name: 'critter_image_pull_bytes_total', help: 'Layer bytes downloaded by image pulls.', registers });
    this.pulls = new Counter({ name: 'critter_image_pulls_total', help: 'Image pulls by outcome (success, failure) and failure reason (gRPC code).', labelNames: ['outcome', 'reason'], registers });
    this.pullsInProgress = new Gauge({ name: 'critter_image_pulls_in_progress', help: 'Image pulls running now.', registers });
    this.oomKills = new Counter({ name: 'critter_container_oom_kills_total', help: 'Containers killed by the cgroup OOM killer.', registers });
    this.cniDuration = new Histogram({ name: 'critter_cni_operation_duration_seconds', help: 'CNI operation latency (ADD, DEL).', labelNames: ['operation'], buckets: RPC_BUCKETS, registers });
    this.cniErrors = new Counter({ name: 'critter_cni_operation_errors_total', help: 'Failed CNI operations.', labelNames: ['operation'], registers });
    this.eventsDropped = new Counter({ name: 'critter_container_events_dropped_total', help: 'Container events dropped because a subscriber was too slow.', registers });
    const subscribers = (): number => this.#eventSubscriberCount();
    this.eventSubscribers = new Gauge({ name: 'critter_container_event_subscribers', help: 'Open GetContainerEvents streams.', registers, collect() { this.set(subscribers()); } });
    this.checkpointOps = new Counter({ name: 'critter_checkpoint_operations_total', help: 'Container checkpoints and restores by outcome (success, failure).', labelNames: ['operation', 'outcome'], registers });
    this.checkpointDuration = new Histogram({ name: 'critter_checkpoint_duration_seconds', help: 'How long container checkpoints and restores took (operation checkpoint or restore).', labelNames: ['operation'], buckets: RPC_BUCKETS, registers });
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'critter_', eventLoopMonitoringPrecision: EVENT_LOOP_MONITOR_MS });
  }

  /** Where the subscriber gauge reads its value (the events broadcaster, built after the metrics). */
  countEventSubscribersWith(count: () => number): void {
    this.#eventSubscriberCount = count;
  }

  /** Label children by rpc (and code): prom-client hashes a label object on every call otherwise. */
  readonly #requestsBy = new Map<string, { inc(): void }>();
  readonly #durationBy = new Map<string, { observe(v: number): void }>();

  observe(rpc: string, code: string, seconds: number): void {
    const key = `${rpc}\0${code}`;
    let requests = this.#requestsBy.get(key);
    if (!requests) this.#requestsBy.set(key, (requests = this.rpcRequests.labels({ rpc, code })));
    requests.inc();
    let duration = this.#durationBy.get(rpc);
    if (!duration) this.#durationBy.set(rpc, (duration = this.rpcDuration.labels({ rpc })));
    duration.observe(seconds);
  }
}
