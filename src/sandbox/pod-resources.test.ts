import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../lib/errors.ts';
import { resources } from '../container/spec/testing.ts';
import { podCgroupLimits } from './pod-resources.ts';

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
