/**
 * The backstop of exit detection (issue 18 item 5): the exit watcher relies on inotify
 * events for conmon's exit files, and a missed event, a conmon killed before it wrote the
 * file, or an exit file written while the watch was being re-established would leave a
 * container RUNNING forever. Every few seconds each RUNNING container's init process is
 * checked in /proc (cheap: no runtime call for the healthy ones); for one that is gone:
 * - conmon still runs: it is about to write the exit file; the next round looks again, and
 *   after GRACE_ROUNDS rounds the persist-dir file is taken as it is;
 * - conmon is gone too: the exit is recorded from the persist-dir file, or as unknown.
 * The exit dir itself is rescanned first (the watcher's missed events).
 */
import type { Op } from '../lib/op.ts';
import { isSameProcess } from '../oci/process-identity.ts';
import type { ContainerServiceDeps } from './container-deps.ts';
import type { ContainerRecord } from './container-record.ts';
import { recordExitFromPersistDir } from './container-recovery.ts';
import type { ExitTracker } from './exit-tracker.ts';

/** Rounds a container may be seen without its process while conmon still runs. */
const GRACE_ROUNDS = 2;

export class ExitReconciler {
  readonly #deps: ContainerServiceDeps;
  readonly #exits: ExitTracker;
  /** Containers seen without their process, with the number of rounds so far. */
  readonly #suspects = new Map<string, number>();

  constructor(deps: ContainerServiceDeps, exits: ExitTracker) {
    this.#deps = deps;
    this.#exits = exits;
  }

  /** One round; `rescan` re-reads the exit dir (exits whose watch event was missed). */
  async run(op: Op, rescan: () => Promise<void> = async () => undefined): Promise<void> {
    await rescan();
    const alive = this.#deps.processAlive ?? isSameProcess;
    const running = this.#deps.records.list().filter((r) => r.status.phase === 'running' && r.status.pid > 0);
    const seen = new Set<string>();
    for (const rec of running) {
      seen.add(rec.id);
      if (await alive(rec.status.pid, rec.status.pidStartTime)) {
        this.#suspects.delete(rec.id);
        continue;
      }
      const rounds = (this.#suspects.get(rec.id) ?? 0) + 1;
      this.#suspects.set(rec.id, rounds);
      const conmonStart = rec.status.conmonPidStartTime ?? '';
      const conmonAlive = rec.status.conmonPid > 0 && conmonStart !== '' && await alive(rec.status.conmonPid, conmonStart);
      if (conmonAlive && rounds <= GRACE_ROUNDS) continue;
      await this.#recordGone(op, rec, conmonAlive);
    }
    for (const id of this.#suspects.keys()) if (!seen.has(id)) this.#suspects.delete(id);
  }

  async #recordGone(op: Op, rec: ContainerRecord, conmonAlive: boolean): Promise<void> {
    this.#suspects.delete(rec.id);
    op.log.warn({ container: rec.id, pid: rec.status.pid, conmonAlive }, 'Container process is gone but no exit was reported; recording it');
    const why = conmonAlive ? 'its conmon did not report the exit' : 'its conmon is gone';
    await recordExitFromPersistDir(this.#deps, op, this.#exits, rec, `the container's process ended and ${why}; its exit status is unknown`);
  }
}
