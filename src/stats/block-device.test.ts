import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stat } from 'node:fs/promises';
import { blockDeviceOf, splitDevT } from './block-device.ts';

test('splitDevT() splits dev_t as glibc does, small and large numbers', () => {
  assert.deepEqual(splitDevT(0xfd00n), { major: 253, minor: 0 });
  assert.deepEqual(splitDevT(0x801n), { major: 8, minor: 1 });
  // major 259 (blkext, NVMe partitions), minor 300: major's high bits above bit 11, minor's above bit 7
  const dev = (259n & 0xfffn) << 8n | (300n & 0xffn) | ((300n & ~0xffn) << 12n);
  assert.deepEqual(splitDevT(dev), { major: 259, minor: 300 });
});

test('blockDeviceOf() names the device from sysfs, and is undefined for a directory on no named block device', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'critter-blockdev-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { major, minor } = splitDevT((await stat(dir, { bigint: true })).dev);
  const sys = join(dir, 'sys');
  if (major === 0) {
    assert.equal(await blockDeviceOf(dir, sys), undefined, 'an anonymous device (tmpfs) is no block device');
    return;
  }
  assert.equal(await blockDeviceOf(dir, sys), undefined, 'no uevent, no name: no device');
  await mkdir(join(sys, 'dev', 'block', `${major}:${minor}`), { recursive: true });
  await writeFile(join(sys, 'dev', 'block', `${major}:${minor}`, 'uevent'), `MAJOR=${major}\nMINOR=${minor}\nDEVNAME=testdisk\nDEVTYPE=disk\n`);
  assert.deepEqual(await blockDeviceOf(dir, sys), { device: '/dev/testdisk', major, minor });
  assert.equal(await blockDeviceOf(join(dir, 'absent'), sys), undefined);
});
