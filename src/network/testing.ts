/**
 * FakeCni for unit tests of sandbox/ (DESIGN convention 7): records calls, hands out
 * addresses from a counter, and fails on demand.
 */
import type { Op } from '../lib/op.ts';
import type { NetworkReadiness } from './cni-config.ts';
import type { AttachResult, Cni, PodAttachment } from './cni-types.ts';

export class FakeCni implements Cni {
  calls: Array<{ method: 'setUp' | 'tearDown' | 'gc'; podId?: string }> = [];
  attached = new Map<string, string>();
  ready: NetworkReadiness = { ready: true, reason: '', message: '' };
  /** Set to make the next setUp / tearDown calls throw. */
  failSetUp: Error | undefined;
  failTearDown: Error | undefined;
  #next = 2;
  #gate: { reached: () => void; opened: Promise<void> } | undefined;

  /**
   * Makes the next setUp calls wait, after taking their address, until `open()` (or until
   * their signal aborts, as a real plugin is killed): a CNI ADD slower than any deadline.
   * `reached` resolves when a setUp is waiting.
   */
  gateSetUp(): { reached: Promise<void>; open: () => void } {
    let reached!: () => void;
    let open!: () => void;
    const reachedP = new Promise<void>((resolve) => { reached = resolve; });
    const opened = new Promise<void>((resolve) => { open = resolve; });
    this.#gate = { reached, opened };
    return { reached: reachedP, open: () => { this.#gate = undefined; open(); } };
  }

  readiness(): NetworkReadiness {
    return this.ready;
  }

  async setUp(op: Op, a: PodAttachment): Promise<AttachResult> {
    this.calls.push({ method: 'setUp', podId: a.podId });
    const ip = `10.99.0.${this.#next++}`;
    // Like the real manager, the attachment is recorded before the plugins can fail.
    this.attached.set(a.podId, ip);
    const gate = this.#gate;
    if (gate) {
      gate.reached();
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => reject(op.signal.reason as Error);
        if (op.signal.aborted) onAbort();
        op.signal.addEventListener('abort', onAbort, { once: true });
        void gate.opened.then(() => { op.signal.removeEventListener('abort', onAbort); resolve(); });
      });
    }
    if (this.failSetUp) throw this.failSetUp;
    return { network: 'fake', ips: [ip], result: { ips: [{ address: `${ip}/24` }] } };
  }

  async tearDown(_op: Op, a: PodAttachment): Promise<void> {
    this.calls.push({ method: 'tearDown', podId: a.podId });
    if (this.failTearDown) throw this.failTearDown;
    this.attached.delete(a.podId);
  }

  async gc(_op: Op, live: ReadonlySet<string>): Promise<void> {
    this.calls.push({ method: 'gc' });
    for (const id of [...this.attached.keys()]) if (!live.has(id)) this.attached.delete(id);
  }
}
