/**
 * SandboxService and the pod infra process, over a hand-written PodInfra: when it is
 * started, stopped and cleaned, and how a dead infra turns the pod NOTREADY.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { SandboxService, type PodFileWriter, type PodNamespacePinner } from './sandbox-service.ts';
import type { InfraStartRequest, InfraStopRequest, PodInfra } from './infra-process.ts';
import { FakeCni } from '../network/testing.ts';
import { RecordStore } from '../state/record-store.ts';
import type { ProcessRef } from '../state/process-identity.ts';
import type { SandboxMetadata, SandboxStatusRecord } from './sandbox-record.ts';
import type { PodSandboxConfig__Output } from '../generated/cri/runtime/v1/PodSandboxConfig.ts';
import { sandboxStatusResponse } from './sandbox-view.ts';

const log = pino({ level: 'silent' });
const op = { log, signal: new AbortController().signal };
const POD = 0;
const CONTAINER = 1;
const NODE = 2;

class FakeInfra implements PodInfra {
  started: InfraStartRequest[] = [];
  stopped: InfraStopRequest[] = [];
  alive = new Set<number>();
  failStart = false;
  onExit: ((podId: string) => Promise<void>) | undefined;
  #next = 100;
  async start(_op: unknown, req: InfraStartRequest): Promise<ProcessRef> {
    this.started.push(req);
    if (this.failStart) throw new Error('runc create failed');
    const pid = this.#next++;
    this.alive.add(pid);
    return { pid, startTime: `${pid}0` };
  }
  async stop(_op: unknown, req: InfraStopRequest): Promise<void> {
    this.stopped.push(req);
    if (req.infra) this.alive.delete(req.infra.pid);
  }
  async isAlive(ref: ProcessRef): Promise<boolean> { return this.alive.has(ref.pid); }
  async watch(onExit: (podId: string) => Promise<void>): Promise<void> { this.onExit = onExit; }
}

const namespaces: PodNamespacePinner = {
  async create() { return { net: '/fake/net', ipc: '/fake/ipc', uts: '/fake/uts' }; },
  async remove() {},
  async arePinned() { return true; },
};

const files: PodFileWriter = {
  async writeResolvConf(dir) { return join(dir, 'resolv.conf'); },
  async writeHosts(dir) { return join(dir, 'hosts'); },
  async writeHostname(dir) { return join(dir, 'hostname'); },
  async mountShm(_op, dir) { return dir; },
  async unmountShm() {},
  async removeDir(_op, dir) { await rm(dir, { recursive: true, force: true }); },
};

function podConfig(name: string, pid: number | null, network = POD): PodSandboxConfig__Output {
  const namespace_options = pid === null ? null : { network, pid, ipc: POD, target_id: '', userns_options: null };
  return {
    metadata: { name, namespace: 'ns', uid: `uid-${name}`, attempt: 0 },
    hostname: '', log_directory: '', dns_config: null, port_mappings: [], labels: {}, annotations: {},
    linux: { cgroup_parent: '/kubepods/pod1', security_context: namespace_options === null ? null : { namespace_options } as never, sysctls: {}, overhead: null, resources: null },
    windows: null,
  };
}

async function harness(fn: (h: { service: () => SandboxService; infra: FakeInfra; restart: () => Promise<void> }) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'sandbox-infra-'));
  await mkdir(join(dir, 'run'), { recursive: true });
  const infra = new FakeInfra();
  const make = (): SandboxService => new SandboxService({
    runRoot: join(dir, 'run'), runtimeHandlers: ['runc', 'crun'], defaultHandler: 'runc', cgroupDriver: 'cgroupfs', log,
    cni: new FakeCni(), namespaces, files, records: new RecordStore<SandboxMetadata, SandboxStatusRecord>({ dir: join(dir, 'pods'), kind: 'pod' }),
    containers: { stopAllInPod: async () => {}, removeAllInPod: async () => {} }, infra,
    clock: { nowNs: () => 1n },
  });
  let service = make();
  await service.recover(op);
  try {
    await fn({ service: () => service, infra, restart: async () => { service = make(); await service.recover(op); } });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const infraPidOf = (s: SandboxService, id: string): number => JSON.parse(sandboxStatusResponse(s.get(id), true, 0n).info!['info']!).infraPid as number;

test('SandboxService.run() starts an infra process for pid = POD and unset namespace options, with the pod\'s handler, namespaces and cgroup parent', async () => {
  await harness(async ({ service, infra }) => {
    const a = await service().run(op, podConfig('a', POD), 'crun');
    const b = await service().run(op, podConfig('b', null), '');
    assert.deepEqual(infra.started.map((r) => r.podId), [a, b]);
    assert.equal(infra.started[0]!.handler, 'crun');
    assert.equal(infra.started[1]!.handler, 'runc');
    assert.deepEqual(infra.started[0]!.namespaces, { net: '/fake/net', ipc: '/fake/ipc', uts: '/fake/uts' });
    assert.equal(infra.started[0]!.cgroupParent, '/kubepods/pod1');
    assert.equal(infraPidOf(service(), a), 100);
    assert.deepEqual(service().get(a).status.infra, { pid: 100, startTime: '1000' });
  });
});

test('SandboxService.run() starts no infra process for pid = CONTAINER or NODE', async () => {
  await harness(async ({ service, infra }) => {
    const a = await service().run(op, podConfig('a', CONTAINER), '');
    await service().run(op, podConfig('b', NODE), '');
    assert.deepEqual(infra.started, []);
    assert.equal(infraPidOf(service(), a), 0);
  });
});

test('SandboxService.run() unwinds a failed infra start and stops what it may have left', async () => {
  await harness(async ({ service, infra }) => {
    infra.failStart = true;
    await assert.rejects(service().run(op, podConfig('a', POD), ''), /runc create failed/);
    assert.equal(infra.stopped.length, 1);
    assert.equal(infra.stopped[0]!.podId, infra.started[0]!.podId);
    assert.deepEqual(service().list(), []);
  });
});

test('SandboxService.stop() stops the infra process once, and forgets its pid', async () => {
  await harness(async ({ service, infra }) => {
    const a = await service().run(op, podConfig('a', POD), '');
    await service().stop(op, a);
    await service().stop(op, a);
    assert.equal(infra.stopped.length, 1);
    assert.deepEqual(infra.stopped[0]!.infra, { pid: 100, startTime: '1000' });
    assert.equal(service().get(a).status.infra, undefined);
    assert.equal(service().get(a).status.phase, 'notready');
  });
});

test('SandboxService infra exit marks the pod NOTREADY; exits of stopped or unknown pods change nothing', async () => {
  await harness(async ({ service, infra }) => {
    const a = await service().run(op, podConfig('a', POD), '');
    const b = await service().run(op, podConfig('b', POD), '');
    await infra.onExit!(a);
    await infra.onExit!('unknown');
    assert.equal(service().get(a).status.phase, 'notready');
    assert.equal(service().get(b).status.phase, 'ready');
  });
});

test('SandboxService.recover() keeps a pod with a live infra READY and marks one whose infra died NOTREADY', async () => {
  await harness(async ({ service, infra, restart }) => {
    const a = await service().run(op, podConfig('a', POD), '');
    const b = await service().run(op, podConfig('b', POD), '');
    infra.alive.delete(service().get(b).status.infra!.pid);
    await restart();
    assert.equal(service().get(a).status.phase, 'ready');
    assert.equal(infraPidOf(service(), a), 100);
    assert.equal(service().get(b).status.phase, 'notready');
    assert.ok(infra.onExit, 'recovery starts watching infra exits');
  });
});
