/**
 * cAdvisor-named metrics for ListMetricDescriptors / ListPodSandboxMetrics (the
 * kubelet's `PodAndContainerStatsFromCRI` path serves them as /metrics/cadvisor), built
 * from the same samples as the stats RPCs. Base labels are id, name, image like
 * containerd's and CRI-O's; the kubelet adds container, pod and namespace itself.
 * CRI carries values as uint64, so the seconds counter is whole seconds.
 */
import type { PodUsage, ContainerUsage } from './targets.ts';

export type MetricKind = 'counter' | 'gauge';

export interface MetricDescriptorSpec {
  name: string;
  help: string;
  labelKeys: string[];
  kind: MetricKind;
}

export interface MetricPoint {
  name: string;
  kind: MetricKind;
  atNs: bigint;
  labelValues: string[];
  value: number;
}

const BASE = ['id', 'name', 'image'];

export const METRIC_DESCRIPTORS: readonly MetricDescriptorSpec[] = [
  { name: 'container_cpu_usage_seconds_total', help: 'Cumulative cpu time consumed in seconds.', labelKeys: [...BASE, 'cpu'], kind: 'counter' },
  { name: 'container_memory_usage_bytes', help: 'Current memory usage in bytes, including all memory regardless of when it was accessed.', labelKeys: BASE, kind: 'gauge' },
  { name: 'container_memory_working_set_bytes', help: 'Current working set in bytes.', labelKeys: BASE, kind: 'gauge' },
  { name: 'container_memory_rss', help: 'Size of RSS in bytes.', labelKeys: BASE, kind: 'gauge' },
  { name: 'container_memory_swap', help: 'Container swap usage in bytes.', labelKeys: BASE, kind: 'gauge' },
  { name: 'container_memory_failures_total', help: 'Cumulative count of memory allocation failures.', labelKeys: [...BASE, 'failure_type', 'scope'], kind: 'counter' },
  { name: 'container_spec_memory_limit_bytes', help: 'Memory limit for the container.', labelKeys: BASE, kind: 'gauge' },
  { name: 'container_processes', help: 'Number of processes running inside the container.', labelKeys: BASE, kind: 'gauge' },
  { name: 'container_fs_usage_bytes', help: 'Number of bytes that are consumed by the container on this filesystem.', labelKeys: [...BASE, 'device'], kind: 'gauge' },
  { name: 'container_fs_inodes_total', help: 'Number of inodes used by the container on this filesystem.', labelKeys: [...BASE, 'device'], kind: 'gauge' },
  { name: 'container_network_receive_bytes_total', help: 'Cumulative count of bytes received.', labelKeys: [...BASE, 'interface'], kind: 'counter' },
  { name: 'container_network_receive_errors_total', help: 'Cumulative count of errors encountered while receiving.', labelKeys: [...BASE, 'interface'], kind: 'counter' },
  { name: 'container_network_transmit_bytes_total', help: 'Cumulative count of bytes transmitted.', labelKeys: [...BASE, 'interface'], kind: 'counter' },
  { name: 'container_network_transmit_errors_total', help: 'Cumulative count of errors encountered while transmitting.', labelKeys: [...BASE, 'interface'], kind: 'counter' },
];

const KIND = new Map(METRIC_DESCRIPTORS.map((d) => [d.name, d.kind]));

/** Who a metric is about: id, name, image (the base label values). */
export interface MetricSubject {
  id: string;
  name: string;
  image: string;
}

function point(name: string, atNs: bigint, labelValues: string[], value: number | bigint | undefined): MetricPoint[] {
  if (value === undefined) return [];
  return [{ name, kind: KIND.get(name) ?? 'gauge', atNs, labelValues, value: Number(value) }];
}

/** A container's metrics: CPU, memory, processes, writable layer. */
export function containerMetrics(subject: MetricSubject, u: ContainerUsage): MetricPoint[] {
  const base = [subject.id, subject.name, subject.image];
  const c = u.cgroup;
  const at = u.atNs;
  return [
    ...point('container_cpu_usage_seconds_total', at, [...base, 'total'], c?.cpuUsageNs === undefined ? undefined : c.cpuUsageNs / 1_000_000_000n),
    ...point('container_memory_usage_bytes', at, base, c?.memoryUsageBytes),
    ...point('container_memory_working_set_bytes', at, base, c?.workingSetBytes),
    ...point('container_memory_rss', at, base, c?.rssBytes),
    ...point('container_memory_swap', at, base, c?.swapUsageBytes),
    ...point('container_memory_failures_total', at, [...base, 'pgfault', 'container'], c?.pageFaults),
    ...point('container_memory_failures_total', at, [...base, 'pgmajfault', 'container'], c?.majorPageFaults),
    ...point('container_spec_memory_limit_bytes', at, base, c?.memoryLimitBytes ?? (c ? 0 : undefined)),
    ...point('container_processes', at, base, c?.processes),
    ...point('container_fs_usage_bytes', u.disk?.atNs ?? at, [...base, u.fsMountpoint], u.disk?.bytes),
    ...point('container_fs_inodes_total', u.disk?.atNs ?? at, [...base, u.fsMountpoint], u.disk?.inodes),
  ];
}

/** A pod's own metrics: network per interface, as cAdvisor reports them for the pod's infra container. */
export function podMetrics(subject: MetricSubject, u: PodUsage): MetricPoint[] {
  const base = [subject.id, subject.name, subject.image];
  const net = u.network;
  if (!net) return [];
  return net.interfaces.flatMap((i) => [
    ...point('container_network_receive_bytes_total', net.atNs, [...base, i.name], i.rxBytes),
    ...point('container_network_receive_errors_total', net.atNs, [...base, i.name], i.rxErrors),
    ...point('container_network_transmit_bytes_total', net.atNs, [...base, i.name], i.txBytes),
    ...point('container_network_transmit_errors_total', net.atNs, [...base, i.name], i.txErrors),
  ]);
}
