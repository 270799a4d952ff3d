/**
 * The event-loop side of layer extraction's filesystem thread (unpack-ops.ts): collects the
 * operations of each entry into batches with their bytes, hands them to a worker thread in
 * order and keeps at most MAX_IN_FLIGHT batches queued there, so memory stays bounded and
 * the tar stream waits (backpressure) when the disk is the slower side. Each layer being
 * extracted has a thread of its own; idle threads are kept for a while for the next pull.
 */
import { Worker } from 'node:worker_threads';
import type { FsBatch, FsOp, FsOpFailure, XattrRef } from './unpack-ops.ts';
import type { WorkerReply, WorkerRequest } from './unpack-fs-worker.ts';

/** A batch is sent when its bytes or its operations reach these. */
const BATCH_BYTES = 1024 * 1024;
const BATCH_OPS = 512;
/** Batches queued at the thread before the unpacker waits: at most ~4 MiB of file data. */
const MAX_IN_FLIGHT = 4;
/** An idle thread ends after this long (a pull's layers come in a burst). */
const IDLE_MS = 10_000;
/**
 * Batch buffers the threads handed back, for the next batches (no allocation, no GC churn
 * while layers extract); dropped when no layer is extracting, so an idle daemon keeps none.
 */
const spareBuffers: ArrayBuffer[] = [];
const MAX_SPARE_BUFFERS = 8;
let busyThreads = 0;

/** What an entry's filesystem operation failed with: the entry's name and the errno error. */
export class EntryFsError extends Error {
  readonly entry: string;
  readonly fsError: NodeJS.ErrnoException;
  constructor(entry: string, fsError: NodeJS.ErrnoException) {
    super(`layer entry ${entry}: ${fsError.message}`);
    this.entry = entry;
    this.fsError = fsError;
  }
}

type OpWithoutEntry = FsOp extends infer T ? (T extends FsOp ? Omit<T, 'e'> : never) : never;

interface Waiter { resolve(reply: WorkerReply): void; reject(err: Error): void }

/** One filesystem thread; replies come back in the order batches were sent. */
class FsThread {
  readonly #worker: Worker;
  readonly #waiting: Waiter[] = [];
  #stopped: Error | undefined;
  #idleTimer: NodeJS.Timeout | undefined;

  constructor() {
    const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
    this.#worker = new Worker(new URL(`./unpack-fs-worker${ext}`, import.meta.url));
    this.#worker.on('message', (reply: WorkerReply) => {
      if (reply.data.byteLength === BATCH_BYTES && spareBuffers.length < MAX_SPARE_BUFFERS) spareBuffers.push(reply.data);
      this.#waiting.shift()?.resolve(reply);
    });
    this.#worker.on('error', (err: Error) => this.#stop(err));
    this.#worker.on('exit', (code: number) => this.#stop(new Error(`layer extraction thread exited with code ${code}`)));
  }

  get usable(): boolean {
    return this.#stopped === undefined;
  }

  /** Sends a batch; resolves with the thread's reply to it. */
  run(batch: FsBatch): Promise<WorkerReply> {
    if (this.#stopped) return Promise.reject(this.#stopped);
    const req: WorkerRequest = { batch };
    this.#worker.postMessage(req, batch.data.byteLength > 0 ? [batch.data] : []);
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  /** Taken for a new layer: kept alive, and told to forget the last layer's failure. */
  busy(): void {
    clearTimeout(this.#idleTimer);
    this.#worker.ref();
    const req: WorkerRequest = { start: true };
    this.#worker.postMessage(req);
  }

  idle(onExpire: () => void): void {
    this.#worker.unref();
    this.#idleTimer = setTimeout(() => {
      onExpire();
      void this.#worker.terminate();
    }, IDLE_MS);
    this.#idleTimer.unref();
  }

  #stop(err: Error): void {
    this.#stopped ??= err;
    for (const w of this.#waiting.splice(0)) w.reject(this.#stopped);
  }
}

const idleThreads: FsThread[] = [];

function acquireThread(): FsThread {
  let thread: FsThread | undefined;
  while ((thread = idleThreads.pop()) !== undefined && !thread.usable);
  thread ??= new FsThread();
  thread.busy();
  busyThreads++;
  return thread;
}

function releaseThread(thread: FsThread): void {
  if (--busyThreads === 0) spareBuffers.length = 0;
  if (!thread.usable) return;
  idleThreads.push(thread);
  thread.idle(() => {
    const i = idleThreads.indexOf(thread);
    if (i >= 0) idleThreads.splice(i, 1);
  });
}

/** Plans one layer's filesystem operations and has a thread run them. Not reusable. */
export class FsOpWriter {
  readonly #thread = acquireThread();
  #released = false;
  #names: string[] = [];
  #ops: FsOp[] = [];
  #data: Buffer | undefined;
  #used = 0;
  /** One promise per batch at the thread, settled (never rejected) once its reply is in. */
  #inFlight: Array<Promise<void>> = [];
  #failure: EntryFsError | Error | undefined;

