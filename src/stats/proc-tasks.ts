/**
 * What cAdvisor's process metrics count for a cgroup, from /proc of the processes in its
 * cgroup.procs: open file descriptors, sockets among them, threads, and the soft open-files
 * limit of the first (root) process (`container_ulimits_soft{ulimit="max_open_files"}`),
 * and its threads by scheduler state (`container_tasks_state`, which cAdvisor takes from the
 * kernel's netlink cgroupstats: the same per-task states /proc/<pid>/task/<tid>/stat shows).
 * A process that exits while being read is skipped.
 */
import { readdir, readFile, readlink } from 'node:fs/promises';

export interface TaskStats {
  fileDescriptors: number;
  sockets: number;
  threads: number;
  /** Soft RLIMIT_NOFILE of the root process; -1 when unlimited (cAdvisor's convention). */
  maxOpenFiles: number | undefined;
  states: TaskStates;
}

/** Threads by state. cgroupstats' nr_io_wait is left out: /proc shows no per-task iowait flag. */
export interface TaskStates {
  running: number;
  sleeping: number;
  uninterruptible: number;
  stopped: number;
}

/** The state letter of a /proc/<pid>/task/<tid>/stat text (after the last ')': comm may hold any byte). */
export function taskStateLetter(stat: string): string | undefined {
  const close = stat.lastIndexOf(')');
  return close < 0 ? undefined : stat.slice(close + 1).trim()[0];
}

/** Counts state letters as cgroupstats_build() counts task states (R, S, D, T/t). */
export function countStates(letters: readonly (string | undefined)[]): TaskStates {
  const out = { running: 0, sleeping: 0, uninterruptible: 0, stopped: 0 };
  for (const l of letters) {
    if (l === 'R') out.running++;
    else if (l === 'S') out.sleeping++;
    else if (l === 'D') out.uninterruptible++;
    else if (l === 'T' || l === 't') out.stopped++;
  }
  return out;
}

/** The soft "Max open files" of a /proc/<pid>/limits text. */
export function softOpenFilesLimit(limits: string): number | undefined {
  const line = limits.split('\n').find((l) => l.startsWith('Max open files'));
  const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
  if (soft === undefined) return undefined;
  return soft === 'unlimited' ? -1 : Number.isFinite(Number(soft)) ? Number(soft) : undefined;
}

export function parsePids(procs: string): number[] {
  return procs.split('\n').map((l) => Number(l.trim())).filter((n) => Number.isInteger(n) && n > 0);
}

async function processFds(proc: string, pid: number): Promise<{ fds: number; sockets: number }> {
  const fds = await readdir(`${proc}/${pid}/fd`).catch(() => [] as string[]);
  const links = await Promise.all(fds.map((fd) => readlink(`${proc}/${pid}/fd/${fd}`).catch(() => '')));
  return { fds: fds.length, sockets: links.filter((l) => l.startsWith('socket:')).length };
}

/** Reads the task stats of `pids`; `proc` is the procfs mount (tests point it elsewhere). */
export async function readTaskStats(pids: readonly number[], proc = '/proc'): Promise<TaskStats> {
  const per = await Promise.all(pids.map(async (pid) => {
    const [{ fds, sockets }, tasks] = await Promise.all([processFds(proc, pid), readdir(`${proc}/${pid}/task`).catch(() => [] as string[])]);
    const letters = await Promise.all(tasks.map((t) => readFile(`${proc}/${pid}/task/${t}/stat`, 'utf8').then(taskStateLetter, () => undefined)));
    return { fds, sockets, threads: tasks.length, letters };
  }));
  const limits = pids[0] === undefined ? undefined : await readFile(`${proc}/${pids[0]}/limits`, 'utf8').catch(() => undefined);
  return {
    fileDescriptors: per.reduce((n, p) => n + p.fds, 0),
    sockets: per.reduce((n, p) => n + p.sockets, 0),
    threads: per.reduce((n, p) => n + p.threads, 0),
    maxOpenFiles: limits === undefined ? undefined : softOpenFilesLimit(limits),
    states: countStates(per.flatMap((p) => p.letters)),
  };
}
