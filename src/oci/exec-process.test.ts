import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runtimeFailure } from './exec-process.ts';

test('runtimeFailure() keeps only the runtime\'s error lines', () => {
  const log = [
    '{"level":"info","msg":"starting"}',
    '{"level":"error","msg":"exec failed: unable to start container process: exec: \\"nope\\": executable file not found in $PATH"}',
    'not json',
    '{"level":"fatal","msg":"second"}',
  ].join('\n');
  assert.equal(runtimeFailure(log), 'exec failed: unable to start container process: exec: "nope": executable file not found in $PATH; second');
  assert.equal(runtimeFailure('{"level":"warning","msg":"x"}\n'), null);
  assert.equal(runtimeFailure(''), null);
});
