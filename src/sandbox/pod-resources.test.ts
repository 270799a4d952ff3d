import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { FailedPreconditionError, InvalidArgumentError } from '../lib/errors.ts';
import { RecordStore } from '../state/record-store.ts';
import type { LinuxContainerResources__Output } from '../generated/cri/runtime/v1/LinuxContainerResources.ts';
import { podCgroupLimits, updatePodResources, type PodCgroups } from './pod-resources.ts';
import type { SandboxMetadata, SandboxStatusRecord } from './sandbox-record.ts';

/** Resources as proto-loader decodes them, with only what a test sets. */
function resources(over: Partial<LinuxContainerResources__Output> = {}): LinuxContainerResources__Output {
  return {
    cpu_period: '0', cpu_quota: '0', cpu_shares: '0', memory_limit_in_bytes: '0', oom_score_adj: '0',
    cpuset_cpus: '', cpuset_mems: '', hugepage_limits: [], unified: {}, memory_swap_limit_in_bytes: '0',
    ...over,
  };
}

test('podCgroupLimits() adds the overhead to the resources, as the kubelet sizes the pod cgroup', () => {
  const overhead = resources({ cpu_shares: '102', cpu_quota: '10000', cpu_period: '100000', memory_limit_in_bytes: '10485760' });
  const res = resources({ cpu_shares: '1024', cpu_quota: '100000', cpu_period: '100000', memory_limit_in_bytes: '209715200' });
  assert.deepEqual(podCgroupLimits(overhead, res), { cpuShares: 1126, cpuQuota: 110000, cpuPeriod: 100000, memoryLimit: 220200960 });
});

test('podCgroupLimits() keeps "no limit" unlimited and leaves unsent fields alone', () => {
  const overhead = resources({ cpu_quota: '10000', memory_limit_in_bytes: '10485760' });
  assert.deepEqual(podCgroupLimits(overhead, resources({ cpu_shares: '2', cpu_quota: '-1', cpu_period: '100000' })), { cpuShares: 2, cpuQuota: -1, cpuPeriod: 100000 });
  assert.deepEqual(podCgroupLimits(null, null), {});
  assert.deepEqual(podCgroupLimits(overhead, null), {}, 'overhead alone does not limit a pod whose resources were not sent');
  assert.deepEqual(podCgroupLimits(null, resources({ cpuset_cpus: '0-1', cpuset_mems: '0' })), { cpusetCpus: '0-1', cpusetMems: '0' });
});

test('podCgroupLimits() refuses values that are not integers', () => {
  assert.throws(() => podCgroupLimits(null, resources({ memory_limit_in_bytes: '1e400' })), InvalidArgumentError);
  assert.throws(() => podCgroupLimits(null, resources({ cpu_period: '-5' })), InvalidArgumentError);
});

const ID = 'a'.repeat(64);

test('updatePodResources() writes the summed limits to the pod cgroup, then records them; a refused write keeps the old record', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pod-resize-'));
  try {
    const records = new RecordStore<SandboxMetadata, SandboxStatusRecord>({ dir, kind: 'pod' });
    await records.load();
    const metadata = { cgroupParent: '/kubepods/pod1', cgroupDriver: 'cgroupfs' } as SandboxMetadata;
    await records.create(ID, metadata, { phase: 'ready' } as SandboxStatusRecord);
    const calls: unknown[] = [];
    let refuse = false;
    const podCgroups: PodCgroups = {
      applyLimits: async (parent, driver, limits) => {
        calls.push({ parent, driver, limits });
        if (refuse) throw new FailedPreconditionError('memory limit below usage');
        return { written: [{ controller: 'memory', file: 'memory.limit_in_bytes', value: String(limits.memoryLimit) }], skipped: [] };
      },
    };
    const deps = { records, podCgroups, clock: { nowNs: () => 42n } };
    const op = { log: pino({ level: 'silent' }), signal: new AbortController().signal };
    await updatePodResources(deps, op, ID, resources({ memory_limit_in_bytes: '100' }), resources({ memory_limit_in_bytes: '1000' }));
    assert.deepEqual(calls, [{ parent: '/kubepods/pod1', driver: 'cgroupfs', limits: { memoryLimit: 1100 } }]);
    const rec = records.get(ID)!.status.resources!;
    assert.equal(rec.resources?.memory_limit_in_bytes, '1000');
    assert.deepEqual(rec.written.map((w) => w.value), ['1100']);
    assert.equal(rec.updatedAt, '42');
    refuse = true;
    await assert.rejects(updatePodResources(deps, op, ID, null, resources({ memory_limit_in_bytes: '1' })), FailedPreconditionError);
    assert.equal(records.get(ID)!.status.resources?.resources?.memory_limit_in_bytes, '1000', 'the record keeps what applies');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
