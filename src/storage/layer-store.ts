/**
 * Read-only image layers in containers/storage's overlay layout (DESIGN: Images and storage):
 *   <root>/overlay/<id>/diff/   the extracted layer
 *   <root>/overlay/<id>/link    its short name; <root>/overlay/l/<short> -> ../<id>/diff
 *   <root>/overlay/<id>/lower   "l/<parent short>:l/<grandparent short>…" (top first)
 *   <root>/overlay-layers/layers.json   the index (atomic writes)
 * Short links keep overlay mount options under one page. A layer exists only once it is
 * in the index; anything else on disk is a leftover of a crash and removed at open().
 */
import { mkdir, readdir, readlink, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Op } from '../lib/op.ts';
import { readJsonIfExists, writeJsonAtomic, syncDir } from '../lib/atomic-file.ts';
import { FailedPreconditionError, NotFoundError, describeError } from '../lib/errors.ts';
import { KeyedMutex } from '../lib/keyed-mutex.ts';
import { DigestMismatchError, spaceExhausted } from './errors.ts';
import { chainIdOf, parseDigest, toHexId } from './digest.ts';
import { ThreadedDigest } from './digest-thread.ts';
import { decompress } from './decompress.ts';
import { unpackLayer } from './layer-unpack.ts';

export interface LayerRecord {
  /** Chain ID hex. */
  id: string;
  /** Parent chain ID hex, null for a base layer. */
  parent: string | null;
  /** "sha256:<hex>" of the uncompressed tar. */
  diffId: string;
  /** "sha256:<hex>" of the blob as the registry served it. */
  compressedDigest: string;
  compressedSize: number;
  uncompressedSize: number;
  /** Name of the `l/` link to this layer's diff dir. */
  shortId: string;
  /** RFC 3339. */
  created: string;
}

export interface IngestRequest {
  /** Chain ID of the layer below ("sha256:<hex>" or hex), null for the base layer. */
  parentChainId: string | null;
  diffId: string;
  /** Descriptor digest of the (compressed) blob. */
  digest: string;
  mediaType: string;
  /** Descriptor size, checked when given. */
  size?: number;
  body: Readable;
}

interface LayersFile {
  version: 1;
  layers: LayerRecord[];
}

const SHORT_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const STAGING_PREFIX = '.staging-';

export class LayerStore {
  readonly overlayDir: string;
  readonly #indexPath: string;
  readonly #log: Logger;
  #records = new Map<string, LayerRecord>();
  readonly #inflight = new Map<string, Promise<LayerRecord>>();
  readonly #inflightParents = new Map<string, string>();
  readonly #mutex = new KeyedMutex();

  private constructor(deps: { root: string; log: Logger }) {
    this.overlayDir = join(deps.root, 'overlay');
    this.#indexPath = join(deps.root, 'overlay-layers', 'layers.json');
    this.#log = deps.log;
  }