  /** The operations added from now on belong to the entry `name`. */
  entry(name: string): void {
    this.#names.push(name);
  }

  add(op: OpWithoutEntry): void {
    (op as FsOp).e = this.#names.length - 1;
    this.#ops.push(op as FsOp);
    if (this.#ops.length >= BATCH_OPS) this.#flush();
  }

  /** A whole file (its chunks and xattrs in one batch): create, write, owner, mode, xattrs, mtime. */
  file(op: { p: string; u: number; g: number; m: number; t: number }, chunks: readonly Buffer[], xattrs: Map<string, Buffer>): void {
    let n = 0;
    for (const c of chunks) n += c.length;
    let total = n;
    for (const v of xattrs.values()) total += v.length;
    if (this.#room() < total) this.#flush(total);
    const x = this.xattrs(xattrs);
    const o = this.#used;
    for (const c of chunks) this.#put(c);
    this.add(x ? { k: 'file', ...op, o, n, x } : { k: 'file', ...op, o, n });
  }

  /** Appends `chunk` to the file being created, across batches if it is large. */
  append(chunk: Buffer): void {
    for (let off = 0; off < chunk.length;) {
      if (this.#room() === 0) this.#flush();
      const n = Math.min(this.#room(), chunk.length - off);
      const o = this.#put(chunk.subarray(off, off + n));
      this.add({ k: 'append', o, n });
      off += n;
    }
  }

  /** Copies xattr values into the batch, to be referred to by the next operation. */
  xattrs(values: Map<string, Buffer>): XattrRef[] | undefined {
    if (values.size === 0) return undefined;
    let total = 0;
    for (const v of values.values()) total += v.length;
    if (this.#room() < total) this.#flush(total);
    return [...values].map(([name, v]) => [name, this.#put(v), v.length]);
  }

  /** Resolves when the thread has room for more; rejects with the first failure. */
  async drain(): Promise<void> {
    while (this.#inFlight.length >= MAX_IN_FLIGHT) await this.#settleOldest();
    if (this.#failure) throw this.#failure;
  }

  /** Sends what is left and waits for all of it. @throws EntryFsError for the first failed operation */
  async finish(): Promise<void> {
    this.#flush();
    while (this.#inFlight.length > 0) await this.#settleOldest();
    this.#release();
    if (this.#failure) throw this.#failure;
  }

  /** Stops after what the thread already has (nothing is left running on the directory). */
  async abandon(): Promise<void> {
    this.#ops = [];
    while (this.#inFlight.length > 0) await this.#settleOldest();
    this.#release();
  }

  #release(): void {
    if (this.#released) return;
    this.#released = true;
    releaseThread(this.#thread);
  }

  #room(): number {
    return this.#data === undefined ? BATCH_BYTES : this.#data.length - this.#used;
  }

  #put(bytes: Buffer): number {
    if (this.#data === undefined) {
      const spare = spareBuffers.pop();
      this.#data = spare ? Buffer.from(spare) : Buffer.allocUnsafeSlow(BATCH_BYTES);
    }
    const o = this.#used;
    bytes.copy(this.#data, o);
    this.#used += bytes.length;
    return o;
  }

  /** Sends the batch; the next one gets a data buffer of at least `nextBytes`. */
  #flush(nextBytes = 0): void {
    if (this.#ops.length > 0 && this.#failure === undefined) {
      // A spare or allocUnsafeSlow's memory: an ArrayBuffer of its own, never the shared pool's.
      const data = (this.#data?.buffer ?? new ArrayBuffer(0)) as ArrayBuffer;
      const batch: FsBatch = { names: this.#names, ops: this.#ops, data };
      const reply = this.#thread.run(batch);
      const names = this.#names;
      // Recorded as soon as it arrives, so the next drain() stops the unpacker at once.
      const settled = reply.then(({ failure }) => {
        if (failure) this.#failure ??= new EntryFsError(names[failure.entry] ?? '?', errnoError(failure));
      }, (err: unknown) => {
        this.#failure ??= err as Error;
      });
      this.#inFlight.push(settled);
      // Transferred with the batch.
      this.#data = undefined;
    }
    // After a failure nothing more is sent: what was planned is dropped with its bytes. The
    // room must come back either way, or append() would find none, forever (a pull onto a
    // full disk spun the event loop here once a failure arrived between two chunks).
    this.#used = 0;
    this.#ops = [];
    // The current entry may go on in the next batch: it keeps its name there.
    this.#names = this.#names.slice(-1);
    if (nextBytes > BATCH_BYTES) this.#data = Buffer.allocUnsafeSlow(nextBytes);
  }

  async #settleOldest(): Promise<void> {
    await this.#inFlight.shift();
  }
}

function errnoError(f: FsOpFailure): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(f.message);
  if (f.code !== undefined) err.code = f.code;
  if (f.errno !== undefined) err.errno = f.errno;
  if (f.syscall !== undefined) err.syscall = f.syscall;
  if (f.path !== undefined) err.path = f.path;
  return err;
}
