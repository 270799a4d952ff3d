import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Periodic, type Schedule } from './periodic.ts';

test('Periodic runs one period after the previous run ended, survives a failing run and stops', async () => {
  const timers: Array<{ fn: () => void; ms: number; cancelled: boolean }> = [];
  const schedule: Schedule = (fn, ms) => {
    const t = { fn, ms, cancelled: false };
    timers.push(t);
    return () => { t.cancelled = true; };
  };
  let runs = 0;
  let release = (): void => undefined;
  const p = new Periodic({
    name: 't', periodMs: 5000, log: pino({ level: 'silent' }), schedule,
    run: async () => {
      runs++;
      if (runs === 1) throw new Error('first run fails');
      await new Promise<void>((r) => { release = r; });
    },
  });
  p.start();
  assert.deepEqual(timers.map((t) => t.ms), [5000]);
  timers[0]!.fn();
  await new Promise((r) => setImmediate(r));
  assert.equal(runs, 1);
  assert.equal(timers.length, 2, 'the failure scheduled the next run');
  timers[1]!.fn();
  await new Promise((r) => setImmediate(r));
  assert.equal(runs, 2);
  assert.equal(timers.length, 2, 'no run is scheduled while one is in progress');
  const stopping = p.stop();
  release();
  await stopping;
  assert.equal(timers.length, 2, 'nothing after stop()');
});
