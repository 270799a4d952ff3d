/**
 * A ContainerService over hand-written fakes (FakeOciRuntime, a gated rootfs, one pod, one
 * image) and real records in a temp dir, for the lifecycle unit tests (DESIGN convention 5).
 * Every gate is a promise the test opens, so races are staged, never slept into.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { FakeOciRuntime } from '../oci/testing.ts';
import { NotFoundError } from '../lib/errors.ts';
import type { Op } from '../lib/op.ts';
import type { SandboxRecord } from '../sandbox/sandbox-service.ts';
import { ContainerService } from './container-service.ts';
import type { ContainerLifecycleEvent, ContainerServiceDeps } from './container-deps.ts';
import { containerRecordStore } from './container-record.ts';
import type { RootfsMounter } from '../storage/overlay-rootfs.ts';
import { specInputs } from './spec/testing.ts';
import { sandboxConfig } from './spec/testing.ts';

export const testOp: Op = { log: pino({ level: 'silent' }), signal: new AbortController().signal };
export const TEST_IMAGE = { id: 'a'.repeat(64), names: ['docker.io/library/busybox:latest'], digests: [`docker.io/library/busybox@sha256:${'b'.repeat(64)}`], topLayer: 'c'.repeat(64), size: 1, created: '' };

class FakeRootfs implements RootfsMounter {
  mounted = new Set<string>();
  layers = new Set<string>();
  /** mount waits for this (a create in flight), or fails with its signal's reason as a killed mount helper would. */
  mountGate: Promise<void> = Promise.resolve();
  /** Called when a mount starts waiting for mountGate. */
  onMount: () => void = () => undefined;
  /** Errors the next unmounts throw, in order (EBUSY from a mount still in use). */
  unmountFailures: Error[] = [];
  unmountCalls: Array<{ target: string; lazy: boolean }> = [];
  async mount(op: Op, id: string, _lowers: readonly string[], target: string): Promise<void> {
    this.onMount();
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(op.signal.reason as Error);
      if (op.signal.aborted) onAbort();
      op.signal.addEventListener('abort', onAbort, { once: true });
      void this.mountGate.then(() => { op.signal.removeEventListener('abort', onAbort); resolve(); });
    });
    await mkdir(target, { recursive: true });
    this.mounted.add(target);
    this.layers.add(id);
  }
  async mountReadOnly(_op: Op, _lowers: readonly string[], target: string): Promise<void> {
    await mkdir(target, { recursive: true });
    this.mounted.add(target);
  }
  async unmount(_op: Op, target: string, opts: { lazy?: boolean } = {}): Promise<void> {
    this.unmountCalls.push({ target, lazy: opts.lazy ?? false });
    const fail = this.unmountFailures.shift();
    if (fail) throw fail;
    this.mounted.delete(target);
  }
  async layerIds(): Promise<string[]> {
    return [...this.layers];
  }
  async removeLayer(_op: Op, id: string): Promise<void> {
    this.layers.delete(id);
  }
}

export interface Harness {
  svc: ContainerService;
  runtime: FakeOciRuntime;
  rootfs: FakeRootfs;
  pod: SandboxRecord;
  deps: ContainerServiceDeps;
  /** Lifecycle events as the observer saw them: `<event> <container id>`. */
  events: string[];
}

/** A service in `dir`; `over` replaces deps (a fake clock, timers). Exits from kills reach the service as the exit watcher would report them. */
export function containerHarness(dir: string, over: Partial<ContainerServiceDeps> = {}): Harness {
  const inputs = specInputs();
  const runtime = new FakeOciRuntime();
  const rootfs = new FakeRootfs();
  const events: string[] = [];
  const pod: SandboxRecord = {
    id: 'f'.repeat(64),
    metadata: { name: 'pod_default_uid-1_0', configDigest: '', config: { ...sandboxConfig(), log_directory: join(dir, 'logs') }, runtimeHandler: 'runc', createdAt: '1', hostname: 'pod', cgroupParent: '/kubepods', cgroupDriver: 'cgroupfs', runDir: join(dir, 'pod') },
    status: { phase: 'ready', namespaces: { net: '/ns/net', ipc: '/ns/ipc', uts: '/ns/uts' }, networkAttached: false, ips: [], cniResult: null, shmMounted: true },
  };
  const deps: ContainerServiceDeps = {
    runRoot: join(dir, 'run'),
    log: testOp.log,
    runtimes: new Map([['runc', runtime]]),
    pods: { get: (id) => { if (!pod.id.startsWith(id)) throw new NotFoundError(`pod sandbox "${id}" not found`); return pod; } },
    images: {
      require: (spec) => { if (spec !== 'busybox:latest') throw new NotFoundError(`image "${spec}" not found`); return TEST_IMAGE; },
      config: async () => ({ config: { Cmd: ['sh'] } }),
    },
    layers: { lowerDirs: () => ['/layers/l/A'] },
    rootfs,
    env: { hostFacts: async () => inputs.host, defaults: async () => inputs.defaults },
    records: containerRecordStore(join(dir, 'containers')),
    exitFiles: { remove: async () => undefined },
    oom: { memoryCgroupOf: async (pid) => `/cg/${pid}`, wasOomKilled: async () => false },
    clock: { nowNs: () => BigInt(Date.now()) * 1_000_000n },
    observer: { lifecycle: (event: ContainerLifecycleEvent, rec) => events.push(`${event} ${rec.id}`), oomKilled: () => undefined },
    killWaitMs: 200,
    ...over,
  };
  const svc = new ContainerService(deps);
  runtime.onStopped = (id, signal) => {
    queueMicrotask(() => void svc.handleExit({ id, exitCode: String(signal).includes('KILL') ? 137 : 143, exitedAt: new Date(), exitedAtNs: BigInt(Date.now()) * 1_000_000n }));
  };
  return { svc, runtime, rootfs, pod, deps, events };
}
