/**
 * In-place pod resize through the real daemon (KEP-1287): UpdateContainerResources up
 * and down on a running container (its cgroup files and ContainerStatus follow), a memory
 * limit below usage refused as FAILED_PRECONDITION, and UpdatePodSandboxResources writing
 * overhead + resources to a pod cgroup the test creates, as the kubelet would.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { status as Code } from '@grpc/grpc-js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { standardTestImages, type StandardTestImages } from '../fixtures/standard-images.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { startDaemon, type RunningDaemon } from './helpers/daemon.ts';
import { detectCgroupVersion } from '../../src/host/cgroup-limits.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const MiB = 1024 * 1024;
const CGROUP_ROOT = '/sys/fs/cgroup';
/** The pod cgroup the kubelet would have made (cgroupfs driver), unique per run. */
const POD_CGROUP = `/critter-resize-test-${randomBytes(4).toString('hex')}`;

let registry: RunningRegistry;
let imgs: StandardTestImages;
let d: RunningDaemon;
let logDir: string;
let version: 1 | 2;

/** Where a controller's file of the pod cgroup is on this host. */
const podFile = (controller: string, file: string): string => (version === 1 ? join(CGROUP_ROOT, controller, POD_CGROUP, file) : join(CGROUP_ROOT, POD_CGROUP, file));
const readPod = async (controller: string, file: string): Promise<string> => (await readFile(podFile(controller, file), 'utf8')).trim();

before(async () => {
  version = await detectCgroupVersion();
  if (version === 1) for (const c of ['cpu', 'memory']) await mkdir(join(CGROUP_ROOT, c, POD_CGROUP));
  else await mkdir(join(CGROUP_ROOT, POD_CGROUP));
  registry = await startRegistry();
  imgs = await standardTestImages(registry);
  logDir = await mkdtemp(join(tmpdir(), 'critter-resize-logs-'));
  d = await startDaemon({ registriesConf: registriesConfText(registry.host) });
  await d.client.call('PullImage', { image: { image: imgs.busybox.reference } });
});

/** rmdir the pod cgroup (and what runc made under it) in every hierarchy. */
async function removeCgroup(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) if (e.isDirectory()) await removeCgroup(join(dir, e.name));
  await rmdir(dir).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err; });
}

after(async () => {
  if (d) {
    for (const p of (await d.client.call('ListPodSandbox', {})).items as Any[]) await d.client.call('RemovePodSandbox', { pod_sandbox_id: p.id });
    await d.stop();
  }
  await registry?.stop();
  if (logDir) await rm(logDir, { recursive: true, force: true });
  const hierarchies = version === 1 ? (await readdir(CGROUP_ROOT)).map((c) => join(CGROUP_ROOT, c, POD_CGROUP)) : [join(CGROUP_ROOT, POD_CGROUP)];
  for (const h of hierarchies) await removeCgroup(h);
});

const grpcError = (code: number, ...needles: string[]) => (err: { code: number; details: string }) => {
  assert.equal(err.code, code, `expected ${Code[code]}, got ${Code[err.code]}: ${err.details}`);
  for (const n of needles) assert.ok(err.details.includes(n), `"${err.details}" should mention ${n}`);
  return true;
};

let seq = 0;
async function runPod(cgroupParent: string): Promise<{ id: string; config: Any }> {
  const name = `resize${++seq}`;
  const config = {
    metadata: { name, namespace: 'resize-test', uid: `uid-${name}`, attempt: 0 },
    log_directory: join(logDir, name),
    linux: { cgroup_parent: cgroupParent, security_context: { namespace_options: { network: 2, pid: 1, ipc: 0 } } },
  };
  return { id: (await d.client.call('RunPodSandbox', { config })).pod_sandbox_id as string, config };
}

