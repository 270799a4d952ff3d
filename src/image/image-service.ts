/**
 * The image service behind the CRI ImageService: pull (short names through
 * registries.conf, identical concurrent pulls shared), look-up by id, tag or digest,
 * list, remove (every name of the image, refused while a container uses it) and the
 * image filesystem's usage.
 */
import type { Op } from '../lib/op.ts';
import { FailedPreconditionError, NotFoundError } from '../lib/errors.ts';
import type { Store, ImageRecord, StorageUsage } from '../storage/store.ts';
import { credentialsFingerprint, type RegistryCredentials } from './auth.ts';
import { formatReference, parseReference } from './reference.ts';
import type { RegistriesConf } from './registries-conf.ts';
import type { RegistryClient } from './registry/registry-client.ts';
import { ProgressFanout, pullResolved, type PullProgress } from './pull.ts';
import { findLocalImage } from './image-lookup.ts';
import { shown } from '../lib/shown.ts';

export interface ImageServiceDeps {
  store: Store;
  /** Current registry client and registries.conf (both replaced on SIGHUP). */
  registry: () => { client: RegistryClient; conf: RegistriesConf };
  maxParallelLayers: number;
  /** Images reported as pinned (config `image.pinned_images`, the pause image). */
  pinned: () => readonly string[];
}

/** Told about every pull (metrics): start, end with outcome, and layer bytes downloaded. */
export interface PullObserver {
  started(): void;
  finished(outcome: 'success' | 'failure', reason: string): void;
  bytes(n: number): void;
}

/** The failure reason label: the error's stable code without its prefix (NOT_FOUND, UNAVAILABLE…). */
function pullFailureReason(err: unknown, signal: AbortSignal): string {
  if (signal.aborted) return 'CANCELLED';
  const code = typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : '';
  return code.startsWith('CRI_ERR_') ? code.slice('CRI_ERR_'.length) : 'UNKNOWN';
}

/** An image with what CRI reports about it. */
export interface ImageView {
  record: ImageRecord;
  pinned: boolean;
  /** The config's User, for uid/username. */
  user: string;
}

export class ImageService {
  readonly #deps: ImageServiceDeps;
  readonly #inflight = new Map<string, SharedPull>();
  /**
   * Config User by image id. A config is immutable (the id is its digest), and the kubelet
   * lists images every few seconds: read each config once, not once per ListImages.
   */
  readonly #configs = new Map<string, Promise<Record<string, unknown>>>();
  #inUse: (imageId: string) => boolean | Promise<boolean> = () => false;
  #observer: PullObserver | undefined;

  constructor(deps: ImageServiceDeps) {
    this.#deps = deps;
  }

  /** Lets the container service say which images its containers use (it may first wait for removals to finish). */
  setImageUsers(fn: (imageId: string) => boolean | Promise<boolean>): void {
    this.#inUse = fn;
  }

  /** Lets the metrics module count pulls (set once by the composition root). */
  setPullObserver(observer: PullObserver): void {
    this.#observer = observer;
  }

  /**
   * Pulls `image` and returns the stored record. Identical concurrent pulls (same
   * reference and credentials) share one operation; a short name tries each candidate
   * registries.conf gives, in order.
   * @throws InvalidArgumentError, NotFoundError, PermissionDeniedError, UnavailableError, …
   */
  async pull(op: Op, image: string, creds?: RegistryCredentials, progress?: PullProgress): Promise<ImageRecord> {
    this.#observer?.started();
    try {
      const rec = await this.#pullCandidates(op, image, creds, progress);
      this.#observer?.finished('success', '');
      return rec;
    } catch (err) {
      this.#observer?.finished('failure', pullFailureReason(err, op.signal));
      throw err;
    }
  }

