/**
 * Conformance, area "runtime info": mirrors upstream critest's specs for Version and
 * Status (cri-tools pkg/validate/runtime_info.go), driven over gRPC against the real daemon.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, type RunningDaemon } from '../integration/helpers/daemon.ts';

describe('[k8s.io] Runtime info', () => {
  let d: RunningDaemon;
  before(async () => {
    d = await startDaemon();
  });
  after(async () => {
    await d?.stop();
  });

  it('runtime should return version info [Conformance]', async () => {
    const v = await d.client.call('Version', { version: 'v1' });
    assert.ok(v.version, 'version');
    assert.ok(v.runtime_name, 'runtime_name');
    assert.ok(v.runtime_version, 'runtime_version');
    assert.equal(v.runtime_api_version, 'v1');
  });

  it('runtime should return runtime conditions [Conformance]', async () => {
    const s = await d.client.call('Status', {});
    const types = (s.status.conditions as { type: string }[]).map((c) => c.type);
    assert.ok(types.includes('RuntimeReady'));
    assert.ok(types.includes('NetworkReady'));
    const runtime = (s.status.conditions as { type: string; status: boolean }[]).find((c) => c.type === 'RuntimeReady');
    assert.equal(runtime?.status, true);
  });

  it('runtime should report its cgroup driver [Conformance]', async () => {
    const r = await d.client.call('RuntimeConfig', {});
    assert.ok(r.linux.cgroup_driver === 0 || r.linux.cgroup_driver === 1);
  });
});
