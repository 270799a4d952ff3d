/**
 * Port-forward dialling: one TCP connection to 127.0.0.1:PORT inside a pod's network
 * namespace per forwarded client connection (DESIGN: Streaming; cri-api item 25).
 *
 * How: `nsenter --net=NETNS socat -t T STDIO TCP4:127.0.0.1:PORT`, with the child's stdio
 * as the client's stream (CRI-O's `PortForwardContainer` does the same with socat).
 * Entering the namespace in a short-lived child keeps the daemon's own threads out of pod
 * namespaces: `setns()` from Node would move a libuv or main thread, and every socket Node
 * opens afterwards on it, into the pod. A host-network pod has no namespace of its own, and
 * socat runs without nsenter. The child costs a few milliseconds per connection, which the
 * streaming benchmark measures.
 *
 * The child is spawned here rather than through lib/exec.ts because its stdio is the
 * forwarded connection.
 */
import { spawn } from 'node:child_process';
import type { Duplex } from 'node:stream';
import type { Op } from '../lib/op.ts';

export interface PortForwarderDeps {
  /** Default `socat` (PATH). */
  socatPath?: string;
  /** Default `nsenter` (PATH). */
  nsenterPath?: string;
  /** After one direction ends, how long socat keeps the other open (its `-t`); default 15 s. */
  halfCloseTimeoutSec?: number;
}

export interface PortForwardTarget {
  podId: string;
  /** The pod's pinned network namespace file; null for a host-network pod. */
  netnsPath: string | null;
  port: number;
  /** The client's connection; ended here once the target closes its side. */
  stream: Duplex;
}

/** socat prints at most a few lines; keep a bounded tail for the error message. */
const MAX_STDERR = 4096;

export class PortForwarder {
  readonly #socat: string;
  readonly #nsenter: string;
  readonly #halfClose: number;

  constructor(deps: PortForwarderDeps = {}) {
    this.#socat = deps.socatPath ?? 'socat';
    this.#nsenter = deps.nsenterPath ?? 'nsenter';
    this.#halfClose = deps.halfCloseTimeoutSec ?? 15;
  }

  /**
   * Connects `target.stream` to the port and copies both ways until both sides are done.
   * Rejects with a message naming the port and pod when the dial fails (the client shows
   * it); the stream is then left for the caller to end after reporting the error.
   */
  async forward(op: Op, target: PortForwardTarget): Promise<void> {
    const socatArgs = ['-t', String(this.#halfClose), 'STDIO', `TCP4:127.0.0.1:${target.port}`];
    const [file, args] = target.netnsPath === null
      ? [this.#socat, socatArgs]
      : [this.#nsenter, [`--net=${target.netnsPath}`, this.#socat, ...socatArgs]];
    const where = target.netnsPath === null ? `in the host network of pod ${target.podId}` : `in the network namespace of pod ${target.podId}`;
    if (op.signal.aborted) throw op.signal.reason instanceof Error ? op.signal.reason : new Error('port-forward aborted');
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const { stream } = target;
    let stderr = '';
    let received = 0;
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < MAX_STDERR) stderr += d.toString('utf8');
    });
    child.stdin.on('error', () => undefined); // EPIPE once socat has gone
    stream.pipe(child.stdin);
    child.stdout.on('data', (d: Buffer) => { received += d.length; });
    // Not ended by the pipe: on a failed dial the caller reports the error first.
    child.stdout.pipe(stream, { end: false });
    const onAbort = (): void => { child.kill('SIGKILL'); };
    op.signal.addEventListener('abort', onAbort, { once: true });
    let code: number | null;
    try {
      code = await new Promise<number | null>((resolve, reject) => {
        child.once('error', reject);
        child.once('close', (c) => resolve(c));
      });
    } finally {
      op.signal.removeEventListener('abort', onAbort);
      stream.unpipe(child.stdin);
    }
    if (op.signal.aborted) return;
    if (code !== 0) {
      const detail = socatReason(stderr);
      if (received === 0) {
        throw new Error(`cannot connect to 127.0.0.1:${target.port} ${where}: ${detail}`);
      }
      op.log.debug({ port: target.port, detail }, 'Port-forward connection ended with an error');
    }
    if (!stream.destroyed && !stream.writableEnded) stream.end();
  }
}

/** socat's error lines look like `2024/01/01 00:00:00 socat[12] E connect(5, AF=2 127.0.0.1:81, 16): Connection refused`. */
export function socatReason(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const errorLine = lines.find((l) => / [EF] /.test(l)) ?? lines[0];
  if (errorLine === undefined) return 'the connection failed';
  const m = / [EF] (.*)$/.exec(errorLine);
  const text = m ? m[1]! : errorLine;
  const reason = /: ([^:]+)$/.exec(text);
  if (reason && /refused|unreachable|timed out|no route/i.test(reason[1]!)) return reason[1]!.toLowerCase();
  return text;
}
