import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSameProcess, parseStatStartTime, processStartTime } from './process-identity.ts';

test('parseStatStartTime() counts fields after a command name with spaces and parentheses', () => {
  const stat = '1234 (we ird) (x)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 18446744073709551615';
  assert.equal(parseStatStartTime(stat), '987654');
  assert.equal(parseStatStartTime('garbage'), undefined);
});

test('processStartTime() and isSameProcess() identify this process and reject others', async () => {
  const start = await processStartTime(process.pid);
  assert.ok(start && /^\d+$/.test(start));
  assert.equal(await isSameProcess(process.pid, start), true);
  assert.equal(await isSameProcess(process.pid, String(Number(start) + 1)), false);
  assert.equal(await processStartTime(0), undefined);
  assert.equal(await processStartTime(2 ** 22 + 7), undefined);
});
