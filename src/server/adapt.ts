/**
 * Turns async service-facing handlers into grpc-js handlers: one place for the readiness
 * gate, the per-call Op (abort signal from cancellation and deadline, child logger), the
 * one-line-per-RPC log, metrics and in-flight tracking for a draining shutdown.
 * A rejected handler always reaches the client as a mapped status, never as UNKNOWN
 * from an unhandled rejection.
 */
import { status as Code, type ServerUnaryCall, type ServerWritableStream, type sendUnaryData } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Op } from '../lib/op.ts';
import { UnavailableError } from '../lib/errors.ts';
import { toStatus, toServiceError, codeName } from './status.ts';
import { capMessage } from '../lib/shown.ts';

/** A unary handler as written in server/*.ts files. */
export type UnaryHandler<Req, Res> = (req: Req, op: Op) => Promise<Res>;
/** A server-streaming handler: yields response messages until done. */
export type StreamHandler<Req, Res> = (req: Req, op: Op) => AsyncIterable<Res>;

/** Observes every RPC's outcome (the metrics module implements it). */
export interface RpcObserver {
  observe(rpc: string, code: string, seconds: number): void;
}

/** Tells whether start-up work (recovery) is done. */
interface Readiness {
  ready(): boolean;
}

export interface AdaptDeps {
  log: Logger;
  readiness: Readiness;
  observer?: RpcObserver;
  inflight: InflightCalls;
}

/** Counts calls in progress so shutdown can wait for them, bounded. */
export class InflightCalls {
  #count = 0;
  #waiters: (() => void)[] = [];

  enter(): void {
    this.#count++;
  }

  leave(): void {
    this.#count--;
    if (this.#count === 0) for (const w of this.#waiters.splice(0)) w();
  }

  get count(): number {
    return this.#count;
  }

  /** Resolves when no call is in flight or `timeoutMs` passed; true when drained. */
  drain(timeoutMs: number): Promise<boolean> {
    if (this.#count === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      this.#waiters.push(() => { clearTimeout(t); resolve(true); });
    });
  }
}

type AnyCall = ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>;

/** Request ids for log lines: a counter is enough to tell concurrent calls apart, and free. */
let lastRequestId = 0;

function makeOp(rpc: string, call: AnyCall, deps: AdaptDeps): { op: Op; done: () => void } {
  const controller = new AbortController();
  const onCancel = (): void => controller.abort(new DOMException(`${rpc} cancelled by the client`, 'AbortError'));
  call.on('cancelled', onCancel);
  const deadline = call.getDeadline();
  const ms = deadline instanceof Date ? deadline.getTime() - Date.now() : typeof deadline === 'number' && Number.isFinite(deadline) ? deadline - Date.now() : Infinity;
  // One timer on the call's own controller: AbortSignal.timeout + AbortSignal.any cost
  // ~35 µs per call here, for the same TimeoutError reason (status.ts maps it).
  const timer = Number.isFinite(ms)
    ? setTimeout(() => controller.abort(new DOMException(`${rpc} exceeded its deadline`, 'TimeoutError')), Math.max(ms, 0)).unref()
    : undefined;
  lastRequestId = (lastRequestId + 1) % Number.MAX_SAFE_INTEGER;
  const reqId = lastRequestId;
  // The child logger is made on first use: most calls log nothing at the default level,
  // and a pino child per call was a measurable share of a cheap RPC's cost.
  let log: Logger | undefined;
  return {
    op: { get log() { return (log ??= deps.log.child({ rpc, reqId: reqId.toString(36) })); }, signal: controller.signal },
    done: () => {
      clearTimeout(timer);
      call.removeListener('cancelled', onCancel);
    },
  };
}

function finish(rpc: string, op: Op, deps: AdaptDeps, started: bigint, err: unknown): { code: Code; details: string } {
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const ms = Math.round(seconds * 1e6) / 1e3;
  if (err === undefined) {
    if (deps.log.isLevelEnabled('debug')) op.log.debug({ ms }, 'RPC succeeded');
    deps.observer?.observe(rpc, 'OK', seconds);
    return { code: Code.OK, details: '' };
  }
  const s = toStatus(err, op.signal);
  const name = codeName(s.code);
  // The details are already capped (status.ts); the stack is capped too, so no log line
  // grows with what a client sent (issue 12 class 3).
  if (!s.known) op.log.error({ ms, code: name, err: boundedError(err, s.details) }, 'RPC failed with an unexpected error');
  else if (s.code === Code.NOT_FOUND || s.code === Code.UNIMPLEMENTED) op.log.debug({ ms, code: name, details: s.details }, 'RPC failed');
  else op.log.warn({ ms, code: name, details: s.details }, 'RPC failed');
  deps.observer?.observe(rpc, name, seconds);
  return s;
}

function boundedError(err: unknown, details: string): { type: string; message: string; stack?: string } {
  if (!(err instanceof Error)) return { type: typeof err, message: details };
  return { type: err.name, message: details, ...(err.stack ? { stack: capMessage(err.stack, 8192) } : {}) };
}

/** Wraps a unary handler for grpc-js. */
export function unary<Req, Res>(rpc: string, deps: AdaptDeps, fn: UnaryHandler<Req, Res>) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
    const started = process.hrtime.bigint();
    const { op, done } = makeOp(rpc, call, deps);
    deps.inflight.enter();
    const run = async (): Promise<Res> => {
      if (!deps.readiness.ready()) throw new UnavailableError(`${rpc}: critter is starting up (recovering state); retry shortly`);
      return fn(call.request, op);
    };
    run().then(
      (res) => {
        finish(rpc, op, deps, started, undefined);
        callback(null, res);
      },
      (err: unknown) => {
        const s = finish(rpc, op, deps, started, err ?? new Error('handler rejected without a reason'));
        callback(toServiceError({ ...s, known: true }));
      },
    ).finally(() => {
      done();
      deps.inflight.leave();
    });
  };
}

/** Resolves when the stream can take more, or rejects when the call is cancelled meanwhile. */
function writable(call: ServerWritableStream<unknown, unknown>, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (): void => {
      call.off('drain', onDrain);
      signal.removeEventListener('abort', onAbort);
    };
    const onDrain = (): void => { done(); resolve(); };
    const onAbort = (): void => { done(); reject(signal.reason); };
    call.once('drain', onDrain);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Wraps a server-streaming handler for grpc-js, honouring backpressure on write. */
export function serverStream<Req, Res>(rpc: string, deps: AdaptDeps, fn: StreamHandler<Req, Res>) {
  return (call: ServerWritableStream<Req, Res>): void => {
    const started = process.hrtime.bigint();
    const { op, done } = makeOp(rpc, call, deps);
    deps.inflight.enter();
    const run = async (): Promise<void> => {
      if (!deps.readiness.ready()) throw new UnavailableError(`${rpc}: critter is starting up (recovering state); retry shortly`);
      for await (const item of fn(call.request, op)) {
        if (op.signal.aborted) throw op.signal.reason;
        if (!call.write(item)) await writable(call, op.signal);
      }
    };
    run().then(
      () => {
        finish(rpc, op, deps, started, undefined);
        call.end();
      },
      (err: unknown) => {
        const s = finish(rpc, op, deps, started, err ?? new Error('handler rejected without a reason'));
        if (!call.cancelled) call.emit('error', toServiceError({ ...s, known: true }));
      },
    ).finally(() => {
      done();
      deps.inflight.leave();
    });
  };
}
