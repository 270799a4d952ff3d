/**
 * The test suite's own SPDY/3.1 client, written from the protocol (draft-mbelshe-httpbis-spdy-00)
 * and from what client-go's spdystream does, independently of the server's framing code, so
 * that a shared misunderstanding cannot make both sides agree. Unlike the server it compresses
 * header blocks with a real zlib deflate (the way every client does).
 */
import http from 'node:http';
import https from 'node:https';
import { Duplex, type Readable, type Writable } from 'node:stream';
import zlib from 'node:zlib';

const SPDY3_WORDS = [
  'options', 'head', 'post', 'put', 'delete', 'trace', 'accept', 'accept-charset', 'accept-encoding',
  'accept-language', 'accept-ranges', 'age', 'allow', 'authorization', 'cache-control', 'connection',
  'content-base', 'content-encoding', 'content-language', 'content-length', 'content-location',
  'content-md5', 'content-range', 'content-type', 'date', 'etag', 'expect', 'expires', 'from', 'host',
  'if-match', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since', 'last-modified',
  'location', 'max-forwards', 'pragma', 'proxy-authenticate', 'proxy-authorization', 'range', 'referer',
  'retry-after', 'server', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'vary', 'via',
  'warning', 'www-authenticate', 'method', 'get', 'status', '200 OK', 'version', 'HTTP/1.1', 'url',
  'public', 'set-cookie', 'keep-alive', 'origin',
];
const SPDY3_TAIL =
  '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505' +
  '203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized' +
  '403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable' +
  'Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT' +
  'chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,' +
  'text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.';

/** The SPDY/3 dictionary, rebuilt from the spec's word list (§2.6.10.1). */
export const SPDY3_DICTIONARY = Buffer.concat([
  ...SPDY3_WORDS.map((w) => {
    const b = Buffer.alloc(4 + w.length);
    b.writeUInt32BE(w.length);
    b.write(w, 4, 'latin1');
    return b;
  }),
  Buffer.from(SPDY3_TAIL, 'latin1'),
]);

const CONTROL = { SYN_STREAM: 1, SYN_REPLY: 2, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 9 };
const FIN = 1;
const CHUNK = 64 * 1024;

export class UpgradeRefusedError extends Error {
  readonly status: number;
  readonly body: string;
  constructor(status: number, body: string) {
    super(`upgrade refused: HTTP ${status}: ${body.trim()}`);
    this.status = status;
    this.body = body;
  }
}

/** HTTP upgrade exactly as client-go sends it: one X-Stream-Protocol-Version header per protocol. */
export function upgradeSpdy(url: string, protocols: string[]): Promise<{ socket: Duplex; head: Buffer; protocol: string }> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(u, {
      method: 'POST',
      rejectUnauthorized: false,
      headers: { Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': protocols },
    });
    req.on('upgrade', (res, socket, head) => {
      resolve({ socket, head, protocol: String(res.headers['x-stream-protocol-version'] ?? '') });
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => reject(new UpgradeRefusedError(res.statusCode ?? 0, body)));
    });
    req.on('error', reject);
    req.end();
  });
}

export class SpdyClientStream extends Duplex {
  readonly id: number;
  resetStatus: number | null = null;
  readonly #client: SpdyClient;
  constructor(client: SpdyClient, id: number) {
    super({ allowHalfOpen: true, highWaterMark: 128 * 1024 });
    this.#client = client;
    this.id = id;
  }
  override _read(): void { this.#client.wantMore(); }
  override _write(chunk: Buffer, _e: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.#client.sendData(this.id, chunk, false, cb);
  }
  override _final(cb: (e?: Error | null) => void): void {
    this.#client.sendData(this.id, Buffer.alloc(0), true, cb);
  }
}

interface Waiter { resolve: () => void; reject: (e: Error) => void }

export class SpdyClient {
  readonly transport: Duplex;
  /** Raw (compressed) header blocks of every SYN_REPLY received, for wire-format checks. */
  readonly replyHeaderBlocks: Buffer[] = [];
  goawayStatus: number | null = null;
  readonly closed: Promise<void>;
  #deflate = zlib.createDeflate({ dictionary: SPDY3_DICTIONARY });
  #inflate = zlib.createInflate({ dictionary: SPDY3_DICTIONARY });
  #nextStreamId = 1;
  #nextPingId = 1;
  #streams = new Map<number, SpdyClientStream>();
  #replies = new Map<number, Waiter>();
  #pings = new Map<number, () => void>();
  #buf = Buffer.alloc(0);
  #queue: Promise<void> = Promise.resolve();
  #sendQueue: Promise<void> = Promise.resolve();

