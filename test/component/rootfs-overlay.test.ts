import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile, access } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { OverlayRootfs } from '../../src/storage/overlay-rootfs.ts';
import { mountPoints } from '../../src/lib/mount-points.ts';
import type { Op } from '../../src/lib/op.ts';

const op: Op = { log: pino({ level: 'silent' }), signal: new AbortController().signal };

/** `count` lower layers as the layer store lays them out: `<base>/<n>/diff` reached through `<base>/l/<short>`. */
async function lowerLayers(base: string, count: number, shortLen: number): Promise<string[]> {
  await mkdir(join(base, 'l'), { recursive: true });
  const lowers: string[] = [];
  for (let i = 0; i < count; i++) {
    const diff = join(base, String(i), 'diff');
    await mkdir(diff, { recursive: true });
    await writeFile(join(diff, `layer-${i}`), String(i));
    const short = String(i).padStart(shortLen, 'L');
    await symlink(join('..', String(i), 'diff'), join(base, 'l', short));
    lowers.push(join(base, 'l', short));
  }
  return lowers;
}

describe('OverlayRootfs', { skip: process.getuid?.() === 0 ? false : 'needs root to mount overlayfs' }, () => {
  let root: string;
  before(async () => { root = await mkdtemp(join(tmpdir(), 'critter-rootfs-')); });
  after(async () => {
    for (const m of await mountPoints()) if (m.startsWith(root)) await new OverlayRootfs({ layersDir: root }).unmount(op, m);
    await rm(root, { recursive: true, force: true });
  });

  it('mount() shows every lower layer and writes go to the container\'s upper dir; unmount() is idempotent', async () => {
    const rootfs = new OverlayRootfs({ layersDir: join(root, 'containers') });
    const lowers = await lowerLayers(join(root, 'store-a'), 3, 26);
    const target = join(root, 'bundle-a', 'rootfs');
    await rootfs.mount(op, 'a', lowers, target);
    await rootfs.mount(op, 'a', lowers, target); // already mounted: a no-op, not a second mount
    assert.equal([...(await mountPoints())].filter((m) => m === target).length, 1);
    for (let i = 0; i < 3; i++) assert.equal(await readFile(join(target, `layer-${i}`), 'utf8'), String(i));
    await writeFile(join(target, 'new-file'), 'rw');
    assert.equal(await readFile(join(root, 'containers', 'a', 'upper', 'new-file'), 'utf8'), 'rw');
    await rootfs.unmount(op, target);
    await rootfs.unmount(op, target);
    assert.equal((await mountPoints()).has(target), false);
    await assert.rejects(access(join(target, 'layer-0')));
    await rootfs.removeLayer(op, 'a');
    await assert.rejects(access(join(root, 'containers', 'a')));
  });

  it('mount() of an image too deep for one page of absolute lower dirs still mounts (relative to the store)', async () => {
    const rootfs = new OverlayRootfs({ layersDir: join(root, 'containers') });
    // 120 lowers of ~60 bytes each: well over the 4096-byte mount data page when absolute.
    const lowers = await lowerLayers(join(root, 'store-b'), 120, 26);
    assert.ok(lowers.join(':').length > 4096);
    const target = join(root, 'bundle-b', 'rootfs');
    await rootfs.mount(op, 'b', lowers, target);
    assert.equal(await readFile(join(target, 'layer-0'), 'utf8'), '0');
    assert.equal(await readFile(join(target, 'layer-119'), 'utf8'), '119');
    await rootfs.unmount(op, target);
    assert.equal((await mountPoints()).has(target), false);
  });

  it('unmount() of a busy mount fails naming it, and the mount stays', async () => {
    const rootfs = new OverlayRootfs({ layersDir: join(root, 'containers') });
    const lowers = await lowerLayers(join(root, 'store-c'), 1, 26);
    const target = join(root, 'bundle-c', 'rootfs');
    await rootfs.mount(op, 'c', lowers, target);
    await mkdir(join(target, 'sub'));
    // A mount on top of a dir inside the overlay makes it busy.
    await rootfs.mount(op, 'd', lowers, join(target, 'sub'));
    await assert.rejects(rootfs.unmount(op, target), (err: NodeJS.ErrnoException) => err.code === 'EBUSY' && err.message.includes(target));
    assert.equal((await mountPoints()).has(target), true);
    await rootfs.unmount(op, join(target, 'sub'));
    await rootfs.unmount(op, target);
  });
});
