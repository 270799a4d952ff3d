/**
 * Server side of a SPDY/3.1 connection over any Duplex (an upgraded TCP/TLS socket, or a
 * WebSocket stream when port-forward tunnels SPDY inside WebSocket). Written for client-go's
 * spdystream, whose quirks shape it (derisk §4):
 * - spdystream has no flow control (it ignores SETTINGS and WINDOW_UPDATE and never sends
 *   WINDOW_UPDATE), so neither do we: backpressure is pausing the transport while any
 *   stream's readable side is full, exactly like spdystream/kubelet.
 * - Header blocks share one zlib context per direction. Node has no synchronous stateful
 *   inflate, so inflating is async and frames are handled strictly in arrival order.
 * - Every SYN_STREAM is answered with SYN_REPLY at once, in order, before `onStream` runs.
 */
import type { Duplex } from 'node:stream';
import zlib from 'node:zlib';
import type { Logger } from 'pino';
import { IdleTimer } from '../idle-timer.ts';
import { SPDY3_DICTIONARY } from './dictionary.ts';
import {
  FLAG_FIN, FrameType, GoawayStatus, MAX_DATA_PAYLOAD, RstStatus, SPDY_VERSION,
  decodeHeaderBlock, encodeControlFrame, encodeDataFrameHeader, encodeGoaway,
  encodeHeaderBlock, encodeRstStream, splitFrames, storedZlibHeaderBlock,
  type Headers, type RawFrame,
} from './frames.ts';
import { SpdyStream, type StreamOwner } from './stream.ts';

/** A header block larger than this once inflated is a protocol error (zlib bomb guard). */
const MAX_INFLATED_HEADER_BYTES = 256 * 1024;
/**
 * The largest frame a peer may send. SPDY allows 16 MiB, all buffered before it can be
 * parsed; spdystream writes what its caller writes (io.Copy: 32 KiB), so a bigger frame is
 * a hostile peer and ends the connection instead of growing the buffer (issue 12 class 5).
 */
const MAX_INBOUND_FRAME_BYTES = 4 * 1024 * 1024;
/** After our GOAWAY, how long the peer gets to close before we drop the transport. */
const CLOSE_GRACE_MS = 5_000;

export interface SpdyConnectionDeps {
  transport: Duplex;
  /** Bytes that arrived with the HTTP upgrade request, already past the headers. */
  head?: Buffer;
  log: Logger;
  /** Called for each new client stream, after its SYN_REPLY has been queued. */
  onStream: (stream: SpdyStream) => void;
  /** Close the connection when no DATA moved either way for this long; 0 = never. */
  idleTimeoutMs?: number;
}

export class SpdyConnection {
  readonly #transport: Duplex;
  readonly #log: Logger;
  readonly #onStream: (stream: SpdyStream) => void;
  readonly #streams = new Map<number, SpdyStream>();
  readonly #inflater = zlib.createInflate({ dictionary: SPDY3_DICTIONARY });
  readonly #owner: StreamOwner;
  readonly closed: Promise<void>;
  #markClosed!: () => void;
  #pending: Buffer = Buffer.alloc(0);
  #frames: RawFrame[] = [];
  #draining = false;
  #paused = false;
  #sentHeaderBlock = false;
  #lastStreamId = 0;
  #goawaySent = false;
  #torn = false;
  readonly #idle: IdleTimer;