async function runContainer(pod: { id: string; config: Any }, resources: Any): Promise<string> {
  const config = {
    metadata: { name: 'app', attempt: 0 }, image: { image: imgs.busybox.reference }, log_path: 'app/0.log',
    command: ['sh', '-c', 'sleep 3600'], linux: { resources, security_context: { namespace_options: { network: 2, pid: 1, ipc: 0 } } },
  };
  const id = (await d.client.call('CreateContainer', { pod_sandbox_id: pod.id, config, sandbox_config: pod.config })).container_id as string;
  await d.client.call('StartContainer', { container_id: id });
  return id;
}

/** The container's own cpu/memory cgroup files, read from inside it. */
async function limitsInside(id: string): Promise<string[]> {
  const files = version === 1
    ? ['/sys/fs/cgroup/cpu/cpu.shares', '/sys/fs/cgroup/cpu/cpu.cfs_quota_us', '/sys/fs/cgroup/cpu/cpu.cfs_period_us', '/sys/fs/cgroup/memory/memory.limit_in_bytes']
    : ['/sys/fs/cgroup/cpu.weight', '/sys/fs/cgroup/cpu.max', '/sys/fs/cgroup/memory.max'];
  const r = await d.client.call('ExecSync', { container_id: id, cmd: ['cat', ...files], timeout: 10 });
  assert.equal(r.exit_code, 0, r.stderr.toString());
  return r.stdout.toString().trim().split('\n');
}

const res = (shares: number, quota: number, memory: number): Any => ({ cpu_shares: String(shares), cpu_quota: String(quota), cpu_period: '100000', memory_limit_in_bytes: String(memory) });
const want = (shares: number, quota: number, memory: number): string[] => (version === 1
  ? [String(shares), String(quota), '100000', String(memory)]
  : [String(1 + Math.floor(((shares - 2) * 9999) / 262142)), `${quota} 100000`, String(memory)]);

test('UpdateContainerResources() resizes a running container up and down; its cgroup and ContainerStatus follow; below usage is FAILED_PRECONDITION', async () => {
  const pod = await runPod(POD_CGROUP);
  const id = await runContainer(pod, res(512, 50000, 64 * MiB));
  assert.deepEqual(await limitsInside(id), want(512, 50000, 64 * MiB));
  await d.client.call('UpdateContainerResources', { container_id: id, linux: res(1024, 200000, 128 * MiB) });
  assert.deepEqual(await limitsInside(id), want(1024, 200000, 128 * MiB), 'resized up');
  await d.client.call('UpdateContainerResources', { container_id: id, linux: res(256, 25000, 32 * MiB) });
  assert.deepEqual(await limitsInside(id), want(256, 25000, 32 * MiB), 'resized down');
  const s = (await d.client.call('ContainerStatus', { container_id: id })).status as Any;
  assert.equal(s.resources.linux.cpu_shares, '256');
  assert.equal(s.resources.linux.cpu_quota, '25000');
  assert.equal(s.resources.linux.memory_limit_in_bytes, String(32 * MiB));

  // tmpfs pages are charged to the writer and cannot be reclaimed without swap.
  const fill = await d.client.call('ExecSync', { container_id: id, cmd: ['dd', 'if=/dev/zero', 'of=/dev/shm/fill', 'bs=1M', 'count=16'], timeout: 30 });
  assert.equal(fill.exit_code, 0, fill.stderr.toString());
  await assert.rejects(d.client.call('UpdateContainerResources', { container_id: id, linux: res(256, 25000, 8 * MiB) }), grpcError(Code.FAILED_PRECONDITION, 'below', 'current usage'));
  assert.deepEqual(await limitsInside(id), want(256, 25000, 32 * MiB), 'the old limit stays');
  const after = (await d.client.call('ContainerStatus', { container_id: id })).status as Any;
  assert.equal(after.resources.linux.memory_limit_in_bytes, String(32 * MiB), 'the status keeps the old limit');
  await d.client.call('ExecSync', { container_id: id, cmd: ['rm', '/dev/shm/fill'], timeout: 10 });

  // crictl update sends only what it was given: the rest stays.
  await d.client.call('UpdateContainerResources', { container_id: id, linux: { memory_limit_in_bytes: String(48 * MiB) } });
  assert.deepEqual(await limitsInside(id), want(256, 25000, 48 * MiB));
  assert.equal(((await d.client.call('ContainerStatus', { container_id: id })).status as Any).resources.linux.cpu_shares, '256');
  await d.client.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
});

