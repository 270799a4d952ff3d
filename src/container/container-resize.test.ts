import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resources } from './spec/testing.ts';
import { mergeResources } from './container-resize.ts';

test('mergeResources() replaces the fields an update sets and keeps the others', () => {
  const old = resources({ cpu_shares: '512', cpu_quota: '50000', cpu_period: '100000', memory_limit_in_bytes: '67108864', cpuset_cpus: '0' });
  const got = mergeResources(old, resources({ memory_limit_in_bytes: '33554432' }));
  assert.deepEqual(got, { ...old, memory_limit_in_bytes: '33554432' });
  const up = mergeResources(old, resources({ cpu_shares: '1024', cpu_quota: '100000', cpu_period: '100000', memory_limit_in_bytes: '134217728' }));
  assert.equal(up.cpu_shares, '1024');
  assert.equal(up.cpu_quota, '100000');
  assert.equal(up.memory_limit_in_bytes, '134217728');
  assert.equal(up.cpuset_cpus, '0');
  assert.deepEqual(mergeResources(null, resources({ cpu_shares: '2' })), resources({ cpu_shares: '2' }));
});