  constructor(transport: Duplex, head?: Buffer) {
    this.transport = transport;
    this.closed = new Promise((resolve) => transport.once('close', () => resolve()));
    transport.on('data', (d: Buffer) => this.#receive(d));
    transport.on('error', () => undefined);
    // Frames already received are handled first: their header blocks inflate asynchronously.
    transport.once('close', () => {
      this.#queue = this.#queue.then(() => {
        for (const w of this.#replies.values()) w.reject(new Error('connection closed before SYN_REPLY'));
        for (const s of this.#streams.values()) if (!s.readableEnded) s.push(null);
      });
    });
    if (head && head.length > 0) this.#receive(head);
  }

  /** Opens a stream and waits for the server's SYN_REPLY (spdystream's CreateStream). */
  openStream(headers: Record<string, string>): Promise<SpdyClientStream> {
    const id = this.#nextStreamId;
    this.#nextStreamId += 2;
    const stream = new SpdyClientStream(this, id);
    this.#streams.set(id, stream);
    const replied = new Promise<void>((resolve, reject) => this.#replies.set(id, { resolve, reject }));
    this.#sendQueue = this.#sendQueue.then(async () => {
      const block = await this.#compress(headers);
      const body = Buffer.alloc(10);
      body.writeUInt32BE(id, 0);
      this.transport.write(control(CONTROL.SYN_STREAM, 0, Buffer.concat([body, block])));
    });
    return replied.then(() => stream);
  }

  ping(): Promise<void> {
    const id = this.#nextPingId;
    this.#nextPingId += 2;
    const body = Buffer.alloc(4);
    body.writeUInt32BE(id);
    return new Promise((resolve) => {
      this.#pings.set(id, resolve);
      this.transport.write(control(CONTROL.PING, 0, body));
    });
  }

  close(): void {
    const body = Buffer.alloc(8);
    this.transport.write(control(CONTROL.GOAWAY, 0, body));
    this.transport.end();
  }

  sendData(id: number, data: Buffer, fin: boolean, cb: (e?: Error | null) => void): void {
    // Keep ordering with SYN_STREAMs still being compressed.
    this.#sendQueue = this.#sendQueue.then(() => {
      let ok = true;
      if (data.length === 0) ok = this.transport.write(dataHeader(id, fin ? FIN : 0, 0));
      for (let o = 0; o < data.length; o += CHUNK) {
        const piece = data.subarray(o, o + CHUNK);
        this.transport.write(dataHeader(id, fin && o + CHUNK >= data.length ? FIN : 0, piece.length));
        ok = this.transport.write(piece);
      }
      if (ok || this.transport.destroyed) cb();
      else this.transport.once('drain', () => cb());
    });
  }

  wantMore(): void { this.transport.resume(); }

  #compress(headers: Record<string, string>): Promise<Buffer> {
    const parts: Buffer[] = [u32(Object.keys(headers).length)];
    for (const [k, v] of Object.entries(headers)) {
      for (const s of [k.toLowerCase(), v]) parts.push(u32(Buffer.byteLength(s)), Buffer.from(s));
    }
    return this.#zlib(this.#deflate, Buffer.concat(parts));
  }

  #zlib(z: zlib.Deflate | zlib.Inflate, input: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const out: Buffer[] = [];
      const onData = (d: Buffer): void => { out.push(d); };
      z.on('data', onData);
      z.once('error', reject);
      z.write(input);
      z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        z.off('data', onData);
        z.off('error', reject);
        resolve(Buffer.concat(out));
      });
    });
  }

  #receive(d: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, d]);
    while (this.#buf.length >= 8) {
      const len = this.#buf.readUInt32BE(4) & 0xffffff;
      if (this.#buf.length < 8 + len) break;
      const frame = this.#buf.subarray(0, 8 + len);
      this.#buf = this.#buf.subarray(8 + len);
      this.#queue = this.#queue.then(() => this.#handle(frame));
    }
  }

  async #handle(f: Buffer): Promise<void> {
    const flags = f[4]!;
    const body = f.subarray(8);
    if ((f[0]! & 0x80) === 0) {
      const s = this.#streams.get(f.readUInt32BE(0) & 0x7fffffff);
      if (!s) return;
      if (body.length > 0 && !s.push(Buffer.from(body))) {
        this.transport.pause();
        // The reader may have asked for more inside push(); do not stay paused then.
        if (s.readableLength < s.readableHighWaterMark) this.transport.resume();
      }
      if (flags & FIN) s.push(null);
      return;
    }
    if ((f.readUInt16BE(0) & 0x7fff) !== 3) throw new Error('server sent a non-SPDY/3 frame');
    switch (f.readUInt16BE(2)) {
      case CONTROL.SYN_REPLY: {
        const id = body.readUInt32BE(0) & 0x7fffffff;
        this.replyHeaderBlocks.push(Buffer.from(body.subarray(4)));
        await this.#zlib(this.#inflate, body.subarray(4)); // must inflate: shared zlib state
        this.#replies.get(id)?.resolve();
        this.#replies.delete(id);
        if (flags & FIN) this.#streams.get(id)?.push(null);
        return;
      }
      case CONTROL.RST_STREAM: {
        const id = body.readUInt32BE(0) & 0x7fffffff;
        const s = this.#streams.get(id);
        if (s) {
          s.resetStatus = body.readUInt32BE(4);
          if (!s.readableEnded) s.push(null);
        }
        this.#replies.get(id)?.reject(new Error(`stream ${id} reset with status ${body.readUInt32BE(4)}`));
        this.#replies.delete(id);
        return;
      }
      case CONTROL.PING:
        this.#pings.get(body.readUInt32BE(0))?.();
        return;
      case CONTROL.GOAWAY:
        this.goawayStatus = body.readUInt32BE(4);
        return;
      default:
        return;
    }
  }
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function control(type: number, flags: number, body: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x8003, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt32BE(((flags << 24) | body.length) >>> 0, 4);
  return Buffer.concat([h, body]);
}

