import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OciRuntimeError, type CheckpointOptions, type OciRuntime } from '../../oci/runtime.ts';
import { FailedPreconditionError } from '../../lib/errors.ts';
import type { ContainerRecord } from '../container-record.ts';
import { testOp } from '../testing.ts';
import { checkpointGroup, type CheckpointEnv } from './checkpoint-container.ts';
import { InProgressMarkers } from './in-progress.ts';

/** Records the runtime calls in order; `failCheckpoint` makes that container's dump fail as CRIU would. */
function recordingRuntime(log: string[], failCheckpoint?: string): OciRuntime {
  const rt = {
    handler: 'runc',
    async pause(_op: unknown, id: string) { log.push(`pause ${id}`); },
    async resume(_op: unknown, id: string) { log.push(`resume ${id}`); },
    async checkpoint(_op: unknown, id: string, o: CheckpointOptions) {
      log.push(`checkpoint ${id}`);
      if (id === failCheckpoint) throw new OciRuntimeError(`runc checkpoint "${id}" failed: criu failed`);
      await writeFile(join(o.imagePath, 'inventory.img'), 'img');
    },
  };
  return rt as unknown as OciRuntime;
}

interface Fixture { dir: string; env: CheckpointEnv; recs: ContainerRecord[]; out: string; markers: InProgressMarkers }

async function fixture(dir: string, ids: string[]): Promise<Fixture> {
  const recs: ContainerRecord[] = [];
  for (const id of ids) {
    const bundle = join(dir, 'bundles', id);
    await mkdir(join(dir, 'upper', id, 'tmp'), { recursive: true });
    await writeFile(join(dir, 'upper', id, 'tmp', 'n'), '7');
    await mkdir(bundle, { recursive: true });
    await writeFile(join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', mounts: [{ destination: '/proc' }] }));
    recs.push({
      id,
      metadata: {
        name: `${id}_pod_ns_uid_0`, config: { metadata: { name: id }, annotations: {}, labels: {} }, bundle, imageRequested: 'busybox', imageId: 'img', runtimeHandler: 'runc',
        createdAt: '1', conmonLogPath: '',
      },
      status: { phase: 'running' },
    } as unknown as ContainerRecord);
  }
  const env: CheckpointEnv = { runRoot: join(dir, 'run'), criuPath: async () => '/usr/sbin/criu', upperDir: (id) => join(dir, 'upper', id), cleanupTimeoutMs: 5000 };
  const out = join(dir, 'out');
  await mkdir(out);
  return { dir, env, recs, out, markers: new InProgressMarkers(join(dir, 'markers')) };
}

async function withFixture(ids: string[], fn: (f: Fixture) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'critter-group-'));
  try {
    await fn(await fixture(dir, ids));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('checkpointGroup() pauses every container before dumping any, and resumes them all after the last dump', () => withFixture(['a', 'b', 'c'], async (f) => {
  const log: string[] = [];
  const rt = recordingRuntime(log);
  let finished = false;
  await checkpointGroup(f.env, testOp, f.recs.map((rec) => ({ rec, runtime: rt, dest: join(f.out, `${rec.id}.tar`) })), {
    timeoutMs: 60_000, markers: f.markers, finish: async () => {
      // Every archive is complete when the manifest is written, and the containers already run again.
      assert.deepEqual((await readdir(f.out)).sort(), ['a.tar', 'b.tar', 'c.tar']);
      assert.ok(log.at(-1)?.startsWith('resume'));
      assert.equal((await readdir(join(f.dir, 'markers'))).length, 1, 'marked in progress until finish is done');
      finished = true;
    },
  });
  assert.deepEqual(log, ['pause a', 'pause b', 'pause c', 'checkpoint a', 'checkpoint b', 'checkpoint c', 'resume a', 'resume b', 'resume c']);
  assert.ok(finished);
  assert.deepEqual(await readdir(join(f.dir, 'markers')), []);
  assert.deepEqual(await readdir(join(f.env.runRoot, 'checkpoint')), [], 'work dirs removed');
}));

test('checkpointGroup(): one failed dump resumes every paused container and leaves no archive, partial or marker', () => withFixture(['a', 'b'], async (f) => {
  const log: string[] = [];
  const rt = recordingRuntime(log, 'b');
  const manifest = join(f.out, 'pod-checkpoint.json');
  await assert.rejects(checkpointGroup(f.env, testOp, f.recs.map((rec) => ({ rec, runtime: rt, dest: join(f.out, `${rec.id}.tar`) })), {
    timeoutMs: 60_000, markers: f.markers, extraOutputs: [manifest], finish: () => writeFile(manifest, '{}'),
  }), OciRuntimeError);
  assert.deepEqual(log, ['pause a', 'pause b', 'checkpoint a', 'checkpoint b', 'resume a', 'resume b']);
  assert.deepEqual(await readdir(f.out), []);
  assert.deepEqual(await readdir(join(f.dir, 'markers')), []);
  assert.deepEqual(await readdir(join(f.env.runRoot, 'checkpoint')), []);
}));

test('checkpointGroup(): a failure while writing the manifest removes the archives already written', () => withFixture(['a'], async (f) => {
  const log: string[] = [];
  await assert.rejects(checkpointGroup(f.env, testOp, [{ rec: f.recs[0]!, runtime: recordingRuntime(log), dest: join(f.out, 'a.tar') }], {
    timeoutMs: 60_000, finish: async () => { throw new Error('disk full'); },
  }), /disk full/);
  assert.deepEqual(await readdir(f.out), []);
}));

test('checkpointGroup() refuses a group with a container that is not running before pausing any', () => withFixture(['a', 'b'], async (f) => {
  const log: string[] = [];
  (f.recs[1]!.status as { phase: string }).phase = 'exited';
  await assert.rejects(checkpointGroup(f.env, testOp, f.recs.map((rec) => ({ rec, runtime: recordingRuntime(log), dest: join(f.out, `${rec.id}.tar`) })), { timeoutMs: 60_000 }), FailedPreconditionError);
  assert.deepEqual(log, []);
}));

test('checkpointGroup(): a pause that fails resumes every container it got to', () => withFixture(['a', 'b'], async (f) => {
  const log: string[] = [];
  const rt = recordingRuntime(log);
  const pause = rt.pause!.bind(rt);
  rt.pause = async (op, id) => {
    await pause(op, id);
    if (id === 'b') throw new OciRuntimeError('runc pause "b" failed: freezer busy');
  };
  await assert.rejects(checkpointGroup(f.env, testOp, f.recs.map((rec) => ({ rec, runtime: rt, dest: join(f.out, `${rec.id}.tar`) })), { timeoutMs: 60_000 }), /freezer busy/);
  assert.deepEqual(log, ['pause a', 'pause b', 'resume a', 'resume b'], 'b too: a failed pause may have frozen part of it');
}));
