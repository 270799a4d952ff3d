import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { status as Code } from '@grpc/grpc-js';
import pino from 'pino';
import { unary, serverStream, InflightCalls, type AdaptDeps } from './adapt.ts';
import { NotFoundError } from '../lib/errors.ts';

/** A stand-in for grpc-js's call objects: what the adapter touches and nothing more. */
class FakeCall extends EventEmitter {
  request: unknown = {};
  cancelled = false;
  written: unknown[] = [];
  ended = false;
  getDeadline(): number { return Infinity; }
  write(item: unknown): boolean { this.written.push(item); return true; }
  end(): void { this.ended = true; }
}

function deps(ready: boolean): AdaptDeps & { seen: [string, string][] } {
  const seen: [string, string][] = [];
  return {
    log: pino({ level: 'silent' }),
    readiness: { ready: () => ready },
    inflight: new InflightCalls(),
    observer: { observe: (rpc, code) => { seen.push([rpc, code]); } },
    seen,
  };
}

function callUnary(d: AdaptDeps, fn: () => Promise<unknown>): Promise<{ err: { code: number; details: string } | null; res: unknown }> {
  return new Promise((resolve) => {
    const handler = unary('Thing', d, fn);
    handler(new FakeCall() as never, (err: unknown, res: unknown) => resolve({ err: err as never, res }));
  });
}

test('unary() answers UNAVAILABLE until start-up work is done, without running the handler', async () => {
  let ran = false;
  const { err } = await callUnary(deps(false), async () => { ran = true; return {}; });
  assert.equal(err?.code, Code.UNAVAILABLE);
  assert.match(err.details, /starting up/);
  assert.equal(ran, false);
});

test('unary() maps a rejected handler to its domain code and records the outcome', async () => {
  const d = deps(true);
  const { err } = await callUnary(d, async () => { throw new NotFoundError('pod "p1" not found'); });
  assert.equal(err?.code, Code.NOT_FOUND);
  assert.equal(err?.details, 'pod "p1" not found');
  assert.deepEqual(d.seen, [['Thing', 'NOT_FOUND']]);
});

test('unary() turns a rejection with no reason into a status, never a crash', async () => {
  // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the case under test
  const { err } = await callUnary(deps(true), () => Promise.reject(undefined));
  assert.equal(err?.code, Code.UNKNOWN);
  assert.ok(err.details.length > 0);
});

test('serverStream() writes every item and ends; a failure ends the call with its code', async () => {
  const call = new FakeCall();
  const handler = serverStream('List', deps(true), async function* () { yield 1; yield 2; });
  handler(call as never);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(call.written, [1, 2]);
  assert.equal(call.ended, true);
  const failing = new FakeCall();
  const got = new Promise<{ code: number }>((resolve) => failing.once('error', resolve));
  serverStream('List', deps(true), async function* () { yield 1; throw new NotFoundError('gone'); })(failing as never);
  assert.equal((await got).code, Code.NOT_FOUND);
});

test('InflightCalls.drain() waits for calls in flight, bounded by its timeout', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const calls = new InflightCalls();
  assert.equal(await calls.drain(10), true, 'nothing in flight: at once');
  calls.enter();
  let timedOut: boolean | undefined;
  void calls.drain(20).then((v) => { timedOut = v; });
  t.mock.timers.tick(19);
  await Promise.resolve();
  assert.equal(timedOut, undefined, 'still waiting before its timeout');
  t.mock.timers.tick(1);
  await Promise.resolve();
  assert.equal(timedOut, false, 'the timeout passed with a call in flight');
  let drained: boolean | undefined;
  void calls.drain(1000).then((v) => { drained = v; });
  t.mock.timers.tick(999);
  await Promise.resolve();
  assert.equal(drained, undefined);
  calls.leave();
  await Promise.resolve();
  assert.equal(drained, true, 'the last call leaving ends the wait');
});

test('unary(): the call\'s deadline aborts the op as DEADLINE_EXCEEDED; a client cancel as CANCELLED', async () => {
  const waitForAbort = (_req: unknown, op: { signal: AbortSignal }): Promise<never> =>
    new Promise((_resolve, reject) => op.signal.addEventListener('abort', () => reject(op.signal.reason), { once: true }));
  const run = (call: FakeCall): Promise<{ code: number; details: string }> => new Promise((resolve) => {
    unary('Slow', deps(true), waitForAbort)(call as never, (err: unknown) => resolve(err as never));
  });

  const withDeadline = new FakeCall();
  withDeadline.getDeadline = () => Date.now() + 30;
  // The deadline timer does not hold the process open (a daemon has its server for that).
  const keepAlive = setTimeout(() => undefined, 5000);
  const late = await run(withDeadline);
  clearTimeout(keepAlive);
  assert.equal(late.code, Code.DEADLINE_EXCEEDED);
  assert.match(late.details, /Slow exceeded its deadline/);

  const cancelled = new FakeCall();
  const answer = run(cancelled);
  cancelled.emit('cancelled');
  assert.equal((await answer).code, Code.CANCELLED);
  await new Promise((r) => setImmediate(r));
  assert.equal(cancelled.listenerCount('cancelled'), 0, 'the listener goes with the call');
});
