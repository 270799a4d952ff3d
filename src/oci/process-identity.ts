/**
 * A PID is only an identity together with the process start time (DESIGN "State"): a PID
 * reused by an unrelated process after a daemon restart must not be taken for a container
 * or its conmon. The start time is field 22 of `/proc/<pid>/stat` (clock ticks since boot,
 * proc(5)); the command name in field 2 may contain spaces and parentheses, so fields are
 * counted after the last `)`.
 */
import { readFile } from 'node:fs/promises';
import { readSmallFileSync } from '../lib/read-small.ts';

/** Parses the start time out of a `/proc/<pid>/stat` line. */
export function parseStatStartTime(stat: string): string | undefined {
  const close = stat.lastIndexOf(')');
  if (close < 0) return undefined;
  // After ")": field 3 (state) is index 0, so field 22 is index 19.
  const fields = stat.slice(close + 2).split(' ');
  const value = fields[19];
  return value && /^\d+$/.test(value) ? value : undefined;
}

/** The start time of `pid`, or undefined when no such process exists. */
export async function processStartTime(pid: number): Promise<string | undefined> {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    return parseStatStartTime(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** True when `pid` still runs and started at `startTime` (not a zombie, not a reused PID). */
export async function isSameProcess(pid: number, startTime: string): Promise<boolean> {
  // A synchronous read: /proc never waits on a disk, and the exit backstop asks this of
  // every running container every few seconds (an async readFile is 4 thread-pool hops).
  const stat = Number.isInteger(pid) && pid > 0 ? readSmallFileSync(`/proc/${pid}/stat`) : undefined;
  if (stat === undefined) return false;
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X' && parseStatStartTime(stat) === startTime;
}

/**
 * USER_HZ: `/proc/<pid>/stat` start times are in these ticks on every Linux architecture
 * the kernel exports to user space (proc(5), "clock ticks (divide by sysconf(_SC_CLK_TCK))").
 */
const USER_HZ = 100n;

/** Boot time in ns since the epoch: now minus `/proc/uptime` (CLOCK_BOOTTIME, which start times count from). */
export async function bootTimeNs(nowNs: bigint = BigInt(Date.now()) * 1_000_000n): Promise<bigint | undefined> {
  try {
    const [uptime] = (await readFile('/proc/uptime', 'utf8')).split(' ');
    const [sec, frac = ''] = (uptime ?? '').split('.');
    if (!sec || !/^\d+$/.test(sec) || !/^\d*$/.test(frac)) return undefined;
    const uptimeNs = BigInt(sec) * 1_000_000_000n + BigInt(frac.padEnd(9, '0').slice(0, 9));
    return nowNs - uptimeNs;
  } catch {
    return undefined;
  }
}

/** The wall-clock instant (ns since the epoch) a process with stat start time `ticks` began, given the boot time. */
export function startTicksToNs(ticks: string, bootNs: bigint): bigint | undefined {
  if (!/^\d+$/.test(ticks)) return undefined;
  return bootNs + (BigInt(ticks) * 1_000_000_000n) / USER_HZ;
}
