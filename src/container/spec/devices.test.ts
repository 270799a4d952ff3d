import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../lib/errors.ts';
import { buildDevices, type DeviceInputs } from './devices.ts';
import type { HostDevice } from './inputs.ts';

const fuse: HostDevice = { path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0 };
const loop0: HostDevice = { path: '/dev/loop0', type: 'b', major: 7, minor: 0, fileMode: 0o660, uid: 0, gid: 6 };

function inputs(over: Partial<DeviceInputs> = {}): DeviceInputs {
  return { devices: [], privileged: false, devicesByHostPath: new Map([[fuse.path, fuse], [loop0.path, loop0]]), hostDevices: [fuse, loop0], ...over };
}

describe('buildDevices()', () => {
  it('buildDevices() denies all devices by default', () => {
    assert.deepEqual(buildDevices(inputs()), { devices: [], rules: [{ allow: false, access: 'rwm' }] });
  });

  it('buildDevices() adds a node and an allow rule per requested device', () => {
    const got = buildDevices(inputs({ devices: [{ host_path: '/dev/fuse', container_path: '/dev/myfuse', permissions: 'rw' }, { host_path: '/dev/loop0', container_path: '', permissions: '' }] }));
    assert.deepEqual(got.devices, [
      { path: '/dev/myfuse', type: 'c', major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0 },
      { path: '/dev/loop0', type: 'b', major: 7, minor: 0, fileMode: 0o660, uid: 0, gid: 6 },
    ]);
    assert.deepEqual(got.rules, [
      { allow: false, access: 'rwm' },
      { allow: true, type: 'c', major: 10, minor: 229, access: 'rw' },
      { allow: true, type: 'b', major: 7, minor: 0, access: 'rwm' },
    ]);
  });

  it('buildDevices() gives privileged containers every host device and allow-all', () => {
    const got = buildDevices(inputs({ privileged: true }));
    assert.deepEqual(got.devices.map((d) => d.path), ['/dev/fuse', '/dev/loop0']);
    assert.deepEqual(got.rules, [{ allow: false, access: 'rwm' }, { allow: true, access: 'rwm' }]);
  });

  const bad = [
    { name: 'an unknown host device', over: { devices: [{ host_path: '/dev/nope', container_path: '/dev/nope', permissions: 'r' }] }, cls: InvalidArgumentError, re: /"\/dev\/nope"/ },
    { name: 'bad permissions', over: { devices: [{ host_path: '/dev/fuse', container_path: '/dev/fuse', permissions: 'rx' }] }, cls: InvalidArgumentError, re: /permissions "rx"/ },
    { name: 'a relative container path', over: { devices: [{ host_path: '/dev/fuse', container_path: 'fuse', permissions: 'r' }] }, cls: InvalidArgumentError, re: /not absolute/ },
  ];
  for (const c of bad) {
    it(`buildDevices() refuses ${c.name}`, () => {
      assert.throws(() => buildDevices(inputs(c.over)), (err: unknown) => err instanceof c.cls && c.re.test(err.message));
    });
  }
});
