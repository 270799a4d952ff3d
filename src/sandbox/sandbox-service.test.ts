import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { SandboxService, type PodFileWriter, type PodNamespacePinner } from './sandbox-service.ts';
import { matchesFilter } from './sandbox-view.ts';
import { cgroupParentFor } from './cgroup-parent.ts';
import { bandwidthFor } from './sandbox-config.ts';
import { FakeCni } from '../network/testing.ts';
import { RecordStore } from '../state/record-store.ts';
import type { SandboxMetadata, SandboxStatusRecord } from './sandbox-record.ts';
import type { PodSandboxConfig__Output } from '../generated/cri/runtime/v1/PodSandboxConfig.ts';
import { AlreadyExistsError, DeadlineExceededError, InvalidArgumentError, UnavailableError, UnimplementedError } from '../lib/errors.ts';
import type { PinRequest } from '../network/netns.ts';

const log = pino({ level: 'silent' });
const op = { log, signal: new AbortController().signal };

class FakeNamespaces implements PodNamespacePinner {
  pinned = new Set<string>();
  requests: PinRequest[] = [];
  async create(_op: unknown, id: string, req: PinRequest) {
    this.pinned.add(id);
    this.requests.push(req);
    return req.userns ? { net: `/fake/netns/${id}`, user: `/fake/userns/${id}` } : { net: `/fake/netns/${id}` };
  }
  async remove(_op: unknown, id: string) { this.pinned.delete(id); }
  async arePinned() { return true; }
}

class FakeFiles implements PodFileWriter {
  shm = new Set<string>();
  async writeResolvConf(dir: string) { return join(dir, 'resolv.conf'); }
  async writeHosts(dir: string) { return join(dir, 'hosts'); }
  async writeHostname(dir: string) { return join(dir, 'hostname'); }
  async mountShm(_op: unknown, dir: string) { this.shm.add(dir); return dir; }
  async unmountShm(_op: unknown, dir: string) { this.shm.delete(dir); }
  async removeDir(_op: unknown, dir: string) { this.shm.delete(dir); await rm(dir, { recursive: true, force: true }); }
}

function podConfig(name: string, extra: Partial<PodSandboxConfig__Output> = {}): PodSandboxConfig__Output {
  return {
    metadata: { name, namespace: 'ns', uid: `uid-${name}`, attempt: 0 },
    hostname: '', log_directory: '', dns_config: null, port_mappings: [], labels: { app: name }, annotations: {},
    linux: null, windows: null, ...extra,
  };
}

