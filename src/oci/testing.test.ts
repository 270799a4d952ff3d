import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NotFoundError, UnavailableError } from '../lib/errors.ts';
import { FakeOciRuntime } from './testing.ts';
import type { Op } from '../lib/op.ts';

const op = { log: {} as Op['log'], signal: new AbortController().signal } satisfies Op;
const opts = { id: 'c1', bundle: '/b', logPath: '/l', persistDir: '/p', terminal: false, stdin: false, stdinOnce: false };

test('FakeOciRuntime behaviour: follows the lifecycle and records calls', async () => {
  const rt = new FakeOciRuntime();
  const created = await rt.createContainer(op, opts);
  assert.deepEqual(await rt.state(op, 'c1'), { status: 'created', pid: created.pid });
  await rt.start(op, 'c1');
  await rt.kill(op, 'c1', 'KILL');
  assert.equal((await rt.state(op, 'c1')).status, 'stopped');
  await rt.delete(op, 'c1', { force: false });
  await assert.rejects(rt.state(op, 'c1'), NotFoundError);
  assert.deepEqual(rt.callNames('c1'), ['createContainer', 'state', 'start', 'kill', 'state', 'delete', 'state']);
});

test('FakeOciRuntime behaviour: scripted failures fire once', async () => {
  const rt = new FakeOciRuntime();
  rt.failNext.set('createContainer', new UnavailableError('boom'));
  await assert.rejects(rt.createContainer(op, opts), UnavailableError);
  await rt.createContainer(op, opts);
  assert.equal((await rt.state(op, 'c1')).status, 'created');
});
