/**
 * PodSandboxStats, ListPodSandboxStats, StreamPodSandboxStats (cri-api.md items 29 and
 * 31): the pod's CPU and memory (its cgroup, or the sum of its containers'), network
 * counters from its netns, process count, and each container's stats.
 */
import type { UnaryHandler, StreamHandler } from './adapt.ts';
import type { RecordStats, PodStatsEntry } from '../stats/record-stats.ts';
import { defaultInterface, type InterfaceCounters } from '../stats/net-dev.ts';
import { containerStatsMessage, cpuUsage, memoryUsage, u64 } from './container-stats.ts';
import type { PodSandboxStats } from '../generated/cri/runtime/v1/PodSandboxStats.ts';
import type { NetworkInterfaceUsage } from '../generated/cri/runtime/v1/NetworkInterfaceUsage.ts';
import type { PodSandboxStatsRequest__Output } from '../generated/cri/runtime/v1/PodSandboxStatsRequest.ts';
import type { PodSandboxStatsResponse } from '../generated/cri/runtime/v1/PodSandboxStatsResponse.ts';
import type { ListPodSandboxStatsRequest__Output } from '../generated/cri/runtime/v1/ListPodSandboxStatsRequest.ts';
import type { ListPodSandboxStatsResponse } from '../generated/cri/runtime/v1/ListPodSandboxStatsResponse.ts';
import type { StreamPodSandboxStatsRequest__Output } from '../generated/cri/runtime/v1/StreamPodSandboxStatsRequest.ts';
import type { StreamPodSandboxStatsResponse } from '../generated/cri/runtime/v1/StreamPodSandboxStatsResponse.ts';
import { checkFilter, checkId } from './validate/requests.ts';

const STREAM_BATCH = 200;

function interfaceUsage(i: InterfaceCounters): NetworkInterfaceUsage {
  return { name: i.name, rx_bytes: u64(i.rxBytes), rx_errors: u64(i.rxErrors), tx_bytes: u64(i.txBytes), tx_errors: u64(i.txErrors) };
}

function podStatsMessage({ record, usage, containers }: PodStatsEntry): PodSandboxStats {
  const config = record.metadata.config;
  const net = usage.network;
  const def = net ? defaultInterface(net.interfaces) : undefined;
  return {
    attributes: { id: record.id, metadata: config.metadata, labels: config.labels, annotations: config.annotations },
    linux: {
      cpu: cpuUsage(usage),
      memory: memoryUsage(usage),
      network: net ? { timestamp: net.atNs.toString(), default_interface: def ? interfaceUsage(def) : null, interfaces: net.interfaces.map(interfaceUsage) } : null,
      process: usage.cgroup?.processes === undefined ? null : { timestamp: usage.atNs.toString(), process_count: u64(usage.cgroup.processes) },
      containers: containers.map((c, i) => containerStatsMessage({ record: c, usage: usage.containers[i]! })),
    },
    windows: null,
  };
}

export function podSandboxStatsHandler(stats: RecordStats): UnaryHandler<PodSandboxStatsRequest__Output, PodSandboxStatsResponse> {
  return async (req) => {
    checkId('pod_sandbox_id', req.pod_sandbox_id);
    return { stats: podStatsMessage(await stats.pod(req.pod_sandbox_id)) };
  };
}

export function listPodSandboxStatsHandler(stats: RecordStats): UnaryHandler<ListPodSandboxStatsRequest__Output, ListPodSandboxStatsResponse> {
  return async (req) => {
    checkFilter('filter', req.filter);
    return { stats: (await stats.pods(req.filter)).map(podStatsMessage) };
  };
}

export function streamPodSandboxStatsHandler(stats: RecordStats): StreamHandler<StreamPodSandboxStatsRequest__Output, StreamPodSandboxStatsResponse> {
  return async function* (req) {
    checkFilter('filter', req.filter);
    const items = (await stats.pods(req.filter)).map(podStatsMessage);
    for (let i = 0; i < items.length; i += STREAM_BATCH) yield { pod_sandbox_stats: items.slice(i, i + STREAM_BATCH) };
  };
}
