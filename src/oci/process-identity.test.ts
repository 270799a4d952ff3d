import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootTimeNs, isSameProcess, parseStatStartTime, processStartTime, startTicksToNs } from './process-identity.ts';

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

test('startTicksToNs() puts this process\'s start on the wall clock just before Node\'s own time origin', async () => {
  const boot = await bootTimeNs();
  assert.ok(boot !== undefined);
  assert.equal(startTicksToNs('250', 1_000n), 1_000n + 2_500_000_000n);
  assert.equal(startTicksToNs('x', 1_000n), undefined);
  const started = startTicksToNs((await processStartTime(process.pid))!, boot);
  const origin = BigInt(Math.round(performance.timeOrigin)) * 1_000_000n;
  // The kernel's start time comes first (the exec); Node sets its time origin while it boots,
  // which on a loaded machine takes a while. Boot time and start ticks have 10 ms steps.
  assert.ok(started! <= origin + 20_000_000n, `start ${started} is after the time origin ${origin}`);
  assert.ok(origin - started! < 5_000_000_000n, `start ${started} is more than 5 s before the time origin ${origin}`);
});
