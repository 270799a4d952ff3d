/**
 * Records container exits (DESIGN "Process model"): conmon's exit file → status exited
 * with finished_at, exit code and reason (Completed, Error, OOMKilled as the kubelet
 * spells them, cri-api.md §4 item 16), then the file is deleted. Stop waits here for
 * the exit its signal causes.
 *
 * Ordering (issue 18 items 1 and 3): an exit that arrives while StartContainer is still
 * recording the start waits for it, so STARTED is always published before STOPPED and
 * started_at is never later than finished_at; concurrent reports of one exit (the exit
 * file and Stop's own fallback) share one recording, so one exit and one STOPPED event.
 */
import type { ContainerExit } from '../oci/exit-watcher.ts';
import { describeError } from '../lib/errors.ts';
import type { ContainerServiceDeps } from './container-deps.ts';
import type { ContainerRecord, ContainerStatusRecord } from './container-record.ts';
import { killCgroupProcesses, sharesPidNamespace } from './cgroup-kill.ts';

const REASON_COMPLETED = 'Completed';
const REASON_ERROR = 'Error';
const REASON_OOM_KILLED = 'OOMKilled';

function isLive(s: ContainerStatusRecord): boolean {
  return s.phase === 'running' || (s.phase === 'created' && s.pid > 0);
}

export class ExitTracker {
  readonly #deps: ContainerServiceDeps;
  readonly #waiters = new Map<string, Set<() => void>>();
  /** Starts being recorded, by container id: exits of those containers wait for them. */
  readonly #starting = new Map<string, Promise<void>>();
  /** Exits being recorded, by container id. */
  readonly #recording = new Map<string, Promise<void>>();

  constructor(deps: ContainerServiceDeps) {
    this.#deps = deps;
  }

  /** StartContainer is about to run the container; call the returned function once its start (or failure) is recorded. */
  beginStart(id: string): () => void {
    let end!: () => void;
    const started = new Promise<void>((resolve) => { end = resolve; });
    this.#starting.set(id, started);
    return () => {
      if (this.#starting.get(id) === started) this.#starting.delete(id);
      end();
    };
  }

  async handle(exit: ContainerExit): Promise<void> {
    await this.#starting.get(exit.id);
    const rec = this.#deps.records.get(exit.id);
    if (!rec) {
      // Not ours (yet): a create in flight has its record already, so this is stale.
      this.#deps.log.debug({ container: exit.id }, 'Exit file of an unknown container; removing it');
      await this.#deps.exitFiles.remove(exit.id).catch(() => undefined);
      return;
    }
    try {
      await this.record(exit.id, exit.exitCode, exit.exitedAtNs);
      await this.#deps.exitFiles.remove(exit.id);
    } catch (err) {
      this.#deps.log.error({ container: exit.id, err: describeError(err) }, 'Cannot record container exit');
    }
  }

  /**
   * Marks the container exited (once; a concurrent report of the same exit joins the first);
   * wakes Stop calls waiting for it. `message` (why the status is unknown) goes into the
   * same record update, so no caller ever sees the exit without it.
   */
  record(id: string, exitCode: number, exitedAtNs: bigint, message?: string): Promise<void> {
    const pending = this.#recording.get(id);
    if (pending) return pending;
    const recording = this.#recordOnce(id, exitCode, exitedAtNs, message).finally(() => this.#recording.delete(id));
    this.#recording.set(id, recording);
    return recording;
  }

  async #recordOnce(id: string, exitCode: number, exitedAtNs: bigint, message: string | undefined): Promise<void> {
    const rec = this.#deps.records.get(id);
    if (!rec) return;
    // Only a launched, live container exits: an exit file of a discarded launch (pid 0) is
    // not the container's end, a removed one is going, and an exited one already did.
    if (isLive(rec.status)) {
      const oom = await this.#deps.oom.wasOomKilled(rec.status.memoryCgroupDir).catch(() => false);
      const reason = oom ? REASON_OOM_KILLED : exitCode === 0 ? REASON_COMPLETED : REASON_ERROR;
      let changed = false;
      await this.#deps.records.update(id, (s) => {
        if (!isLive(s)) return s;
        changed = true;
        // A container that exits before it was started still has a start time of 0 (api.proto).
        return { ...s, phase: 'exited', exitCode, reason, finishedAt: exitedAtNs.toString(), startedAt: notAfter(s.startedAt, exitedAtNs), ...(message !== undefined ? { message } : {}) };
      });
      if (changed) await this.#killLeftovers(rec);
      const exited = this.#deps.records.get(id);
      if (changed && exited) {
        this.#deps.log.info({ container: id, exitCode, reason }, 'Container exited');
        if (oom) this.#deps.observer?.oomKilled(exited);
        this.#deps.observer?.lifecycle('stopped', exited);
      }
    }
    for (const wake of this.#waiters.get(id) ?? []) wake();
    this.#waiters.delete(id);
  }

  /**
   * Init is gone; without its own PID namespace its children are not (cgroup-kill.ts). They
   * are killed before Stop's waiters wake, so StopContainer answers with nothing left.
   */
  async #killLeftovers(rec: ContainerRecord): Promise<void> {
    if (!(await sharesPidNamespace(rec.metadata.bundle))) return;
    try {
      const n = await (this.#deps.killCgroup ?? killCgroupProcesses)(rec.status.memoryCgroupDir);
      if (n > 0) this.#deps.log.info({ container: rec.id, processes: n }, 'Killed processes left in the cgroup of a container without its own PID namespace');
    } catch (err) {
      this.#deps.log.warn({ container: rec.id, err: describeError(err) }, 'Cannot kill the processes left in the container\'s cgroup');
    }
  }

  /** Resolves true once the container has exited, false after `ms` or on abort. */
  waitFor(id: string, ms: number, signal: AbortSignal): Promise<boolean> {
    const exited = (): boolean => this.#deps.records.get(id)?.status.phase !== 'running' && this.#deps.records.get(id)?.status.phase !== 'created';
    if (exited()) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const set = this.#waiters.get(id) ?? new Set<() => void>();
      this.#waiters.set(id, set);
      const done = (value: boolean): void => {
        clearTimeout(timer);
        set.delete(wake);
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      };
      const wake = (): void => done(true);
      const onAbort = (): void => done(exited());
      const timer = setTimeout(() => done(exited()), ms);
      set.add(wake);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** A recorded start time (ns, decimal; '0' = never started) clamped to at most `limitNs`. */
export function notAfter(startedAt: string, limitNs: bigint): string {
  if (startedAt === '0' || startedAt === '') return startedAt;
  return BigInt(startedAt) > limitNs ? limitNs.toString() : startedAt;
}
