/**
 * Images made of binaries already on this machine, with the shared libraries they load
 * (from `ldd`) at the same paths: how the kubeadm test serves the control plane's images
 * offline. Each image holds one Kubernetes binary a developer built from a release (never
 * anything the project ships) or a tool of the host's (iptables for kube-proxy).
 */
import { readdir, realpath } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { run, runAllowFailure } from '../../../src/lib/exec.ts';
import { dir, symlink, type LayerEntry, type LayerSpec } from '../../fixtures/layer-builder.ts';

export interface HostBinary {
  /** Path on this machine. */
  source: string;
  /** Path in the image. */
  dest: string;
}

/** Libraries a binary loads, from `ldd` (empty for a static binary). */
export async function sharedLibraries(binary: string): Promise<string[]> {
  const out = await runAllowFailure('ldd', [binary]);
  if (out.exitCode !== 0) return []; // "not a dynamic executable"
  return [...out.stdout.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/g)].map((m) => m[1]!);
}

function withParents(paths: Iterable<string>): LayerEntry[] {
  const dirs = new Set<string>();
  for (const p of paths) for (let d = posix.dirname(p); d !== '/' && d !== '.'; d = posix.dirname(d)) dirs.add(d);
  return [...dirs].sort().map((d) => dir(d.slice(1)));
}

/** One layer with the binaries, their libraries, `symlinks` (path → target) and a /tmp. */
export async function hostBinaryLayer(binaries: readonly HostBinary[], symlinks: Record<string, string> = {}): Promise<LayerSpec> {
  const files = new Map<string, string>();
  for (const b of binaries) {
    files.set(b.dest, await realpath(b.source));
    for (const lib of await sharedLibraries(b.source)) if (!files.has(lib)) files.set(lib, await realpath(lib));
  }
  const entries: LayerEntry[] = [...withParents([...files.keys(), ...Object.keys(symlinks), '/tmp/x']), dir('tmp', { mode: 0o1777 })];
  for (const [dest, source] of files) entries.push({ type: 'hostFile', path: dest.slice(1), source, mode: 0o755 });
  for (const [path, target] of Object.entries(symlinks)) entries.push(symlink(path.slice(1), target));
  return { entries };
}

/**
 * The host's iptables (the nft or legacy multi-call binary the alternatives point at) with
 * its extension modules, for kube-proxy: it drives the same backend as the host's CNI rules.
 */
export async function hostIptables(): Promise<{ binaries: HostBinary[]; symlinks: Record<string, string> }> {
  const multi = await realpath('/usr/sbin/iptables');
  const extDir = (await run('sh', ['-c', 'ls -d /usr/lib/*/xtables | head -1'])).stdout.trim();
  const binaries: HostBinary[] = [{ source: multi, dest: join('/usr/sbin', posix.basename(multi)) }];
  for (const ext of await readdir(extDir)) if (ext.endsWith('.so')) binaries.push({ source: join(extDir, ext), dest: join(extDir, ext) });
  const symlinks: Record<string, string> = {};
  for (const tool of ['iptables', 'iptables-save', 'iptables-restore', 'ip6tables', 'ip6tables-save', 'ip6tables-restore']) {
    symlinks[`/usr/sbin/${tool}`] = posix.basename(multi);
  }
  return { binaries, symlinks };
}