  /** Loads the index and removes what a crash left half-written. */
  static async open(deps: { root: string; log: Logger }): Promise<LayerStore> {
    const store = new LayerStore(deps);
    await mkdir(join(store.overlayDir, 'l'), { recursive: true, mode: 0o700 });
    const file = await readJsonIfExists<LayersFile>(store.#indexPath);
    for (const r of file?.layers ?? []) store.#records.set(r.id, r);
    await store.#removeLeftovers();
    return store;
  }

  has(id: string): boolean {
    return this.#records.has(id);
  }

  get(id: string): LayerRecord | undefined {
    return this.#records.get(id);
  }

  list(): LayerRecord[] {
    return [...this.#records.values()];
  }

  /** Parents of layers being ingested: a removal must keep them (the child will sit on them). */
  parentsOfRunningIngests(): Set<string> {
    return new Set(this.#inflightParents.values());
  }

  diffDir(id: string): string {
    return join(this.overlayDir, id, 'diff');
  }

  /** `id` and its ancestors, top first. @throws NotFoundError */
  chain(id: string): LayerRecord[] {
    const out: LayerRecord[] = [];
    for (let cur: string | null = id; cur !== null;) {
      const r = this.#records.get(cur);
      if (!r) throw new NotFoundError(`layer ${cur} not found${cur === id ? '' : ` (parent of ${id})`}`);
      out.push(r);
      cur = r.parent;
    }
    return out;
  }

  /** Absolute lower dirs (through the short links) for an overlay mount, top first. */
  lowerDirs(id: string): string[] {
    return this.chain(id).map((r) => join(this.overlayDir, 'l', r.shortId));
  }

  /**
   * Streams a layer blob into the store: compressed bytes are hashed, decompressed,
   * hashed again and extracted in one pass into a staging dir, which becomes the layer
   * only when both digests match. A layer already present is not fetched again, and
   * identical concurrent ingests share one run.
   * @throws DigestMismatchError, UnsafeLayerEntryError, LayerFormatError, FailedPreconditionError (parent missing)
   */
  async ingest(op: Op, req: IngestRequest): Promise<LayerRecord> {
    const parent = req.parentChainId === null ? null : toHexId(req.parentChainId, 'parent chain ID');
    parseDigest(req.digest, 'layer digest');
    const id = chainIdOf(parent, req.diffId);
    for (;;) {
      const present = this.#records.get(id);
      if (present) {
        req.body.destroy();
        return present;
      }
      const running = this.#inflight.get(id);
      if (!running) break;
      try {
        const rec = await running;
        req.body.destroy();
        return rec;
      } catch (err) {
        // The other caller's download failed; ours may still succeed, so try it.
        op.signal.throwIfAborted();
        op.log.debug({ layer: id, err: describeError(err) }, 'Shared layer ingest failed, retrying with own stream');
      }
    }
    // Deleted in the promise chain itself, so a waiter that sees it fail no longer finds it.
    const run = this.#ingestNew(op, id, parent, req).finally(() => {
      this.#inflight.delete(id);
      this.#inflightParents.delete(id);
    });
    this.#inflight.set(id, run);
    if (parent !== null) this.#inflightParents.set(id, parent);
    return run;
  }

  async #ingestNew(op: Op, id: string, parent: string | null, req: IngestRequest): Promise<LayerRecord> {
    const staging = join(this.overlayDir, `${STAGING_PREFIX}${id.slice(0, 16)}-${randomBytes(4).toString('hex')}`);
    const started = Date.now();
    const compressed = new ThreadedDigest(parseDigest(req.digest).algorithm);
    const uncompressed = new ThreadedDigest(parseDigest(req.diffId).algorithm);
    try {
      const input = uncompressed.tap(decompress(compressed.tap(req.body), req.mediaType, op.signal));
      await mkdir(staging, { mode: 0o700 });
      const stats = await unpackLayer(input, join(staging, 'diff'), op.signal);
      if (req.size !== undefined && compressed.bytes !== req.size) {
        throw new DigestMismatchError(`layer ${req.digest} size`, String(req.size), String(compressed.bytes));
      }
      const gotDigest = await compressed.digest();
      if (gotDigest !== req.digest) throw new DigestMismatchError(`layer blob ${req.digest}`, req.digest, gotDigest);
      const gotDiff = await uncompressed.digest();
      if (gotDiff !== req.diffId) throw new DigestMismatchError(`layer ${req.digest} diffID`, req.diffId, gotDiff);
      const parentRecord = parent === null ? null : await this.#awaitParent(parent, id);
      const record: LayerRecord = {
        id, parent, diffId: req.diffId, compressedDigest: req.digest, compressedSize: compressed.bytes,
        uncompressedSize: uncompressed.bytes, shortId: shortId(), created: new Date().toISOString(),
      };
      await writeFile(join(staging, 'link'), record.shortId);
      if (parentRecord) await writeFile(join(staging, 'lower'), this.chain(parentRecord.id).map((r) => `l/${r.shortId}`).join(':'));
      await this.#commit(record, staging);
      op.log.info({ layer: id, diffId: req.diffId, bytes: uncompressed.bytes, entries: stats.entries, ms: Date.now() - started }, 'Layer stored');
      return record;
    } catch (err) {
      compressed.dispose();
      uncompressed.dispose();
      await rm(staging, { recursive: true, force: true }).catch((e: unknown) => {
        this.#log.error({ dir: staging, err: describeError(e) }, 'Cannot remove layer staging dir');
      });
      // The staging dir, its link files and the commit's rename fill the disk as extraction does.
      throw spaceExhausted(err, `storing layer ${req.digest}`) ?? err;
    }
  }

