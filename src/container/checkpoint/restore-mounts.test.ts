import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContainerConfig__Output } from '../../generated/cri/runtime/v1/ContainerConfig.ts';
import { FailedPreconditionError } from '../../lib/errors.ts';
import { carriedMounts } from './restore.ts';

function configWith(mounts: { container_path: string; host_path: string }[]): ContainerConfig__Output {
  return { mounts: mounts.map((m) => ({ ...m, readonly: false })) } as unknown as ContainerConfig__Output;
}

test('carriedMounts() brings back the dump\'s binds the restore config leaves out, never the pod\'s own files or what the config mounts itself', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'critter-restore-mounts-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const termLog = join(dir, 'termination-log');
  const data = join(dir, 'data');
  await writeFile(termLog, '');
  await writeFile(data, '');
  const spec = {
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev/termination-log', type: 'bind', source: termLog, options: ['rbind', 'rprivate'] },
      { destination: '/etc/hosts', type: 'bind', source: join(dir, 'old-pod-hosts'), options: ['rbind'] },
      { destination: '/data', type: 'bind', source: join(dir, 'old-data'), options: ['rbind', 'ro'] },
      { destination: '/ro', type: 'none', source: data, options: ['bind', 'ro'] },
    ],
  };
  const got = await carriedMounts(spec, configWith([{ container_path: '/data', host_path: data }]), '/a.tar');
  assert.deepEqual(got.map((m) => [m.container_path, m.host_path, m.readonly]), [['/dev/termination-log', termLog, false], ['/ro', data, true]]);
});

test('carriedMounts() refuses a dump\'s bind whose host path is gone, naming it, before anything is made', async () => {
  const spec = { mounts: [{ destination: '/dev/termination-log', type: 'bind', source: '/nonexistent/critter/termination-log', options: ['rbind'] }] };
  await assert.rejects(carriedMounts(spec, configWith([]), '/a.tar'), (err: unknown) => err instanceof FailedPreconditionError && /\/nonexistent\/critter\/termination-log/.test(err.message) && /\/dev\/termination-log/.test(err.message));
});
