/**
 * Digests computed on a thread of their own. A pull hashes every byte twice (the blob as
 * served, the tar inside it): for a 198 MB image 420 MB of SHA-256, a quarter of a second
 * the event loop spent while it also parsed tar entries and served RPCs (issue 15). Here
 * the bytes are copied into 1 MiB slabs that the hashing thread hands back for reuse,
 * so a pull allocates nothing per chunk; about MAX_SLABS_OUT slabs wait at the thread
 * before the stream that feeds them waits too (memory stays bounded).
 */
import { Worker } from 'node:worker_threads';
import type { DigestReply, DigestRequest } from './digest-thread-worker.ts';
import type { ParsedDigest } from './digest.ts';

/** Each slab is a message and a wake-up of the thread: 1 MiB keeps them few (~420 for a 198 MB pull). */
const SLAB_BYTES = 1024 * 1024;
const MAX_SLABS_OUT = 4;
const MAX_SPARE_SLABS = 8;
/** The thread ends after this long without an open digest. */
const IDLE_MS = 10_000;

class DigestThread {
  #worker: Worker | undefined;
  #nextId = 1;
  #open = 0;
  #idleTimer: NodeJS.Timeout | undefined;
  #slabsOut = 0;
  readonly #spare: ArrayBuffer[] = [];
  readonly #roomWaiters: Array<() => void> = [];
  readonly #closing = new Map<number, { resolve(hex: string | undefined): void; reject(err: Error): void }>();

  open(algorithm: ParsedDigest['algorithm']): number {
    const id = this.#nextId++;
    this.#open++;
    clearTimeout(this.#idleTimer);
    const worker = this.#started();
    worker.ref();
    this.#post({ open: id, algorithm });
    return id;
  }

  slab(): ArrayBuffer {
    return this.#spare.pop() ?? new ArrayBuffer(SLAB_BYTES);
  }

  send(id: number, slab: ArrayBuffer, length: number): void {
    this.#slabsOut++;
    this.#post({ id, slab, length }, [slab]);
  }

  get full(): boolean {
    return this.#slabsOut >= MAX_SLABS_OUT && this.#worker !== undefined;
  }

  room(): Promise<void> {
    return this.full ? new Promise((resolve) => this.#roomWaiters.push(resolve)) : Promise.resolve();
  }

  close(id: number): Promise<string | undefined> {
    const done = new Promise<string | undefined>((resolve, reject) => this.#closing.set(id, { resolve, reject }));
    this.#post({ close: id });
    return done;
  }

  #started(): Worker {
    if (this.#worker) return this.#worker;
    const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
    const worker = new Worker(new URL(`./digest-thread-worker${ext}`, import.meta.url));
    worker.on('message', (reply: DigestReply) => this.#reply(reply));
    worker.on('error', (err: Error) => this.#stopped(worker, err));
    worker.on('exit', (code: number) => this.#stopped(worker, new Error(`digest thread exited with code ${code}`)));
    this.#worker = worker;
    return worker;
  }

  #post(msg: DigestRequest, transfer: ArrayBuffer[] = []): void {
    this.#started().postMessage(msg, transfer);
  }

  #reply(reply: DigestReply): void {
    if ('slab' in reply) {
      this.#slabsOut--;
      if (reply.slab.byteLength === SLAB_BYTES && this.#spare.length < MAX_SPARE_SLABS) this.#spare.push(reply.slab);
      // Every waiter, not one: waking one per returned slab could leave some waiting with no
      // slab left out to wake them (taps of several layers wait at once), a deadlock.
      if (!this.full) for (const wake of this.#roomWaiters.splice(0)) wake();
      return;
    }
    this.#closing.get(reply.closed)?.resolve(reply.hex);
    this.#closing.delete(reply.closed);
    if (--this.#open === 0) this.#idle();
  }

  #idle(): void {
    // Spare slabs serve a burst of layers; an idle daemon keeps none.
    this.#spare.length = 0;
    const worker = this.#worker;
    worker?.unref();
    this.#idleTimer = setTimeout(() => {
      if (this.#open === 0 && this.#worker === worker) void worker?.terminate();
    }, IDLE_MS);
    this.#idleTimer.unref();
  }

  /** A thread that stopped fails the digests open on it; the next digest starts a new one. */
  #stopped(worker: Worker, err: Error): void {
    if (this.#worker !== worker) return;
    this.#worker = undefined;
    this.#slabsOut = 0;
    this.#open = 0;
    for (const wake of this.#roomWaiters.splice(0)) wake();
    for (const pending of this.#closing.values()) pending.reject(err);
    this.#closing.clear();
  }
}

const thread = new DigestThread();

/** Hashes and counts the bytes that flow through, on the digest thread (cf. DigestCounter). */
export class ThreadedDigest {
  readonly algorithm: ParsedDigest['algorithm'];
  bytes = 0;
  readonly #id: number;
  #slab: Buffer | undefined;
  #used = 0;
  #closed = false;

  constructor(algorithm: ParsedDigest['algorithm']) {
    this.algorithm = algorithm;
    this.#id = thread.open(algorithm);
  }

  /** Passes `source` through unchanged while hashing it. */
  async *tap(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      this.#add(chunk);
      this.bytes += chunk.length;
      while (thread.full) await thread.room();
      yield chunk;
    }
  }

  /** "alg:hex" of everything that went through; call once, after the stream ended. */
  async digest(): Promise<string> {
    this.#flush();
    this.#closed = true;
    const hex = await thread.close(this.#id);
    if (hex === undefined) throw new Error(`digest ${this.#id} was not open on the digest thread`);
    return `${this.algorithm}:${hex}`;
  }

  /** Frees the thread's hash when the stream failed and no digest will be asked for. */
  dispose(): void {
    if (this.#closed) return;
    this.#closed = true;
    thread.close(this.#id).catch(() => undefined);
  }

  #add(chunk: Buffer): void {
    for (let off = 0; off < chunk.length;) {
      this.#slab ??= Buffer.from(thread.slab());
      const n = Math.min(this.#slab.length - this.#used, chunk.length - off);
      chunk.copy(this.#slab, this.#used, off, off + n);
      this.#used += n;
      off += n;
      if (this.#used === this.#slab.length) this.#flush();
    }
  }

  #flush(): void {
    if (this.#slab !== undefined && this.#used > 0) thread.send(this.#id, this.#slab.buffer as ArrayBuffer, this.#used);
    this.#slab = undefined;
    this.#used = 0;
  }
}
