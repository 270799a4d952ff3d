/**
 * The pull pipeline for one resolved image: every missing layer is streamed from the
 * registry through digest verification, decompression and extraction (Store.ingestLayer
 * does all three in one pass), up to `maxParallel` at a time; layers already present are
 * skipped. Only when every layer is stored is the image recorded, so a failed or
 * cancelled pull registers nothing (DESIGN: Images and storage).
 */
import { Transform, pipeline, type Readable } from 'node:stream';
import type { Op } from '../lib/op.ts';
import { FailedPreconditionError } from '../lib/errors.ts';
import type { Store, ImageRecord } from '../storage/store.ts';
import { chainIdOf } from '../storage/digest.ts';
import type { RegistryClient, ResolvedImage } from './registry/registry-client.ts';
import { formatDigested, formatTagged } from './reference.ts';

export interface PullDeps {
  store: Store;
  registry: Pick<RegistryClient, 'openBlob'>;
  maxParallel: number;
}

/** Progress of one pull, for metrics and the CLI's progress display. */
export interface PullProgress {
  onLayer?(event: LayerStateEvent): void;
  /** Called for every chunk of a layer blob as it arrives: `bytes` so far of `size`. */
  onBytes?(event: LayerBytesEvent): void;
}

export interface LayerStateEvent { digest: string; state: 'skipped' | 'started' | 'done'; size: number }
export interface LayerBytesEvent { digest: string; bytes: number; size: number }

/**
 * Passes a blob body through unchanged, counting its bytes for `onBytes`. The pipeline
 * ties the two streams' lives together: destroying the counter destroys the body (the
 * layer store does that when another ingest got the layer first), and a body error
 * reaches the consumer.
 */
function countingBody(body: Readable, digest: string, size: number, onBytes: (e: LayerBytesEvent) => void): Readable {
  let bytes = 0;
  const counter = new Transform({
    readableHighWaterMark: body.readableHighWaterMark,
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      onBytes({ digest, bytes, size });
      cb(null, chunk);
    },
  });
  return pipeline(body, counter, () => undefined);
}

interface ImageConfigJson {
  rootfs?: { type?: string; diff_ids?: string[] };
}

/** The diff IDs the config lists, checked against the manifest's layer count. */
function diffIdsOf(resolved: ResolvedImage): string[] {
  let config: ImageConfigJson;
  try {
    config = JSON.parse(resolved.config.toString('utf8')) as ImageConfigJson;
  } catch (err) {
    throw new FailedPreconditionError(`image ${resolved.canonicalName}: config ${resolved.configDigest} is not JSON`, { cause: err });
  }
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== resolved.layers.length) {
    throw new FailedPreconditionError(
      `image ${resolved.canonicalName}: config ${resolved.configDigest} lists ${diffIds.length} diff IDs but the manifest has ${resolved.layers.length} layers`,
    );
  }
  return diffIds;
}

/** Chain IDs, base first ("sha256:<hex>"). */
export function chainIdsOf(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  let parent: string | null = null;
  for (const d of diffIds) {
    parent = chainIdOf(parent, d);
    out.push(`sha256:${parent}`);
  }
  return out;
}

/** Downloads and stores every missing layer, then records the image. Returns its record. */
export async function pullResolved(op: Op, deps: PullDeps, resolved: ResolvedImage, progress: PullProgress = {}): Promise<ImageRecord> {
  const diffIds = diffIdsOf(resolved);
  const chain = chainIdsOf(diffIds);
  // Layers found present are skipped: they must stay until the image is recorded.
  const release = await deps.store.leaseLayers(chain);
  try {
    return await pullChain(op, deps, resolved, progress, diffIds, chain);
  } finally {
    release();
  }
}