async function harness(fn: (h: { service: SandboxService; cni: FakeCni; ns: FakeNamespaces; files: FakeFiles; dir: string }) => Promise<void>, extra: { createTimeoutMs?: number; userNamespaces?: (h: string) => boolean } = {}): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'sandbox-svc-'));
  await mkdir(join(dir, 'run'), { recursive: true });
  const cni = new FakeCni();
  const ns = new FakeNamespaces();
  const files = new FakeFiles();
  const records = new RecordStore<SandboxMetadata, SandboxStatusRecord>({ dir: join(dir, 'pods'), kind: 'pod' });
  const service = new SandboxService({
    runRoot: join(dir, 'run'), runtimeHandlers: ['runc', 'crun'], defaultHandler: 'runc', cgroupDriver: 'cgroupfs', log,
    cni, namespaces: ns, files, records,
    containers: { stopAllInPod: async () => {}, removeAllInPod: async () => {} },
    clock: { nowNs: () => 1_700_000_000_000_000_000n }, cniDelAttempts: 2, ...extra,
  });
  await service.recover(op);
  try {
    await fn({ service, cni, ns, files, dir });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('SandboxService.run() names the missing metadata field and refuses unknown handlers and host sysctls', async () => {
  await harness(async ({ service }) => {
    for (const field of ['name', 'namespace', 'uid'] as const) {
      const cfg = podConfig('a');
      cfg.metadata![field] = '';
      await assert.rejects(service.run(op, cfg, ''), (e: Error) => e instanceof InvalidArgumentError && e.message.includes(`metadata.${field}`));
    }
    await assert.rejects(service.run(op, podConfig('a'), 'kata'), /runtime_handler "kata"/);
    const linux = { cgroup_parent: '', security_context: null, sysctls: { 'kernel.panic': '1' }, overhead: null, resources: null };
    await assert.rejects(service.run(op, podConfig('a', { linux }), ''), /sysctl "kernel.panic" is not namespaced/);
  });
});

test('SandboxService.run() returns the same id to a retry, in flight or finished, and AlreadyExists on a real clash', async () => {
  await harness(async ({ service, cni }) => {
    const [a, b] = await Promise.all([service.run(op, podConfig('web'), ''), service.run(op, podConfig('web'), '')]);
    assert.equal(a, b);
    assert.equal(await service.run(op, podConfig('web'), 'runc'), a);
    assert.equal(cni.calls.filter((c) => c.method === 'setUp').length, 1);
    await assert.rejects(service.run(op, podConfig('web', { hostname: 'other' }), ''), (e: Error) => e instanceof AlreadyExistsError && e.message.includes(a));
  });
});

test('SandboxService.run() unwinds namespaces, shm, network and record when CNI ADD fails', async () => {
  await harness(async ({ service, cni, ns, files }) => {
    cni.failSetUp = new Error('plugin exploded');
    await assert.rejects(service.run(op, podConfig('web'), ''), /plugin exploded/);
    assert.equal(ns.pinned.size, 0);
    assert.equal(files.shm.size, 0);
    assert.equal(cni.attached.size, 0, 'a failed ADD is followed by a DEL');
    assert.deepEqual(service.list(), []);
    cni.failSetUp = undefined;
    assert.match(await service.run(op, podConfig('web'), ''), /^[0-9a-f]{64}$/, 'the name was released');
  });
});

test('SandboxService.run() refuses with Unavailable while no CNI network is configured', async () => {
  await harness(async ({ service, cni, ns }) => {
    cni.ready = { ready: false, reason: 'NetworkPluginNotReady', message: 'no CNI configuration file in /x' };
    await assert.rejects(service.run(op, podConfig('web'), ''), UnavailableError);
    assert.equal(ns.pinned.size, 0);
  });
});

test('SandboxService.stop() and remove() are idempotent and a failed CNI DEL leaves the pod NOTREADY for a retry', async () => {
  await harness(async ({ service, cni, ns }) => {
    await service.stop(op, 'ffffffff');
    await service.remove(op, 'ffffffff');
    const id = await service.run(op, podConfig('web'), '');
    cni.failTearDown = new Error('DEL failed');
    await assert.rejects(service.stop(op, id), UnavailableError);
    assert.equal(service.get(id).status.phase, 'notready');
    assert.equal(service.get(id).status.networkAttached, true);
    assert.equal(service.get(id).status.ips.length, 1, 'the pod still holds its IP while DEL has not succeeded');
    cni.failTearDown = undefined;
    await service.stop(op, id);
    assert.deepEqual(service.get(id).status.ips, [], 'a stopped pod no longer reports the IP it released');
    await service.stop(op, id);
    assert.equal(cni.attached.size, 0);
    await service.remove(op, id.slice(0, 10));
    await service.remove(op, id);
    assert.equal(ns.pinned.size, 0);
    assert.deepEqual(service.list(), []);
  });
});

test('matchesFilter() applies id prefix, state and label selector together', async () => {
  await harness(async ({ service }) => {
    const a = await service.run(op, podConfig('a', { labels: { tier: 'web', x: '1' } }), '');
    const b = await service.run(op, podConfig('b', { labels: { tier: 'db' } }), '');
    await service.stop(op, b);
    const ids = (filter: Parameters<typeof matchesFilter>[1]) => service.list().filter((r) => matchesFilter(r, filter)).map((r) => r.id);
    assert.deepEqual(ids({ id: a.slice(0, 6), state: null, label_selector: {} }), [a]);
    assert.deepEqual(ids({ id: '', state: { state: 1 }, label_selector: {} }), [b]);
    assert.deepEqual(ids({ id: '', state: null, label_selector: { tier: 'web' } }), [a]);
    assert.deepEqual(ids({ id: '', state: { state: 0 }, label_selector: { tier: 'db' } }), []);
  });
});

test('SandboxService.recover() cleans a pod left half-created and keeps finished ones', async () => {
  await harness(async ({ service, cni, dir }) => {
    const keep = await service.run(op, podConfig('keep'), '');
    await service.records.create('abcdef0123456789', {
      name: 'half_ns_uid_0', configDigest: 'x', config: podConfig('half'), runtimeHandler: 'runc', createdAt: '1', hostname: 'half',
      cgroupParent: '', cgroupDriver: 'cgroupfs', runDir: join(dir, 'run', 'pods', 'abcdef0123456789'),
    }, { phase: 'creating', namespaces: { net: '/fake' }, networkAttached: true, ips: [], cniResult: null, shmMounted: true });
    const records = new RecordStore<SandboxMetadata, SandboxStatusRecord>({ dir: join(dir, 'pods'), kind: 'pod' });
    const restarted = new SandboxService({
      runRoot: join(dir, 'run'), runtimeHandlers: ['runc'], defaultHandler: 'runc', cgroupDriver: 'cgroupfs', log,
      cni, namespaces: new FakeNamespaces(), files: new FakeFiles(), records,
      containers: { stopAllInPod: async () => {}, removeAllInPod: async () => {} }, clock: { nowNs: () => 1n },
    });
    await restarted.recover(op);
    assert.deepEqual(restarted.list().map((r) => r.id), [keep]);
    assert.ok(cni.calls.some((c) => c.method === 'tearDown' && c.podId === 'abcdef0123456789'));
    assert.equal(await restarted.run(op, podConfig('keep'), ''), keep);
  });
});

test('cgroupParentFor() converts cgroupfs paths to systemd slices', () => {
  assert.equal(cgroupParentFor('systemd', '/kubepods/burstable/pod12-34'), 'kubepods-burstable-pod12_34.slice');
  assert.equal(cgroupParentFor('systemd', 'kubepods.slice'), 'kubepods.slice');
  assert.equal(cgroupParentFor('cgroupfs', '/kubepods/pod1'), '/kubepods/pod1');
  assert.throws(() => cgroupParentFor('cgroupfs', 'kubepods.slice'), InvalidArgumentError);
});

test('bandwidthFor() turns the kubernetes.io bandwidth annotations into bits per second', () => {
  assert.deepEqual(bandwidthFor({ 'kubernetes.io/ingress-bandwidth': '10M' }), { ingressRate: 10_000_000, ingressBurst: 2147483647 });
  assert.equal(bandwidthFor({}), undefined);
  assert.throws(() => bandwidthFor({ 'kubernetes.io/egress-bandwidth': 'fast' }), /egress-bandwidth/);
});

test('SandboxService.stop() goes on after its caller\'s deadline, and a retry joins it', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  let stops = 0;
  const dir = await mkdtemp(join(tmpdir(), 'sandbox-svc-'));
  const records = new RecordStore<SandboxMetadata, SandboxStatusRecord>({ dir: join(dir, 'pods'), kind: 'pod' });
  const service = new SandboxService({
    runRoot: dir, runtimeHandlers: ['runc'], defaultHandler: 'runc', cgroupDriver: 'cgroupfs', log,
    cni: new FakeCni(), namespaces: new FakeNamespaces(), files: new FakeFiles(), records,
    containers: { stopAllInPod: async (_op, _pod, timeoutSec) => { stops++; assert.equal(timeoutSec, 0, 'containers are killed at once'); await gate; }, removeAllInPod: async () => {} },
    clock: { nowNs: () => 1_700_000_000_000_000_000n },
  });
  try {
    await service.recover(op);
    const id = await service.run(op, podConfig('slow-stop'), '');
    const caller = new AbortController();
    const first = service.stop({ log, signal: caller.signal }, id);
    caller.abort(new Error('caller deadline'));
    await assert.rejects(first, /caller deadline/);
    const retry = service.stop(op, id);
    release();
    await retry;
    assert.equal(stops, 1, 'the retry joined the stop that was still running');
    assert.equal(service.get(id).status.phase, 'notready');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('SandboxService.run() goes on after its caller\'s deadline during a slow CNI ADD, and the retry gets the same READY pod', async () => {
  await harness(async ({ service, cni, ns }) => {
    const gate = cni.gateSetUp();
    const caller = new AbortController();
    const first = service.run({ log, signal: caller.signal }, podConfig('slow-add'), '');
    await gate.reached;
    caller.abort(new DOMException('RunPodSandbox exceeded its deadline', 'TimeoutError'));
    await assert.rejects(first, /exceeded its deadline/);
    assert.equal(ns.pinned.size, 1, 'the caller giving up did not undo the pod');
    const retry = service.run(op, podConfig('slow-add'), '');
    gate.open();
    const id = await retry;
    assert.equal(service.get(id).status.phase, 'ready');
    assert.equal(service.get(id).status.ips.length, 1);
    assert.equal(await service.run(op, podConfig('slow-add'), ''), id, 'a retry after it finished gets the same pod');
    assert.equal(cni.calls.filter((c) => c.method === 'setUp').length, 1, 'one ADD for the three calls');
    assert.equal(cni.calls.filter((c) => c.method === 'tearDown').length, 0);
  });
});

test('SandboxService.run() unwinds under its own timeout when CNI ADD never ends, and the name is free again', async () => {
  await harness(async ({ service, cni, ns, files }) => {
    cni.gateSetUp();
    // AbortSignal.timeout does not hold the event loop open (the daemon's server does).
    const alive = setInterval(() => undefined, 1000);
    await assert.rejects(service.run(op, podConfig('stuck'), ''), (e: Error) => e instanceof DeadlineExceededError && /own timeout of 0.05 s/.test(e.message))
      .finally(() => clearInterval(alive));
    assert.equal(ns.pinned.size, 0);
    assert.equal(files.shm.size, 0);
    assert.equal(cni.attached.size, 0, 'the ADD that timed out is followed by a DEL');
    assert.deepEqual(service.list(), []);
    cni.gateSetUp().open();
    assert.match(await service.run(op, podConfig('stuck'), ''), /^[0-9a-f]{64}$/);
  }, { createTimeoutMs: 50 });
});

function usernsPod(name: string, ns: Record<string, number> = {}): PodSandboxConfig__Output {
  const maps = [{ container_id: 0, host_id: 100000, length: 65536 }];
  const namespace_options = { network: 0, pid: 1, ipc: 0, target_id: '', userns_options: { mode: 0, uids: maps, gids: maps }, ...ns };
  return podConfig(name, { linux: { cgroup_parent: '', sysctls: {}, overhead: null, resources: null, security_context: { namespace_options } } as never });
}

test('SandboxService.run() pins a user namespace with the pod\'s mappings only where the handler supports it', async () => {
  await harness(async ({ service, ns }) => {
    await assert.rejects(service.run(op, usernsPod('u'), 'crun'), (e: Error) => e instanceof UnimplementedError && e.message.includes('"crun"'));
    const id = await service.run(op, usernsPod('u'), '');
    assert.deepEqual(ns.requests.at(-1)!.userns, { uids: [{ containerId: 0, hostId: 100000, length: 65536 }], gids: [{ containerId: 0, hostId: 100000, length: 65536 }] });
    assert.equal(service.get(id).status.namespaces.user, `/fake/userns/${id}`);
    await assert.rejects(service.run(op, usernsPod('h', { network: 2 }), ''), (e: Error) => e instanceof UnimplementedError && e.message.includes('host network'));
    await assert.rejects(service.run(op, usernsPod('i', { ipc: 2 }), ''), (e: Error) => e instanceof InvalidArgumentError && e.message.includes('namespace_options.ipc'));
    await assert.rejects(service.run(op, usernsPod('p', { pid: 2 }), ''), (e: Error) => e instanceof InvalidArgumentError && e.message.includes('namespace_options.pid'));
  }, { userNamespaces: (h) => h === 'runc' });
});

test('SandboxService.run() answers UNIMPLEMENTED for a user namespace when no probe said the host can', async () => {
  await harness(async ({ service, ns }) => {
    await assert.rejects(service.run(op, usernsPod('u'), ''), UnimplementedError);
    assert.deepEqual(ns.requests, []);
  });
});