  constructor(deps: SpdyConnectionDeps) {
    this.#transport = deps.transport;
    this.#log = deps.log;
    this.#onStream = deps.onStream;
    this.closed = new Promise((resolve) => { this.#markClosed = resolve; });
    this.#owner = this.#makeOwner();
    this.#idle = new IdleTimer({
      timeoutMs: deps.idleTimeoutMs ?? 0,
      onIdle: () => {
        this.#log.info({ idleTimeoutMs: deps.idleTimeoutMs }, 'Closing idle streaming connection');
        this.close();
        this.#teardown();
      },
    });
    this.#inflater.on('error', (err) => this.#protocolError(`header decompression failed: ${err.message}`));
    const t = this.#transport;
    t.on('data', (chunk: Buffer) => this.#onData(chunk));
    t.on('end', () => this.#teardown());
    t.on('close', () => this.#teardown());
    t.on('error', (err) => {
      this.#log.debug({ err }, 'Streaming connection error');
      this.#teardown();
    });
    if (deps.head && deps.head.length > 0) this.#onData(deps.head);
  }

  get isClosed(): boolean {
    return this.#torn || this.#goawaySent;
  }

  /** Sends GOAWAY and closes the transport (spdystream's Connection.Close). */
  close(status: number = GoawayStatus.OK): void {
    if (this.#torn || this.#goawaySent) return;
    this.#goawaySent = true;
    this.#transport.write(encodeGoaway(this.#lastStreamId, status));
    this.#transport.end();
    setTimeout(() => this.#transport.destroy(), CLOSE_GRACE_MS).unref();
  }

  /** Drops the transport without a GOAWAY (server shutdown). */
  destroy(): void {
    this.#transport.destroy();
    this.#teardown();
  }

  #makeOwner(): StreamOwner {
    // An object literal's getter has its own `this`; `alive` must read this connection's state.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    return {
      get alive() { return !self.#torn; },
      sendData: (id, payload, fin) => this.#sendData(id, payload, fin),
      sendReset: (id, status) => { this.#write(encodeRstStream(id, status)); },
      whenWritable: (cb) => this.#whenWritable(cb),
      resumeTransport: () => {
        // Any reader asking resumes the transport; a stream still full re-pauses on its next
        // push. Without this, a _read() fired inside push() before the pause flag was set
        // would leave the transport paused for good (derisk §4 gotcha 4).
        if (this.#paused) {
          this.#paused = false;
          this.#transport.resume();
        }
      },
      forget: (stream) => {
        if (this.#streams.get(stream.id) === stream) this.#streams.delete(stream.id);
      },
    };
  }

  #write(buf: Buffer): boolean {
    if (this.#torn) return true;
    return this.#transport.write(buf);
  }

  #sendData(id: number, payload: Buffer, fin: boolean): boolean {
    if (this.#torn) return true;
    this.#idle.touch();
    if (payload.length === 0) return this.#transport.write(encodeDataFrameHeader(id, fin ? FLAG_FIN : 0, 0));
    let ok = true;
    this.#transport.cork();
    for (let offset = 0; offset < payload.length; offset += MAX_DATA_PAYLOAD) {
      const piece = payload.subarray(offset, Math.min(payload.length, offset + MAX_DATA_PAYLOAD));
      const last = offset + piece.length >= payload.length;
      this.#transport.write(encodeDataFrameHeader(id, fin && last ? FLAG_FIN : 0, piece.length));
      ok = this.#transport.write(piece);
    }
    process.nextTick(() => this.#transport.uncork());
    return ok;
  }

  #whenWritable(cb: () => void): void {
    if (this.#torn || !this.#transport.writableNeedDrain) {
      cb();
      return;
    }
    const done = (): void => {
      this.#transport.off('drain', done);
      this.#transport.off('close', done);
      cb();
    };
    this.#transport.on('drain', done);
    this.#transport.on('close', done);
  }

  #onData(chunk: Buffer): void {
    const buf = this.#pending.length > 0 ? Buffer.concat([this.#pending, chunk]) : chunk;
    const { frames, rest } = splitFrames(buf);
    if (rest.length >= 8 && (rest.readUInt32BE(4) & 0xffffff) > MAX_INBOUND_FRAME_BYTES) {
      this.#pending = Buffer.alloc(0);
      this.#protocolError(`frame of ${rest.readUInt32BE(4) & 0xffffff} bytes exceeds ${MAX_INBOUND_FRAME_BYTES}`);
      return;
    }
    this.#pending = rest;
    for (const f of frames) this.#frames.push(f);
    void this.#drainFrames();
  }

  async #drainFrames(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    try {
      while (this.#frames.length > 0 && !this.#torn) {
        const frame = this.#frames.shift()!;
        try {
          await this.#handleFrame(frame);
        } catch (err) {
          this.#protocolError(err instanceof Error ? err.message : String(err));
        }
      }
    } finally {
      this.#draining = false;
    }
  }

  async #handleFrame(f: RawFrame): Promise<void> {
    if (!f.control) {
      this.#handleData(f);
      return;
    }
    if (f.version !== SPDY_VERSION) throw new Error(`unsupported SPDY version ${f.version}`);
    switch (f.type) {
      case FrameType.SYN_STREAM:
        return this.#handleSynStream(f);
      case FrameType.SYN_REPLY:
      case FrameType.HEADERS:
        // Unused, but the block must still pass through the inflater to keep its state in step.
        await this.#inflate(f.body.subarray(4));
        return;
      case FrameType.RST_STREAM:
        this.#streams.get(f.body.readUInt32BE(0) & 0x7fffffff)?.receiveReset();
        return;
      case FrameType.PING:
        // Echo the client's pings (odd ids); spdystream sends one every few seconds.
        if ((f.body.readUInt32BE(0) & 1) === 1) this.#write(encodeControlFrame(FrameType.PING, 0, f.body));
        return;
      case FrameType.GOAWAY:
        this.#log.debug('Streaming client sent GOAWAY');
        return;
      default:
        return; // SETTINGS, WINDOW_UPDATE: no flow control, see the file comment.
    }
  }

  #handleData(f: RawFrame): void {
    const stream = this.#streams.get(f.streamId);
    if (stream === undefined) return; // late DATA for a stream already gone
    this.#idle.touch();
    if (f.body.length > 0 && !stream.receiveData(f.body) && !stream.readRequested) {
      this.#paused = true;
      this.#transport.pause();
    }
    if ((f.flags & FLAG_FIN) !== 0) stream.receiveFin();
  }

  async #handleSynStream(f: RawFrame): Promise<void> {
    if (f.body.length < 10) throw new Error('short SYN_STREAM');
    const id = f.body.readUInt32BE(0) & 0x7fffffff;
    const headers = decodeHeaderBlock(await this.#inflate(f.body.subarray(10)));
    if (this.#torn) return;
    if (this.#goawaySent) {
      this.#write(encodeRstStream(id, RstStatus.REFUSED_STREAM));
      return;
    }
    if (id % 2 === 0 || id <= this.#lastStreamId) {
      this.#write(encodeRstStream(id, this.#streams.has(id) ? RstStatus.STREAM_IN_USE : RstStatus.PROTOCOL_ERROR));
      return;
    }
    this.#lastStreamId = id;
    const stream = new SpdyStream(this.#owner, id, headers);
    this.#streams.set(id, stream);
    this.#reply(id, {});
    if ((f.flags & FLAG_FIN) !== 0) stream.receiveFin();
    this.#onStream(stream);
  }

  #reply(id: number, headers: Headers): void {
    const idBytes = Buffer.allocUnsafe(4);
    idBytes.writeUInt32BE(id);
    const block = storedZlibHeaderBlock(encodeHeaderBlock(headers), !this.#sentHeaderBlock);
    this.#sentHeaderBlock = true;
    this.#write(encodeControlFrame(FrameType.SYN_REPLY, 0, Buffer.concat([idBytes, block])));
  }

  #inflate(block: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const onData = (d: Buffer): void => {
        size += d.length;
        chunks.push(d);
      };
      const onError = (err: Error): void => {
        this.#inflater.off('data', onData);
        reject(err);
      };
      this.#inflater.on('data', onData);
      this.#inflater.once('error', onError);
      this.#inflater.write(block);
      this.#inflater.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        this.#inflater.off('data', onData);
        this.#inflater.off('error', onError);
        if (size > MAX_INFLATED_HEADER_BYTES) reject(new Error(`header block over ${MAX_INFLATED_HEADER_BYTES} bytes`));
        else resolve(Buffer.concat(chunks));
      });
    });
  }

  #protocolError(message: string): void {
    if (this.#torn) return;
    this.#log.warn({ reason: message }, 'SPDY protocol error; closing the streaming connection');
    this.close(GoawayStatus.PROTOCOL_ERROR);
    this.#teardown();
  }

  #teardown(): void {
    if (this.#torn) return;
    this.#torn = true;
    this.#idle.stop();
    this.#inflater.destroy();
    for (const stream of [...this.#streams.values()]) stream.destroy();
    this.#streams.clear();
    this.#markClosed();
  }
}
