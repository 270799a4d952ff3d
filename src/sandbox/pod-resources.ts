/**
 * UpdatePodSandboxResources (KEP-1287 in-place pod resize; cri-api.md). The kubelet
 * sends the pod's overhead and its resources without the overhead, after it resized the
 * pod cgroup itself (kuberuntime doPodResizeAction). containerd 2.x records the values
 * in the sandbox status and hands them to NRI and its sandbox controller, whose runc
 * controller leaves the cgroup alone; CRI-O hands them to NRI only. critter records them
 * as containerd does (PodSandboxStatus verbose info) and also writes their sum to the
 * pod cgroup when it exists: the same values the kubelet wrote, so it is a no-op on a
 * kubelet node, and it makes the RPC do what it says for other clients (crictl, tests).
 */
import type { LinuxContainerResources__Output } from '../generated/cri/runtime/v1/LinuxContainerResources.ts';
import type { Op } from '../lib/op.ts';
import { InvalidArgumentError } from '../lib/errors.ts';
import type { AppliedLimits, CgroupLimits, CgroupWrite } from '../host/cgroup-limits.ts';
import type { RecordStore } from '../state/record-store.ts';
import type { SandboxMetadata, SandboxStatusRecord } from './sandbox-record.ts';

function int(value: string | undefined, field: string): number {
  const n = Number(value ?? '0');
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`${field} ${JSON.stringify(value)} is not an integer`);
  return n;
}

/**
 * The pod cgroup's limits: resources + overhead, as the kubelet sizes the pod cgroup
 * (ResourceConfigForPod adds the overhead to the containers' sum). A zero field is "not
 * sent" and leaves the cgroup's value alone; a negative quota or memory limit is "no
 * limit" (the kubelet sends quota -1 for a pod with a container without a CPU limit),
 * and overhead cannot make an unlimited pod limited.
 */
export function podCgroupLimits(overhead: LinuxContainerResources__Output | null, resources: LinuxContainerResources__Output | null): CgroupLimits {
  type Field = 'cpu_shares' | 'cpu_quota' | 'cpu_period' | 'memory_limit_in_bytes';
  const o = (f: Field): number => int(overhead?.[f], `overhead.${f}`);
  const r = (f: Field): number => int(resources?.[f], `resources.${f}`);
  const out: CgroupLimits = {};
  const sum = (rv: number, ov: number): number | undefined => {
    if (rv < 0) return -1;
    if (rv === 0) return undefined;
    return rv + Math.max(ov, 0);
  };
  const shares = sum(r('cpu_shares'), o('cpu_shares'));
  if (shares !== undefined && shares > 0) out.cpuShares = shares;
  const quota = sum(r('cpu_quota'), o('cpu_quota'));
  if (quota !== undefined) out.cpuQuota = quota;
  const period = r('cpu_period') || o('cpu_period');
  if (period < 0) throw new InvalidArgumentError(`cpu_period ${period} must not be negative`);
  if (period > 0) out.cpuPeriod = period;
  const memory = sum(r('memory_limit_in_bytes'), o('memory_limit_in_bytes'));
  if (memory !== undefined) out.memoryLimit = memory;
  if (resources?.cpuset_cpus) out.cpusetCpus = resources.cpuset_cpus;
  if (resources?.cpuset_mems) out.cpusetMems = resources.cpuset_mems;
  return out;
}

/** What a pod record keeps of the last UpdatePodSandboxResources. */
export interface PodResourcesRecord {
  overhead: LinuxContainerResources__Output | null;
  resources: LinuxContainerResources__Output | null;
  /** The pod cgroup's limits these make (podCgroupLimits). */
  limits: CgroupLimits;
  /** The cgroup files written; empty when the pod had no cgroup to write (recorded only). */
  written: CgroupWrite[];
  /** ns since the epoch of the update. */
  updatedAt: string;
}

/** Writes limits to a pod's cgroup (host/cgroup-limits.ts CgroupLimitWriter). */
export interface PodCgroups {
  applyLimits(parent: string, driver: 'cgroupfs' | 'systemd', limits: CgroupLimits): Promise<AppliedLimits>;
}

export interface PodResizeDeps {
  records: RecordStore<SandboxMetadata, SandboxStatusRecord>;
  /** Absent: values are recorded only (unit tests, hosts without cgroupfs). */
  podCgroups?: PodCgroups;
  clock: { nowNs(): bigint };
}

/**
 * Applies then records (cri-api.md item 34: an update that failed leaves the old values
 * in place and in the status). The caller holds the pod's lock.
 */
export async function updatePodResources(deps: PodResizeDeps, op: Op, id: string, overhead: LinuxContainerResources__Output | null, resources: LinuxContainerResources__Output | null): Promise<void> {
  const rec = deps.records.resolve(id);
  const limits = podCgroupLimits(overhead, resources);
  const { cgroupParent, cgroupDriver } = rec.metadata;
  let written: CgroupWrite[] = [];
  if (cgroupParent !== '' && deps.podCgroups) {
    const result = await deps.podCgroups.applyLimits(cgroupParent, cgroupDriver, limits);
    written = result.written;
    if (result.skipped.length > 0) {
      op.log.info({ pod: id, cgroupParent, skipped: result.skipped.map((w) => `${w.controller}/${w.file}`) }, 'Pod cgroup not there for some limits (created by the kubelet or with the first container); recorded only');
    }
  }
  const updatedAt = deps.clock.nowNs().toString();
  await deps.records.update(id, (s) => ({ ...s, resources: { overhead, resources, limits, written, updatedAt } }));
  op.log.info({ pod: id, limits, written: written.length }, 'Pod sandbox resources updated');
}
