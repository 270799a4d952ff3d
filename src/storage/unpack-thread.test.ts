import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, readFile, readdir, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { unpackLayer } from './layer-unpack.ts';
import { buildTar, type FixtureEntry } from './tar-fixture.ts';
import { LayerFormatError } from './errors.ts';

const needsRoot = process.getuid?.() === 0 ? false : 'needs root (chown)';

/** The filesystem thread's side of extraction: batching, order, failures and the umask shortcut. */
describe('unpackLayer() on its filesystem thread', { skip: needsRoot }, () => {
  let base: string;
  let n = 0;
  before(async () => { base = await mkdtemp(join(tmpdir(), 'critter-unpack-thread-')); });
  after(async () => { await rm(base, { recursive: true, force: true }); });

  function layerDir(): string {
    return join(base, `layer${n++}`, 'diff');
  }

  it('extracts thousands of entries over many batches, a big file in pieces, each with its own mode and owner', async () => {
    const big = randomBytes(5 * 1024 * 1024 + 123);
    const entries: FixtureEntry[] = [];
    for (let i = 0; i < 3000; i++) entries.push({ name: `d${i % 7}/f${i}`, content: `file ${i}\n`.repeat(i % 50), mode: i % 2 ? 0o644 : 0o600 });
    entries.push(
      { name: 'big.bin', content: big, mode: 0o640, uid: 1000, gid: 1000 },
      // The umask (022 or so) takes bits from these: they need the explicit chmod.
      { name: 'open', content: 'o', mode: 0o777 },
      { name: 'suid', content: 's', mode: 0o4755, uid: 1000, gid: 1000 },
      { name: 'sticky-ro', content: 'r', mode: 0o1444 },
    );
    const dir = layerDir();
    const stats = await unpackLayer(Readable.from([await buildTar(entries)]), dir);
    assert.equal(stats.files, 3004);
    let count = 0;
    for (let d = 0; d < 7; d++) count += (await readdir(join(dir, `d${d}`))).length;
    assert.equal(count, 3000);
    assert.equal(await readFile(join(dir, 'd3/f2999'), 'utf8'), 'file 2999\n'.repeat(2999 % 50));
    assert.equal((await stat(join(dir, 'd1/f1'))).mode & 0o7777, 0o644);
    assert.equal((await stat(join(dir, 'd0/f0'))).mode & 0o7777, 0o600);
    assert.ok((await readFile(join(dir, 'big.bin'))).equals(big));
    const bigStat = await stat(join(dir, 'big.bin'));
    assert.deepEqual([bigStat.mode & 0o7777, bigStat.uid, bigStat.gid], [0o640, 1000, 1000]);
    assert.equal((await stat(join(dir, 'open'))).mode & 0o7777, 0o777);
    const suid = await stat(join(dir, 'suid'));
    assert.deepEqual([suid.mode & 0o7777, suid.uid], [0o4755, 1000]);
    assert.equal((await stat(join(dir, 'sticky-ro'))).mode & 0o7777, 0o1444);
  });

  it('names the entry whose operation failed, even when entries after it were already parsed, and runs none of them', async () => {
    const entries: FixtureEntry[] = [];
    for (let i = 0; i < 1500; i++) entries.push({ name: `before/${i}`, content: 'b' });
    const bad = `bad/${'n'.repeat(300)}`;
    entries.push({ name: bad, content: 'x' });
    for (let i = 0; i < 1500; i++) entries.push({ name: `after/${i}`, content: 'a' });
    const dir = layerDir();
    const err = await unpackLayer(Readable.from([await buildTar(entries)]), dir).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof LayerFormatError, String(err));
    assert.match(err.message, /ENAMETOOLONG/);
    assert.ok(err.message.includes(JSON.stringify(bad.slice(0, 256))), err.message);
    assert.equal((await readdir(join(dir, 'before'))).length, 1500);
    // Whatever was planned after the failure was skipped, not run.
    assert.deepEqual(await readdir(join(dir, 'after')).catch(() => []), []);
  });

  it('a thread that saw a failure extracts the next layer fully', async () => {
    const failing = unpackLayer(Readable.from([await buildTar([{ name: `${'x'.repeat(300)}`, content: '' }])]), layerDir());
    await assert.rejects(failing, LayerFormatError);
    const dir = layerDir();
    await unpackLayer(Readable.from([await buildTar([{ name: 'a/b', content: 'ok' }])]), dir);
    assert.equal(await readFile(join(dir, 'a/b'), 'utf8'), 'ok');
  });

  it('layers extracted at the same time each get their own thread and all their files', async () => {
    const layer = (tag: string): FixtureEntry[] => Array.from({ length: 800 }, (_, i) => ({ name: `${tag}/${i}`, content: `${tag}${i}` }));
    const dirs = [layerDir(), layerDir(), layerDir()];
    await Promise.all(dirs.map(async (d, i) => unpackLayer(Readable.from([await buildTar(layer(`l${i}`))]), d)));
    for (const [i, d] of dirs.entries()) {
      assert.equal((await readdir(join(d, `l${i}`))).length, 800);
      assert.equal(await readFile(join(d, `l${i}/799`), 'utf8'), `l${i}799`);
    }
  });
});

describe('FsOpWriter after a failure', () => {
  it('keeps taking a big file\'s chunks once a failure came back between two of them (it spun forever)', async () => {
    const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
    const url = new URL(`./unpack-writer${ext}`, import.meta.url).href;
    const dir = await mkdtemp(join(tmpdir(), 'critter-writer-failure-'));
    // In a worker of its own: a regression is an endless synchronous loop, which only
    // terminate() ends; the test then fails instead of hanging the run.
    const worker = new Worker(`
      const { parentPort, workerData } = require('node:worker_threads');
      (async () => {
        const { FsOpWriter } = await import(workerData.url);
        const w = new FsOpWriter();
        w.entry('missing/big');
        w.add({ k: 'create', p: workerData.dir + '/missing/big', m: 0o644 });
        // The first batch goes out full (its open fails: no such directory); 1 byte waits in the next.
        w.append(Buffer.alloc(1024 * 1024 + 1));
        while (await w.drain().then(() => true, () => false)) await new Promise((r) => setTimeout(r, 5));
        // The failure is in; the next chunk fills the waiting batch and needs room again.
        w.append(Buffer.alloc(3 * 1024 * 1024));
        const err = await w.finish().then(() => undefined, (e) => e);
        parentPort.postMessage({ entry: err?.entry, code: err?.fsError?.code });
      })();
    `, { eval: true, workerData: { url, dir } });
    try {
      const reply = await new Promise<unknown>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('append() did not return within 20 s of the failure')), 20_000);
        worker.once('message', (m) => { clearTimeout(timer); resolve(m); });
        worker.once('error', (e) => { clearTimeout(timer); reject(e); });
      });
      assert.deepEqual(reply, { entry: 'missing/big', code: 'ENOENT' });
    } finally {
      await worker.terminate();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
