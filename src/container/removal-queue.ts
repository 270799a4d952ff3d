/**
 * Deleting removed containers' files after RemoveContainer has answered. Like containerd's
 * garbage collector, the work waits for a quiet moment: it starts once no removal has been
 * queued for `quietMs`, or `maxDelayMs` after the oldest pending one at the latest, and
 * handles one container at a time. A burst of removals (a node draining, the kubelet's
 * container GC) is answered at once, and its cleanup (runtime delete, unmount, deleting the
 * read-write layer) does not compete with the RPCs of the burst. Whoever needs the files
 * gone (RemovePodSandbox, RemoveImage) expedites the matching removals and waits for them.
 * The records say `removing` on disk, so a restart finishes what is still pending.
 */
import type { ContainerRecord } from './container-record.ts';

export interface RemovalQueueDeps {
  /** Deletes one container's files and record; must not throw (it logs). */
  teardown(rec: ContainerRecord): Promise<void>;
  quietMs: number;
  maxDelayMs: number;
}

interface Pending {
  rec: ContainerRecord;
  done?: Promise<void>;
}

export class RemovalQueue {
  readonly #deps: RemovalQueueDeps;
  readonly #pending = new Map<string, Pending>();
  #timer: NodeJS.Timeout | undefined;
  #oldestAt: number | undefined;
  /** The drains run one after the other. */
  #drains: Promise<void> = Promise.resolve();

  constructor(deps: RemovalQueueDeps) {
    this.#deps = deps;
  }

  add(rec: ContainerRecord): void {
    this.#pending.set(rec.id, { rec });
    const now = Date.now();
    this.#oldestAt ??= now;
    clearTimeout(this.#timer);
    const delay = Math.min(this.#deps.quietMs, Math.max(0, this.#oldestAt + this.#deps.maxDelayMs - now));
    this.#timer = setTimeout(() => this.#drain(), delay);
    this.#timer.unref();
  }

  /** Runs the pending removals `which` selects now (if not begun) and resolves once they are done. */
  async settle(which: (rec: ContainerRecord) => boolean): Promise<void> {
    await Promise.all([...this.#pending.values()].filter((p) => which(p.rec)).map((p) => this.#run(p)));
  }

  /** Stops scheduling (daemon shutdown); what is pending is finished by the next start's recovery. */
  close(): void {
    clearTimeout(this.#timer);
  }

  #drain(): void {
    this.#oldestAt = undefined;
    const batch = [...this.#pending.values()];
    this.#drains = this.#drains.then(async () => {
      for (const p of batch) await this.#run(p);
    });
  }

  #run(p: Pending): Promise<void> {
    p.done ??= this.#deps.teardown(p.rec).finally(() => this.#pending.delete(p.rec.id));
    return p.done;
  }
}