test('UpdatePodSandboxResources() writes overhead + resources to the pod cgroup and PodSandboxStatus shows them; below usage is refused and nothing changes', async () => {
  const pod = await runPod(POD_CGROUP);
  const id = await runContainer(pod, res(256, 50000, 64 * MiB));
  const overhead = res(102, 10000, 10 * MiB);
  await d.client.call('UpdatePodSandboxResources', { pod_sandbox_id: pod.id, overhead, resources: res(256, 50000, 64 * MiB) });
  if (version === 1) {
    assert.equal(await readPod('cpu', 'cpu.shares'), '358');
    assert.equal(await readPod('cpu', 'cpu.cfs_quota_us'), '60000');
    assert.equal(await readPod('memory', 'memory.limit_in_bytes'), String(74 * MiB));
  } else {
    assert.equal(await readPod('cpu', 'cpu.max'), '60000 100000');
    assert.equal(await readPod('memory', 'memory.max'), String(74 * MiB));
  }
  const info = JSON.parse(((await d.client.call('PodSandboxStatus', { pod_sandbox_id: pod.id, verbose: true })).info as Any).info);
  assert.equal(info.resources.memory_limit_in_bytes, String(64 * MiB));
  assert.equal(info.overhead.cpu_shares, '102');
  assert.deepEqual(info.podCgroupLimits, { cpuShares: 358, cpuQuota: 60000, cpuPeriod: 100000, memoryLimit: 74 * MiB });

  // 24 MiB charged to the pod; the new limit, 8 MiB + 10 MiB of overhead, is below it.
  const fill = await d.client.call('ExecSync', { container_id: id, cmd: ['dd', 'if=/dev/zero', 'of=/dev/shm/fill', 'bs=1M', 'count=24'], timeout: 30 });
  assert.equal(fill.exit_code, 0, fill.stderr.toString());
  await assert.rejects(d.client.call('UpdatePodSandboxResources', { pod_sandbox_id: pod.id, overhead, resources: res(512, 50000, 8 * MiB) }), grpcError(Code.FAILED_PRECONDITION, 'below its current usage'));
  if (version === 1) assert.equal(await readPod('cpu', 'cpu.shares'), '358', 'cpu.shares written before the refused memory limit is put back');
  assert.equal(await readPod('memory', version === 1 ? 'memory.limit_in_bytes' : 'memory.max'), String(74 * MiB));
  const still = JSON.parse(((await d.client.call('PodSandboxStatus', { pod_sandbox_id: pod.id, verbose: true })).info as Any).info);
  assert.equal(still.resources.memory_limit_in_bytes, String(64 * MiB), 'the record keeps the values that apply');
  await d.client.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
});

test('UpdatePodSandboxResources() on a pod without a cgroup parent records the values; an unknown pod is NOT_FOUND', async () => {
  const pod = await runPod('');
  await d.client.call('UpdatePodSandboxResources', { pod_sandbox_id: pod.id, overhead: null, resources: res(512, 0, 32 * MiB) });
  const info = JSON.parse(((await d.client.call('PodSandboxStatus', { pod_sandbox_id: pod.id, verbose: true })).info as Any).info);
  assert.equal(info.resources.cpu_shares, '512');
  assert.deepEqual(info.podCgroupWritten, []);
  await assert.rejects(d.client.call('UpdatePodSandboxResources', { pod_sandbox_id: 'nope', resources: res(2, 0, 0) }), grpcError(Code.NOT_FOUND, 'nope'));
  await assert.rejects(d.client.call('UpdatePodSandboxResources', { pod_sandbox_id: '' }), grpcError(Code.INVALID_ARGUMENT, 'pod_sandbox_id'));
  await d.client.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
});
