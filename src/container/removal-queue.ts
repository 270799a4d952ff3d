/**
 * Deleting removed containers' files after RemoveContainer has answered. Like containerd's
 * garbage collector, the work waits for a quiet moment: it starts once no removal has been
 * queued for `quietMs`, or `maxDelayMs` after the oldest pending one at the latest, and
 * handles one container at a time. A burst of removals (a node draining, the kubelet's
 * container GC) is answered at once, and its cleanup (runtime delete, unmount, deleting the
 * read-write layer) does not compete with the RPCs of the burst. Whoever needs the files
 * gone (RemovePodSandbox, RemoveImage) expedites the matching removals and waits for them.
 * The records say `removing` on disk, so a restart finishes what is still pending.
 * A teardown that fails (EBUSY, a runtime that timed out) stays pending and is retried
 * with a doubling backoff (issue 18 item 4), never dropped until the next restart.
 */
import type { ContainerRecord } from './container-record.ts';
import { realSchedule, type Schedule } from './container-deps.ts';

export interface RemovalQueueDeps {
  /** Deletes one container's files and record; throws when it failed (the caller logged it) and should be retried. */
  teardown(rec: ContainerRecord): Promise<void>;
  quietMs: number;
  maxDelayMs: number;
  /** First retry delay after a failure; doubles per failure up to retryMaxMs. */
  retryMs?: number;
  retryMaxMs?: number;
  schedule?: Schedule;
}

interface Pending {
  rec: ContainerRecord;
  /** The attempt running now. */
  done?: Promise<void>;
  failures: number;
  cancelRetry?: () => void;
}

export class RemovalQueue {
  readonly #deps: RemovalQueueDeps;
  readonly #pending = new Map<string, Pending>();
  #cancelDrain: (() => void) | undefined;
  #oldestAt: number | undefined;
  /** The drains run one after the other. */
  #drains: Promise<void> = Promise.resolve();

  constructor(deps: RemovalQueueDeps) {
    this.#deps = deps;
  }

  #closed = false;

  add(rec: ContainerRecord): void {
    this.#pending.set(rec.id, { rec, failures: 0 });
    const now = Date.now();
    this.#oldestAt ??= now;
    this.#cancelDrain?.();
    const delay = Math.min(this.#deps.quietMs, Math.max(0, this.#oldestAt + this.#deps.maxDelayMs - now));
    this.#cancelDrain = (this.#deps.schedule ?? realSchedule)(() => this.#drain(), delay);
  }

  /** Runs the pending removals `which` selects now (if not begun) and resolves once that attempt is over (done, or failed and rescheduled). */
  async settle(which: (rec: ContainerRecord) => boolean): Promise<void> {
    await Promise.all([...this.#pending.values()].filter((p) => which(p.rec)).map((p) => this.#run(p)));
  }

  /** Stops scheduling (daemon shutdown); what is pending is finished by the next start's recovery. */
  close(): void {
    this.#closed = true;
    this.#cancelDrain?.();
    for (const p of this.#pending.values()) p.cancelRetry?.();
  }

  /** Ids whose removal is still pending (failed ones included). */
  pendingIds(): string[] {
    return [...this.#pending.keys()];
  }

  #drain(): void {
    this.#oldestAt = undefined;
    const batch = [...this.#pending.values()];
    this.#drains = this.#drains.then(async () => {
      for (const p of batch) await this.#run(p);
    });
  }

  #run(p: Pending): Promise<void> {
    p.cancelRetry?.();
    p.cancelRetry = undefined;
    p.done ??= this.#deps.teardown(p.rec).then(() => {
      this.#pending.delete(p.rec.id);
    }, () => {
      p.done = undefined;
      p.failures++;
      if (this.#closed) return;
      const base = this.#deps.retryMs ?? 1000;
      const wait = Math.min(this.#deps.retryMaxMs ?? 300_000, base * 2 ** (p.failures - 1));
      p.cancelRetry = (this.#deps.schedule ?? realSchedule)(() => {
        p.cancelRetry = undefined;
        void this.#run(p);
      }, wait);
    });
    return p.done;
  }
}
