/**
 * UpdateContainerResources, as the kubelet sends it for an in-place resize (KEP-1287):
 * full cpu/memory settings up or down, applied by `<runtime> update` (or into the bundle
 * before the launch), then persisted so ContainerStatus.resources shows them.
 */
import type { LinuxContainerResources__Output } from '../generated/cri/runtime/v1/LinuxContainerResources.ts';
import type { Op } from '../lib/op.ts';
import { FailedPreconditionError } from '../lib/errors.ts';
import { workingSetBytes } from '../host/cgroup-limits.ts';
import type { ContainerServiceDeps } from './container-deps.ts';
import type { ContainerRecord, ContainerStatusRecord } from './container-record.ts';
import { runtimeFor } from './container-create.ts';
import { isLaunched, updateBundleResources } from './container-launch.ts';
import { buildResources } from './spec/resources.ts';

/**
 * The status after an update: fields the update sets replace the old ones, unset (zero)
 * ones keep theirs, as `<runtime> update` and containerd's WithResources treat them, so a
 * partial update (crictl update --memory) does not blank the CPU settings in the status.
 */
export function mergeResources(old: LinuxContainerResources__Output | null, update: LinuxContainerResources__Output): LinuxContainerResources__Output {
  if (old === null) return update;
  const pick = (k: 'cpu_period' | 'cpu_quota' | 'cpu_shares' | 'memory_limit_in_bytes' | 'oom_score_adj' | 'memory_swap_limit_in_bytes'): string => (update[k] !== '0' && update[k] !== '' ? update[k] : old[k]);
  return {
    cpu_period: pick('cpu_period'), cpu_quota: pick('cpu_quota'), cpu_shares: pick('cpu_shares'),
    memory_limit_in_bytes: pick('memory_limit_in_bytes'), oom_score_adj: pick('oom_score_adj'),
    memory_swap_limit_in_bytes: pick('memory_swap_limit_in_bytes'),
    cpuset_cpus: update.cpuset_cpus || old.cpuset_cpus, cpuset_mems: update.cpuset_mems || old.cpuset_mems,
    hugepage_limits: update.hugepage_limits.length > 0 ? update.hugepage_limits : old.hugepage_limits,
    unified: Object.keys(update.unified ?? {}).length > 0 ? update.unified : old.unified,
  };
}

/**
 * cgroup v2 does not refuse a memory.max below usage: the kernel reclaims, then OOM-kills
 * the container. Refuse it first, naming both numbers, so the kubelet keeps the old limit
 * and retries (it reports the resize as in progress with this message). On v1 the kernel
 * itself answers EBUSY after trying to reclaim, which oci/runc.ts maps the same way.
 */
async function checkMemoryFits(rec: ContainerRecord, limit: number, cgroupVersion: 1 | 2): Promise<void> {
  if (cgroupVersion !== 2 || limit <= 0 || rec.status.memoryCgroupDir === '' || rec.status.phase !== 'running') return;
  const workingSet = await workingSetBytes(rec.status.memoryCgroupDir, 2);
  if (workingSet !== undefined && workingSet > limit) {
    throw new FailedPreconditionError(`container ${rec.id}: memory limit ${limit} is below its current usage (working set ${workingSet} bytes); lowering it would OOM-kill the container`);
  }
}

/** Applies `resources` to a created or running container and records them. The caller holds its lock. */
export async function resizeContainer(deps: ContainerServiceDeps, op: Op, rec: ContainerRecord, resources: LinuxContainerResources__Output): Promise<void> {
  const id = rec.id;
  if (rec.status.phase !== 'running' && rec.status.phase !== 'created') throw new FailedPreconditionError(`container ${id} is ${rec.status.phase}; only a created or running container can be updated`);
  const host = await deps.env.hostFacts(false);
  const oci = buildResources(resources, host) as Record<string, unknown>;
  await checkMemoryFits(rec, Number(resources.memory_limit_in_bytes), host.cgroupVersion);
  if (isLaunched(rec)) {
    await runtimeFor(deps, rec.metadata.runtimeHandler).updateResources(op, id, oci);
    // The bundle follows, so verbose status shows the spec the container now runs with.
    await updateBundleResources(rec.metadata.bundle, oci).catch(() => undefined);
  } else {
    await updateBundleResources(rec.metadata.bundle, oci);
  }
  await deps.records.update(id, (s): ContainerStatusRecord => ({ ...s, resources: mergeResources(s.resources, resources) }));
  op.log.info({ container: id, resources: oci }, 'Container resources updated');
}
