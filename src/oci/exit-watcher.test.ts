import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, rename, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExitWatcher, parseExitStatus } from './exit-watcher.ts';
import type { ContainerExit } from './exit-watcher.ts';

const quietLog = { warn: () => {}, error: () => {}, debug: () => {} };

function waitFor(exits: ContainerExit[], n: number, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (exits.length >= n) resolve();
      else if (Date.now() > deadline) reject(new Error(`saw ${exits.length} exits, wanted ${n}`));
      else setTimeout(tick, 5);
    };
    tick();
  });
}

test('parseExitStatus() reads decimal statuses only', () => {
  assert.equal(parseExitStatus('137'), 137);
  assert.equal(parseExitStatus('0'), 0);
  assert.equal(parseExitStatus(''), undefined);
  assert.equal(parseExitStatus('x1'), undefined);
});

test('ExitWatcher behaviour: reports files present at start, live renames once, ignores temp names', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'exitwatch-'));
  const exits: ContainerExit[] = [];
  const watcher = new ExitWatcher({ dir, log: quietLog, onExit: (e) => exits.push(e) });
  try {
    await writeFile(join(dir, 'before'), '3');
    await watcher.start();
    assert.deepEqual(exits.map((e) => [e.id, e.exitCode]), [['before', 3]]);

    // conmon's g_file_set_contents: temp name, then rename.
    await writeFile(join(dir, 'live.AbC123'), '137');
    await rename(join(dir, 'live.AbC123'), join(dir, 'live'));
    await waitFor(exits, 2);
    // A second report of 'live' (from the temp name or the rename) would come before this marker's.
    await writeFile(join(dir, 'marker.XyZ789'), '1');
    await rename(join(dir, 'marker.XyZ789'), join(dir, 'marker'));
    await waitFor(exits, 3);
    await watcher.idle();
    assert.deepEqual(exits.map((e) => [e.id, e.exitCode]), [['before', 3], ['live', 137], ['marker', 1]]);
    assert.ok(Math.abs(exits[1]!.exitedAt.getTime() - Date.now()) < 5000);
    assert.equal(exits[1]!.exitedAtNs / 1_000_000n, BigInt(exits[1]!.exitedAt.getTime()));

    await watcher.remove('live');
    await watcher.remove('marker');
    assert.deepEqual(await readdir(dir), ['before']);
    // a new exit under a removed id is reported again
    await writeFile(join(dir, 'live'), '0');
    await waitFor(exits, 4);
    assert.equal(exits[3]!.exitCode, 0);
  } finally {
    watcher.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('ExitWatcher behaviour: a restarted watcher reports exits not yet removed', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'exitwatch-'));
  try {
    await writeFile(join(dir, 'a'), '1');
    await writeFile(join(dir, 'b.zzzzzz'), '1');
    const exits: ContainerExit[] = [];
    const w = new ExitWatcher({ dir, log: quietLog, onExit: (e) => exits.push(e) });
    await w.start();
    w.close();
    assert.deepEqual(exits.map((e) => e.id), ['a']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
