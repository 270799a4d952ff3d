import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EXEC_SYNC_MAX_OUTPUT, EXEC_SYNC_MAX_RESPONSE_OUTPUT, fitExecOutput } from './runtime.ts';

const bytes = (n: number, c: string): Buffer => Buffer.alloc(n, c);

test('fitExecOutput() leaves output that fits alone', () => {
  const out = bytes(10, 'o');
  const err = bytes(5, 'e');
  const r = fitExecOutput(out, err, 15);
  assert.equal(r.stdout, out);
  assert.equal(r.stderr, err);
});

test('fitExecOutput() gives a stream what the other leaves unused, keeping beginnings', () => {
  const r = fitExecOutput(Buffer.from('0123456789'), Buffer.from('ab'), 8);
  assert.equal(r.stdout.toString(), '012345');
  assert.equal(r.stderr.toString(), 'ab');
  const s = fitExecOutput(Buffer.from('ab'), Buffer.from('0123456789'), 8);
  assert.equal(s.stdout.toString(), 'ab');
  assert.equal(s.stderr.toString(), '012345');
});

test('fitExecOutput() splits the budget in halves when both streams are large (regression: 16 MiB + 16 MiB exceeded the gRPC message limit)', () => {
  const r = fitExecOutput(bytes(EXEC_SYNC_MAX_OUTPUT, 'o'), bytes(EXEC_SYNC_MAX_OUTPUT, 'e'));
  assert.equal(r.stdout.length + r.stderr.length, EXEC_SYNC_MAX_RESPONSE_OUTPUT);
  assert.equal(r.stdout.length, EXEC_SYNC_MAX_RESPONSE_OUTPUT / 2);
  const single = fitExecOutput(bytes(EXEC_SYNC_MAX_OUTPUT, 'o'), Buffer.alloc(0));
  assert.equal(single.stdout.length, EXEC_SYNC_MAX_RESPONSE_OUTPUT, 'regression: 16 MiB of stdout alone plus framing exceeded the limit');
});
