/**
 * Worker thread entry: runs the filesystem operations of layer extraction (unpack-ops.ts)
 * batch by batch and answers each with its failure, if any. After a failure the rest of
 * that layer's batches are skipped until the next layer starts (a `start` message).
 */
import { parentPort } from 'node:worker_threads';
import { FsOpRunner, type FsBatch, type FsOpFailure } from './unpack-ops.ts';

export type WorkerRequest = { start: true } | { batch: FsBatch };
/** `data` is the batch's buffer, handed back for the next batch. */
export interface WorkerReply { failure?: FsOpFailure; data: ArrayBuffer }

const runner = new FsOpRunner();
let failed = false;

parentPort!.on('message', (msg: WorkerRequest) => {
  if ('start' in msg) {
    runner.reset();
    failed = false;
    return;
  }
  const failure = failed ? undefined : runner.run(msg.batch);
  if (failure) failed = true;
  const data = msg.batch.data;
  const reply: WorkerReply = failure ? { failure, data } : { data };
  parentPort!.postMessage(reply, data.byteLength > 0 ? [data] : []);
});
