import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../lib/errors.ts';
import { buildSpec } from './build.ts';
import { applyCdiEdits, requestedCdiDevices, type ResolvedCdi } from './cdi.ts';
import { containerConfig, specInputs } from './testing.ts';

const resolved: ResolvedCdi = {
  devices: ['example.com/null=dev0'],
  edits: [
    { env: ['VENDOR=example', 'PATH=/vendor/bin'] },
    {
      deviceNodes: [{ path: '/dev/cdi-null', hostPath: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: 0o666, permissions: 'rw' }],
      mounts: [{ hostPath: '/opt/lib', containerPath: '/usr/lib/vendor', options: ['ro'] }, { hostPath: '/opt', containerPath: '/usr', type: 'bind', options: ['rbind'] }],
      hooks: [{ hookName: 'createContainer', path: '/usr/bin/hook', args: ['hook'] }],
      additionalGids: [0, 44, 44],
    },
  ],
};

test('requestedCdiDevices() takes CDI_devices then the cdi.k8s.io/ annotations, without repeats', () => {
  const names = requestedCdiDevices({
    CDI_devices: [{ name: 'a.com/x=1' }],
    annotations: { 'cdi.k8s.io/plugin_b': 'a.com/x=2, a.com/x=1', 'cdi.k8s.io/plugin_a': 'a.com/y=0', 'other/cdi': 'a.com/z=9' },
  });
  assert.deepEqual(names, ['a.com/x=1', 'a.com/y=0', 'a.com/x=2']);
});

test('applyCdiEdits() adds env, device nodes with their cgroup rule, mounts parents first, hooks and groups', () => {
  const { spec } = buildSpec(specInputs());
  const envBefore = spec.process.env.length;
  const zeroGids = (): number => (spec.process.user.additionalGids ?? []).filter((g) => g === 0).length;
  const zeroBefore = zeroGids();
  applyCdiEdits(spec, resolved);
  assert.ok(spec.process.env.includes('VENDOR=example'));
  assert.ok(spec.process.env.includes('PATH=/vendor/bin'));
  assert.equal(spec.process.env.filter((e) => e.startsWith('PATH=')).length, 1, 'PATH replaced, not repeated');
  assert.equal(spec.process.env.length, envBefore + 1);
  assert.deepEqual(spec.linux.devices.at(-1), { path: '/dev/cdi-null', type: 'c', major: 1, minor: 3, fileMode: 0o666 });
  assert.deepEqual(spec.linux.resources.devices.at(-1), { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' });
  const dests = spec.mounts.map((m) => m.destination);
  assert.ok(dests.indexOf('/usr') < dests.indexOf('/usr/lib/vendor'), 'the parent mount comes first');
  assert.deepEqual(spec.mounts.find((m) => m.destination === '/usr/lib/vendor'), { destination: '/usr/lib/vendor', type: 'bind', source: '/opt/lib', options: ['ro', 'bind'] });
  assert.deepEqual(spec.hooks, { createContainer: [{ path: '/usr/bin/hook', args: ['hook'] }] });
  assert.ok(spec.process.user.additionalGids?.includes(44));
  assert.equal(spec.process.user.additionalGids?.filter((g) => g === 44).length, 1);
  assert.equal(zeroGids(), zeroBefore, 'gid 0 is not added by CDI');
  assert.equal(spec.annotations['cdi.k8s.io/devices'], 'example.com/null=dev0');
});

test('buildSpec() applies resolved CDI devices and refuses ones the caller did not resolve', () => {
  const config = containerConfig({ CDI_devices: [{ name: 'example.com/null=dev0' }] });
  const { spec } = buildSpec(specInputs({ config, cdi: resolved }));
  assert.ok(spec.linux.devices.some((d) => d.path === '/dev/cdi-null'));
  assert.throws(() => buildSpec(specInputs({ config })), InvalidArgumentError);
  assert.throws(() => buildSpec(specInputs({ config: containerConfig({ CDI_devices: [{ name: 'example.com/null=other' }] }), cdi: resolved })), /not resolved/);
});
