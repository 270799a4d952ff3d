/**
 * ContainerService logic over hand-written fakes (FakeOciRuntime, a fake rootfs, pods and
 * images) and real records in a temp dir: the CRI state machine, idempotent stop and
 * remove, create retries, unwinding and exit handling. No root needed.
 */
import { describe, test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { FakeOciRuntime } from '../oci/testing.ts';
import { AlreadyExistsError, FailedPreconditionError, NotFoundError } from '../lib/errors.ts';
import { EXEC_SYNC_MAX_OUTPUT, EXEC_SYNC_MAX_RESPONSE_OUTPUT, OciRuntimeError } from '../oci/runtime.ts';
import type { SandboxRecord } from '../sandbox/sandbox-service.ts';
import type { Op } from '../lib/op.ts';
import { ContainerService } from './container-service.ts';
import type { ContainerServiceDeps } from './container-deps.ts';
import { containerRecordStore } from './container-record.ts';
import type { RootfsMounter } from '../storage/overlay-rootfs.ts';
import { containerConfig, sandboxConfig, specInputs } from './spec/testing.ts';

const op: Op = { log: pino({ level: 'silent' }), signal: new AbortController().signal };
const IMAGE = { id: 'a'.repeat(64), names: ['docker.io/library/busybox:latest'], digests: [`docker.io/library/busybox@sha256:${'b'.repeat(64)}`], topLayer: 'c'.repeat(64), size: 1, created: '' };

class FakeRootfs implements RootfsMounter {
  mounted = new Set<string>();
  layers = new Set<string>();
  /** The next mount throws this. */
  failMount: Error | undefined;
  /** mount waits for this (a create in flight). */
  mountGate: Promise<void> = Promise.resolve();
  /** removeLayer waits for this (a slow delete of a big read-write layer). */
  layerRemoval: Promise<void> = Promise.resolve();
  async mount(_op: Op, id: string, _lowers: readonly string[], target: string): Promise<void> {
    const fail = this.failMount;
    this.failMount = undefined;
    if (fail) throw fail;
    await this.mountGate;
    await mkdir(target, { recursive: true });
    this.mounted.add(target);
    this.layers.add(id);
  }
  async mountReadOnly(_op: Op, _lowers: readonly string[], target: string): Promise<void> {
    await mkdir(target, { recursive: true });
    this.mounted.add(target);
  }
  async unmount(_op: Op, target: string): Promise<void> {
    this.mounted.delete(target);
  }
  async layerIds(): Promise<string[]> {
    return [...this.layers];
  }
  async removeLayer(_op: Op, id: string): Promise<void> {
    await this.layerRemoval;
    this.layers.delete(id);
  }
}

let dir: string;
let runtime: FakeOciRuntime;
let rootfs: FakeRootfs;
let pod: SandboxRecord;
let svc: ContainerService;
let removedExitFiles: string[];
let oomKilled: boolean;

function makeService(): ContainerService {
  const inputs = specInputs();
  const deps: ContainerServiceDeps = {
    runRoot: join(dir, 'run'),
    log: op.log,
    runtimes: new Map([['runc', runtime]]),
    pods: { get: (id) => { if (!pod.id.startsWith(id)) throw new NotFoundError(`pod sandbox "${id}" not found`); return pod; } },
    images: {
      require: (spec) => { if (spec !== 'busybox:latest') throw new NotFoundError(`image "${spec}" not found`); return IMAGE; },
      config: async () => ({ config: { Cmd: ['sh'], StopSignal: 'SIGQUIT' } }),
    },
    layers: { lowerDirs: () => ['/layers/l/A'] },
    rootfs,
    env: { hostFacts: async () => inputs.host, defaults: async () => inputs.defaults },
    records: containerRecordStore(join(dir, 'containers')),
    exitFiles: { remove: async (id) => { removedExitFiles.push(id); } },
    oom: { memoryCgroupOf: async (pid) => `/cg/${pid}`, wasOomKilled: async () => oomKilled },
    clock: { nowNs: () => BigInt(Date.now()) * 1_000_000n },
    killWaitMs: 200,
  };
  const service = new ContainerService(deps);
  runtime.onStopped = (id, signal) => {
    queueMicrotask(() => void service.handleExit({ id, exitCode: String(signal).includes('KILL') ? 137 : 143, exitedAt: new Date(), exitedAtNs: BigInt(Date.now()) * 1_000_000n }));
  };
  return service;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'critter-ctr-unit-'));
  runtime = new FakeOciRuntime();
  rootfs = new FakeRootfs();
  removedExitFiles = [];
  oomKilled = false;
  const cfg = { ...sandboxConfig(), log_directory: join(dir, 'logs') };
  pod = {
    id: 'f'.repeat(64),
    metadata: { name: 'pod_default_uid-1_0', configDigest: '', config: cfg, runtimeHandler: 'runc', createdAt: '1', hostname: 'pod', cgroupParent: '/kubepods', cgroupDriver: 'cgroupfs', runDir: join(dir, 'pod') },
    status: { phase: 'ready', namespaces: { net: '/ns/net', ipc: '/ns/ipc', uts: '/ns/uts' }, networkAttached: false, ips: [], cniResult: null, shmMounted: true },
  };
  svc = makeService();
  await svc.recover(op);
});

