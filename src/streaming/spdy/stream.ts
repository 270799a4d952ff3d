/**
 * One SPDY stream as a Node Duplex: the readable side carries the client's DATA, the writable
 * side becomes our DATA frames, `end()` sends FIN. The connection feeds it through
 * `StreamOwner`, which keeps the connection's internals out of the public surface.
 */
import { Duplex } from 'node:stream';
import type { Headers } from './frames.ts';

/** Readable-side buffer per stream before the transport is paused (backpressure). */
const STREAM_HIGH_WATER_MARK = 256 * 1024;

/** What a stream needs from its connection. */
export interface StreamOwner {
  /** Writes DATA frames for `payload` (cut to the frame limit); false = transport is full. */
  sendData(streamId: number, payload: Buffer, fin: boolean): boolean;
  sendReset(streamId: number, status: number): void;
  /** Calls `cb` once the transport drains (or dies); immediately if it is not full. */
  whenWritable(cb: () => void): void;
  /** A stream's reader wants more: resume the transport if it was paused. */
  resumeTransport(): void;
  /** The stream is finished in both directions or destroyed; forget it. */
  forget(stream: SpdyStream): void;
  readonly alive: boolean;
}

export class SpdyStream extends Duplex {
  readonly id: number;
  readonly headers: Headers;
  readonly #owner: StreamOwner;
  #remoteFin = false;
  #localFin = false;
  #peerNotified = false;
  /** Set by _read; tells the connection a push() that returned false was already answered. */
  readRequested = false;

  constructor(owner: StreamOwner, id: number, headers: Headers) {
    super({ allowHalfOpen: true, highWaterMark: STREAM_HIGH_WATER_MARK });
    this.#owner = owner;
    this.id = id;
    this.headers = headers;
  }

  get remoteFinished(): boolean {
    return this.#remoteFin;
  }

  /** Sends RST_STREAM and drops the stream (spdystream's Stream.Reset). */
  reset(status: number): void {
    if (!this.destroyed && this.#owner.alive && !this.#peerNotified) this.#owner.sendReset(this.id, status);
    this.#peerNotified = true;
    this.destroy();
  }

  /** Connection side: DATA arrived for this stream. Returns push()'s verdict. */
  receiveData(payload: Buffer): boolean {
    if (this.#remoteFin || this.destroyed) return true;
    this.readRequested = false;
    return this.push(payload);
  }

  /** Connection side: FIN arrived (on DATA or SYN_STREAM). */
  receiveFin(): void {
    if (this.#remoteFin) return;
    this.#remoteFin = true;
    this.push(null);
    if (this.#localFin) this.#owner.forget(this);
  }

  /** Connection side: the peer reset the stream. */
  receiveReset(): void {
    this.#peerNotified = true;
    this.destroy();
  }

  override _read(): void {
    this.readRequested = true;
    this.#owner.resumeTransport();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (!this.#owner.alive) {
      cb(new Error(`SPDY stream ${this.id}: connection closed`));
      return;
    }
    if (this.#owner.sendData(this.id, chunk, false)) cb();
    else this.#owner.whenWritable(() => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.#localFin = true;
    if (this.#owner.alive) this.#owner.sendData(this.id, Buffer.alloc(0), true);
    if (this.#remoteFin) this.#owner.forget(this);
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // A stream dropped before both sides finished would leave the client waiting forever.
    if (!this.#peerNotified && !(this.#localFin && this.#remoteFin) && this.#owner.alive) {
      this.#owner.sendReset(this.id, 5 /* CANCEL */);
    }
    this.#owner.forget(this);
    cb(err);
  }
}
