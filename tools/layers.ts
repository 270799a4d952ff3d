/**
 * The layer check (DESIGN: Shape in one picture): every directory of src/ has a row in
 * LAYERS, and a module imports only from its own directory or from a directory of a lower
 * rank; CRI protobuf types (src/generated/) only where the row allows them; src/ never
 * imports the tests; and no cycle of value imports between modules (type-only imports are
 * erased at build time, so they cannot form a load-order cycle). Pure: the caller reads the
 * files (tools/check-layers.ts for the tree, the unit test for made-up trees).
 */
import { dirname, posix } from 'node:path';

export interface LayerRow {
  /** A directory directly under src/; its subdirectories belong to it. */
  dir: string;
  /** Higher imports lower; equal ranks are peers that do not import each other. */
  rank: number;
  /** May use the CRI protobuf types of src/generated/. */
  cri: boolean;
  /** What the directory is, so a new one can be placed by comparison. */
  role: string;
}

export const LAYERS: readonly LayerRow[] = [
  { dir: 'cli', rank: 12, cri: false, role: 'the `critter` command: starts the daemon, talks to the admin socket' },
  { dir: 'daemon', rank: 11, cri: true, role: 'composition root: builds the object graph, sockets, start and stop' },
  { dir: 'metrics', rank: 10, cri: false, role: 'Prometheus registry and endpoint; observes the server\'s RPCs' },
  { dir: 'admin', rank: 10, cri: false, role: 'the admin socket (pull progress, status, image import) for the CLI' },
  { dir: 'server', rank: 9, cri: true, role: 'gRPC handlers, one file per RPC group, and request validation' },
  { dir: 'stats', rank: 8, cri: true, role: 'container and pod stats and metrics from cgroups, over the records' },
  { dir: 'runtime', rank: 8, cri: false, role: 'Version/Status/RuntimeConfig facts from the config and host checks' },
  { dir: 'container', rank: 7, cri: true, role: 'container service: lifecycle, OCI spec, exec, logs, CDI, checkpoint' },
  { dir: 'sandbox', rank: 6, cri: true, role: 'pod service: namespaces, CNI, infra process, DNS, pod cgroups' },
  { dir: 'image', rank: 6, cri: true, role: 'image service: pull, resolve, auth, mirrors, import, remove' },
  { dir: 'host', rank: 5, cri: false, role: 'host facts and prerequisite checks: cgroups, AppArmor, binaries' },
  { dir: 'config', rank: 4, cri: false, role: 'the configuration schema, loading and validation' },
  { dir: 'network', rank: 3, cri: false, role: 'CNI plugins, pinned network namespaces, port forwarding' },
  { dir: 'state', rank: 3, cri: false, role: 'on-disk records, name registry, process identity' },
  { dir: 'oci', rank: 3, cri: false, role: 'runc/crun and conmon, exit files, exec sessions' },
  { dir: 'streaming', rank: 3, cri: false, role: 'SPDY and WebSocket exec/attach/port-forward server' },
  { dir: 'storage', rank: 3, cri: false, role: 'overlay layer store, image store, rootfs mounts, unpacking' },
  { dir: 'events', rank: 3, cri: false, role: 'event broadcaster with bounded per-subscriber queues' },
  { dir: 'lib', rank: 1, cri: false, role: 'process spawning, errors, ops, atomic files: no domain knowledge' },
  { dir: 'log', rank: 1, cri: false, role: 'the logger' },
  { dir: 'generated', rank: 0, cri: false, role: 'CRI protobuf types generated from proto/ (scripts/gen-proto.sh)' },
];

export interface ImportRef {
  specifier: string;
  typeOnly: boolean;
}