afterEach(async () => {
  // Background teardowns of removed containers finish before their dir goes.
  await svc.imageInUse(IMAGE.id);
  await rm(dir, { recursive: true, force: true });
});

const config = (name = 'app', over = {}) => containerConfig({ metadata: { name, attempt: 0 }, ...over });

describe('ContainerService', () => {
  test('create() leaves the container CREATED with the image stop signal and the CRI log path; the runtime is not involved until start()', async () => {
    const id = await svc.create(op, pod.id.slice(0, 8), config());
    const rec = svc.get(id);
    assert.equal(rec.status.phase, 'created');
    assert.equal(rec.status.pid, 0);
    assert.equal(rec.metadata.stopSignal, 'SIGQUIT');
    assert.equal(rec.metadata.logPath, join(dir, 'logs', 'app/0.log'));
    assert.equal(rec.metadata.imageRef, IMAGE.digests[0]);
    assert.deepEqual(rec.status.user, { uid: 0, gid: 0, additionalGids: [0] });
    assert.deepEqual(runtime.callNames(id), []);
    assert.ok(rootfs.mounted.has(join(dir, 'run', 'containers', id, 'rootfs')));
    assert.deepEqual(svc.layersInUse(), [IMAGE.topLayer]);
    assert.equal(await svc.imageInUse(IMAGE.id), true);
    await svc.start(op, id);
    assert.deepEqual(runtime.callNames(id), ['createContainer', 'start']);
    const started = svc.get(id).status;
    assert.ok(started.pid > 0);
    assert.equal(started.memoryCgroupDir, `/cg/${started.pid}`);
  });

  test('create() refuses a missing pod, a pod that is not ready, a missing image and a missing name', async () => {
    await assert.rejects(svc.create(op, 'abc', config()), NotFoundError);
    await assert.rejects(svc.create(op, pod.id, config('x', { image: { ...config().image!, image: 'nope:1' } })), (e: Error) => e instanceof NotFoundError && e.message.includes('nope:1'));
    await assert.rejects(svc.create(op, pod.id, config('')), /metadata.name/);
    pod.status.phase = 'notready';
    await assert.rejects(svc.create(op, pod.id, config()), FailedPreconditionError);
  });

  test('create() retried with the same request returns the same id, concurrently or later; a different one clashes', async () => {
    const [a, b] = await Promise.all([svc.create(op, pod.id, config()), svc.create(op, pod.id, config())]);
    assert.equal(a, b);
    assert.equal(await svc.create(op, pod.id, config()), a);
    await assert.rejects(svc.create(op, pod.id, config('app', { command: ['other'] })), AlreadyExistsError);
    assert.equal(svc.list(null).length, 1);
    assert.equal(rootfs.mounted.size, 1);
  });

  test('create() in flight already holds its image and layers against RemoveImage, before its record exists', async () => {
    let openGate = (): void => undefined;
    rootfs.mountGate = new Promise((resolve) => { openGate = resolve; });
    const creating = svc.create(op, pod.id, config());
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(svc.list(null), []);
    assert.deepEqual(svc.layersInUse(), [IMAGE.topLayer]);
    assert.equal(await svc.imageInUse(IMAGE.id), true);
    openGate();
    await creating;
    assert.deepEqual(svc.layersInUse(), [IMAGE.topLayer]);
  });

  test('create() unwinds everything when the rootfs cannot be mounted, and the name is free again', async () => {
    rootfs.failMount = new Error('mount overlay: EINVAL');
    await assert.rejects(svc.create(op, pod.id, config()), /EINVAL/);
    assert.deepEqual(svc.list(null), []);
    assert.equal(rootfs.mounted.size, 0);
    assert.equal(rootfs.layers.size, 0);
    assert.deepEqual(svc.layersInUse(), []);
    const id = await svc.create(op, pod.id, config());
    assert.equal(svc.get(id).status.phase, 'created');
  });

  test('start() whose runtime create fails leaves the container EXITED with StartError and exit code 128, nothing left in the runtime', async () => {
    const id = await svc.create(op, pod.id, config());
    runtime.failNext.set('createContainer', new OciRuntimeError('container create failed: exec: "nope": not found'));
    await assert.rejects(svc.start(op, id), OciRuntimeError);
    const s = svc.get(id).status;
    assert.deepEqual([s.phase, s.exitCode, s.reason], ['exited', 128, 'StartError']);
    assert.match(s.message, /exec: "nope"/);
    assert.notEqual(s.finishedAt, '0');
    assert.equal(runtime.containers.has(id), false);
    await assert.rejects(svc.start(op, id), FailedPreconditionError);
    await svc.remove(op, id);
  });

  test('start() in a pod that is no longer ready is FailedPrecondition and the container stays CREATED', async () => {
    const id = await svc.create(op, pod.id, config());
    pod.status.phase = 'notready';
    await assert.rejects(svc.start(op, id), (e: Error) => e instanceof FailedPreconditionError && e.message.includes('not ready'));
    assert.equal(svc.get(id).status.phase, 'created');
    assert.deepEqual(runtime.callNames(id), []);
  });

  test('stop() of a container never started is a no-op: it stays CREATED and can still start', async () => {
    const id = await svc.create(op, pod.id, config());
    await svc.stop(op, id, 0);
    assert.equal(svc.get(id).status.phase, 'created');
    assert.deepEqual(runtime.callNames(id), []);
    await svc.start(op, id);
    assert.equal(svc.get(id).status.phase, 'running');
  });

  test('updateResources() before start() rewrites the bundle\'s config.json; after start() it goes through the runtime', async () => {
    const id = await svc.create(op, pod.id, config());
    const bundle = svc.get(id).metadata.bundle;
    await writeFile(join(bundle, 'config.json'), JSON.stringify({ linux: { resources: { cpu: { shares: 2 }, pids: { limit: 7 } } } }));
    await svc.updateResources(op, id, { ...config().linux!.resources!, cpu_shares: '512', memory_limit_in_bytes: '67108864' });
    const spec = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as { linux: { resources: Record<string, any> } }; // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.equal(spec.linux.resources['cpu'].shares, 512);
    assert.equal(spec.linux.resources['memory'].limit, 67108864);
    assert.deepEqual(spec.linux.resources['pids'], { limit: 7 }, 'fields the update does not set are kept');
    assert.equal(svc.get(id).status.resources?.cpu_shares, '512');
    assert.deepEqual(runtime.callNames(id), []);
    await svc.start(op, id);
    await svc.updateResources(op, id, { ...config().linux!.resources!, cpu_shares: '256' });
    assert.equal(runtime.callNames(id).at(-1), 'updateResources');
  });

  const startCases: Array<{ from: string; setup: (id: string) => Promise<void>; ok: boolean }> = [
    { from: 'created', setup: async () => {}, ok: true },
    { from: 'running', setup: async (id) => svc.start(op, id), ok: false },
    { from: 'exited', setup: async (id) => { await svc.start(op, id); await svc.stop(op, id, 0); }, ok: false },
  ];
  for (const c of startCases) {
    test(`start() from ${c.from} ${c.ok ? 'runs the container' : 'is FailedPrecondition'}`, async () => {
      const id = await svc.create(op, pod.id, config());
      await c.setup(id);
      if (c.ok) {
        await svc.start(op, id);
        assert.equal(svc.get(id).status.phase, 'running');
        assert.notEqual(svc.get(id).status.startedAt, '0');
      } else {
        await assert.rejects(svc.start(op, id), (e: Error) => e instanceof FailedPreconditionError && e.message.includes(c.from));
      }
    });
  }

  test('stop() sends the stop signal, then SIGKILL after the timeout when it is ignored; it is idempotent', async () => {
    runtime.fatalSignals = new Set(['SIGKILL']);
    const id = await svc.create(op, pod.id, config());
    await svc.start(op, id);
    const t0 = Date.now();
    await svc.stop(op, id, 1);
    assert.ok(Date.now() - t0 >= 950);
    assert.deepEqual(runtime.containers.get(id)!.signals, ['SIGQUIT', 'SIGKILL']);
    const rec = svc.get(id);
    assert.equal(rec.status.phase, 'exited');
    assert.equal(rec.status.exitCode, 137);
    assert.equal(rec.status.reason, 'Error');
    await svc.stop(op, id, 1);
    assert.equal(runtime.containers.get(id)!.signals.length, 2);
    assert.deepEqual(removedExitFiles, [id]);
  });

  test('execSync() keeps stdout and stderr together within one 16 MiB gRPC message, timeout note included (regression: RESOURCE_EXHAUSTED for 16 MiB of output)', async () => {
    const id = await svc.create(op, pod.id, config());
    await svc.start(op, id);
    runtime.execResult = { exitCode: 0, stdout: Buffer.alloc(EXEC_SYNC_MAX_OUTPUT, 'o'), stderr: Buffer.alloc(EXEC_SYNC_MAX_OUTPUT, 'e'), timedOut: false };
    const both = await svc.execSync(op, id, ['x'], 0);
    assert.equal(both.stdout.length + both.stderr.length, EXEC_SYNC_MAX_RESPONSE_OUTPUT);
    runtime.execResult = { exitCode: -1, stdout: Buffer.alloc(EXEC_SYNC_MAX_OUTPUT, 'o'), stderr: Buffer.alloc(0), timedOut: true };
    const timedOut = await svc.execSync(op, id, ['x'], 3);
    assert.equal(timedOut.stderr.toString(), 'command timed out after 3s');
    assert.equal(timedOut.stdout.length, EXEC_SYNC_MAX_RESPONSE_OUTPUT - timedOut.stderr.length);
  });

  test('stop() with timeout 0 kills at once', async () => {
    const id = await svc.create(op, pod.id, config());
    await svc.start(op, id);
    await svc.stop(op, id, 0);
    assert.deepEqual(runtime.containers.get(id)!.signals, ['SIGKILL']);
  });

  test('remove() kills a running container and answers before its files go; they go in the background; again and for unknown ids it succeeds', async () => {
    const id = await svc.create(op, pod.id, config());
    await svc.start(op, id);
    let finishRemoval = (): void => undefined;
    rootfs.layerRemoval = new Promise((resolve) => { finishRemoval = resolve; });
    await svc.remove(op, id);
    assert.throws(() => svc.get(id), NotFoundError);
    assert.deepEqual(svc.list(null), []);
    assert.equal(rootfs.layers.has(id), true, 'the read-write layer is still being deleted');
    await svc.remove(op, id);
    await svc.remove(op, 'deadbeef');
    // The name is free again at once.
    const again = await svc.create(op, pod.id, config());
    // An image user waits for the removal rather than seeing the removed container.
    const inUse = svc.imageInUse(IMAGE.id);
    finishRemoval();
    assert.equal(await inUse, true, 'the new container uses the image');
    assert.ok(runtime.callNames(id).includes('kill') && runtime.callNames(id).at(-1) === 'delete');
    assert.equal(rootfs.layers.has(id), false);
    assert.equal(rootfs.mounted.has(join(dir, 'run', 'containers', id, 'rootfs')), false);
    await svc.removeAllInPod(op, pod.id);
    assert.equal(rootfs.layers.has(again), false, 'removeAllInPod() returns once the files are gone');
    assert.equal(await svc.imageInUse(IMAGE.id), false);
  });

  test('handleExit() records Completed, Error and OOMKilled', async () => {
    for (const [code, oom, reason] of [[0, false, 'Completed'], [3, false, 'Error'], [137, true, 'OOMKilled']] as const) {
      oomKilled = oom;
      const id = await svc.create(op, pod.id, config(`c${code}`));
      await svc.start(op, id);
      runtime.exit(id);
      await svc.handleExit({ id, exitCode: code, exitedAt: new Date(), exitedAtNs: 5n });
      const s = svc.get(id).status;
      assert.deepEqual([s.phase, s.exitCode, s.reason, s.finishedAt], ['exited', code, reason, '5']);
    }
  });

  test('recover() keeps running containers, records exits from the persist dir, finishes removals and discards half-done launches', async () => {
    const running = await svc.create(op, pod.id, config('running'));
    await svc.start(op, running);
    const died = await svc.create(op, pod.id, config('died'));
    await svc.start(op, died);
    runtime.exit(died);
    await mkdir(join(dir, 'run', 'containers', died, 'persist'), { recursive: true });
    await writeFile(join(dir, 'run', 'containers', died, 'persist', 'exit'), '42');
    const records = containerRecordStore(join(dir, 'containers'));
    // A crash after RemoveContainer answered leaves a tombstoned record (phase removing),
    // or, written by an earlier critter, status.json saying removing.
    const removing = 'd'.repeat(64);
    await records.create(removing, { ...svc.get(running).metadata, name: 'removing' }, { ...svc.get(running).status, phase: 'exited' });
    await records.tombstone(removing);
    const removingEarlier = 'e'.repeat(64);
    await records.create(removingEarlier, { ...svc.get(running).metadata, name: 'removing-earlier' }, { ...svc.get(running).status, phase: 'removing' });
    // A crash mid-start leaves a CREATED record without a pid while the runtime has the container.
    const launching = await svc.create(op, pod.id, config('launching'));
    await runtime.createContainer(op, { id: launching, bundle: '', logPath: '', persistDir: '', terminal: false, stdin: false, stdinOnce: false });
    const neverStarted = await svc.create(op, pod.id, config('never-started'));

    svc = makeService();
    await svc.recover(op);
    assert.equal(svc.get(running).status.phase, 'running');
    const s = svc.get(died).status;
    assert.deepEqual([s.phase, s.exitCode, s.reason], ['exited', 42, 'Error']);
    assert.equal(svc.list(null).length, 4);
    for (const gone of [removing, removingEarlier]) {
      assert.ok(runtime.callNames(gone).includes('delete'));
      assert.throws(() => svc.get(gone), NotFoundError);
    }
    assert.equal(runtime.containers.has(launching), false, 'the half-done launch is discarded');
    assert.equal(svc.get(launching).status.phase, 'created');
    assert.equal(svc.get(neverStarted).status.phase, 'created');
    await svc.start(op, launching);
    assert.equal(svc.get(launching).status.phase, 'running');
    // Names were re-reserved: a retry gets the same container.
    assert.equal(await svc.create(op, pod.id, config('running')), running);
  });

  test('recover() deletes read-write layers and bundles that have no record (a create cut short before its record was durable)', async () => {
    const kept = await svc.create(op, pod.id, config('kept'));
    const orphan = '9'.repeat(64);
    rootfs.layers.add(orphan);
    await mkdir(join(dir, 'run', 'containers', orphan, 'rootfs'), { recursive: true });
    await mkdir(join(dir, 'run', 'containers', 'not-a-container-id'), { recursive: true });
    svc = makeService();
    await svc.recover(op);
    assert.deepEqual([...rootfs.layers], [kept]);
    await assert.rejects(access(join(dir, 'run', 'containers', orphan)));
    await access(join(dir, 'run', 'containers', 'not-a-container-id'));
    await access(join(dir, 'run', 'containers', kept));
  });
});