  /** Layers may be extracted in parallel; each registers after its parent. */
  async #awaitParent(parent: string, child: string): Promise<LayerRecord> {
    const running = this.#inflight.get(parent);
    if (running) await running.catch(() => undefined);
    const rec = this.#records.get(parent);
    if (!rec) throw new FailedPreconditionError(`parent layer ${parent} of layer ${child} is not in the store`);
    return rec;
  }

  /** Staging dir → layer dir, short link, then the index: until the index names it, open() would remove it. */
  async #commit(record: LayerRecord, staging: string): Promise<void> {
    await this.#mutex.with('index', async () => {
      if (record.parent !== null && !this.#records.has(record.parent)) {
        throw new FailedPreconditionError(`parent layer ${record.parent} of layer ${record.id} was removed`);
      }
      const dir = join(this.overlayDir, record.id);
      await rm(dir, { recursive: true, force: true });
      await rename(staging, dir);
      const linkPath = join(this.overlayDir, 'l', record.shortId);
      await symlink(join('..', record.id, 'diff'), linkPath);
      await syncDir(join(this.overlayDir, 'l'));
      await syncDir(this.overlayDir);
      const next = new Map(this.#records).set(record.id, record);
      try {
        await this.#persist(next);
      } catch (err) {
        await unlink(linkPath).catch(() => undefined);
        await rm(dir, { recursive: true, force: true }).catch(() => undefined);
        throw err;
      }
      this.#records = next;
    });
  }

  /**
   * Removes layers: index first, then their directories, so a crash in between leaves
   * only unindexed leftovers for open(). Unknown ids are ignored.
   * @throws FailedPreconditionError when a remaining layer sits on one of them
   */
  async remove(op: Op, ids: readonly string[]): Promise<void> {
    await this.#mutex.with('index', async () => {
      const gone = new Set(ids.filter((id) => this.#records.has(id)));
      if (gone.size === 0) return;
      for (const r of this.#records.values()) {
        if (!gone.has(r.id) && r.parent !== null && gone.has(r.parent)) {
          throw new FailedPreconditionError(`layer ${r.parent} is the parent of layer ${r.id}`);
        }
      }
      const next = new Map([...this.#records].filter(([id]) => !gone.has(id)));
      const removed = [...gone].map((id) => this.#records.get(id) as LayerRecord);
      await this.#persist(next);
      this.#records = next;
      for (const r of removed) {
        await unlink(join(this.overlayDir, 'l', r.shortId)).catch(() => undefined);
        await rm(join(this.overlayDir, r.id), { recursive: true, force: true });
        op.log.info({ layer: r.id }, 'Layer removed');
      }
    });
  }

  async #persist(records: Map<string, LayerRecord>): Promise<void> {
    const file: LayersFile = { version: 1, layers: [...records.values()] };
    await writeJsonAtomic(this.#indexPath, file);
  }

  async #removeLeftovers(): Promise<void> {
    const linkDir = join(this.overlayDir, 'l');
    const wanted = new Map([...this.#records.values()].map((r) => [r.shortId, join('..', r.id, 'diff')]));
    for (const name of await readdir(linkDir)) {
      const target = await readlink(join(linkDir, name)).catch(() => undefined);
      if (target === undefined || wanted.get(name) !== target) {
        this.#log.warn({ link: name }, 'Removing stale layer link');
        await rm(join(linkDir, name), { recursive: true, force: true });
      }
    }
    for (const name of await readdir(this.overlayDir)) {
      if (name === 'l' || this.#records.has(name)) continue;
      this.#log.warn({ dir: name }, 'Removing unregistered layer dir (interrupted ingest or removal)');
      await rm(join(this.overlayDir, name), { recursive: true, force: true });
    }
  }
}

/** 26 base32 characters, as containers/storage's overlay driver names its links. */
function shortId(): string {
  const bytes = randomBytes(26);
  let out = '';
  for (const b of bytes) out += SHORT_ALPHABET[b & 31];
  return out;
}
