/**
 * The daemon's life: checks → compose → bind the socket (answering UNAVAILABLE) →
 * start-up work → ready → … → on SIGTERM/SIGINT stop accepting, drain in-flight calls
 * (bounded), exit 0. Containers are never touched by shutdown: conmon, not this process,
 * is their parent (DESIGN: Process model).
 */
import { chmod, mkdir } from 'node:fs/promises';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.ts';
import { runHostChecks, type CheckResult } from '../host/checks.ts';
import { describeError, FailedPreconditionError } from '../lib/errors.ts';
import { InflightCalls, type AdaptDeps } from '../server/adapt.ts';
import { afterSentInterceptor } from '../server/after-sent.ts';
import { loadCri } from '../server/proto.ts';
import { registerCri } from '../server/register.ts';
import { rpcTable } from '../server/rpc-table.ts';
import { compose, type Composed } from './compose.ts';
import { prepareSocketPath, restrictSocket } from './socket.ts';
import { MetricsServer } from '../metrics/server.ts';
import { IdleTrimmer } from './idle-trim.ts';
import { mallocTrim } from '../storage/libc.ts';
import { bufferBytes, heapBytes, thoroughCollection } from './gc.ts';
import { sdNotify } from '../lib/sd-notify.ts';

/** The kubelet's CRI client allows 16 MiB messages (cri-api.md item 32); accept as much. */
const MAX_MESSAGE = 16 * 1024 * 1024;
/** Free malloc pages go back to the kernel after this long without a call finishing… */
const TRIM_QUIET_MS = 500;
/** …at most this often (src/daemon/idle-trim.ts). */
const TRIM_MIN_INTERVAL_MS = 5000;

export interface DaemonInput {
  loaded: LoadedConfig;
  log: Logger;
  version: string;
  /** systemd's $NOTIFY_SOCKET (Type=notify): told READY=1 once recovery is done, STOPPING=1 on stop. */
  notifySocket?: string | undefined;
}

export class Daemon {
  #input: DaemonInput;
  #server: Server | undefined;
  #composed: Composed | undefined;
  #ready = false;
  #inflight = new InflightCalls();
  #metricsServer: MetricsServer | undefined;
  #trimmer: IdleTrimmer | undefined;

  constructor(input: DaemonInput) {
    this.#input = input;
  }

  /** Runs until serving; throws (one clear message) when the host cannot run containers. */
  async start(): Promise<void> {
    const { config } = this.#input.loaded;
    const log = this.#input.log;
    const checks = await runHostChecks(config);
    refuseMissingHardRequirements(checks);
    for (const c of checks.filter((c) => !c.ok)) log.warn({ check: c.name, detail: c.detail, pkg: c.pkg }, 'Optional host prerequisite missing');
    await mkdir(config.root, { recursive: true, mode: 0o700 });
    // 0711 (containerd's state dir too): runc mounts a rootfs and its binds from inside a
    // pod's user namespace, whose root is an unprivileged host id that must pass through.
    // Nothing in it is listable, and what is private keeps its own 0700 or 0600.
    await mkdir(config.run_root, { recursive: true, mode: 0o711 });
    await chmod(config.run_root, 0o711);
    this.#composed = await compose({ loaded: this.#input.loaded, log, version: this.#input.version, hostChecks: checks });
    const metrics = this.#composed.metrics;
    const trimmer = new IdleTrimmer({ trim: mallocTrim, collect: thoroughCollection, bufferBytes, heapBytes, quietMs: TRIM_QUIET_MS, minIntervalMs: TRIM_MIN_INTERVAL_MS, log });
    this.#trimmer = trimmer;
    const observer = { observe(rpc: string, code: string, seconds: number) { metrics.observe(rpc, code, seconds); trimmer.observe(); } };
    const deps: AdaptDeps = { log, readiness: { ready: () => this.#ready }, inflight: this.#inflight, observer };
    const server = new Server({ 'grpc.max_receive_message_length': MAX_MESSAGE, 'grpc.max_send_message_length': MAX_MESSAGE, interceptors: [afterSentInterceptor] });
    const names = registerCri(server, loadCri(), rpcTable(this.#composed.services), deps);
    await prepareSocketPath(config.socket);
    await new Promise<void>((resolve, reject) => {
      server.bindAsync(`unix://${config.socket}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve()));
    });
    await restrictSocket(config.socket);
    this.#server = server;
    log.info({ socket: config.socket, rpcs: names.length }, 'Listening; finishing start-up work');
    await this.#composed.start();
    if (config.metrics.enabled) {
      this.#metricsServer = new MetricsServer({ metrics: this.#composed.metrics, address: config.metrics.address, port: config.metrics.port, log });
      await this.#metricsServer.start();
    }
    this.#ready = true;
    await this.#composed.admin.start();
    log.info({ socket: config.socket, version: this.#input.version }, 'critter is ready');
    this.#notify('READY=1\nSTATUS=serving CRI');
  }

  /** A failed notification is logged, never fatal: systemd then times the start out itself. */
  #notify(state: string): void {
    const socket = this.#input.notifySocket;
    if (socket === undefined) return;
    try {
      sdNotify(socket, state);
    } catch (err) {
      this.#input.log.warn({ err: describeError(err), state }, 'Cannot notify systemd');
    }
  }

  /** Applies the reloadable keys of `next` (SIGHUP). */
  async reload(next: LoadedConfig): Promise<void> {
    await this.#composed?.reload(next.config);
  }

  /** Stops accepting, waits for in-flight calls up to the shutdown timeout, releases services. */
  async stop(): Promise<void> {
    const log = this.#input.log;
    const server = this.#server;
    this.#ready = false;
    this.#notify('STOPPING=1');
    await this.#composed?.admin.close();
    if (server) {
      const timeoutMs = this.#input.loaded.config.shutdown_timeout_seconds * 1000;
      log.info({ inflight: this.#inflight.count, timeoutMs }, 'Shutting down: no new calls, draining in-flight ones');
      const closed = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      // A GetContainerEvents subscriber never ends its call by itself.
      this.#composed?.endStreams();
      const drained = await this.#inflight.drain(timeoutMs);
      if (!drained) log.warn({ inflight: this.#inflight.count }, 'Shutdown timeout passed; cancelling the calls still running');
      server.forceShutdown();
      await closed;
    }
    this.#trimmer?.close();
    await this.#metricsServer?.close();
    await this.#composed?.close();
    log.info('critter stopped; containers keep running under conmon');
  }
}

function refuseMissingHardRequirements(checks: readonly CheckResult[]): void {
  const missing = checks.filter((c) => c.required && !c.ok);
  if (missing.length) {
    throw new FailedPreconditionError(
      `missing host prerequisites: ${missing.map((c) => `${c.name} (${c.detail}; Debian package ${c.pkg})`).join(', ')}; run "critter check"`,
    );
  }
}
