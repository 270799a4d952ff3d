/**
 * What the node e2e suite's own mode needs from the host and leaves on it. The test binary
 * starts an apiserver on 127.0.0.1:6443 and a kubelet on its default ports with
 * `--root-dir /var/lib/kubelet` (test/e2e_node/services: both fixed), so the test refuses to
 * run beside another node; it runs the kubelet under systemd-run when `exec.LookPath` finds
 * that, which cannot work where systemd is not PID 1, so it gets a PATH without systemd's
 * tools; and its kubelet makes cgroups (its own `/kubelet`, `/system` holding every host
 * process, `/kubepods`), dirs and iptables chains that are taken away afterwards.
 */
import { access, mkdir, readdir, readFile, rm, rmdir, symlink, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { run } from '../../../src/lib/exec.ts';
import { unmountAllUnder } from '../../integration/helpers/mounts.ts';

/** Fixed by the suite: the apiserver, the kubelet's API, read-only and healthz ports. */
const SUITE_PORTS = [6443, 10250, 10255, 10248];
/** Dirs the kubelet and the suite write at fixed places; each is removed afterwards if it was absent before. */
export const NODE_E2E_HOST_PATHS = ['/var/lib/kubelet', '/var/log/pods', '/var/log/containers', '/etc/kubernetes'] as const;
/** systemd's tools, hidden from the suite and its kubelet: systemd is not running. */
export const HIDDEN_TOOLS = new Set(['systemd-run', 'systemctl', 'journalctl']);

/** Why this host cannot run the node e2e suite now, or undefined when it can. */
export async function nodeE2eHostProblem(): Promise<string | undefined> {
  if (await access('/var/lib/kubelet').then(() => true, () => false)) {
    return '/var/lib/kubelet exists: another kubelet uses (or used) this host, and the suite\'s kubelet must have it to itself';
  }
  const listening = (await run('ss', ['-Htln'])).stdout;
  const busy = SUITE_PORTS.filter((p) => new RegExp(`:${p}\\s`).test(listening));
  return busy.length > 0 ? `ports ${busy.join(', ')} are in use (the suite's apiserver and kubelet need them)` : undefined;
}

/** The host's absent NODE_E2E_HOST_PATHS, to remove after the run. */
export async function absentHostPaths(): Promise<string[]> {
  const absent: string[] = [];
  for (const p of NODE_E2E_HOST_PATHS) if (!(await access(p).then(() => true, () => false))) absent.push(p);
  return absent;
}

/**
 * A directory of symlinks to every program on `path` except HIDDEN_TOOLS (first match wins,
 * as in a PATH lookup): used as the suite's PATH, so `exec.LookPath("systemd-run")` fails and
 * the kubelet is run directly, as on any host without systemd.
 */
export async function pathWithout(binDir: string, path = process.env.PATH ?? ''): Promise<string> {
  await mkdir(binDir, { recursive: true });
  const seen = new Set<string>();
  for (const d of path.split(delimiter).filter(Boolean)) {
    const names = await readdir(d).catch(() => [] as string[]);
    for (const n of names) {
      if (seen.has(n) || HIDDEN_TOOLS.has(n)) continue;
      seen.add(n);
      await symlink(join(d, n), join(binDir, n));
    }
  }
  return binDir;
}

/** Every cgroup hierarchy mounted on this host (v1 controllers and the unified tree). */
export async function cgroupMounts(): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text.split('\n').filter((l) => / - cgroup2? /.test(l)).map((l) => l.split(' ')[4]!).filter(Boolean);
}

/** Top-level cgroups of each hierarchy, to tell later which ones the run made. */
export async function topCgroups(): Promise<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>();
  for (const m of await cgroupMounts()) {
    const entries = await readdir(m, { withFileTypes: true }).catch(() => []);
    out.set(m, new Set(entries.filter((e) => e.isDirectory()).map((e) => e.name)));
  }
  return out;
}

/** Creates `/<name>` in every hierarchy (the kubelet wants its cgroup root to exist in each). */
export async function makeCgroup(name: string): Promise<void> {
  for (const m of await cgroupMounts()) {
    await mkdir(join(m, name), { recursive: true });
    // A new cgroup v1 cpuset has no CPUs or memory nodes, and joining it fails (ENOSPC): the parent's.
    for (const f of ['cpuset.cpus', 'cpuset.mems']) {
      const mine = await readFile(join(m, name, f), 'utf8').catch(() => undefined);
      if (mine !== undefined && mine.trim() === '') await writeFile(join(m, name, f), await readFile(join(m, f), 'utf8'));
    }
  }
}

/** Moves `pid` into `/<name>` of every hierarchy (how critter gets the runtime cgroup the kubelet reports). */
export async function joinCgroup(name: string, pid: number): Promise<void> {
  for (const m of await cgroupMounts()) await writeFile(join(m, name, 'cgroup.procs'), `${pid}\n`);
}

/** Moves the processes of a cgroup subtree back to the hierarchy's root, then removes it, children first. */
async function dissolveCgroup(root: string, path: string): Promise<void> {
  const entries = await readdir(path, { withFileTypes: true }).catch(() => []);
  for (const e of entries) if (e.isDirectory()) await dissolveCgroup(root, join(path, e.name));
  // A process forking while the others move gives birth inside the cgroup: move until it is
  // empty (processes the host starts meanwhile land here too), within a deadline.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const procs = (await readFile(join(path, 'cgroup.procs'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
    if (procs.length === 0 || Date.now() > deadline) break;
    for (const pid of procs) await writeFile(join(root, 'cgroup.procs'), `${pid}\n`).catch(() => undefined);
  }
  await rmdir(path).catch(() => undefined);
}

/**
 * The kubelet's cgroups under the suite's cgroup root "/": its own and the host processes'
 * where systemd is not running (services/kubelet.go: KubeletCgroups, SystemCgroups), and the pods'.
 */
export const KUBELET_HOST_CGROUPS = ['kubelet', 'system', 'kubepods'] as const;

/**
 * Removes those of the top-level cgroups `names` that were not in `before` (only these: other
 * tests on the host may make cgroups of their own meanwhile): the kubelet's `/kubelet` and
 * `/system`, where it moved the host's processes (they go back to the root), and the
 * runtime's and the pods' cgroup roots. Returns the ones that could not be removed.
 */
export async function removeNewCgroups(before: Map<string, Set<string>>, names: readonly string[]): Promise<string[]> {
  const left: string[] = [];
  for (const [m, now] of await topCgroups()) {
    const had = before.get(m) ?? new Set<string>();
    for (const n of names) {
      if (had.has(n) || !now.has(n)) continue;
      await dissolveCgroup(m, join(m, n));
      if (await access(join(m, n)).then(() => true, () => false)) left.push(join(m, n));
    }
  }
  return left;
}

/** Unmounts what the kubelet left under the fixed paths that were absent before, then removes them. */
export async function removeHostPaths(paths: readonly string[]): Promise<void> {
  for (const p of paths) {
    await unmountAllUnder(p);
    await rm(p, { recursive: true, force: true });
  }
}
