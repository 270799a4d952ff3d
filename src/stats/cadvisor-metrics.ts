/**
 * cAdvisor's `container_*` metrics for ListMetricDescriptors / ListPodSandboxMetrics, built
 * from the same samples as the stats RPCs. With `PodAndContainerStatsFromCRI` the kubelet
 * serves exactly these as /metrics/cadvisor: it registers each descriptor as it is (name,
 * help, label keys) and passes every label value through, adding none. So the label set is
 * the one the kubelet's own cAdvisor collector attaches (container, id, image, name,
 * namespace, pod), and names, help and types are cAdvisor's (metrics/prometheus.go). A
 * container's metrics carry its name in `container`; the pod's network metrics carry
 * `POD`, as cAdvisor's do for the infra container.
 *
 * container_tasks_state counts the threads of the cgroup's processes by state from /proc, and
 * container_cpu_load_average_10s is the sampler's damped average of running threads
 * (cpu-load.ts); the kubelet's own cAdvisor exports zeros for both (its netlink load reader
 * is never enabled). Left out, because no cgroup file measures them and a made-up 0 would
 * lie: cgroupstats' iowait task count, and the per-device disk-stat
 * counters (container_fs_io_*, *_merged_total, *_seconds_total, sector counts), which
 * cAdvisor takes from the host's /proc/diskstats only for whole-disk "containers".
 * CRI carries values as uint64: seconds are whole seconds.
 */
import type { PodUsage, ContainerUsage } from './targets.ts';
import type { CgroupSample } from './cgroup.ts';
import type { DeviceIo } from './cgroup-detail.ts';
import type { BlockDevice } from './block-device.ts';

type MetricKind = 'counter' | 'gauge';

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

/** The kubelet's cAdvisor label set (pkg/kubelet/server containerPrometheusLabelsFunc). */
export const BASE_LABELS = ['container', 'id', 'image', 'name', 'namespace', 'pod'];

const C = 'counter';
const G = 'gauge';
const DESCRIPTORS: readonly (readonly [string, MetricKind, string, string[]?])[] = [
  ['container_last_seen', G, 'Last time a container was seen by the exporter'],
  ['container_start_time_seconds', G, 'Start time of the container since unix epoch in seconds.'],
  ['container_cpu_user_seconds_total', C, 'Cumulative user cpu time consumed in seconds.'],
  ['container_cpu_system_seconds_total', C, 'Cumulative system cpu time consumed in seconds.'],
  ['container_cpu_usage_seconds_total', C, 'Cumulative cpu time consumed in seconds.', ['cpu']],
  ['container_cpu_load_average_10s', G, 'Value of container cpu load average over the last 10 seconds.'],
  ['container_tasks_state', G, 'Number of tasks in given state', ['state']],
  ['container_spec_cpu_period', G, 'CPU period of the container.'],
  ['container_spec_cpu_quota', G, 'CPU quota of the container.'],
  ['container_spec_cpu_shares', G, 'CPU share of the container.'],
  ['container_memory_cache', G, 'Number of bytes of page cache memory.'],
  ['container_memory_rss', G, 'Size of RSS in bytes.'],
  ['container_memory_mapped_file', G, 'Size of memory mapped files in bytes.'],
  ['container_memory_swap', G, 'Container swap usage in bytes.'],
  ['container_memory_failcnt', C, 'Number of memory usage hits limits'],
  ['container_memory_usage_bytes', G, 'Current memory usage in bytes, including all memory regardless of when it was accessed'],
  ['container_memory_max_usage_bytes', G, 'Maximum memory usage recorded in bytes'],
  ['container_memory_working_set_bytes', G, 'Current working set in bytes.'],
  ['container_memory_failures_total', C, 'Cumulative count of memory allocation failures.', ['failure_type', 'scope']],
  ['container_spec_memory_limit_bytes', G, 'Memory limit for the container.'],
  ['container_spec_memory_swap_limit_bytes', G, 'Memory swap limit for the container.'],
  ['container_spec_memory_reservation_limit_bytes', G, 'Memory reservation limit for the container.'],
  ['container_oom_events_total', C, 'Count of out of memory events observed for the container'],
  ['container_fs_usage_bytes', G, 'Number of bytes that are consumed by the container on this filesystem.', ['device']],
  ['container_fs_inodes_total', G, 'Number of Inodes', ['device']],
  ['container_fs_reads_bytes_total', C, 'Cumulative count of bytes read', ['device']],
  ['container_fs_reads_total', C, 'Cumulative count of reads completed', ['device']],
  ['container_fs_writes_bytes_total', C, 'Cumulative count of bytes written', ['device']],
  ['container_fs_writes_total', C, 'Cumulative count of writes completed', ['device']],
  ['container_blkio_device_usage_total', C, 'Blkio Device bytes usage', ['device', 'major', 'minor', 'operation']],
  ['container_processes', G, 'Number of processes running inside the container.'],
  ['container_file_descriptors', G, 'Number of open file descriptors for the container.'],
  ['container_sockets', G, 'Number of open sockets for the container.'],
  ['container_threads', G, 'Number of threads running inside the container'],
  ['container_threads_max', G, 'Maximum number of threads allowed inside the container, infinity if value is zero'],
  ['container_ulimits_soft', G, 'Soft ulimit values for the container root process. Unlimited if -1, except priority and nice', ['ulimit']],
  ['container_network_receive_bytes_total', C, 'Cumulative count of bytes received', ['interface']],
  ['container_network_receive_packets_total', C, 'Cumulative count of packets received', ['interface']],
  ['container_network_receive_packets_dropped_total', C, 'Cumulative count of packets dropped while receiving', ['interface']],
  ['container_network_receive_errors_total', C, 'Cumulative count of errors encountered while receiving', ['interface']],
  ['container_network_transmit_bytes_total', C, 'Cumulative count of bytes transmitted', ['interface']],
  ['container_network_transmit_packets_total', C, 'Cumulative count of packets transmitted', ['interface']],
  ['container_network_transmit_packets_dropped_total', C, 'Cumulative count of packets dropped while transmitting', ['interface']],
  ['container_network_transmit_errors_total', C, 'Cumulative count of errors encountered while transmitting', ['interface']],
];

