/**
 * The storage facade the rest of critter uses: layers shared between images by chain
 * ID, images with their manifest and config, removal that frees only unshared layers,
 * and the numbers ImageFsInfo reports. Image mutations are serialised by one lock;
 * layer extraction runs outside it, in parallel, and only its commit is serialised.
 */
import type { Logger } from 'pino';
import type { Op } from '../lib/op.ts';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../lib/errors.ts';
import { KeyedMutex } from '../lib/keyed-mutex.ts';
import { LayerStore, type IngestRequest, type LayerRecord } from './layer-store.ts';
import { ImageStore, type ImageRecord } from './image-store.ts';
import { diskUsage } from './disk-usage.ts';
import { toHexId } from './digest.ts';

export type { LayerRecord, IngestRequest } from './layer-store.ts';
export type { ImageRecord } from './image-store.ts';

export interface PutImageRequest {
  /** Config digest: hex or "sha256:<hex>". */
  id: string;
  names: string[];
  digests: string[];
  /** Chain ID of the top layer: hex or "sha256:<hex>". */
  topLayer: string;
  manifest: Buffer;
  config: Buffer;
}

export interface StorageUsage {
  bytes: number;
  inodes: number;
  mountpoint: string;
  /** When the walk that produced these numbers finished, in nanoseconds since the epoch. */
  timestampNs: bigint;
}

/** Chain IDs of layers that something outside the image store (container rw layers) sits on. */
export type LayerUsers = () => Iterable<string>;

/** How long a usage walk is reused: kubelet asks for ImageFsInfo every few seconds. */
const USAGE_TTL_MS = 30_000;

export class Store {
  readonly root: string;
  readonly #layers: LayerStore;
  readonly #images: ImageStore;
  readonly #mutex = new KeyedMutex();
  #layerUsers: LayerUsers = () => [];
  /** Chain ids pulls in flight will reuse or build on (leaseLayers), with a count per holder. */
  readonly #leases = new Map<string, number>();
  #usage: { at: number; value: Promise<StorageUsage> } | undefined;

  private constructor(deps: { root: string; log: Logger; layers: LayerStore; images: ImageStore }) {
    this.root = deps.root;
    this.#layers = deps.layers;
    this.#images = deps.images;
  }

  /** Opens (creating if needed) the store under `root`, removing what a crash left half-written. */
  static async open(deps: { root: string; log: Logger }): Promise<Store> {
    const log = deps.log.child({ component: 'storage' });
    const layers = await LayerStore.open({ root: deps.root, log });
    const images = await ImageStore.open({ root: deps.root, log });
    return new Store({ root: deps.root, log, layers, images });
  }

  /** Registers who else holds layers (container read-write layers sit on image layers). */
  setLayerUsers(fn: LayerUsers): void {
    this.#layerUsers = fn;
  }

