import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_LABELS, METRIC_DESCRIPTORS, containerMetrics, podMetrics } from './cadvisor-metrics.ts';
import { sampleFromV1 } from './cgroup.ts';
import type { ContainerUsage, PodUsage } from './targets.ts';

const subject = { container: 'busybox-container', id: 'c1', image: 'busybox', name: 'c1', namespace: 'ns', pod: 'stats-busybox-0' };
const AT = 1_800_000_000_000_000_000n;

function usage(): ContainerUsage {
  const cgroup = sampleFromV1({
    'cpuacct.usage': '2500000000\n', 'cpuacct.stat': 'user 200\nsystem 50\n', 'cpu.shares': '2\n', 'cpu.cfs_period_us': '100000\n', 'cpu.cfs_quota_us': '-1\n',
    'memory.usage_in_bytes': '1000000\n', 'memory.limit_in_bytes': '79998976\n', 'memory.memsw.limit_in_bytes': '79998976\n', 'memory.memsw.usage_in_bytes': '1000000\n',
    'memory.stat': 'pgfault 10\npgmajfault 0\ntotal_rss 600000\ntotal_cache 4096\ntotal_mapped_file 0\ntotal_inactive_file 300000\ntotal_pgfault 42\ntotal_pgmajfault 1\n',
    'memory.failcnt': '0\n', 'memory.max_usage_in_bytes': '2000000\n', 'memory.oom_control': 'oom_kill 0\n', 'memory.soft_limit_in_bytes': '9223372036854771712\n',
    'pids.current': '1\n', 'pids.max': 'max\n', 'blkio.throttle.io_service_bytes_recursive': '8:0 Read 4096\n8:0 Write 0\n', 'blkio.throttle.io_serviced_recursive': '8:0 Read 1\n8:0 Write 0\n',
  });
  return {
    id: 'c1', podId: 'p1', atNs: AT, nanoCores: 1000, loadMilli: 12, fsMountpoint: '/var/lib/critter', layerDevice: { device: '/dev/vda', major: 253, minor: 0 },
    cgroup: { ...cgroup, detail: cgroup.detail && { ...cgroup.detail, devices: cgroup.detail.devices.map((d) => ({ ...d, device: '/dev/sda' })) }, tasks: { fileDescriptors: 3, sockets: 1, threads: 1, maxOpenFiles: 1048576, states: { running: 0, sleeping: 1, uninterruptible: 0, stopped: 0 } } },
    disk: { atNs: AT, bytes: 8192, inodes: 3 },
  };
}

test('METRIC_DESCRIPTORS carry the kubelet\'s cAdvisor label set and cAdvisor\'s names, unique', () => {
  const names = METRIC_DESCRIPTORS.map((d) => d.name);
  assert.equal(new Set(names).size, names.length);
  for (const d of METRIC_DESCRIPTORS) assert.deepEqual(d.labelKeys.slice(0, BASE_LABELS.length), ['container', 'id', 'image', 'name', 'namespace', 'pod'], d.name);
  assert.deepEqual(METRIC_DESCRIPTORS.find((d) => d.name === 'container_blkio_device_usage_total')?.labelKeys.slice(6), ['device', 'major', 'minor', 'operation']);
  assert.equal(METRIC_DESCRIPTORS.find((d) => d.name === 'container_cpu_usage_seconds_total')?.kind, 'counter');
});

