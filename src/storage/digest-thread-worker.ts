/**
 * Worker thread entry for digest-thread.ts: keeps one running hash per open digest, updates
 * it with each slab of bytes (handing the slab back for reuse) and answers `close` with the
 * hex digest. Messages from one port arrive in order, so a digest sees its bytes in order.
 */
import { parentPort } from 'node:worker_threads';
import { createHash, type Hash } from 'node:crypto';

export type DigestRequest =
  | { open: number; algorithm: string }
  | { id: number; slab: ArrayBuffer; length: number }
  | { close: number };
export type DigestReply = { slab: ArrayBuffer } | { closed: number; hex: string | undefined };

const hashes = new Map<number, Hash>();

parentPort!.on('message', (msg: DigestRequest) => {
  if ('open' in msg) {
    hashes.set(msg.open, createHash(msg.algorithm));
  } else if ('close' in msg) {
    const hash = hashes.get(msg.close);
    hashes.delete(msg.close);
    const reply: DigestReply = { closed: msg.close, hex: hash?.digest('hex') };
    parentPort!.postMessage(reply);
  } else {
    hashes.get(msg.id)?.update(new Uint8Array(msg.slab, 0, msg.length));
    const reply: DigestReply = { slab: msg.slab };
    parentPort!.postMessage(reply, [msg.slab]);
  }
});
