import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { link, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diskUsage } from './disk-usage.ts';

let base: string;

before(async () => {
  base = await mkdtemp(join(tmpdir(), 'critter-du-'));
  await mkdir(join(base, 'outside'));
  await writeFile(join(base, 'outside', 'big'), Buffer.alloc(4 * 1024 * 1024, 1));
  await mkdir(join(base, 'layer', 'a', 'b'), { recursive: true });
  await writeFile(join(base, 'layer', 'a', 'file'), Buffer.alloc(64 * 1024, 1));
  await link(join(base, 'layer', 'a', 'file'), join(base, 'layer', 'a', 'b', 'hardlink'));
  await symlink(join(base, 'outside'), join(base, 'layer', 'a', 'to-outside'));
});

after(async () => {
  await rm(base, { recursive: true, force: true });
});

test('diskUsage() counts each inode once and never follows a symlink out of the tree', async () => {
  const u = await diskUsage([join(base, 'layer')]);
  // layer, a, b, file (hard-linked twice), the symlink
  assert.equal(u.inodes, 5);
  assert.ok(u.bytes >= 64 * 1024, String(u.bytes));
  assert.ok(u.bytes < 1024 * 1024, `the symlinked 4 MiB file was counted: ${u.bytes}`);
});

test('diskUsage() treats a missing directory as empty and sums several', async () => {
  assert.deepEqual(await diskUsage([join(base, 'nope')]), { bytes: 0, inodes: 0 });
  const both = await diskUsage([join(base, 'layer'), join(base, 'outside')]);
  assert.equal(both.inodes, 7);
  assert.ok(both.bytes >= 4 * 1024 * 1024);
});

test('diskUsage() of a symlink counts the link only', async () => {
  const u = await diskUsage([join(base, 'layer', 'a', 'to-outside')]);
  assert.equal(u.inodes, 1);
});
