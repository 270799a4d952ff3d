import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, readFile, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordStore } from './record-store.ts';
import { NameRegistrar } from './name-registrar.ts';
import { parseStatStartTime, processRefFor, isSameProcessAlive } from './process-identity.ts';
import { InvalidArgumentError, NotFoundError } from '../lib/errors.ts';

interface Meta { name: string }
interface Stat { state: string; n: number }

async function withStore(fn: (store: RecordStore<Meta, Stat>, dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'records-'));
  try {
    await fn(new RecordStore<Meta, Stat>({ dir, kind: 'pod' }), dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('RecordStore.create() writes versioned metadata and status that load() reads back', async () => {
  await withStore(async (store, dir) => {
    await store.load();
    await store.create('aaaa1111', { name: 'a' }, { state: 'ready', n: 1 });
    const onDisk = JSON.parse(await readFile(join(dir, 'aaaa1111', 'metadata.json'), 'utf8'));
    assert.deepEqual(onDisk, { version: 1, name: 'a' });
    const again = new RecordStore<Meta, Stat>({ dir, kind: 'pod' });
    const { loaded, broken } = await again.load();
    assert.deepEqual(broken, []);
    assert.deepEqual(loaded, [{ id: 'aaaa1111', metadata: { name: 'a' }, status: { state: 'ready', n: 1 } }]);
  });
});

test('RecordStore.generation changes with every record created, updated, tombstoned or removed, and only then', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'records-'));
  try {
    const store = new RecordStore<Meta, Stat>({ dir, kind: 'container', tombstoned: (s) => ({ ...s, state: 'going' }) });
    await store.load();
    const seen = [store.generation];
    const changed = (what: string): void => {
      assert.notEqual(store.generation, seen[seen.length - 1], `${what} changes the generation`);
      seen.push(store.generation);
    };
    await store.create('aaaa1111', { name: 'a' }, { state: 'ready', n: 1 });
    changed('create');
    store.list();
    store.get('aaaa1111');
    assert.equal(store.generation, seen[seen.length - 1], 'reads leave it');
    await store.update('aaaa1111', (s) => ({ ...s, n: 2 }));
    changed('update');
    await store.tombstone('aaaa1111');
    changed('tombstone');
    await store.remove('aaaa1111');
    changed('remove');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('RecordStore.update() persists before the in-memory copy changes', async () => {
  await withStore(async (store, dir) => {
    await store.load();
    await store.create('aaaa1111', { name: 'a' }, { state: 'ready', n: 1 });
    await Promise.all([1, 2, 3].map(() => store.update('aaaa1111', (s) => ({ ...s, n: s.n + 1 }))));
    assert.equal(store.get('aaaa1111')?.status.n, 4);
    const onDisk = JSON.parse(await readFile(join(dir, 'aaaa1111', 'status.json'), 'utf8'));
    assert.equal(onDisk.n, 4);
    await rm(join(dir, 'aaaa1111'), { recursive: true });
    await writeFile(join(dir, 'aaaa1111'), 'a file where the record dir was, so the write fails');
    await assert.rejects(store.update('aaaa1111', (s) => ({ ...s, n: 99 })));
    assert.equal(store.get('aaaa1111')?.status.n, 4, 'a failed write must not change memory');
    await assert.rejects(store.update('bbbb2222', (s) => s), NotFoundError);
  });
});

test('RecordStore.find() resolves unique prefixes and refuses ambiguous ones', async () => {
  await withStore(async (store) => {
    await store.load();
    await store.create('abcd0001', { name: 'a' }, { state: 'ready', n: 0 });
    await store.create('abcd0002', { name: 'b' }, { state: 'ready', n: 0 });
    assert.equal(store.find('abcd0002')?.metadata.name, 'b');
    assert.equal(store.find('abcd0001')?.metadata.name, 'a');
    assert.throws(() => store.find('abcd'), InvalidArgumentError);
    assert.equal(store.find('ffff'), undefined);
    assert.throws(() => store.resolve('ffff'), NotFoundError);
  });
});

test('RecordStore.load() reports unreadable records and wrong versions as broken', async () => {
  await withStore(async (store, dir) => {
    await mkdir(join(dir, 'cccc3333'), { recursive: true });
    await writeFile(join(dir, 'cccc3333', 'metadata.json'), '{"version":2}');
    await mkdir(join(dir, 'dddd4444'), { recursive: true });
    const { loaded, broken } = await store.load();
    assert.equal(loaded.length, 0);
    assert.deepEqual(broken.map((b) => b.id).sort(), ['cccc3333', 'dddd4444']);
  });
});

test('RecordStore: a create cut short (files written in place, torn or empty) loads as broken, never as a record', async () => {
  await withStore(async (store, dir) => {
    await store.load();
    await store.create('ffff6666', { name: 'f' }, { state: 'ready', n: 0 });
    // What a crash between creating the files and writing them leaves.
    await writeFile(join(dir, 'ffff6666', 'metadata.json'), '');
    await writeFile(join(dir, 'ffff6666', 'status.json'), '{"version":1,"sta');
    const { loaded, broken } = await new RecordStore<Meta, Stat>({ dir, kind: 'pod' }).load();
    assert.deepEqual(loaded, []);
    assert.deepEqual(broken.map((b) => b.id), ['ffff6666']);
  });
});

test('RecordStore.create() refuses a record dir that already exists and leaves it untouched', async () => {
  await withStore(async (store, dir) => {
    await store.load();
    await mkdir(join(dir, 'abab7777'));
    await writeFile(join(dir, 'abab7777', 'metadata.json'), 'not ours');
    await assert.rejects(store.create('abab7777', { name: 'g' }, { state: 'ready', n: 0 }), { code: 'EEXIST' });
    assert.equal(await readFile(join(dir, 'abab7777', 'metadata.json'), 'utf8'), 'not ours');
    assert.equal(store.get('abab7777'), undefined);
  });
});

test('RecordStore.tombstone() marks a record for good: in memory at once, and at every load whatever status.json says', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'records-'));
  try {
    const tombstoned = (s: Stat): Stat => ({ ...s, state: 'going' });
    const store = new RecordStore<Meta, Stat>({ dir, kind: 'container', tombstoned });
    await store.load();
    await store.create('abcd8888', { name: 't' }, { state: 'exited', n: 1 });
    await store.create('abcd9999', { name: 'u' }, { state: 'exited', n: 1 });
    assert.deepEqual(await store.tombstone('abcd8888'), { state: 'going', n: 1 });
    assert.equal(store.get('abcd8888')?.status.state, 'going');
    await store.update('abcd8888', (s) => ({ ...s, n: 2 }));
    const { loaded } = await new RecordStore<Meta, Stat>({ dir, kind: 'container', tombstoned }).load();
    assert.deepEqual(loaded.map((r) => [r.id, r.status.state, r.status.n]).sort(), [['abcd8888', 'going', 2], ['abcd9999', 'exited', 1]]);
    await assert.rejects(store.tombstone('ffff0000'), NotFoundError);
    await assert.rejects(new RecordStore<Meta, Stat>({ dir, kind: 'pod' }).tombstone('abcd9999'), /pod records have no tombstone/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('RecordStore.remove() deletes the directory and the index entry', async () => {
  await withStore(async (store, dir) => {
    await store.load();
    await store.create('eeee5555', { name: 'e' }, { state: 'ready', n: 0 });
    await store.remove('eeee5555');
    await store.remove('eeee5555');
    assert.equal(store.get('eeee5555'), undefined);
    await assert.rejects(readFile(join(dir, 'eeee5555', 'metadata.json')), { code: 'ENOENT' });
  });
});

test('NameRegistrar.reserve() returns the holder on a clash and release() only frees its own name', () => {
  const names = new NameRegistrar();
  assert.equal(names.reserve('pod_ns', 'id1'), undefined);
  assert.equal(names.reserve('pod_ns', 'id1'), undefined);
  assert.equal(names.reserve('pod_ns', 'id2'), 'id1');
  names.release('pod_ns', 'id2');
  assert.equal(names.holderOf('pod_ns'), 'id1');
  names.release('pod_ns', 'id1');
  assert.equal(names.reserve('pod_ns', 'id2'), undefined);
});

test('parseStatStartTime() reads field 22 even when comm holds spaces and parentheses', () => {
  const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
  assert.equal(parseStatStartTime(`123 (a) b) c) ${fields.join(' ')}`), '22');
  assert.equal(parseStatStartTime('garbage'), undefined);
});

test('isSameProcessAlive() tells the live process from a reused pid', async () => {
  const ref = await processRefFor(process.pid);
  assert.ok(ref);
  assert.equal(await isSameProcessAlive(ref), true);
  assert.equal(await isSameProcessAlive({ pid: process.pid, startTime: '1' }), false);
  assert.equal(await isSameProcessAlive({ pid: 2 ** 22 + 7, startTime: ref.startTime }), false);
});
