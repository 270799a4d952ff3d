import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execProcessSpec, processFor } from './exec-spec.ts';
import { FailedPreconditionError } from '../../lib/errors.ts';

test('processFor() keeps the container identity and replaces args and terminal', () => {
  const base = { terminal: true, args: ['sleep', '1000'], env: ['A=1'], cwd: '/w', user: { uid: 5, gid: 6 }, capabilities: { bounding: ['CAP_KILL'] }, consoleSize: { height: 1, width: 2 } };
  const p = processFor(base, ['sh', '-c', 'id'], false);
  assert.deepEqual(p, { terminal: false, args: ['sh', '-c', 'id'], env: ['A=1'], cwd: '/w', user: { uid: 5, gid: 6 }, capabilities: { bounding: ['CAP_KILL'] } });
  assert.deepEqual(base.args, ['sleep', '1000'], 'the base is not mutated');
});

test('execProcessSpec() reads the bundle and fails clearly without one', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'critter-exec-spec-'));
  try {
    await writeFile(join(dir, 'config.json'), JSON.stringify({ process: { args: ['x'], env: ['PATH=/bin'], cwd: '/' } }));
    assert.deepEqual(await execProcessSpec(dir, 'c1', ['true'], true), { args: ['true'], env: ['PATH=/bin'], cwd: '/', terminal: true });
    await assert.rejects(execProcessSpec(join(dir, 'missing'), 'c1', ['true'], false), (e: Error) => e instanceof FailedPreconditionError && /c1/.test(e.message));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
