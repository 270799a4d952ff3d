/**
 * A PID alone can be reused after the process ends, so every PID critter stores is
 * paired with the process start time from /proc/<pid>/stat field 22 (clock ticks since
 * boot). A stored process is "alive" only if both match (DESIGN: State).
 */
import { readFile } from 'node:fs/promises';

export interface ProcessRef {
  pid: number;
  /** /proc/<pid>/stat field 22, kept as a string (it can exceed 2^53 in theory). */
  startTime: string;
}

/** Parses field 22 (starttime) out of a /proc/<pid>/stat line; undefined if malformed. */
export function parseStatStartTime(stat: string): string | undefined {
  // Field 2 (comm) is parenthesised and may hold spaces or ')'; everything after the last ')' is fields 3…
  const close = stat.lastIndexOf(')');
  if (close < 0) return undefined;
  const rest = stat.slice(close + 1).trim().split(/\s+/);
  const value = rest[22 - 3];
  return value !== undefined && /^\d+$/.test(value) ? value : undefined;
}

/** Reads the start time of `pid`; undefined when no such process exists. */
async function readProcessStartTime(pid: number, procRoot = '/proc'): Promise<string | undefined> {
  try {
    return parseStatStartTime(await readFile(`${procRoot}/${pid}/stat`, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ESRCH') return undefined;
    throw err;
  }
}

/** Captures a ProcessRef for a live pid; undefined if it already exited. */
export async function processRefFor(pid: number, procRoot = '/proc'): Promise<ProcessRef | undefined> {
  const startTime = await readProcessStartTime(pid, procRoot);
  return startTime === undefined ? undefined : { pid, startTime };
}

/** True only when the same process (pid AND start time) still runs. */
export async function isSameProcessAlive(ref: ProcessRef, procRoot = '/proc'): Promise<boolean> {
  return (await readProcessStartTime(ref.pid, procRoot)) === ref.startTime;
}