test('containerMetrics() labels every point with namespace, pod and container and matches its descriptor\'s arity', () => {
  const points = containerMetrics(subject, usage(), AT - 5_000_000_000n);
  const arity = new Map(METRIC_DESCRIPTORS.map((d) => [d.name, d.labelKeys.length]));
  for (const p of points) {
    assert.equal(p.labelValues.length, arity.get(p.name), p.name);
    assert.deepEqual(p.labelValues.slice(0, 6), ['busybox-container', 'c1', 'busybox', 'c1', 'ns', 'stats-busybox-0']);
  }
  const value = (name: string, ...extra: string[]): number | undefined =>
    points.find((p) => p.name === name && extra.every((e, i) => p.labelValues[6 + i] === e))?.value;
  assert.equal(value('container_cpu_usage_seconds_total', 'total'), 2);
  assert.equal(value('container_cpu_user_seconds_total'), 2);
  assert.equal(value('container_spec_cpu_shares'), 2);
  assert.equal(value('container_spec_cpu_period'), 100000);
  assert.equal(value('container_spec_cpu_quota'), undefined, 'no quota, no series (as cAdvisor)');
  assert.equal(value('container_spec_memory_limit_bytes'), 79998976);
  assert.equal(value('container_spec_memory_reservation_limit_bytes'), 0);
  assert.equal(value('container_spec_memory_swap_limit_bytes'), 79998976);
  assert.equal(value('container_memory_working_set_bytes'), 700000);
  assert.equal(value('container_memory_failures_total', 'pgfault', 'container'), 10);
  assert.equal(value('container_memory_failures_total', 'pgfault', 'hierarchy'), 42);
  assert.equal(value('container_memory_swap'), 0);
  assert.equal(value('container_fs_reads_bytes_total', '/dev/sda'), 4096);
  assert.equal(value('container_blkio_device_usage_total', '/dev/sda', '8', '0', 'Read'), 4096);
  assert.equal(value('container_threads_max'), 0);
  assert.equal(value('container_sockets'), 1);
  assert.equal(value('container_ulimits_soft', 'max_open_files'), 1048576);
  assert.equal(value('container_tasks_state', 'sleeping'), 1);
  assert.equal(value('container_tasks_state', 'running'), 0);
  assert.equal(value('container_tasks_state', 'iowait'), undefined, 'not measured, so not exported');
  assert.equal(value('container_cpu_load_average_10s'), 12);
  assert.equal(value('container_start_time_seconds'), 1_799_999_995);
  assert.equal(value('container_last_seen'), 1_800_000_000);
  assert.equal(value('container_fs_usage_bytes', '/var/lib/critter'), 8192);
});

test('containerMetrics() reports zero block I/O on the writable layer\'s device when the cgroup lists none, and never doubles a listed one', () => {
  const points = containerMetrics(subject, usage(), AT);
  const series = (name: string, dev: string) => points.filter((p) => p.name === name && p.labelValues[6] === dev).map((p) => p.value);
  assert.deepEqual(series('container_fs_reads_total', '/dev/vda'), [0]);
  assert.deepEqual(series('container_fs_writes_bytes_total', '/dev/vda'), [0]);
  assert.deepEqual(series('container_blkio_device_usage_total', '/dev/vda'), [0, 0]);
  assert.deepEqual(series('container_fs_reads_total', '/dev/sda'), [1], 'the cgroup\'s own device keeps its counts');
  const onSda: ContainerUsage = { ...usage(), layerDevice: { device: '/dev/sda', major: 8, minor: 0 } };
  const again = containerMetrics(subject, onSda, AT).filter((p) => p.name === 'container_fs_reads_bytes_total');
  assert.deepEqual(again.map((p) => [p.labelValues[6], p.value]), [['/dev/sda', 4096]]);
  const none: ContainerUsage = { ...usage(), layerDevice: undefined };
  assert.equal(containerMetrics(subject, none, AT).filter((p) => p.labelValues[6] === '/dev/vda').length, 0);
});

test('containerMetrics() of a container never sampled has its start time and no cgroup series', () => {
  const u: ContainerUsage = { ...usage(), atNs: 0n, cgroup: undefined, disk: undefined };
  assert.deepEqual(containerMetrics(subject, u, AT).map((p) => p.name), ['container_start_time_seconds']);
});

test('podMetrics() reports each interface\'s bytes, packets, drops and errors as container "POD"', () => {
  const u: PodUsage = {
    id: 'p1', atNs: AT, cgroup: undefined, nanoCores: undefined, containers: [],
    network: { atNs: AT, interfaces: [{ name: 'eth0', rxBytes: 100, rxPackets: 2, rxErrors: 0, rxDropped: 1, txBytes: 50, txPackets: 1, txErrors: 0, txDropped: 0 }] },
  };
  const points = podMetrics({ ...subject, container: 'POD', id: 'p1', name: 'p1', image: '' }, u);
  assert.equal(points.length, 8);
  assert.deepEqual(points.find((p) => p.name === 'container_network_receive_packets_dropped_total')?.labelValues, ['POD', 'p1', '', 'p1', 'ns', 'stats-busybox-0', 'eth0']);
});