  /**
   * Protects `chainIds` (and their ancestors) from removal until the returned release is
   * called: a pull leases the chain it is about to reuse, so that a concurrent RemoveImage
   * of the image owning those layers does not delete them under it (issue 18 item 3).
   * Taken under the images lock, so a removal already deciding what to delete finishes
   * first and the pull then sees what is really stored.
   */
  async leaseLayers(chainIds: readonly string[]): Promise<() => void> {
    const ids = chainIds.map((c) => toHexId(c, 'chain ID'));
    await this.#mutex.with('images', async () => {
      for (const id of ids) this.#leases.set(id, (this.#leases.get(id) ?? 0) + 1);
    });
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const id of ids) {
        const n = (this.#leases.get(id) ?? 1) - 1;
        if (n <= 0) this.#leases.delete(id);
        else this.#leases.set(id, n);
      }
    };
  }

  /**
   * Streams one layer blob in (see LayerStore.ingest): verified, extracted, registered.
   * @throws DigestMismatchError, UnsafeLayerEntryError, LayerFormatError, FailedPreconditionError
   */
  async ingestLayer(op: Op, req: IngestRequest): Promise<LayerRecord> {
    const rec = await this.#layers.ingest(op, req);
    this.#usage = undefined;
    return rec;
  }

  hasLayer(chainId: string): boolean {
    return this.#layers.has(toHexId(chainId, 'chain ID'));
  }

  getLayer(chainId: string): LayerRecord | undefined {
    return this.#layers.get(toHexId(chainId, 'chain ID'));
  }

  /** Absolute lower dirs for an overlay mount of `topChainId`, top first. @throws NotFoundError */
  lowerDirs(topChainId: string): string[] {
    return this.#layers.lowerDirs(toHexId(topChainId, 'chain ID'));
  }

  /**
   * Records an image whose layers are all stored; names and digests merge into an
   * existing record of the same id, and its names leave any other image.
   * @throws FailedPreconditionError when a layer of its chain is missing
   */
  async putImage(op: Op, req: PutImageRequest): Promise<ImageRecord> {
    const id = toHexId(req.id, 'image id');
    const topLayer = toHexId(req.topLayer, 'top layer');
    for (const d of req.digests) {
      if (!/@sha(256|384|512):[a-f0-9]+$/.test(d)) throw new InvalidArgumentError(`invalid repo digest ${JSON.stringify(d)}`);
    }
    return this.#mutex.with('images', async () => {
      let chain: LayerRecord[];
      try {
        chain = this.#layers.chain(topLayer);
      } catch (err) {
        throw new FailedPreconditionError(`image ${id}: layers are missing`, { cause: err });
      }
      const size = chain.reduce((sum, l) => sum + l.uncompressedSize, 0);
      const rec = await this.#images.put({ id, names: req.names, digests: req.digests, topLayer, size }, { manifest: req.manifest, config: req.config });
      op.log.info({ image: id, names: rec.names }, 'Image stored');
      return rec;
    });
  }

  getImage(id: string): ImageRecord | undefined {
    return this.#images.get(id.startsWith('sha256:') ? id.slice(7) : id);
  }

  findImageByName(name: string): ImageRecord | undefined {
    return this.#images.findByName(name);
  }

  findImageByDigest(repoDigest: string): ImageRecord | undefined {
    return this.#images.findByDigest(repoDigest);
  }

  listImages(): ImageRecord[] {
    return this.#images.list();
  }

  /** The config blob exactly as pulled. @throws NotFoundError */
  imageConfig(id: string): Promise<Buffer> {
    return this.#images.blob(toHexId(id, 'image id'), 'config');
  }

  /** The manifest exactly as pulled. @throws NotFoundError */
  imageManifest(id: string): Promise<Buffer> {
    return this.#images.blob(toHexId(id, 'image id'), 'manifest');
  }

  /** Removes the image and every layer of it that nothing else needs. Idempotent. */
  async removeImage(op: Op, id: string): Promise<void> {
    const hex = toHexId(id, 'image id');
    await this.#mutex.with('images', async () => {
      const rec = this.#images.get(hex);
      if (!rec) return;
      await this.#images.remove(hex);
      op.log.info({ image: hex, names: rec.names }, 'Image removed');
      await this.#removeUnneededLayers(op, this.#chainIds(rec.topLayer));
    });
    this.#usage = undefined;
  }

  /** Removes every layer no image, layer user or running ingest needs (after a crash mid-removal). */
  async pruneLayers(op: Op): Promise<void> {
    await this.#mutex.with('images', () => this.#removeUnneededLayers(op, this.#layers.list().map((l) => l.id)));
    this.#usage = undefined;
  }

  async #removeUnneededLayers(op: Op, candidates: string[]): Promise<void> {
    const needed = new Set<string>();
    const roots = [
      ...this.#images.list().map((i) => i.topLayer),
      ...this.#layerUsers(),
      ...this.#leases.keys(),
      ...this.#layers.parentsOfRunningIngests(),
    ];
    for (const top of roots) for (const l of this.#chainIds(top)) needed.add(l);
    const free = candidates.filter((l) => !needed.has(l));
    if (free.length > 0) await this.#layers.remove(op, free);
  }

  /** `top` and its ancestors present in the store (a missing one ends the chain). */
  #chainIds(top: string): string[] {
    const out: string[] = [];
    for (let cur: string | null = top; cur !== null;) {
      const r = this.#layers.get(cur);
      if (!r) break;
      out.push(r.id);
      cur = r.parent;
    }
    return out;
  }

  /** Bytes and inodes under the layer store, from a walk at most USAGE_TTL_MS old. */
  usage(): Promise<StorageUsage> {
    const now = Date.now();
    if (this.#usage && now - this.#usage.at < USAGE_TTL_MS) return this.#usage.value;
    const value = diskUsage([this.#layers.overlayDir]).then((u) => ({
      ...u,
      mountpoint: this.#layers.overlayDir,
      timestampNs: BigInt(Date.now()) * 1_000_000n,
    }));
    const entry = { at: now, value };
    this.#usage = entry;
    value.catch(() => { if (this.#usage === entry) this.#usage = undefined; });
    return value;
  }

  /** @throws NotFoundError */
  requireImage(id: string): ImageRecord {
    const rec = this.getImage(id);
    if (!rec) throw new NotFoundError(`image ${JSON.stringify(id)} not found`);
    return rec;
  }
}