function dataHeader(id: number, flags: number, len: number): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(id, 0);
  h.writeUInt32BE(((flags << 24) | len) >>> 0, 4);
  return h;
}

export function collect(r: Readable): Promise<Buffer> {
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    r.on('data', (d: Buffer) => out.push(d));
    r.once('end', () => resolve(Buffer.concat(out)));
    r.once('close', () => resolve(Buffer.concat(out)));
  });
}

export interface SpdyExecOptions {
  protocols?: string[];
  /** Data for stdin, then FIN; a Readable is piped. Absent = no stdin stream. */
  stdin?: string | Buffer | Readable;
  stdout?: boolean;
  stderr?: boolean;
  tty?: boolean;
  /** Sent on the resize stream, `resizeGapMs` apart. */
  resizes?: { Width: number; Height: number }[];
  resizeGapMs?: number;
  /** Where stdout goes instead of being collected. */
  stdoutSink?: Writable;
  /** Do not FIN stdin after the data (interactive clients keep it open). */
  keepStdinOpen?: boolean;
}

export interface SpdyExecResult {
  protocol: string;
  stdout: Buffer;
  stderr: Buffer;
  /** Everything read on the error stream. */
  status: string;
  client: SpdyClient;
}

/** Runs a remotecommand session the way client-go's streamProtocolV2..V4 does. */
export async function spdyExec(url: string, opts: SpdyExecOptions): Promise<SpdyExecResult> {
  const protocols = opts.protocols ?? ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];
  const { socket, head, protocol } = await upgradeSpdy(url, protocols);
  const client = new SpdyClient(socket, head);
  const open = (type: string): Promise<SpdyClientStream> => client.openStream({ streamtype: type });
  // client-go's order: error, stdin, stdout, stderr, then resize (v3+ with a TTY).
  const errorStream = await open('error');
  const stdin = opts.stdin !== undefined ? await open('stdin') : null;
  const stdout = opts.stdout !== false ? await open('stdout') : null;
  const stderr = opts.stderr !== false && !opts.tty ? await open('stderr') : null;
  const resize = opts.tty && protocol !== 'channel.k8s.io' && protocol !== 'v2.channel.k8s.io' ? await open('resize') : null;

  const statusP = collect(errorStream);
  const stdoutP = stdout ? (opts.stdoutSink ? pipeTo(stdout, opts.stdoutSink) : collect(stdout)) : Promise.resolve(Buffer.alloc(0));
  const stderrP = stderr ? collect(stderr) : Promise.resolve(Buffer.alloc(0));
  if (resize) {
    void (async () => {
      for (const size of opts.resizes ?? []) {
        resize.write(`${JSON.stringify(size)}\n`);
        await new Promise((r) => setTimeout(r, opts.resizeGapMs ?? 20));
      }
    })();
  }
  if (stdin && opts.stdin !== undefined) {
    stdin.resume(); // the server closes its side at the end; read that FIN
    if (typeof opts.stdin === 'string' || Buffer.isBuffer(opts.stdin)) {
      if (opts.keepStdinOpen) stdin.write(opts.stdin);
      else stdin.end(opts.stdin);
    } else {
      opts.stdin.pipe(stdin);
    }
  }
  const [out, err] = await Promise.all([stdoutP, stderrP]);
  const status = (await statusP).toString();
  return { protocol, stdout: out, stderr: err, status, client };
}

function pipeTo(r: Readable, w: Writable): Promise<Buffer> {
  return new Promise((resolve) => {
    r.pipe(w);
    w.once('finish', () => resolve(Buffer.alloc(0)));
  });
}

/** Opens one port-forward connection (error + data pair) as client-go's handleConnection does. */
export async function openPortForward(client: SpdyClient, port: number, requestId: number): Promise<{ data: SpdyClientStream; error: Promise<string> }> {
  const headers = { port: String(port), requestid: String(requestId) };
  const errorStream = await client.openStream({ ...headers, streamtype: 'error' });
  errorStream.end(); // client-go closes its side of the error stream at once
  const error = collect(errorStream).then((b) => b.toString());
  const data = await client.openStream({ ...headers, streamtype: 'data' });
  return { data, error };
}
