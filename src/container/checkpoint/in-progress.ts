/**
 * Checkpoint-in-progress markers (issue 14): a checkpoint freezes containers and writes
 * files, a pod restore creates a sandbox and containers. Before it starts, each writes a
 * marker naming what it will freeze, write or create; it removes the marker when done.
 * A daemon that died in the middle finds the marker at start-up and undoes the work:
 * thaws the named containers that are still paused, removes the partial output, removes
 * the half-restored pod. So no crash leaves a frozen container or a torn checkpoint.
 */
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Op } from '../../lib/op.ts';
import { writeFileAtomic } from '../../lib/atomic-file.ts';
import { describeError } from '../../lib/errors.ts';

export interface CheckpointMarker {
  kind: 'checkpoint' | 'restore-pod';
  /** Containers the checkpoint pauses: thawed when still paused. */
  containers: string[];
  /** Files the operation writes (archives, manifest, their partial names): removed. */
  outputs: string[];
  /** Daemon-private work dirs: removed. */
  workDirs: string[];
  /** restore-pod: the sandbox it created (set once known), removed with its containers. */
  podId?: string;
  /** restore-pod: the pod's metadata name key, to find a sandbox created before podId was recorded. */
  podName?: string;
}

export interface MarkerUndo {
  /** Thaws `id` when the runtime says it is paused; a container gone is fine. */
  thaw(op: Op, id: string): Promise<void>;
  /** Removes a half-restored pod with its containers. */
  removePod(op: Op, marker: CheckpointMarker): Promise<void>;
}

export class InProgressMarkers {
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  /** Writes a new marker (durably: it must outlive a crash of the next instruction) and returns its handle. */
  async begin(marker: CheckpointMarker): Promise<MarkerHandle> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const file = join(this.#dir, `${marker.kind}-${randomBytes(6).toString('hex')}.json`);
    await writeFileAtomic(file, JSON.stringify(marker));
    return new MarkerHandle(file, marker);
  }

  /** Start-up: undoes every operation a crash interrupted, then removes its marker. */
  async recover(op: Op, undo: MarkerUndo): Promise<number> {
    const names = await readdir(this.#dir).catch(() => [] as string[]);
    let undone = 0;
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      const file = join(this.#dir, name);
      let marker: CheckpointMarker;
      try {
        marker = parseMarker(await readFile(file, 'utf8'));
      } catch (err) {
        op.log.warn({ marker: file, err: describeError(err) }, 'Unreadable checkpoint marker removed');
        await rm(file, { force: true });
        continue;
      }
      await undoMarker(op, marker, undo);
      await rm(file, { force: true });
      undone++;
      op.log.warn({ kind: marker.kind, containers: marker.containers, outputs: marker.outputs, pod: marker.podId }, 'Undid a checkpoint operation the daemon stopped in the middle of');
    }
    return undone;
  }
}

export class MarkerHandle {
  readonly #file: string;
  #marker: CheckpointMarker;

  constructor(file: string, marker: CheckpointMarker) {
    this.#file = file;
    this.#marker = marker;
  }

  /** Records more of what the operation made (a pod id once known). */
  async update(patch: Partial<CheckpointMarker>): Promise<void> {
    this.#marker = { ...this.#marker, ...patch };
    await writeFileAtomic(this.#file, JSON.stringify(this.#marker));
  }

  /** The operation finished (or cleaned up after itself): nothing to undo. */
  async end(): Promise<void> {
    await rm(this.#file, { force: true });
  }
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string' && s !== '') : [];
}

export function parseMarker(text: string): CheckpointMarker {
  const m = JSON.parse(text) as Record<string, unknown>;
  if (m['kind'] !== 'checkpoint' && m['kind'] !== 'restore-pod') throw new Error(`unknown marker kind ${JSON.stringify(m['kind'])}`);
  return {
    kind: m['kind'], containers: strings(m['containers']), outputs: strings(m['outputs']), workDirs: strings(m['workDirs']),
    ...(typeof m['podId'] === 'string' && m['podId'] !== '' ? { podId: m['podId'] } : {}),
    ...(typeof m['podName'] === 'string' && m['podName'] !== '' ? { podName: m['podName'] } : {}),
  };
}

/** Thaw first (a frozen container is the harm), then files, then the pod; each step on its own, so one failure does not skip the rest. */
async function undoMarker(op: Op, marker: CheckpointMarker, undo: MarkerUndo): Promise<void> {
  for (const id of marker.containers) {
    await undo.thaw(op, id).catch((err: unknown) => op.log.error({ container: id, err: describeError(err) }, 'Cannot thaw a container a checkpoint left paused'));
  }
  for (const path of [...marker.outputs, ...marker.workDirs]) await rm(path, { recursive: true, force: true }).catch(() => undefined);
  if (marker.kind === 'restore-pod') {
    await undo.removePod(op, marker).catch((err: unknown) => op.log.error({ pod: marker.podId, err: describeError(err) }, 'Cannot remove a pod a restore left half made'));
  }
}
