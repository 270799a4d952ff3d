import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { DetachedWork } from './detached-work.ts';

const log = pino({ level: 'silent' });

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => { open = resolve; });
  return { promise, open };
}

describe('DetachedWork', () => {
  it('DetachedWork.run() keeps the work going after its caller gives up, and a retry joins it', async () => {
    const work = new DetachedWork();
    const g = gate();
    let runs = 0;
    let ownSignal: AbortSignal | undefined;
    const fn = async (own: { signal: AbortSignal }): Promise<string> => { runs++; ownSignal = own.signal; await g.promise; return 'done'; };
    const caller = new AbortController();
    const first = work.run({ log, signal: caller.signal }, 'k', 60_000, fn);
    caller.abort(new Error('caller deadline'));
    await assert.rejects(first, /caller deadline/);
    assert.equal(ownSignal?.aborted, false, 'the work\'s own signal is not the caller\'s');
    const retry = work.run({ log, signal: new AbortController().signal }, 'k', 60_000, fn);
    g.open();
    assert.equal(await retry, 'done');
    assert.equal(runs, 1, 'the retry joined the running work');
    assert.equal(work.size, 0);
  });
  it('DetachedWork.run() gives the work its own timeout and reports its failure to the callers waiting', async () => {
    const work = new DetachedWork();
    const fn = (own: { signal: AbortSignal }): Promise<never> => new Promise((_, reject) => own.signal.addEventListener('abort', () => reject(new Error('own timeout'))));
    await assert.rejects(work.run({ log, signal: new AbortController().signal }, 'k', 1, fn), /own timeout/);
    assert.equal(work.size, 0);
  });
});
