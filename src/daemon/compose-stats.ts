/**
 * Builds stats, events and the metrics feeds: the background stats sampler over the
 * live records, the container-event broadcaster, and the observers the container,
 * image and CNI code report to. Built before the container service (which reports its
 * lifecycle to the observer here), so the services it reads arrive as getters.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { ContainerService } from '../container/container-service.ts';
import type { ContainerObserver } from '../container/container-deps.ts';
import type { SandboxService } from '../sandbox/sandbox-service.ts';
import type { PullObserver } from '../image/image-service.ts';
import type { CniObserver } from '../network/cni.ts';
import type { ContainerEventResponse } from '../generated/cri/runtime/v1/ContainerEventResponse.ts';
import { Broadcaster } from '../events/broadcaster.ts';
import { containerEventPayload } from '../server/container-events.ts';
import { parseCgroupMounts } from '../stats/cgroup.ts';
import { StatsSampler } from '../stats/sampler.ts';
import { StatsService } from '../stats/stats-service.ts';
import { blockDeviceOf } from '../stats/block-device.ts';
import { RecordStats, containerTarget, recordTargets } from '../stats/record-stats.ts';

/**
 * Events one GetContainerEvents subscriber may have waiting. A kubelet reads them as they
 * come; a full queue means a stuck client, whose further events are dropped and counted.
 */
const EVENT_QUEUE_LIMIT = 1000;

export interface ComposeStatsInput {
  config: Config;
  log: Logger;
  metrics: Metrics;
  /** The pod service, once composed (it needs the CNI observer built here). */
  sandboxes: () => SandboxService;
  /** The container service, once composed (it is built after this). */
  containers: () => ContainerService;
}

export interface ComposedStats {
  stats: RecordStats;
  events: Broadcaster<ContainerEventResponse>;
  containerObserver: ContainerObserver;
  pullObserver: PullObserver;
  cniObserver: CniObserver;
  /** Starts the sampler (once recovery has loaded the records). */
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function composeStats(input: ComposeStatsInput): Promise<ComposedStats> {
  const { config, log, metrics } = input;
  const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;
  const layersDir = join(config.root, 'overlay-containers');
  const lookups = {
    containers: { get: (id: string) => input.containers().get(id), list: (f: Parameters<ContainerService['list']>[0]) => input.containers().list(f) },
    pods: { get: (id: string) => input.sandboxes().get(id), list: () => input.sandboxes().list() },
    layersDir,
  };
  const mounts = parseCgroupMounts(await readFile('/proc/self/mountinfo', 'utf8'));
  const sampler = new StatsSampler({
    targets: recordTargets(lookups), mounts, periodMs: config.stats.sample_period_seconds * 1000, log: log.child({ component: 'stats' }), nowNs,
  });
  // The writable layers sit on the image store's filesystem; report the same path ImageFsInfo does.
  const fsMountpoint = join(config.root, 'overlay');
  const service = new StatsService({ sampler, fsMountpoint, layerDevice: (await blockDeviceOf(fsMountpoint)) ?? (await blockDeviceOf(config.root)) });
  const stats = new RecordStats({ ...lookups, stats: service });
  const events = new Broadcaster<ContainerEventResponse>({ queueLimit: EVENT_QUEUE_LIMIT, onDrop: () => metrics.eventsDropped.inc() });
  metrics.countEventSubscribersWith(() => events.subscriberCount);
  const payloadSources = {
    pod: (id: string) => input.sandboxes().records.get(id),
    containersOf: (podId: string) => input.containers().list({ id: '', pod_sandbox_id: podId, label_selector: {}, state: null }),
    nowNs,
  };
  return {
    stats,
    events,
    containerObserver: {
      lifecycle(event, rec) {
        events.publishLazy(() => containerEventPayload(payloadSources, event, rec));
        if (event === 'started') void service.containerStarted(containerTarget(layersDir, rec)).catch(() => undefined);
      },
      oomKilled: () => metrics.oomKills.inc(),
      checkpointOp(operation, outcome, seconds) {
        metrics.checkpointOps.inc({ operation, outcome });
        metrics.checkpointDuration.observe({ operation }, seconds);
      },
    },
    pullObserver: {
      started: () => metrics.pullsInProgress.inc(),
      finished(outcome, reason) {
        metrics.pullsInProgress.dec();
        metrics.pulls.inc({ outcome, reason });
      },
      bytes: (n) => metrics.pullBytes.inc(n),
    },
    cniObserver: {
      observe(operation, seconds, failed) {
        metrics.cniDuration.observe({ operation }, seconds);
        if (failed) metrics.cniErrors.inc({ operation });
      },
    },
    async start() {
      sampler.start();
    },
    async close() {
      events.closeAll();
      await sampler.close();
    },
  };
}
