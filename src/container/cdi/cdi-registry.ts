/**
 * The CDI spec files of this node and device-name resolution (CDI SPEC.md; containerd and
 * CRI-O use the cdi package's registry the same way). Spec dirs are read in order and a
 * later dir wins for a device defined in two (the default `/etc/cdi` then `/var/run/cdi`:
 * generated specs override static ones, as the cdi package orders them). Files are re-read
 * only when their mtime or size changed, checked when a container asks for a CDI device;
 * a broken file is logged once per version and skipped, so one bad vendor file does not
 * take every device down.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { InvalidArgumentError, NotFoundError, describeError } from '../../lib/errors.ts';
import { statDevice } from '../host-facts.ts';
import { parseCdiSpec, parseQualifiedName, type CdiContainerEdits, type CdiSpec } from './cdi-spec.ts';
import type { ResolvedCdi, ResolvedDeviceNode, ResolvedEdits } from '../spec/cdi.ts';

const SPEC_FILE = /\.(json|ya?ml)$/;

export interface CdiResolver {
  /** @throws NotFoundError naming an unknown device, InvalidArgumentError for a malformed name */
  resolve(names: readonly string[]): Promise<ResolvedCdi>;
}

interface CachedFile {
  mtimeMs: number;
  size: number;
  spec: CdiSpec | undefined;
}

export class CdiRegistry implements CdiResolver {
  readonly #dirs: readonly string[];
  readonly #log: Logger;
  readonly #files = new Map<string, CachedFile>();

  constructor(opts: { dirs: readonly string[]; log: Logger }) {
    this.#dirs = opts.dirs;
    this.#log = opts.log;
  }

  /** Every valid spec, in priority order (lowest first), re-read where changed. */
  async specs(): Promise<{ file: string; spec: CdiSpec }[]> {
    const out: { file: string; spec: CdiSpec }[] = [];
    const present = new Set<string>();
    for (const dir of this.#dirs) {
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names.filter((n) => SPEC_FILE.test(n)).sort()) {
        const file = join(dir, name);
        const st = await stat(file).catch(() => undefined);
        if (!st?.isFile()) continue;
        present.add(file);
        let cached = this.#files.get(file);
        if (cached === undefined || cached.mtimeMs !== st.mtimeMs || cached.size !== st.size) {
          cached = { mtimeMs: st.mtimeMs, size: st.size, spec: await this.#parse(file) };
          this.#files.set(file, cached);
        }
        if (cached.spec) out.push({ file, spec: cached.spec });
      }
    }
    for (const file of this.#files.keys()) if (!present.has(file)) this.#files.delete(file);
    return out;
  }

  async #parse(file: string): Promise<CdiSpec | undefined> {
    try {
      return parseCdiSpec(await readFile(file, 'utf8'), file);
    } catch (err) {
      this.#log.warn({ file, err: describeError(err) }, 'Skipping a broken CDI spec file');
      return undefined;
    }
  }

  async resolve(names: readonly string[]): Promise<ResolvedCdi> {
    const wanted = [...new Set(names)];
    const parsed = wanted.map((n) => ({ qualified: n, ...parseQualifiedName(n) }));
    const byName = new Map<string, { spec: CdiSpec; file: string; edits: CdiContainerEdits }>();
    for (const { file, spec } of await this.specs()) {
      for (const d of spec.devices) byName.set(`${spec.kind}=${d.name}`, { spec, file, edits: d.containerEdits });
    }
    const unknown = parsed.filter((p) => !byName.has(p.qualified)).map((p) => p.qualified);
    if (unknown.length > 0) {
      throw new NotFoundError(`CDI device${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => JSON.stringify(u)).join(', ')} not found in the CDI spec dirs (${this.#dirs.join(', ')})`);
    }
    const edits: ResolvedCdi['edits'] = [];
    const specsDone = new Set<CdiSpec>();
    for (const p of parsed) {
      const found = byName.get(p.qualified)!;
      if (!specsDone.has(found.spec)) {
        specsDone.add(found.spec);
        edits.push(await completeNodes(found.spec.containerEdits, found.file));
      }
      edits.push(await completeNodes(found.edits, found.file));
    }
    return { devices: wanted, edits };
  }
}

/** Device nodes without type/major/minor take them (and the mode) from the host node. */
async function completeNodes(e: CdiContainerEdits, file: string): Promise<ResolvedEdits> {
  if (e.deviceNodes === undefined) return e as ResolvedEdits;
  const deviceNodes = await Promise.all(e.deviceNodes.map(async (n): Promise<ResolvedDeviceNode> => {
    if (n.type !== undefined && n.major !== undefined && n.minor !== undefined) return n as ResolvedDeviceNode;
    const hostPath = n.hostPath ?? n.path;
    const dev = await statDevice(hostPath).catch(() => undefined);
    if (dev === undefined) throw new InvalidArgumentError(`CDI spec ${file}: device node ${JSON.stringify(hostPath)} is not a character or block device on this host`);
    return { fileMode: dev.fileMode, ...n, type: n.type ?? dev.type, major: n.major ?? dev.major, minor: n.minor ?? dev.minor };
  }));
  return { ...e, deviceNodes };
}