export const METRIC_DESCRIPTORS: readonly MetricDescriptorSpec[] = DESCRIPTORS.map(([name, kind, help, extra = []]) => ({ name, kind, help, labelKeys: [...BASE_LABELS, ...extra] }));

const KIND = new Map(METRIC_DESCRIPTORS.map((d) => [d.name, d.kind]));

/** Who a metric is about: the values of BASE_LABELS. */
export interface MetricSubject {
  container: string;
  id: string;
  image: string;
  name: string;
  namespace: string;
  pod: string;
}

const NS_PER_S = 1_000_000_000n;

function baseValues(s: MetricSubject): string[] {
  return [s.container, s.id, s.image, s.name, s.namespace, s.pod];
}

function emitter(subject: MetricSubject) {
  const base = baseValues(subject);
  const out: MetricPoint[] = [];
  const add = (name: string, atNs: bigint, extra: string[], value: number | bigint | undefined): void => {
    if (value === undefined || value < 0) return;
    out.push({ name, kind: KIND.get(name) ?? 'gauge', atNs, labelValues: [...base, ...extra], value: Number(value) });
  };
  return { out, add };
}

/** The cgroup's devices, plus `layer` with zero counts when the cgroup has done no I/O there (block-device.ts). */
function devicesWithLayer(devices: readonly DeviceIo[], layer: BlockDevice | undefined): readonly DeviceIo[] {
  if (!layer || devices.some((d) => d.major === layer.major && d.minor === layer.minor)) return devices;
  return [...devices, { ...layer, readBytes: 0, writeBytes: 0, reads: 0, writes: 0 }];
}

