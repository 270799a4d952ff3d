/**
 * Pod sandboxes (DESIGN: Pod sandboxes): pinned net/ipc/uts namespaces, the pod's files,
 * a /dev/shm tmpfs and CNI networking, kept as records that survive a daemon restart.
 * Every mutation of one pod holds that pod's lock; no global lock is held across CNI or
 * mount work (DESIGN: State).
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Op } from '../lib/op.ts';
import type { PodSandboxConfig__Output } from '../generated/cri/runtime/v1/PodSandboxConfig.ts';
import { AlreadyExistsError, InvalidArgumentError, UnavailableError, UnimplementedError, describeError } from '../lib/errors.ts';
import { CleanupStack } from '../lib/cleanup-stack.ts';
import { DetachedWork } from '../lib/detached-work.ts';
import { KeyedMutex } from '../lib/keyed-mutex.ts';
import type { Cni, PodAttachment } from '../network/cni-types.ts';
import type { PinRequest, PinnedNamespaceKind, PinnedNamespaces } from '../network/netns.ts';
import type { RecordStore, StoredRecord } from '../state/record-store.ts';
import { NameRegistrar } from '../state/name-registrar.ts';
import type { DnsSettings } from './pod-files.ts';
import { cgroupParentFor, type CgroupDriverName } from './cgroup-parent.ts';
import type { SandboxMetadata, SandboxStatusRecord } from './sandbox-record.ts';
import { bandwidthFor, configDigest, namespacePlan, podName, portMappingsFor, validateSandboxConfig } from './sandbox-config.ts';
import type { PodInfra } from './infra-process.ts';
import type { LinuxContainerResources__Output } from '../generated/cri/runtime/v1/LinuxContainerResources.ts';
import { updatePodResources, type PodCgroups } from './pod-resources.ts';

export type SandboxRecord = StoredRecord<SandboxMetadata, SandboxStatusRecord>;

/** Implemented by the container service; until it exists the composition passes one with nothing to stop. */
interface PodContainers {
  stopAllInPod(op: Op, podId: string, timeoutSec: number): Promise<void>;
  removeAllInPod(op: Op, podId: string): Promise<void>;
}

export interface PodNamespacePinner {
  create(op: Op, podId: string, req: PinRequest): Promise<PinnedNamespaces>;
  remove(op: Op, podId: string): Promise<void>;
  /** True when every given namespace file is still pinned (false after a reboot). */
  arePinned(namespaces: PinnedNamespaces): Promise<boolean>;
}

export interface PodFileWriter {
  writeResolvConf(dir: string, dns: DnsSettings | undefined): Promise<string>;
  writeHosts(dir: string, hostname: string, ips: readonly string[], hostNetwork: boolean): Promise<string>;
  writeHostname(dir: string, hostname: string): Promise<string>;
  mountShm(op: Op, dir: string): Promise<string>;
  unmountShm(op: Op, dir: string): Promise<void>;
  removeDir(op: Op, dir: string): Promise<void>;
}

interface Clock {
  nowNs(): bigint;
}

export interface SandboxServiceDeps {
  /** Pod run dirs go to `<runRoot>/pods/<id>`. */
  runRoot: string;
  /** Configured handler names whose runtime is available; "" selects `defaultHandler`. */
  runtimeHandlers: readonly string[];
  defaultHandler: string;
  cgroupDriver: CgroupDriverName;
  log: Logger;
  cni: Cni;
  namespaces: PodNamespacePinner;
  files: PodFileWriter;
  records: RecordStore<SandboxMetadata, SandboxStatusRecord>;
  containers: PodContainers;
  /** Infra processes of pods with pid = POD; absent, such pods get none (unit tests). */
  infra?: PodInfra;
  clock: Clock;
  /** Writes resized limits to pod cgroups; absent, UpdatePodSandboxResources records them only. */
  podCgroups?: PodCgroups;
  /**
   * Whether pods of a handler may have their own user namespace (the start-up probe,
   * host/userns-probe.ts); absent means none may.
   */
  userNamespaces?: (handler: string) => boolean;
  /** Own timeout of a RunPodSandbox, whoever waits for it (config runtime.create_timeout_seconds). */
  createTimeoutMs?: number;
  /** Own timeout of an unwind (DESIGN convention 4). */
  cleanupTimeoutMs?: number;
  /** CNI DEL attempts inside one StopPodSandbox. */
  cniDelAttempts?: number;
  /** Grace given to containers when their pod stops (default 0: SIGKILL at once, as the CRI asks). */
  containerStopTimeoutSec?: number;
}

