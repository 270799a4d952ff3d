/**
 * ContainerStats, ListContainerStats, StreamContainerStats (cri-api.md items 29 and 31):
 * usage from the stats sampler as CRI messages. Timestamps are ns; a value the kernel did
 * not offer is left unset rather than reported as 0.
 */
import type { UnaryHandler, StreamHandler } from './adapt.ts';
import type { RecordStats, ContainerStatsEntry } from '../stats/record-stats.ts';
import type { ContainerUsage } from '../stats/targets.ts';
import type { ContainerStats } from '../generated/cri/runtime/v1/ContainerStats.ts';
import type { CpuUsage } from '../generated/cri/runtime/v1/CpuUsage.ts';
import type { MemoryUsage } from '../generated/cri/runtime/v1/MemoryUsage.ts';
import type { SwapUsage } from '../generated/cri/runtime/v1/SwapUsage.ts';
import type { UInt64Value } from '../generated/cri/runtime/v1/UInt64Value.ts';
import type { ContainerStatsRequest__Output } from '../generated/cri/runtime/v1/ContainerStatsRequest.ts';
import type { ContainerStatsResponse } from '../generated/cri/runtime/v1/ContainerStatsResponse.ts';
import type { ListContainerStatsRequest__Output } from '../generated/cri/runtime/v1/ListContainerStatsRequest.ts';
import type { ListContainerStatsResponse } from '../generated/cri/runtime/v1/ListContainerStatsResponse.ts';
import type { StreamContainerStatsRequest__Output } from '../generated/cri/runtime/v1/StreamContainerStatsRequest.ts';
import type { StreamContainerStatsResponse } from '../generated/cri/runtime/v1/StreamContainerStatsResponse.ts';
import { checkFilter, checkId } from './validate/requests.ts';

const STREAM_BATCH = 500;

export function u64(n: number | bigint | undefined): UInt64Value | null {
  if (n === undefined) return null;
  return { value: typeof n === 'bigint' ? n.toString() : String(Math.max(0, Math.round(n))) };
}

export function cpuUsage(u: { atNs: bigint; cgroup: ContainerUsage['cgroup']; nanoCores: number | undefined }): CpuUsage | null {
  if (!u.cgroup) return null;
  return { timestamp: u.atNs.toString(), usage_core_nano_seconds: u64(u.cgroup.cpuUsageNs), usage_nano_cores: u64(u.nanoCores) };
}

export function memoryUsage(u: { atNs: bigint; cgroup: ContainerUsage['cgroup'] }): MemoryUsage | null {
  const c = u.cgroup;
  if (!c) return null;
  const available = c.memoryLimitBytes !== undefined && c.workingSetBytes !== undefined ? Math.max(0, c.memoryLimitBytes - c.workingSetBytes) : undefined;
  return {
    timestamp: u.atNs.toString(), working_set_bytes: u64(c.workingSetBytes), available_bytes: u64(available), usage_bytes: u64(c.memoryUsageBytes),
    rss_bytes: u64(c.rssBytes), page_faults: u64(c.pageFaults), major_page_faults: u64(c.majorPageFaults),
  };
}

function swapUsage(u: { atNs: bigint; cgroup: ContainerUsage['cgroup'] }): SwapUsage | null {
  const c = u.cgroup;
  if (!c || c.swapUsageBytes === undefined) return null;
  const available = c.swapLimitBytes === undefined ? undefined : Math.max(0, c.swapLimitBytes - c.swapUsageBytes);
  return { timestamp: u.atNs.toString(), swap_usage_bytes: u64(c.swapUsageBytes), swap_available_bytes: u64(available) };
}

export function containerStatsMessage({ record, usage }: ContainerStatsEntry): ContainerStats {
  const config = record.metadata.config;
  return {
    attributes: { id: record.id, metadata: config.metadata, labels: config.labels, annotations: config.annotations },
    cpu: cpuUsage(usage),
    memory: memoryUsage(usage),
    swap: swapUsage(usage),
    writable_layer: usage.disk
      ? { timestamp: usage.disk.atNs.toString(), fs_id: { mountpoint: usage.fsMountpoint }, used_bytes: u64(usage.disk.bytes), inodes_used: u64(usage.disk.inodes) }
      : null,
  };
}

export function containerStatsHandler(stats: RecordStats): UnaryHandler<ContainerStatsRequest__Output, ContainerStatsResponse> {
  return async (req) => {
    checkId('container_id', req.container_id);
    return { stats: containerStatsMessage(await stats.container(req.container_id)) };
  };
}

export function listContainerStatsHandler(stats: RecordStats): UnaryHandler<ListContainerStatsRequest__Output, ListContainerStatsResponse> {
  return async (req) => {
    checkFilter('filter', req.filter);
    return { stats: (await stats.containers(req.filter)).map(containerStatsMessage) };
  };
}

export function streamContainerStatsHandler(stats: RecordStats): StreamHandler<StreamContainerStatsRequest__Output, StreamContainerStatsResponse> {
  return async function* (req) {
    checkFilter('filter', req.filter);
    const items = (await stats.containers(req.filter)).map(containerStatsMessage);
    for (let i = 0; i < items.length; i += STREAM_BATCH) yield { container_stats: items.slice(i, i + STREAM_BATCH) };
  };
}