function cgroupPoints(add: ReturnType<typeof emitter>['add'], at: bigint, c: CgroupSample, layer: BlockDevice | undefined): void {
  const d = c.detail;
  const secs = (ns: bigint | undefined): bigint | undefined => (ns === undefined ? undefined : ns / NS_PER_S);
  add('container_cpu_usage_seconds_total', at, ['total'], secs(c.cpuUsageNs));
  add('container_cpu_user_seconds_total', at, [], secs(d?.cpuUserNs));
  add('container_cpu_system_seconds_total', at, [], secs(d?.cpuSystemNs));
  add('container_spec_cpu_period', at, [], d?.cpuPeriodUs);
  add('container_spec_cpu_quota', at, [], d?.cpuQuotaUs);
  add('container_spec_cpu_shares', at, [], d?.cpuShares);
  add('container_memory_usage_bytes', at, [], c.memoryUsageBytes);
  add('container_memory_working_set_bytes', at, [], c.workingSetBytes);
  add('container_memory_rss', at, [], c.rssBytes);
  add('container_memory_cache', at, [], d?.cacheBytes);
  add('container_memory_mapped_file', at, [], d?.mappedFileBytes);
  add('container_memory_swap', at, [], c.swapUsageBytes);
  add('container_memory_failcnt', at, [], d?.failcnt);
  add('container_memory_max_usage_bytes', at, [], d?.maxUsageBytes);
  add('container_memory_failures_total', at, ['pgfault', 'container'], d?.ownPageFaults);
  add('container_memory_failures_total', at, ['pgmajfault', 'container'], d?.ownMajorPageFaults);
  add('container_memory_failures_total', at, ['pgfault', 'hierarchy'], c.pageFaults);
  add('container_memory_failures_total', at, ['pgmajfault', 'hierarchy'], c.majorPageFaults);
  add('container_spec_memory_limit_bytes', at, [], c.memoryLimitBytes ?? 0);
  add('container_spec_memory_swap_limit_bytes', at, [], d?.swapLimitBytes);
  add('container_spec_memory_reservation_limit_bytes', at, [], d?.memoryReservationBytes);
  add('container_oom_events_total', at, [], d?.oomKills);
  add('container_processes', at, [], c.processes);
  add('container_threads_max', at, [], d?.threadsMax);
  for (const io of d ? devicesWithLayer(d.devices, layer) : []) {
    const dev = io.device;
    add('container_fs_reads_bytes_total', at, [dev], io.readBytes);
    add('container_fs_reads_total', at, [dev], io.reads);
    add('container_fs_writes_bytes_total', at, [dev], io.writeBytes);
    add('container_fs_writes_total', at, [dev], io.writes);
    const numbers = [String(io.major), String(io.minor)];
    add('container_blkio_device_usage_total', at, [dev, ...numbers, 'Read'], io.readBytes);
    add('container_blkio_device_usage_total', at, [dev, ...numbers, 'Write'], io.writeBytes);
  }
  const t = c.tasks;
  add('container_file_descriptors', at, [], t?.fileDescriptors);
  add('container_sockets', at, [], t?.sockets);
  add('container_threads', at, [], t?.threads);
  add('container_ulimits_soft', at, ['max_open_files'], t?.maxOpenFiles);
  add('container_tasks_state', at, ['sleeping'], t?.states.sleeping);
  add('container_tasks_state', at, ['running'], t?.states.running);
  add('container_tasks_state', at, ['stopped'], t?.states.stopped);
  add('container_tasks_state', at, ['uninterruptible'], t?.states.uninterruptible);
}

/** A container's metrics; `createdAtNs` is its creation time (container_start_time_seconds). */
export function containerMetrics(subject: MetricSubject, u: ContainerUsage, createdAtNs: bigint): MetricPoint[] {
  const { out, add } = emitter(subject);
  const at = u.atNs;
  if (u.cgroup) {
    add('container_last_seen', at, [], at / NS_PER_S);
    cgroupPoints(add, at, u.cgroup, u.layerDevice);
    add('container_cpu_load_average_10s', at, [], u.loadMilli);
  }
  add('container_start_time_seconds', at || createdAtNs, [], createdAtNs / NS_PER_S);
  add('container_fs_usage_bytes', u.disk?.atNs ?? at, [u.fsMountpoint], u.disk?.bytes);
  add('container_fs_inodes_total', u.disk?.atNs ?? at, [u.fsMountpoint], u.disk?.inodes);
  return out;
}

/** A pod's own metrics: network per interface, as cAdvisor reports them for the infra container. */
export function podMetrics(subject: MetricSubject, u: PodUsage): MetricPoint[] {
  const { out, add } = emitter(subject);
  const net = u.network;
  for (const i of net?.interfaces ?? []) {
    add('container_network_receive_bytes_total', net!.atNs, [i.name], i.rxBytes);
    add('container_network_receive_packets_total', net!.atNs, [i.name], i.rxPackets);
    add('container_network_receive_packets_dropped_total', net!.atNs, [i.name], i.rxDropped);
    add('container_network_receive_errors_total', net!.atNs, [i.name], i.rxErrors);
    add('container_network_transmit_bytes_total', net!.atNs, [i.name], i.txBytes);
    add('container_network_transmit_packets_total', net!.atNs, [i.name], i.txPackets);
    add('container_network_transmit_packets_dropped_total', net!.atNs, [i.name], i.txDropped);
    add('container_network_transmit_errors_total', net!.atNs, [i.name], i.txErrors);
  }
  return out;
}
