/**
 * What a layer directory holds while it is being extracted, kept in memory so every
 * path is resolved by us and never by the host kernel: a parent that is a symlink is
 * followed here, inside the layer root, and refused if it is absolute or climbs out
 * (DESIGN: "never writes outside the layer directory"). The directory starts empty and
 * only the unpacker writes to it, so this map is exactly what is on disk once the
 * operations planned so far (`ops`, run in order on the filesystem thread) have run.
 */
import { join } from 'node:path';
import { UnsafeLayerEntryError, quoteBounded } from './errors.ts';
import { MAX_SYMLINK_HOPS } from './rootfs-path.ts';
import type { FsOpWriter } from './unpack-writer.ts';

type Node = { kind: 'dir' } | { kind: 'file' } | { kind: 'symlink'; target: string };

/**
 * Splits a tar entry name into clean components. A leading `/` is dropped (names are
 * relative to the layer root, as containers/storage treats them); any `..` is refused.
 * @throws UnsafeLayerEntryError
 */
export function entryComponents(name: string): string[] {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new UnsafeLayerEntryError(name, 'path has a ".." component');
  if (name.includes('\0')) throw new UnsafeLayerEntryError(name, 'path has a NUL byte');
  return parts;
}

export class LayerTree {
  readonly root: string;
  readonly #ops: Pick<FsOpWriter, 'add'>;
  #nodes = new Map<string, Node>([['', { kind: 'dir' }]]);

  constructor(root: string, ops: Pick<FsOpWriter, 'add'>) {
    this.root = root;
    this.#ops = ops;
  }

  /** Absolute host path of a resolved key (components joined by `/`, never `..`). */
  abs(key: string): string {
    return key === '' ? this.root : join(this.root, key);
  }

  /** The resolved key of `parts`' parent directory plus the final name, creating missing parents (mode 0755) when `create`. */
  resolveParent(entry: string, parts: readonly string[], create: boolean): { dirKey: string; key: string; base: string } {
    if (parts.length === 0) return { dirKey: '', key: '', base: '' };
    const base = parts[parts.length - 1] as string;
    const dir = this.#resolveDir(entry, parts.slice(0, -1), create);
    const dirKey = dir.join('/');
    return { dirKey, key: dirKey === '' ? base : `${dirKey}/${base}`, base };
  }

  /** The node at a resolved key, if any. */
  get(key: string): Node | undefined {
    return this.#nodes.get(key);
  }

  /** Removes whatever is at `key` (a directory recursively) so a later entry can take its place. */
  clear(key: string): void {
    const node = this.#nodes.get(key);
    if (!node || key === '') return;
    if (node.kind === 'dir') {
      this.#ops.add({ k: 'rm', p: this.abs(key) });
      const prefix = `${key}/`;
      for (const k of this.#nodes.keys()) if (k.startsWith(prefix)) this.#nodes.delete(k);
    } else {
      this.#ops.add({ k: 'unlink', p: this.abs(key) });
    }
    this.#nodes.delete(key);
  }

  /** Records what the unpacker just created at `key`. */
  set(key: string, node: Node): void {
    this.#nodes.set(key, node);
  }

  #resolveDir(entry: string, parts: readonly string[], create: boolean): string[] {
    const resolved: string[] = [];
    const queue = [...parts];
    let hops = 0;
    while (queue.length > 0) {
      const c = queue.shift() as string;
      if (c === '' || c === '.') continue;
      if (c === '..') {
        // Only a symlink target can bring ".." here; entry names with ".." are refused earlier.
        if (resolved.length === 0) throw new UnsafeLayerEntryError(entry, 'a parent symlink points outside the layer');
        resolved.pop();
        continue;
      }
      const key = resolved.length === 0 ? c : `${resolved.join('/')}/${c}`;
      const node = this.#nodes.get(key);
      if (node === undefined) {
        if (!create) throw new UnsafeLayerEntryError(entry, `parent ${quoteBounded(key)} does not exist in the layer`);
        this.#ops.add({ k: 'mkdir', p: this.abs(key), m: 0o755 });
        this.#nodes.set(key, { kind: 'dir' });
        resolved.push(c);
      } else if (node.kind === 'dir') {
        resolved.push(c);
      } else if (node.kind === 'symlink') {
        if (++hops > MAX_SYMLINK_HOPS) throw new UnsafeLayerEntryError(entry, 'too many levels of symbolic links');
        if (node.target.startsWith('/')) {
          throw new UnsafeLayerEntryError(entry, `parent ${quoteBounded(key)} is an absolute symlink (${quoteBounded(node.target)})`);
        }
        queue.unshift(...node.target.split('/'));
      } else {
        throw new UnsafeLayerEntryError(entry, `parent ${quoteBounded(key)} is not a directory`);
      }
    }
    return resolved;
  }
}