/** The kubelet gives RunPodSandbox twice its 2 min runtime-request-timeout. */
const DEFAULT_CREATE_TIMEOUT_MS = 240_000;

export class SandboxService {
  #deps: SandboxServiceDeps;
  #names = new NameRegistrar();
  #locks = new KeyedMutex();
  /** Stops and removals run to the end even when their caller gives up. */
  #detached = new DetachedWork();
  /** Creations under way by pod name; their work runs in #detached under the key `run:<name>`. */
  #inflight = new Map<string, { digest: string; id: string }>();

  constructor(deps: SandboxServiceDeps) {
    this.#deps = deps;
  }

  get records(): RecordStore<SandboxMetadata, SandboxStatusRecord> {
    return this.#deps.records;
  }

  /** RunPodSandbox: returns the id once the pod is READY; a retry of the same request gets the same id. */
  async run(op: Op, config: PodSandboxConfig__Output | null, runtimeHandler: string): Promise<string> {
    validateSandboxConfig(config);
    const handler = runtimeHandler === '' ? this.#deps.defaultHandler : runtimeHandler;
    if (!this.#deps.runtimeHandlers.includes(handler)) {
      throw new InvalidArgumentError(`runtime_handler "${runtimeHandler}" is not configured (available: ${this.#deps.runtimeHandlers.join(', ')})`);
    }
    bandwidthFor(config.annotations);
    if (namespacePlan(config).userns && !(this.#deps.userNamespaces?.(handler) ?? false)) {
      throw new UnimplementedError(`user namespaces (userns_options mode POD) are not supported by runtime handler "${handler}" on this host (see the user_namespaces feature in Status)`);
    }
    const name = podName(config);
    const digest = configDigest(config);
    const inflight = this.#inflight.get(name);
    if (inflight) {
      if (inflight.digest !== digest) throw new AlreadyExistsError(`pod name "${name}" is being created as pod ${inflight.id} with a different config`);
      op.log.info({ pod: inflight.id, name }, 'RunPodSandbox retried while the first call is still running; waiting for it');
      return this.#detached.join<string>(op, `run:${name}`) ?? inflight.id;
    }
    const holder = this.#names.holderOf(name);
    if (holder !== undefined) {
      const existing = this.#deps.records.get(holder);
      if (existing && existing.metadata.configDigest === digest) return holder;
      throw new AlreadyExistsError(`pod name "${name}" is already used by pod ${holder}`);
    }
    const id = randomBytes(32).toString('hex');
    this.#names.reserve(name, id);
    // The daemon's work, not the caller's (issue 18 item 2): a kubelet whose deadline passes
    // during a slow CNI ADD leaves the pod being made, and its retry joins it here or, once
    // it is READY, finds it by name above. A failure releases the name for a fresh attempt.
    this.#inflight.set(name, { digest, id });
    return this.#detached.run(op, `run:${name}`, this.#deps.createTimeoutMs ?? DEFAULT_CREATE_TIMEOUT_MS, async (own) => {
      try {
        return await this.#create(own, id, name, digest, config, handler);
      } finally {
        this.#inflight.delete(name);
      }
    });
  }

  async #create(op: Op, id: string, name: string, digest: string, config: PodSandboxConfig__Output, handler: string): Promise<string> {
    const log = op.log.child({ pod: id });
    const plan = namespacePlan(config);
    if (!plan.hostNetwork && !this.#deps.cni.readiness().ready) {
      this.#names.release(name, id);
      throw new UnavailableError(`cannot run pod "${name}": ${this.#deps.cni.readiness().message}`);
    }
    const stack = new CleanupStack();
    stack.push(`release name ${name}`, () => this.#names.release(name, id));
    try {
      const runDir = join(this.#deps.runRoot, 'pods', id);
      const hostname = config.hostname || config.metadata!.name;
      const records = this.#deps.records;
      const cgroupParent = cgroupParentFor(this.#deps.cgroupDriver, config.linux?.cgroup_parent ?? '');
      await records.create(id, {
        name, configDigest: digest, config, runtimeHandler: handler, createdAt: this.#deps.clock.nowNs().toString(), hostname,
        cgroupParent, cgroupDriver: this.#deps.cgroupDriver, runDir,
      }, { phase: 'creating', namespaces: {}, networkAttached: false, ips: [], cniResult: null, shmMounted: false });
      stack.push(`remove record of pod ${id}`, () => records.remove(id));
      // The run root is searchable by others (pods' user namespaces): the pod ids are not listable.
      await mkdir(join(this.#deps.runRoot, 'pods'), { recursive: true, mode: 0o711 });
      await mkdir(runDir, { recursive: true, mode: 0o755 });
      stack.push(`remove run dir ${runDir}`, (signal) => this.#deps.files.removeDir({ log, signal }, runDir));

      stack.push(`remove namespaces of pod ${id}`, (signal) => this.#deps.namespaces.remove({ log, signal }, id));
      const namespaces = await this.#deps.namespaces.create(op, id, {
        kinds: plan.pinned, hostname, sysctls: config.linux?.sysctls ?? {}, ...(plan.userns ? { userns: plan.userns } : {}),
      });
      await records.update(id, (s) => ({ ...s, namespaces }));

      await this.#deps.files.writeHostname(runDir, hostname);
      await this.#deps.files.writeResolvConf(runDir, config.dns_config ?? undefined);
      if (!plan.hostIpc) {
        await this.#deps.files.mountShm(op, runDir);
        await records.update(id, (s) => ({ ...s, shmMounted: true }));
      }
      const infra = this.#deps.infra;
      if (plan.sharedPid && infra) {
        // Idempotent, keyed by the pod id: also undoes a create that failed half-way.
        stack.push(`stop infra process of pod ${id}`, (signal) => infra.stop({ log, signal }, { podId: id, handler, runDir }));
        const ref = await infra.start(op, { podId: id, handler, runDir, namespaces, cgroupParent, ...(plan.userns ? { userns: plan.userns } : {}) });
        await records.update(id, (s) => ({ ...s, infra: ref }));
      }
      let ips: string[] = [];
      if (!plan.hostNetwork) {
        const attachment = this.#attachment(id, config, namespaces);
        // Marked before ADD: a crash or failure mid-ADD must still be followed by a DEL.
        await records.update(id, (s) => ({ ...s, networkAttached: true }));
        stack.push(`CNI DEL for pod ${id}`, (signal) => this.#deps.cni.tearDown({ log, signal }, attachment));
        const attached = await this.#deps.cni.setUp(op, attachment);
        ips = attached.ips;
        await records.update(id, (s) => ({ ...s, ips, cniResult: attached.result }));
      }
      await this.#deps.files.writeHosts(runDir, hostname, ips, plan.hostNetwork);
      await records.update(id, (s) => ({ ...s, phase: 'ready' }));
      stack.commit();
      log.info({ name, ips }, 'Pod sandbox ready');
      return id;
    } catch (err) {
      log.warn({ err: describeError(err) }, 'RunPodSandbox failed; unwinding');
      await stack.unwind(log, this.#deps.cleanupTimeoutMs ?? 60_000);
      throw err;
    }
  }

  /** StopPodSandbox: idempotent; an unknown id succeeds (api.proto: "If there are any running containers… forcibly terminated"; may be called many times). */
  async stop(op: Op, idOrPrefix: string): Promise<void> {
    const rec = this.#deps.records.find(idOrPrefix);
    if (!rec) {
      op.log.debug({ pod: idOrPrefix }, 'StopPodSandbox for an unknown pod: nothing to do');
      return;
    }
    await this.#detached.run(op, `stop:${rec.id}`, this.#deps.cleanupTimeoutMs ?? 60_000, (own) => this.#locks.with(rec.id, () => this.#stopLocked(own, rec.id)));
  }

  async #stopLocked(op: Op, id: string): Promise<void> {
    const records = this.#deps.records;
    // api.proto: running containers "must be forcibly terminated"; the kubelet has already
    // given them their grace period (containerd kills at once too).
    await this.#deps.containers.stopAllInPod(op, id, this.#deps.containerStopTimeoutSec ?? 0);
    let rec = records.get(id);
    if (!rec) return;
    if (rec.status.phase === 'ready') await records.update(id, (s) => ({ ...s, phase: 'notready' }));
    const infraRef = rec.status.infra;
    if (infraRef !== undefined && this.#deps.infra) {
      // After the containers: PID 1 of a shared PID namespace takes every process in it along.
      await this.#deps.infra.stop(op, { podId: id, handler: rec.metadata.runtimeHandler, runDir: rec.metadata.runDir, infra: infraRef });
      await records.update(id, ({ infra: _stopped, ...s }) => s);
    }
    rec = records.get(id)!;
    if (rec.status.networkAttached) {
      await this.#teardownNetwork(op, rec);
      // The addresses went back to IPAM and may already belong to another pod; a stopped pod reports none (as containerd does once its netns is down).
      await records.update(id, (s) => ({ ...s, networkAttached: false, ips: [] }));
    }
    rec = records.get(id)!;
    if (rec.status.shmMounted) {
      await this.#deps.files.unmountShm(op, rec.metadata.runDir);
      await records.update(id, (s) => ({ ...s, shmMounted: false }));
    }
  }

  /** CNI DEL, retried: user-asks #5 (every ADD is matched by a DEL; the next Stop retries again). */
  async #teardownNetwork(op: Op, rec: SandboxRecord): Promise<void> {
    const attempts = this.#deps.cniDelAttempts ?? 3;
    const attachment = this.#attachment(rec.id, rec.metadata.config, rec.status.namespaces);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#deps.cni.tearDown(op, attachment);
        return;
      } catch (err) {
        if (attempt >= attempts || op.signal.aborted) {
          throw new UnavailableError(`stopping pod ${rec.id}: CNI DEL failed after ${attempt} attempts; the pod stays NOTREADY and the next StopPodSandbox retries`, { cause: err });
        }
        op.log.warn({ pod: rec.id, attempt, err: describeError(err) }, 'CNI DEL failed, retrying');
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
  }

  /** RemovePodSandbox: stops what still runs, then removes containers, namespaces, files and the record. Idempotent. */
  async remove(op: Op, idOrPrefix: string): Promise<void> {
    const rec = this.#deps.records.find(idOrPrefix);
    if (!rec) {
      op.log.debug({ pod: idOrPrefix }, 'RemovePodSandbox for an unknown pod: nothing to do');
      return;
    }
    await this.#detached.run(op, `remove:${rec.id}`, this.#deps.cleanupTimeoutMs ?? 60_000, (own) => this.#removeLocked(own, rec.id));
  }

  #removeLocked(op: Op, id: string): Promise<void> {
    return this.#locks.with(id, async () => {
      const current = this.#deps.records.get(id);
      if (!current) return;
      await this.#stopLocked(op, id);
      await this.#deps.containers.removeAllInPod(op, id);
      await this.#deps.namespaces.remove(op, id);
      await this.#deps.files.removeDir(op, current.metadata.runDir);
      await this.#deps.records.remove(id);
      this.#names.release(current.metadata.name, id);
      op.log.info({ pod: id }, 'Pod sandbox removed');
    });
  }

  /** UpdatePodSandboxResources: the pod cgroup's new limits, then the record (pod-resources.ts). */
  async updateResources(op: Op, idOrPrefix: string, overhead: LinuxContainerResources__Output | null, resources: LinuxContainerResources__Output | null): Promise<void> {
    const id = this.get(idOrPrefix).id;
    await this.#locks.with(id, () => updatePodResources(this.#deps, op, id, overhead, resources));
  }

  /** The pod by id or unique prefix (NotFound otherwise); pods still being created are not visible. */
  get(idOrPrefix: string): SandboxRecord {
    return this.#deps.records.resolve(idOrPrefix);
  }

  /** Changes whenever list()'s answer may have (state/record-store.ts generation). */
  get listGeneration(): number {
    return this.#deps.records.generation;
  }

  /** Every pod past creation, for List and for the container service. */
  list(): SandboxRecord[] {
    return this.#deps.records.list().filter((r) => r.status.phase !== 'creating');
  }

  /**
   * Start-up recovery: reload records, clean pods a crash left half-created, mark pods
   * whose namespaces vanished (a reboot) NOTREADY, then release CNI attachments of pods
   * that no longer exist (CRI-O 1.32 CNI GC on start-up).
   */
  async recover(op: Op): Promise<void> {
    const { loaded, broken } = await this.#deps.records.load();
    for (const b of broken) {
      op.log.error({ pod: b.id, err: b.error }, 'Unreadable pod record; removing its namespaces and record');
      await this.#deps.namespaces.remove(op, b.id).catch(() => undefined);
      await this.#deps.records.remove(b.id);
    }
    for (const rec of loaded) {
      if (rec.status.phase === 'creating') {
        op.log.warn({ pod: rec.id }, 'Pod was half-created when critter stopped; cleaning it up');
        await this.#cleanHalfCreated(op, rec);
        continue;
      }
      this.#names.reserve(rec.metadata.name, rec.id);
      if (rec.status.phase === 'ready' && !(await this.#deps.namespaces.arePinned(rec.status.namespaces))) {
        op.log.warn({ pod: rec.id }, 'Pod namespaces are gone (reboot?); marking it NOTREADY');
        await this.#deps.records.update(rec.id, (s) => ({ ...s, phase: 'notready', shmMounted: false }));
      }
      const infraRef = this.#deps.records.get(rec.id)?.status.infra;
      if (infraRef !== undefined && this.#deps.infra && !(await this.#deps.infra.isAlive(infraRef))) {
        // containerd and CRI-O report a pod whose sandbox process died NOTREADY; the kubelet then recreates it.
        op.log.warn({ pod: rec.id, infraPid: infraRef.pid }, 'Pod infra process ended while critter was down; marking the pod NOTREADY');
        await this.#deps.records.update(rec.id, (s) => ({ ...s, phase: 'notready' }));
      }
    }
    await this.#deps.infra?.watch((podId) => this.#onInfraExit(podId));
    await this.#deps.cni.gc(op, new Set(this.#deps.records.list().map((r) => r.id)))
      .catch((err: unknown) => op.log.warn({ err: describeError(err) }, 'CNI GC at start-up failed'));
  }

  /** An infra process ended on its own (killed, OOM): the pod is NOTREADY, as in containerd and CRI-O. */
  async #onInfraExit(podId: string): Promise<void> {
    const rec = this.#deps.records.get(podId);
    if (rec?.status.phase !== 'ready' || rec.status.infra === undefined) return;
    this.#deps.log.warn({ pod: podId, infraPid: rec.status.infra.pid }, 'Pod infra process ended; marking the pod NOTREADY');
    await this.#deps.records.update(podId, (s) => (s.phase === 'ready' ? { ...s, phase: 'notready' } : s));
  }

  async #cleanHalfCreated(op: Op, rec: SandboxRecord): Promise<void> {
    const stack = new CleanupStack();
    stack.push('remove record', () => this.#deps.records.remove(rec.id));
    stack.push('remove run dir', (signal) => this.#deps.files.removeDir({ log: op.log, signal }, rec.metadata.runDir));
    stack.push('remove namespaces', (signal) => this.#deps.namespaces.remove({ log: op.log, signal }, rec.id));
    const infra = this.#deps.infra;
    if (infra && namespacePlan(rec.metadata.config).sharedPid) {
      const req = { podId: rec.id, handler: rec.metadata.runtimeHandler, runDir: rec.metadata.runDir, ...(rec.status.infra ? { infra: rec.status.infra } : {}) };
      stack.push('stop infra process', (signal) => infra.stop({ log: op.log, signal }, req));
    }
    if (rec.status.networkAttached) {
      const attachment = this.#attachment(rec.id, rec.metadata.config, rec.status.namespaces);
      stack.push('CNI DEL', (signal) => this.#deps.cni.tearDown({ log: op.log, signal }, attachment));
    }
    await stack.unwind(op.log, this.#deps.cleanupTimeoutMs ?? 60_000);
  }

  #attachment(id: string, config: PodSandboxConfig__Output, namespaces: Partial<Record<PinnedNamespaceKind, string>>): PodAttachment {
    const md = config.metadata!;
    const dns = config.dns_config;
    return {
      podId: id, podName: md.name, podNamespace: md.namespace, podUid: md.uid,
      netnsPath: namespaces.net ?? '', ifName: 'eth0',
      portMappings: portMappingsFor(config),
      bandwidth: bandwidthFor(config.annotations),
      dns: dns ? { servers: dns.servers, searches: dns.searches, options: dns.options } : undefined,
    };
  }
}