async function pullChain(op: Op, deps: PullDeps, resolved: ResolvedImage, progress: PullProgress, diffIds: string[], chain: string[]): Promise<ImageRecord> {
  const jobs = resolved.layers.map((layer, i) => ({ layer, i }));
  // The first failure stops the other downloads instead of letting them run on.
  const stop = new AbortController();
  const layerOp: Op = { log: op.log, signal: AbortSignal.any([op.signal, stop.signal]) };
  // handedOver[i] settles once layer i is in the store's hands (ingest started, or present).
  // A child is handed over only after its parent: the store lets a child extract in
  // parallel and register after its parent, but only if it knows the parent is coming.
  const handedOver = jobs.map(() => deferred());
  const pullLayer = async (layer: ResolvedImage['layers'][number], i: number): Promise<void> => {
    if (deps.store.hasLayer(chain[i]!)) {
      progress.onLayer?.({ digest: layer.digest, state: 'skipped', size: layer.size });
      return;
    }
    layerOp.signal.throwIfAborted();
    progress.onLayer?.({ digest: layer.digest, state: 'started', size: layer.size });
    const blob = await deps.registry.openBlob(layerOp, resolved.source, layer);
    const onBytes = progress.onBytes?.bind(progress);
    const body = onBytes ? countingBody(blob, layer.digest, layer.size, onBytes) : blob;
    if (i > 0) await handedOver[i - 1]!.promise;
    const ingest = deps.store.ingestLayer(layerOp, {
      parentChainId: i === 0 ? null : chain[i - 1]!,
      diffId: diffIds[i]!,
      digest: layer.digest,
      mediaType: layer.mediaType,
      size: layer.size,
      body,
    });
    handedOver[i]!.resolve();
    await ingest;
    progress.onLayer?.({ digest: layer.digest, state: 'done', size: layer.size });
  };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const { layer, i } = jobs[next++]!;
      try {
        await pullLayer(layer, i);
      } finally {
        handedOver[i]!.resolve();
      }
    }
  };
  // Workers share the job list; the layer store registers each layer after its parent.
  let firstError: unknown;
  const workers = Array.from({ length: Math.min(deps.maxParallel, jobs.length) }, () =>
    worker().catch((err: unknown) => {
      firstError ??= err;
      stop.abort(err);
    }));
  await Promise.all(workers);
  if (firstError !== undefined) throw firstError as Error; // a worker's own rejection, passed on as it is
  const names = resolved.tag !== undefined ? [formatTagged(resolved.canonicalName, resolved.tag)] : [];
  return deps.store.putImage(op, {
    id: resolved.configDigest,
    names,
    digests: [formatDigested(resolved.canonicalName, resolved.referenceDigest)],
    topLayer: chain.length ? chain[chain.length - 1]! : emptyImageError(resolved),
    manifest: resolved.manifest,
    config: resolved.config,
  });
}

function emptyImageError(resolved: ResolvedImage): never {
  throw new FailedPreconditionError(`image ${resolved.canonicalName}@${resolved.manifestDigest} has no layers`);
}

/**
 * One pull's progress delivered to every caller sharing it: identical concurrent pulls
 * run once (DESIGN: Images and storage), yet each caller — the kubelet's PullImage,
 * `critter pull` — wants to see it. A caller that joins late first gets each layer's
 * latest state, so its display starts where the pull is.
 */
export class ProgressFanout implements PullProgress {
  readonly #listeners = new Set<PullProgress>();
  readonly #layers = new Map<string, { state?: LayerStateEvent; bytes?: LayerBytesEvent }>();

  /** Adds a listener; returns the function that removes it. */
  add(listener: PullProgress): () => void {
    for (const { state, bytes } of this.#layers.values()) {
      if (state) listener.onLayer?.(state);
      if (bytes && state?.state === 'started') listener.onBytes?.(bytes);
    }
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  onLayer(event: LayerStateEvent): void {
    this.#layers.set(event.digest, { state: event });
    for (const l of this.#listeners) l.onLayer?.(event);
  }

  onBytes(event: LayerBytesEvent): void {
    const entry = this.#layers.get(event.digest);
    if (entry) entry.bytes = event;
    for (const l of this.#listeners) l.onBytes?.(event);
  }
}

/** A promise with its resolver (Promise.withResolvers arrives only in Node 22). */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}
