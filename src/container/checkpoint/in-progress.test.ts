import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InProgressMarkers, parseMarker, type CheckpointMarker } from './in-progress.ts';
import { testOp } from '../testing.ts';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'critter-markers-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('a marker left by a crash is undone at start-up: containers thawed, outputs removed, the half-restored pod removed', () => withDir(async (dir) => {
  const markers = new InProgressMarkers(join(dir, 'markers'));
  const out = join(dir, 'out');
  await mkdir(out);
  await writeFile(join(out, 'web.tar'), 'partial');
  await writeFile(join(out, 'keep'), 'not ours');
  await mkdir(join(dir, 'work'));
  await markers.begin({ kind: 'checkpoint', containers: ['a', 'b'], outputs: [join(out, 'web.tar'), join(out, 'pod-checkpoint.json')], workDirs: [join(dir, 'work')] });
  const restore = await markers.begin({ kind: 'restore-pod', containers: [], outputs: [], workDirs: [], podName: 'pod_ns_uid_0' });
  await restore.update({ podId: 'p1' });
  // One that finished: nothing to undo.
  await (await markers.begin({ kind: 'checkpoint', containers: ['c'], outputs: [], workDirs: [] })).end();

  const thawed: string[] = [];
  const removed: CheckpointMarker[] = [];
  // A thaw that fails does not stop the rest of the undo.
  const n = await markers.recover(testOp, {
    thaw: async (_op, id) => {
      if (id === 'a') throw new Error('runc resume failed');
      thawed.push(id);
    },
    removePod: async (_op, m) => { removed.push(m); },
  });
  assert.equal(n, 2);
  assert.deepEqual(thawed, ['b']);
  assert.deepEqual(await readdir(out), ['keep']);
  await assert.rejects(stat(join(dir, 'work')));
  assert.deepEqual(removed.map((m) => [m.podId, m.podName]), [['p1', 'pod_ns_uid_0']]);
  assert.deepEqual(await readdir(join(dir, 'markers')), [], 'markers removed once undone');
}));

test('parseMarker() refuses an unknown kind and drops non-string entries', () => {
  assert.throws(() => parseMarker('{"kind":"other"}'));
  assert.deepEqual(parseMarker('{"kind":"checkpoint","containers":["a",1,""],"outputs":null}'), { kind: 'checkpoint', containers: ['a'], outputs: [], workDirs: [] });
});

test('an unreadable marker is removed, not retried forever', () => withDir(async (dir) => {
  const markers = new InProgressMarkers(dir);
  await writeFile(join(dir, 'checkpoint-x.json'), '{torn');
  assert.equal(await markers.recover(testOp, { thaw: async () => undefined, removePod: async () => undefined }), 0);
  assert.deepEqual(await readdir(dir), []);
}));