/** Static imports and re-exports (multi-line too) and dynamic `import('…')` of a module. */
export function parseImports(source: string): ImportRef[] {
  const out: ImportRef[] = [];
  const text = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  for (const m of text.matchAll(/(?:^|[\n;])\s*(import|export)\s+(type\s+)?([^;'"]*?)\s*from\s*['"]([^'"]+)['"]/g)) {
    out.push({ specifier: m[4]!, typeOnly: m[2] !== undefined });
  }
  for (const m of text.matchAll(/(?:^|[\n;])\s*import\s*['"]([^'"]+)['"]/g)) out.push({ specifier: m[1]!, typeOnly: false });
  for (const m of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push({ specifier: m[1]!, typeOnly: false });
  return out;
}

/** `src/<dir>/…` → dir; anything else → null. */
function topDir(path: string): string | null {
  const parts = path.split('/');
  return parts[0] === 'src' && parts.length > 2 ? parts[1]! : null;
}

/**
 * Problems in a tree given as repo-relative path → source (only `.ts` files under src/
 * are read; tests included: they follow the same layers). Empty means clean.
 */
export function checkLayers(files: ReadonlyMap<string, string>, table: readonly LayerRow[] = LAYERS): string[] {
  const problems: string[] = [];
  const rows = new Map(table.map((r) => [r.dir, r]));
  const dirs = new Set<string>();
  const valueEdges = new Map<string, string[]>();
  for (const [path, source] of files) {
    if (!path.endsWith('.ts')) continue;
    const from = topDir(path);
    if (from === null) {
      if (path.startsWith('src/')) problems.push(`${path}: a module directly in src/; put it in a directory of the layer table`);
      continue;
    }
    dirs.add(from);
    const row = rows.get(from);
    if (!row) continue;
    for (const ref of parseImports(source)) {
      if (!ref.specifier.startsWith('.')) continue;
      const target = posix.normalize(posix.join(dirname(path), ref.specifier));
      if (!ref.typeOnly) valueEdges.set(path, [...(valueEdges.get(path) ?? []), target]);
      const to = topDir(target);
      if (to === null) {
        problems.push(`${path} imports ${target}: src/ must not import from outside src/`);
        continue;
      }
      if (to === from) continue;
      const toRow = rows.get(to);
      if (!toRow) continue; // reported once below as an unplaced directory
      if (to === 'generated') {
        if (!row.cri) problems.push(`${path} imports CRI types (${target}): ${from}/ speaks its own types, not CRI's (only server/ and the services may)`);
      } else if (toRow.rank >= row.rank) {
        const how = toRow.rank === row.rank ? 'a peer' : 'a higher layer';
        problems.push(`${path} imports ${target}: ${to}/ (rank ${toRow.rank}) is ${how} of ${from}/ (rank ${row.rank}); imports only go down`);
      }
    }
  }
  for (const d of [...dirs].sort()) if (!rows.has(d)) problems.push(`src/${d}/ has no row in the layer table (tools/layers.ts): place it`);
  for (const r of table) if (!dirs.has(r.dir)) problems.push(`the layer table names src/${r.dir}/, which has no module`);
  for (const cycle of valueCycles(valueEdges, new Set(files.keys()))) problems.push(`import cycle: ${cycle.join(' → ')}`);
  return problems;
}

/** Each cycle of value imports once (iterative DFS; the cycle as found, closed). */
function valueCycles(edges: ReadonlyMap<string, string[]>, known: ReadonlySet<string>): string[][] {
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[][] = [];
  for (const start of [...edges.keys()].sort()) {
    if (state.has(start)) continue;
    const stack: { node: string; next: number }[] = [{ node: start, next: 0 }];
    state.set(start, 'open');
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const out = (edges.get(top.node) ?? []).filter((t) => known.has(t));
      if (top.next >= out.length) {
        state.set(top.node, 'done');
        stack.pop();
        continue;
      }
      const t = out[top.next++]!;
      if (state.get(t) === 'open') {
        const at = stack.findIndex((f) => f.node === t);
        cycles.push([...stack.slice(at).map((f) => f.node), t]);
      } else if (!state.has(t)) {
        state.set(t, 'open');
        stack.push({ node: t, next: 0 });
      }
    }
  }
  return cycles;
}
