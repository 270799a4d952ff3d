/**
 * Attach through conmon's attach socket (DESIGN: Streaming; derisk §2, CRI-O
 * `AttachContainer`). The socket is SOCK_SEQPACKET: every packet from conmon is one stream
 * byte (2 = stdout, 3 = stderr; a TTY container sends everything as 2) followed by at most
 * 8 KiB of output. What we write is raw stdin for the container, in packets of at most
 * 32 KiB (conmon truncates larger ones). When the client closes stdin we shut down our
 * write side, exactly as CRI-O does: conmon then closes the container's stdin if the
 * container is `stdin_once`, and leaves it open otherwise (`--leave-stdin-open`). Terminal
 * resizes go to conmon's ctl FIFO as `1 HEIGHT WIDTH\n`.
 *
 * node-unix-socket facts this code respects: destroying the socket inside its own 'data'
 * callback aborts the process, so every destroy is deferred with setImmediate; the write
 * callback is often called synchronously, so each packet is awaited once and never resent.
 * The socket offers no way to pause reading, so attach output is not backpressured
 * beyond conmon's own buffering.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { SeqpacketSocket } from 'node-unix-socket';
import type { Op } from '../../lib/op.ts';
import { FailedPreconditionError } from '../../lib/errors.ts';

export interface ConmonAttachOptions {
  containerId: string;
  socketPath: string;
  ctlPath: string;
  tty: boolean;
  stdin: Readable | null;
  stdout: Writable | null;
  stderr: Writable | null;
  resize: AsyncIterable<{ width: number; height: number }> | null;
}

/** conmon's packet stream bytes (conmon `stdpipe_t`). */
const STDOUT_PIPE = 2;
const STDERR_PIPE = 3;
/** conmon reads stdin packets into a 32 KiB buffer; stay below it. */
const MAX_STDIN_PACKET = 32 * 1024 - 1;

/** Attaches until the container's output ends (it exited) or the client goes away. */
export async function attachConmon(op: Op, opts: ConmonAttachOptions): Promise<void> {
  const sock = new SeqpacketSocket();
  const closed = new Promise<void>((resolve) => {
    sock.once('close', () => resolve());
    sock.once('end', () => resolve());
  });
  await connect(sock, opts);

  let destroyed = false;
  const destroy = (): void => {
    if (destroyed) return;
    destroyed = true;
    setImmediate(() => sock.destroy());
  };
  sock.on('error', (err: Error) => {
    op.log.debug({ err }, 'Attach socket error');
    destroy();
  });
  sock.on('data', (packet: Buffer) => {
    if (packet.length < 2) return;
    const payload = packet.subarray(1);
    const target = packet[0] === STDERR_PIPE ? opts.stderr : packet[0] === STDOUT_PIPE ? opts.stdout : null;
    if (target !== null && !target.destroyed && !target.writableEnded) target.write(payload);
  });
  const onAbort = (): void => destroy();
  op.signal.addEventListener('abort', onAbort, { once: true });

  const stdinDone = opts.stdin ? pumpStdin(op, sock, opts.stdin, () => destroyed) : Promise.resolve();
  const resizeDone = opts.tty && opts.resize ? followResizes(op, opts.ctlPath, opts.resize, () => destroyed) : Promise.resolve();
  try {
    await closed;
  } finally {
    op.signal.removeEventListener('abort', onAbort);
    destroy();
    opts.stdin?.pause();
  }
  await Promise.race([Promise.allSettled([stdinDone, resizeDone]), new Promise((r) => setImmediate(r))]);
}

function connect(sock: SeqpacketSocket, opts: ConmonAttachOptions): Promise<void> {
  const refused = (err: unknown): FailedPreconditionError =>
    new FailedPreconditionError(`cannot attach to container "${opts.containerId}": its conmon is not running (${(err as Error).message ?? String(err)})`, { cause: err });
  return new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(refused(err));
    sock.once('error', onError);
    try {
      sock.connect(opts.socketPath, () => {
        sock.off('error', onError);
        resolve();
      });
    } catch (err) {
      sock.off('error', onError);
      reject(refused(err));
    }
  });
}

/** Copies stdin into the socket packet by packet, then half-closes it (see the file comment). */
async function pumpStdin(op: Op, sock: SeqpacketSocket, stdin: Readable, gone: () => boolean): Promise<void> {
  try {
    for await (const chunk of stdin as AsyncIterable<Buffer>) {
      for (let off = 0; off < chunk.length && !gone(); off += MAX_STDIN_PACKET) {
        const n = Math.min(MAX_STDIN_PACKET, chunk.length - off);
        await new Promise<void>((resolve) => sock.write(chunk, off, n, resolve));
      }
      if (gone()) return;
    }
    if (!gone()) sock.end();
  } catch (err) {
    op.log.debug({ err }, 'Attach stdin ended with an error');
  }
}

/** Applies client resizes through conmon's ctl FIFO (height first, conmon `ctrl_cb`). */
async function followResizes(op: Op, ctlPath: string, events: AsyncIterable<{ width: number; height: number }>, gone: () => boolean): Promise<void> {
  try {
    for await (const size of events) {
      if (gone()) return;
      if (size.width <= 0 || size.height <= 0) continue;
      // O_NONBLOCK: with conmon gone there is no reader and the open fails (ENXIO) instead of
      // blocking a thread-pool thread.
      const fh = await open(ctlPath, constants.O_WRONLY | constants.O_NONBLOCK);
      try {
        await fh.write(`1 ${Math.floor(size.height)} ${Math.floor(size.width)}\n`);
      } finally {
        await fh.close();
      }
    }
  } catch (err) {
    op.log.debug({ err }, 'Attach resize failed');
  }
}