  async #pullCandidates(op: Op, image: string, creds?: RegistryCredentials, progress?: PullProgress): Promise<ImageRecord> {
    const { conf } = this.#deps.registry();
    const candidates = conf.resolveShortName(parseReference(image)).candidates.map(formatReference);
    let lastError: unknown;
    for (const ref of candidates) {
      try {
        return await this.#pullShared(op, ref, creds, progress);
      } catch (err) {
        lastError = err;
        if (op.signal.aborted || candidates.length === 1 || !(err instanceof NotFoundError)) throw err;
        op.log.debug({ ref }, 'Short-name candidate not found; trying the next');
      }
    }
    throw lastError;
  }

  /**
   * One pull per (reference, credentials): later callers join it. The shared operation
   * has its own signal, aborted only when every caller has given up, so one caller's
   * cancel (a CLI's Ctrl-C) never fails the kubelet's pull that joined it.
   */
  #pullShared(op: Op, ref: string, creds: RegistryCredentials | undefined, progress?: PullProgress): Promise<ImageRecord> {
    const key = `${ref}\0${credentialsFingerprint(creds)}`;
    let shared = this.#inflight.get(key);
    if (shared) {
      op.log.debug({ ref }, 'Joining an identical pull in progress');
    } else {
      const controller = new AbortController();
      const fanout = new ProgressFanout();
      const observer = this.#observer;
      if (observer) {
        // Bytes are counted once per shared pull, however many callers joined it.
        const seen = new Map<string, number>();
        fanout.add({ onBytes: (e) => { observer.bytes(Math.max(0, e.bytes - (seen.get(e.digest) ?? 0))); seen.set(e.digest, e.bytes); } });
      }
      const sharedOp: Op = { log: op.log, signal: controller.signal };
      const pull = (async () => {
        const { client } = this.#deps.registry();
        const resolved = await client.resolve(sharedOp, ref, creds);
        const rec = await pullResolved(sharedOp, { store: this.#deps.store, registry: client, maxParallel: this.#deps.maxParallelLayers }, resolved, fanout);
        op.log.info({ ref, image: rec.id, from: resolved.source.endpoint }, 'Image pulled');
        return rec;
      })().finally(() => {
        this.#inflight.delete(key);
        // Every caller may have left long before: this is when the download and its clean-up are over.
        op.log.debug({ ref, abandoned: controller.signal.aborted }, 'Pull operation over');
      });
      shared = { pull, progress: fanout, controller, waiters: 0 };
      this.#inflight.set(key, shared);
    }
    const mine = shared;
    mine.waiters++;
    const leaveProgress = progress ? mine.progress.add(progress) : undefined;
    return abortable(mine.pull, op.signal).finally(() => {
      leaveProgress?.();
      if (--mine.waiters === 0 && this.#inflight.get(key) === mine) {
        // The last caller gave up (or all are done): stop downloading for nobody.
        mine.controller.abort(op.signal.reason ?? new Error(`pull of ${ref} abandoned by every caller`));
      }
    });
  }

  /** The image `spec` names (id, id prefix, tag, digest or short name), or undefined. */
  find(spec: string): ImageRecord | undefined {
    return findLocalImage(this.#deps.store, this.#deps.registry().conf, spec);
  }

  /** @throws NotFoundError naming `spec` */
  require(spec: string): ImageRecord {
    const rec = this.find(spec);
    if (!rec) throw new NotFoundError(`image ${shown(spec)} not found`);
    return rec;
  }

  async view(rec: ImageRecord): Promise<ImageView> {
    const pinnedIds = new Set(this.#deps.pinned().map((p) => this.find(p)?.id).filter((x): x is string => x !== undefined));
    return { record: rec, pinned: pinnedIds.has(rec.id), user: await this.#configUser(rec.id) };
  }

  list(): ImageRecord[] {
    return this.#deps.store.listImages();
  }

  /**
   * The image config JSON as stored, parsed once per image (a config never changes: the id
   * is its digest) and frozen, since every caller shares it.
   */
  config(id: string): Promise<Record<string, unknown>> {
    let parsed = this.#configs.get(id);
    if (!parsed) {
      parsed = this.#deps.store.imageConfig(id).then((buf) => deepFreeze(JSON.parse(buf.toString('utf8')) as Record<string, unknown>));
      parsed.catch(() => this.#configs.delete(id));
      this.#configs.set(id, parsed);
    }
    return parsed;
  }

  /** Removes the image `spec` names with all its names. Idempotent. @throws FailedPreconditionError while in use */
  async remove(op: Op, spec: string): Promise<void> {
    const rec = this.find(spec);
    if (!rec) {
      op.log.debug({ image: spec }, 'RemoveImage of an absent image: nothing to do');
      return;
    }
    if (await this.#inUse(rec.id)) throw new FailedPreconditionError(`image "${spec}" (${rec.id}) is in use by a container`);
    await this.#deps.store.removeImage(op, rec.id);
    this.#configs.delete(rec.id);
  }

  usage(): Promise<StorageUsage> {
    return this.#deps.store.usage();
  }

  async #configUser(id: string): Promise<string> {
    const cfg = await this.config(id).catch(() => undefined);
    const inner = cfg?.config as { User?: unknown } | undefined;
    return typeof inner?.User === 'string' ? inner.User : '';
  }
}

interface SharedPull {
  pull: Promise<ImageRecord>;
  progress: ProgressFanout;
  controller: AbortController;
  /** Callers still waiting for it. */
  waiters: number;
}

/** Waits for a shared promise but lets this caller's signal give up on it alone. */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
