/** What benchmarks read about processes from /proc: memory, CPU, parents, socket owners. */
import { readFile, readdir, readlink, writeFile } from 'node:fs/promises';
import type { CriClient } from '../test/integration/helpers/cri-client.ts';

export async function rssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

/** Peak RSS since start or the last resetPeakRss() (VmHWM). */
export async function peakRssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

/** Resets the peak RSS the kernel keeps for `pid` to its current RSS (proc(5) clear_refs "5"). */
export async function resetPeakRss(pid: number): Promise<void> {
  await writeFile(`/proc/${pid}/clear_refs`, '5');
}

/**
 * Proportional set size: each shared page counts 1/n in each of the n processes mapping
 * it, so helpers that share glibc and the same binary are not counted n times.
 */
export async function pssKiB(pid: number): Promise<number> {
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
  return Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
}

/** Fields after the command name in /proc/PID/stat (the name may hold spaces). */
async function statFields(pid: number): Promise<string[]> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** The parent, unless it is init (or the process is gone). */
export async function parentPid(pid: number): Promise<number | undefined> {
  const ppid = Number((await statFields(pid))[1]);
  return Number.isInteger(ppid) && ppid > 1 ? ppid : undefined;
}

/** utime + stime in clock ticks (USER_HZ, 100 on Linux). */
export async function cpuTicks(pid: number): Promise<number> {
  const f = await statFields(pid);
  return Number(f[11]) + Number(f[12]);
}

/** The process holding the listening unix socket at `path` (from /proc/net/unix and /proc/PID/fd). */
export async function serverPid(path: string): Promise<number> {
  const table = await readFile('/proc/net/unix', 'utf8');
  const inodes = new Set(table.split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f[7] === path).map((f) => f[6]!));
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const fds = await readdir(`/proc/${p}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const link = await readlink(`/proc/${p}/fd/${fd}`).catch(() => '');
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m && inodes.has(m[1]!)) return Number(p);
    }
  }
  throw new Error(`no process listens on ${path}`);
}

/** The unix socket path a CRI client talks to. */
export function socketOf(client: CriClient): string {
  return client.runtime.getChannel().getTarget().replace(/^unix:(\/\/)?/, '');
}
